"""Lock files to hashed requirements: which packages, which markers, which hashes (no install here)."""

import json

import pytest

from warp.build.buildpacks import find, module_of
from warp.core.errors import BuildError

# The helpers of the buildpacks' own modules (buildpacks/<name>/buildpack.py).
pipfile, poetry = module_of(find("pipfile")), module_of(find("poetry"))
H1, H2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def lines_by_name(reqs):
    return {line.split("==")[0].split(" @ ")[0]: line for line in reqs.hashed + reqs.unhashed}


def test_pipfile_lock_default_markers_extras_hashes_and_sources(tmp_path):
    lock = {
        "_meta": {"sources": [{"name": "pypi", "url": "https://index.invalid/simple"},
                              {"name": "private", "url": "https://private.invalid/simple"}]},
        "default": {
            "requests": {"version": "==2.0.0", "hashes": [H2, H1], "extras": ["socks"], "markers": "python_version >= '3.8'"},
            "mylib": {"git": "https://git.invalid/mylib.git", "ref": "abc123"},
            "local": {"path": "./libs/local", "editable": True},
        },
        "develop": {"pytest": {"version": "==8.0.0", "hashes": [H1]}},
    }
    (tmp_path / "Pipfile.lock").write_text(json.dumps(lock))
    reqs = pipfile.requirements(tmp_path / "Pipfile.lock")
    lines = lines_by_name(reqs)
    assert lines["requests[socks]"].startswith("requests[socks]==2.0.0 ; python_version >= '3.8'")
    assert lines["requests[socks]"].index(H1) < lines["requests[socks]"].index(H2)
    assert lines["mylib"] == "mylib @ git+https://git.invalid/mylib.git@abc123"
    assert any(line == f"-e {tmp_path / 'libs' / 'local'}" for line in reqs.unhashed)
    assert "pytest" not in lines
    assert reqs.indexes == ["https://private.invalid/simple"]  # "pypi" is the host's configured index
    assert "pytest" in lines_by_name(pipfile.requirements(tmp_path / "Pipfile.lock", groups=["dev"]))


def test_pipfile_lock_without_hashes_is_refused(tmp_path):
    (tmp_path / "Pipfile.lock").write_text(json.dumps({"default": {"six": {"version": "==1.16.0"}}}))
    with pytest.raises(BuildError, match="six has no hashes.*pipenv lock"):
        pipfile.requirements(tmp_path / "Pipfile.lock")


def test_pipfile_lock_bad_json_names_line(tmp_path):
    (tmp_path / "Pipfile.lock").write_text('{\n  "default": {,}\n}')
    with pytest.raises(BuildError, match=r"Pipfile.lock:2: invalid JSON"):
        pipfile.requirements(tmp_path / "Pipfile.lock")


def pkg(name, version, groups=None, markers=None, optional=False, deps=None, extras=None, category=None):
    text = f'[[package]]\nname = "{name}"\nversion = "{version}"\noptional = {str(optional).lower()}\n'
    if groups is not None:
        text += f"groups = {json.dumps(groups)}\n"
    if category:
        text += f'category = "{category}"\n'
    if markers is not None:
        text += "markers = " + (json.dumps(markers) if isinstance(markers, str) else
                                "{" + ", ".join(f'{k} = {json.dumps(v)}' for k, v in markers.items()) + "}") + "\n"
    text += f'files = [{{file = "{name}-{version}.whl", hash = "{H1}"}}]\n'
    if deps:
        text += "\n[package.dependencies]\n" + "\n".join(f"{k} = {v}" for k, v in deps.items()) + "\n"
    if extras:
        text += "\n[package.extras]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in extras.items()) + "\n"
    return text


def test_poetry_21_groups_markers_and_extras(tmp_path):
    (tmp_path / "poetry.lock").write_text("\n".join([
        pkg("flask", "3.0.3", ["main"]),
        pkg("colorama", "0.4.6", ["main", "dev"], markers={"main": 'sys_platform == "win32"', "dev": 'os_name == "nt"'}),
        pkg("idna", "3.10", ["main"], markers='extra == "idn"', optional=True),
        pkg("zipp", "3.0", ["main"], markers='python_version < "3.10" and extra == "idn"', optional=True),
        pkg("pytest", "8.0.0", ["dev"]),
    ]) + '\n[metadata]\nlock-version = "2.1"\n')
    main = lines_by_name(poetry.requirements(tmp_path))
    assert set(main) == {"flask", "colorama"}
    assert main["colorama"].startswith('colorama==0.4.6 ; sys_platform == "win32"')
    assert H1 in main["flask"]
    everything = lines_by_name(poetry.requirements(tmp_path, groups=["dev"], extras=["idn"]))
    assert set(everything) == {"flask", "colorama", "idna", "zipp", "pytest"}
    assert everything["idna"].startswith("idna==3.10 \\")  # the extra is settled: no marker left
    assert 'python_version < "3.10" and python_version >= "0"' in everything["zipp"]
    assert '(os_name == "nt") or (sys_platform == "win32")' in everything["colorama"]


