"""The README's generated or checked parts match the code: the settings table, the
ARCHITECTURE section's layers and arrows, and the layout of the tree."""

import re

from warp.core.settings import settings_table

from support import REPO, SRC
from support.layers import LAYERS, RUNTIME_MAY_IMPORT, packages

README = REPO / "README.md"


def block(name):
    """The code block between the README's <!-- NAME:start --> and <!-- NAME:end --> markers."""
    match = re.search(rf"<!-- {name}:start -->\n```\n(.*?)```\n<!-- {name}:end -->", README.read_text(), re.S)
    assert match, f"README lost its {name} markers"
    return match.group(1)


def entries(text):
    """[(first word, rest)] of a block, indented lines continuing the entry above."""
    found = []
    for line in text.splitlines():
        if line[:1].isspace() and found:
            found[-1] = (found[-1][0], found[-1][1] + " " + line.strip())
        elif line.strip():
            word, _, rest = line.partition(" ")
            found.append((word, rest.strip()))
    return found


def listed_names(description):
    """The comma-separated names of a layout line, prose in parentheses left out."""
    return {name.strip() for name in re.sub(r"\([^)]*\)", "", description).split(",") if name.strip()}


def test_readme_settings_table_matches_declaration():
    text = README.read_text()
    match = re.search(r"<!-- settings-table:start -->\n(.*?)<!-- settings-table:end -->", text, re.S)
    assert match, "README lost its settings-table markers"
    assert match.group(1).strip() == settings_table().strip(), (
        "README settings table is stale: regenerate it with `python -m warp.core.settings`"
    )


def test_architecture_lists_the_layers_top_to_bottom_as_the_layer_test_enforces():
    names = [word.removesuffix(".py").rstrip("/") for word, _ in entries(block("layers"))]
    assert names == list(LAYERS)
    assert sorted(names) == packages(), "ARCHITECTURE must name exactly the packages under src/warp"


def test_architecture_states_what_runtime_may_import():
    match = re.search(r"`runtime/` may import only: (.*?) and the standard library", README.read_text())
    assert match, "README lost the sentence saying what runtime/ may import"
    assert re.findall(r"`([^`]+)`", match.group(1)) == list(RUNTIME_MAY_IMPORT)


def test_layout_names_every_package_and_module_under_src_warp():
    lines = dict(entries(block("layout")))
    packages_in_tree = sorted(f"src/{path.parent.relative_to(SRC)}/" for path in (SRC / "warp").rglob("__init__.py")
                              if path.parent != SRC / "warp")
    listed = sorted(path for path in lines if path.startswith("src/warp/") and path.endswith("/"))
    assert listed == packages_in_tree
    assert "src/warp/cli.py" in lines
    for path in listed:
        folder = REPO / path
        actual = {p.stem if p.suffix == ".py" else p.name + "/" if p.is_dir() else p.name
                  for p in folder.iterdir()
                  if p.name not in ("__init__.py", "__main__.py", "__pycache__")}
        assert listed_names(lines[path]) == actual, f"README layout line for {path}"


def test_layout_names_only_paths_that_exist():
    for path, description in entries(block("layout")):
        assert (REPO / path).exists(), path
        if path.endswith("/") and not path.startswith("src/"):
            for name in listed_names(description):
                if name.endswith("/"):
                    assert (REPO / path / name.split()[0]).is_dir(), f"{path}{name}"
