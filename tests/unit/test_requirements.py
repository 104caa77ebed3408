"""warp.app.requirements: the one requirement-name normaliser and the one -r/-c walker."""

import pytest

from warp.app.requirements import canonical_name, logical_lines, read_requirements, requirement_files, requirement_name


@pytest.mark.parametrize("name, canonical", [
    ("Flask", "flask"), ("Flask_Cors", "flask-cors"), ("flask.cors", "flask-cors"),
    ("zope..interface", "zope-interface"), ("A-_.b", "a-b"),
])
def test_canonical_name_is_pep_503(name, canonical):
    assert canonical_name(name) == canonical


@pytest.mark.parametrize("text, name", [
    ("Flask>=2; python_version > '3'", "flask"), ("Django[argon2]==5.0", "django"),
    ("  zope.interface ~= 6", "zope-interface"), ("mylib @ file:///src/mylib", "mylib"),
    ("-e .", None), ("", None),
])
def test_requirement_name_is_the_canonical_name_it_starts_with(text, name):
    assert requirement_name(text) == name


def test_logical_lines_join_continuations_and_drop_comments():
    text = "flask \\\n  >=2  # web\n# whole line\n\nhttps://x.invalid/a.whl#sha256=00\n"
    assert logical_lines(text) == ["flask   >=2", "https://x.invalid/a.whl#sha256=00"]


def test_includes_are_followed_once_each_in_pips_order(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r base.txt\n--constraint=pins/c.txt\n-rextra.txt\nflask\n")
    (tmp_path / "base.txt").write_text("requests\n--requirement requirements.txt\n")
    (tmp_path / "pins").mkdir()
    (tmp_path / "pins/c.txt").write_text("urllib3<3\n-r ../base.txt\n")
    found = read_requirements(tmp_path / "requirements.txt")
    assert [(e.path.relative_to(tmp_path).as_posix(), e.constraint, e.exists, e.lines) for e in found] == [
        ("requirements.txt", False, True, ("flask",)),
        ("base.txt", False, True, ("requests",)),
        ("pins/c.txt", True, True, ("urllib3<3",)),
        ("extra.txt", False, False, ()),
    ]
    assert requirement_files(tmp_path / "requirements.txt") == [e.path for e in found[:3]]
    assert requirement_files(tmp_path / "absent.txt") == []
