"""The validation corpora of docs/validation.md: registries and config overlays that match its render commands."""

import re
from pathlib import Path

import pytest
import yaml

from ganstyle.config import load_config, validate
from ganstyle.config.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "validation"
CORPORA = ("tune", "check", "check2", "siblings")


def _render_commands() -> dict[str, list[str]]:
    """Corpus name -> the ISO codes its render-scripts command in docs/validation.md renders."""
    text = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8").replace("\\\n", " ")
    commands = re.findall(r"render-scripts --scripts ([A-Za-z ]+?) +--font-dir .*? --out dev/(\w+)", text)
    return {name: codes.split() for codes, name in commands}


@pytest.mark.parametrize("name", CORPORA)
def test_registry_lists_what_the_render_command_writes_in_four_groups_of_three(name):
    from fontTools import unicodedata as ucd

    from ganstyle.tools.script_text import culture_id, normalise_script_code

    registry = load_registry(FOLDER / f"{name}.tsv", base=ROOT)
    rendered = [culture_id(ucd.script_name(normalise_script_code(code))) for code in _render_commands()[name]]
    assert list(registry["culture"]) == rendered
    assert list(registry["path"]) == [f"dev/{name}/{c}" for c in rendered]
    assert sorted(registry["group"].value_counts()) == [3, 3, 3, 3]


@pytest.mark.parametrize("name", CORPORA)
def test_overlay_is_a_valid_config_pointing_at_its_registry(name):
    overlay = yaml.safe_load((FOLDER / f"{name}.yaml").read_text(encoding="utf-8"))
    config = validate({**load_config(ROOT / "config.yaml"), **overlay}, source=f"docs/validation/{name}.yaml")
    assert config["cultures"] == f"docs/validation/{name}.tsv" and config["results"] == f"results_{name}"
    assert config["transfer"]["enabled"] is False
