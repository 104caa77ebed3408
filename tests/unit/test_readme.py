"""The README's settings table is the one the declaration generates."""

from pathlib import Path
import re

from warp.core.settings import settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_settings_table_matches_declaration():
    text = README.read_text()
    match = re.search(r"<!-- settings-table:start -->\n(.*?)<!-- settings-table:end -->", text, re.S)
    assert match, "README lost its settings-table markers"
    assert match.group(1).strip() == settings_table().strip(), (
        "README settings table is stale: regenerate it with `python -m warp.core.settings`"
    )