def test_poetry_20_lock_walks_from_the_project_dependencies(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poetry.dependencies]\npython = "^3.9"\nflask = "^3.0"\nrequests = {version = "^2", extras = ["socks"]}\n'
        'idna = {version = "*", optional = true}\n\n[tool.poetry.group.dev.dependencies]\npytest = "*"\n')
    (tmp_path / "poetry.lock").write_text("\n".join([
        pkg("flask", "3.0.3", deps={"click": '">=8"', "importlib-metadata": '{version = ">=3.6", markers = "python_version < \\"3.10\\""}'}),
        pkg("click", "8.1.7", deps={"colorama": '{version = "*", markers = "platform_system == \\"Windows\\""}'}),
        pkg("colorama", "0.4.6"),
        pkg("importlib-metadata", "7.0.0", deps={"zipp": '">=0.5"'}),
        pkg("zipp", "3.17.0"),
        pkg("requests", "2.31.0", deps={"pysocks": '{version = "*", optional = true}'}, extras={"socks": ["PySocks (>=1.5.6,!=1.5.7)"]}),
        pkg("pysocks", "1.7.1"),
        pkg("idna", "3.10"),
        pkg("pytest", "8.0.0"),
        pkg("unused", "1.0"),
    ]) + '\n[metadata]\nlock-version = "2.0"\n')
    lines = lines_by_name(poetry.requirements(tmp_path))
    assert set(lines) == {"flask", "click", "colorama", "importlib-metadata", "zipp", "requests", "pysocks"}
    assert lines["flask"].startswith("flask==3.0.3 \\")
    assert 'platform_system == "Windows"' in lines["colorama"]
    assert 'python_version < "3.10"' in lines["zipp"]  # inherited along the path
    assert "pytest" in lines_by_name(poetry.requirements(tmp_path, groups=["dev"]))


def test_poetry_package_without_hashes_is_refused(tmp_path):
    (tmp_path / "poetry.lock").write_text('[[package]]\nname = "six"\nversion = "1.16.0"\ngroups = ["main"]\nfiles = []\n'
                                          '\n[metadata]\nlock-version = "2.1"\n')
    with pytest.raises(BuildError, match="six 1.16.0 has no file hashes"):
        poetry.requirements(tmp_path)


# A Pipfile and the hash pipenv 2026.10.3 wrote for it in Pipfile.lock.
PIPENV_PIPFILE = '''[[source]]
url = "https://index.invalid/simple"
verify_ssl = true
name = "pypi"

[packages]

[dev-packages]

[requires]
python_version = "3.11"
'''
PIPENV_HASH = "e3b746c1c32f7504358d8a37e5cc411e0b0473b6a97dfa92882b1189fe39c88f"


def test_pipfile_hash_is_pipenvs(tmp_path):
    (tmp_path / "Pipfile").write_text(PIPENV_PIPFILE)
    assert pipfile.pipfile_hash(tmp_path / "Pipfile") == PIPENV_HASH


def test_stale_pipfile_lock_is_refused(tmp_path):
    (tmp_path / "Pipfile").write_text(PIPENV_PIPFILE)
    (tmp_path / "Pipfile.lock").write_text(json.dumps({"_meta": {"hash": {"sha256": PIPENV_HASH}}, "default": {}}))
    pipfile.check_current(tmp_path)  # current: no error
    (tmp_path / "Pipfile").write_text(PIPENV_PIPFILE.replace("[packages]\n", '[packages]\nsix = "*"\n'))
    with pytest.raises(BuildError, match="out of date with Pipfile.*pipenv lock"):
        pipfile.check_current(tmp_path)


def test_uv_export_splits_hashed_entries_from_workspace_members(tmp_path):
    from warp.build.buildpacks.lockfile import split_exported

    text = (
        "-e ./libs/lib\n"
        "blinker==1.9.0 \\\n    --hash=sha256:aaa \\\n    --hash=sha256:bbb\n"
        "    # via flask\n"
        "colorama==0.4.6 ; sys_platform == 'win32' \\\n    --hash=sha256:ccc\n"
        "lib2 @ git+https://example.invalid/lib2@abc\n"
    )
    reqs = split_exported(text, tmp_path)
    assert reqs.hashed == ["blinker==1.9.0 \\\n    --hash=sha256:aaa \\\n    --hash=sha256:bbb",
                           "colorama==0.4.6 ; sys_platform == 'win32' \\\n    --hash=sha256:ccc"]
    assert reqs.unhashed == [f"-e {(tmp_path / 'libs' / 'lib').resolve()}", "lib2 @ git+https://example.invalid/lib2@abc"]
