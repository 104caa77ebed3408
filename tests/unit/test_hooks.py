"""Finding hooks in the layouts users bring, running them, and failing clearly."""

import os
import sys

import pytest

from warp.core.errors import BuildError
from warp.app.hooks import find_hooks
from warp.build.hooks import hook_command, run_hook, standard_hooks
from warp.core.project import open_project


def write(path, text, mode=0o755):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_find_hooks_in_every_layout_first_one_wins(tmp_path):
    write(tmp_path / "bin" / "pre_compile", "#!/bin/sh\n")
    write(tmp_path / "bin" / "post_compile", "#!/bin/sh\n")
    write(tmp_path / ".warpdrive" / "action_hooks" / "build", "#!/bin/sh\n")
    write(tmp_path / ".warpdrive" / "action_hooks" / "deploy", "#!/bin/sh\n")
    write(tmp_path / ".warp" / "hooks" / "deploy", "#!/bin/sh\n")
    write(tmp_path / ".warp" / "hooks" / "ready", "#!/bin/sh\n")
    found = find_hooks(open_project(tmp_path, environ={}))
    rel = {name: str(path.relative_to(tmp_path)) for name, path in found.items()}
    assert rel == {
        "pre-build": "bin/pre_compile",
        "build": ".warpdrive/action_hooks/build",
        "deploy": ".warp/hooks/deploy",
        "ready": ".warp/hooks/ready",
    }


def test_no_hooks_is_empty(tmp_path):
    assert find_hooks(open_project(tmp_path, environ={})) == {}


def test_hook_runs_in_the_app_with_the_given_environment_and_streams(tmp_path):
    write(tmp_path / ".warp" / "hooks" / "build", '#!/bin/sh\npwd\necho "marker=$MARKER"\necho to-stderr >&2\n')
    lines = []
    ran = run_hook(open_project(tmp_path, environ={}), "build", dict(os.environ, MARKER="42"), lines.append)
    assert ran == [".warp/hooks/build"]
    assert lines == [str(tmp_path.resolve()), "marker=42", "to-stderr"]


def test_non_executable_hook_runs_through_its_shebang_or_sh(tmp_path):
    py = write(tmp_path / "bin" / "post_compile", f"#!{sys.executable}\nprint('from python')\n", mode=0o644)
    sh = write(tmp_path / "bin" / "pre_compile", "echo from sh\n", mode=0o644)
    assert hook_command(py) == [sys.executable, str(py)]
    assert hook_command(sh) == ["/bin/sh", str(sh)]
    project = open_project(tmp_path, environ={})
    lines = []
    run_hook(project, "pre-build", dict(os.environ), lines.append)
    run_hook(project, "build", dict(os.environ), lines.append)
    assert lines == ["from sh", "from python"]


def test_failing_hook_names_itself_and_its_status(tmp_path):
    write(tmp_path / ".warpdrive" / "action_hooks" / "pre-build", "#!/bin/sh\necho about to fail\nexit 3\n")
    lines = []
    with pytest.raises(BuildError) as caught:
        run_hook(open_project(tmp_path, environ={}), "pre-build", dict(os.environ), lines.append)
    assert "hook pre-build (.warpdrive/action_hooks/pre-build) failed with exit status 3" in str(caught.value)
    assert lines == ["about to fail"]


def test_hook_killed_by_a_signal_says_which(tmp_path):
    write(tmp_path / ".warp" / "hooks" / "build", "#!/bin/sh\nkill -TERM $$\n")
    with pytest.raises(BuildError, match="killed by SIGTERM"):
        run_hook(open_project(tmp_path, environ={}), "build", dict(os.environ), lambda line: None)


def test_standard_migrate_hook_is_opt_in(tmp_path):
    assert standard_hooks(open_project(tmp_path, environ={}), "deploy") == []
    enabled = standard_hooks(open_project(tmp_path, environ={"DJANGO_MIGRATE": "1"}), "deploy")
    assert [path.parent.name for path in enabled] == ["django-migrate"]
    # Without a manage.py the standard hook fails the same way an app hook does.
    with pytest.raises(BuildError, match=r"hook deploy \(warp's django-migrate/deploy\) failed with exit status 3"):
        run_hook(open_project(tmp_path, environ={"DJANGO_MIGRATE": "1"}), "deploy", dict(os.environ), lambda line: None)
