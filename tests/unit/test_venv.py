"""Reading, cloning and pruning the app's environments."""

import os


from warp.build.venv import clone_env


def test_clone_rewrites_own_paths_without_touching_the_source(tmp_path):
    src = tmp_path / "envs" / "old"
    (src / "bin").mkdir(parents=True)
    (src / "lib").mkdir()
    script = src / "bin" / "tool"
    script.write_text(f"#!{src}/bin/python\nprint('hi')\n")
    script.chmod(0o755)
    (src / "pyvenv.cfg").write_text(f"home = /usr/bin\ncommand = x {src}\n")
    (src / "lib" / "module.py").write_text("X = 1\n")
    (src / "bin" / "python").symlink_to("/usr/bin/python3")

    dst = clone_env(src, tmp_path / "envs" / "new")

    assert script.read_text().startswith(f"#!{src}/bin/python")
    assert (dst / "bin" / "tool").read_text().startswith(f"#!{dst}/bin/python")
    assert os.access(dst / "bin" / "tool", os.X_OK)
    assert str(dst) in (dst / "pyvenv.cfg").read_text() and str(src) in (src / "pyvenv.cfg").read_text()
    # Untouched files share the inode (hard link): nothing was rewritten or reinstalled.
    assert (dst / "lib" / "module.py").stat().st_ino == (src / "lib" / "module.py").stat().st_ino
    assert os.readlink(dst / "bin" / "python") == "/usr/bin/python3"


def test_orphans_are_the_dropped_and_what_only_they_needed():
    from warp.build.venv import orphans

    installed = [("Flask", ["Werkzeug>=3", "click>=8", "blinker; python_version<'4'"]), ("Werkzeug", ["MarkupSafe>=2"]),
                 ("click", []), ("blinker", []), ("MarkupSafe", []), ("Jinja2", ["MarkupSafe"]), ("pip", [])]
    assert orphans(installed, ["flask"], ["jinja2", "pip"]) == ["blinker", "click", "flask", "werkzeug"]
    assert orphans(installed, ["Flask"], ["Click", "pip"]) == ["blinker", "flask", "werkzeug"]
    assert orphans(installed, ["not-installed"], ["pip"]) == []
