"""docs/configuration.md's reference tables are generated from the config schema and must match it."""

import copy

import pytest

from ganstyle.config import docs as config_docs
from ganstyle.config import load_schema


def test_committed_reference_matches_the_schema():
    # fails when someone edits the schema (or the block) without running python -m ganstyle.config.docs
    text = config_docs.DOC.read_text(encoding="utf-8")
    assert text == config_docs.update(text, load_schema("config")), "docs/configuration.md is stale: run python -m ganstyle.config.docs"


def test_every_key_with_its_default_is_in_the_reference():
    text = config_docs.DOC.read_text(encoding="utf-8")
    schema = load_schema("config")
    for section, spec in schema["properties"].items():
        for key, prop in spec.get("properties", {}).items():
            if spec.get("default") == {} and "default" in prop:
                assert f"| `{key}` | `{config_docs.format_value(prop['default'])}` |" in text, f"{section}.{key}"


def test_a_changed_default_or_a_new_key_makes_the_reference_stale():
    text = config_docs.DOC.read_text(encoding="utf-8")
    schema = load_schema("config")
    changed = copy.deepcopy(schema)
    changed["properties"]["gan"]["properties"]["steps"]["default"] = 301
    added = copy.deepcopy(schema)
    added["properties"]["stats"]["properties"]["new_key"] = {"type": "integer", "default": 1, "description": "new"}
    for other in (changed, added):
        assert config_docs.update(text, other) != text
    assert "| `new_key` | `1` | integer | new |" in config_docs.render(added)


def test_check_exits_1_on_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "configuration.md"
    stale.write_text(f"# Configuration\n\n{config_docs.BEGIN}\nold table\n{config_docs.END}\n", encoding="utf-8")
    monkeypatch.setattr(config_docs, "DOC", stale)
    monkeypatch.setattr(config_docs, "REPO_ROOT", tmp_path)
    assert config_docs.main(["--check"]) == 1
    assert config_docs.main([]) == 0 and config_docs.main(["--check"]) == 0
    assert "old table" not in stale.read_text(encoding="utf-8")


def test_missing_markers_are_an_error():
    with pytest.raises(ValueError, match="markers"):
        config_docs.update("# no markers\n", load_schema("config"))


@pytest.mark.parametrize(
    ("value", "written"),
    [(None, "null"), (True, "true"), (0.001, "0.001"), ([255, 255, 255], "[255, 255, 255]"), (["shift", "cutout"], "[shift, cutout]"), ({}, "{}")],
)
def test_values_are_written_as_in_config_yaml(value, written):
    assert config_docs.format_value(value) == written
