"""warp.build.buildpacks: finding buildpack folders, loading their code, and one line when that fails."""

import pytest

from warp.build.buildpacks import Buildpack, all_buildpacks, discover, load, warp_buildpacks_dir
from warp.core.errors import ConfigError
from warp.core.project import open_project

from support import write
from support.layers import LAYERS, imports_of, layer_of, module_files

TOY = '''
from warp.build.buildpacks import Buildpack, applies, does_not_apply


class Toy(Buildpack):
    order = 5

    def detect(self, app):
        return applies("toy.lock is here", ("toy.lock",)) if app.present("toy.lock") else does_not_apply("no toy.lock")

    def build(self, ctx):
        return {"toy": True}


buildpack = Toy()
'''


def test_warps_own_buildpacks_load_in_order_with_frameworks_last():
    packs = discover([warp_buildpacks_dir()])
    assert all(isinstance(pack, Buildpack) for pack in packs)
    names = [pack.name for pack in packs]
    assert names[:3] == ["requirements", "pyproject", "setup"] and names[-1] == "django"
    assert {pack.kind for pack in packs} == {"package-manager", "framework"}
    assert all(pack.description and not pack.description.startswith('"') for pack in packs)


def test_a_folder_on_the_path_comes_first_and_hides_warps_own_of_the_same_name(tmp_path):
    write(tmp_path / "mine", {"toy/buildpack.py": TOY, "uv/buildpack.py": TOY.replace("order = 5", "order = 1")})
    packs = discover([tmp_path / "mine", warp_buildpacks_dir()])
    names = [pack.name for pack in packs]
    assert names[:2] == ["uv", "toy"] and names.count("uv") == 1
    assert packs[0].path == (tmp_path / "mine" / "uv").resolve()


def test_buildpacks_path_is_relative_to_the_app(tmp_path):
    write(tmp_path, {"plugins/toy/buildpack.py": TOY, "app/warp.yaml": "buildpacks_path: [../plugins]\n"})
    names = [pack.name for pack in all_buildpacks(open_project(tmp_path / "app", environ={}))]
    assert names[0] == "toy" and "requirements" in names


def test_a_missing_buildpacks_path_folder_is_one_line(tmp_path):
    project = open_project(tmp_path, environ={"WARP_BUILDPACKS_PATH": str(tmp_path / "nowhere")})
    with pytest.raises(ConfigError) as info:
        all_buildpacks(project)
    assert "nowhere: no such folder" in str(info.value) and "WARP_BUILDPACKS_PATH" in str(info.value)


@pytest.mark.parametrize("code, said", [
    ("def broken(:\n", "SyntaxError"),
    ("import no_such_module_for_warp\n", "ModuleNotFoundError"),
    ("x = 1\n", "sets no `buildpack`"),
    (TOY.replace("order = 5", "kind = 'linter'"), "kind 'linter'"),
])
def test_a_broken_buildpack_is_one_line_naming_its_folder(tmp_path, code, said):
    write(tmp_path, {"bad/buildpack.py": code}, dedent=False)
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "bad")
    text = str(info.value)
    assert said in text and str(tmp_path / "bad") in text and "\n" not in text
    assert not (tmp_path / "bad" / "__pycache__").exists()


def test_shipped_buildpacks_import_only_build_and_the_layers_below():
    # A buildpack runs inside `warp build`: it may use build/, app/, core/ and runtime/, never launch/ or above.
    known = module_files()
    allowed = set(LAYERS[LAYERS.index("build"):])
    for path in sorted(warp_buildpacks_dir().glob("*/buildpack.py")):
        for imp in imports_of(f"buildpacks.{path.parent.name}", path, known):
            if imp.imported.startswith("warp"):
                assert layer_of(imp.imported) in allowed, f"{path}:{imp.line} imports {imp.imported}"
