import json

import pytest

from ganstyle.config import load_config, section
from ganstyle.errors import UserError


def test_defaults_fill_every_section():
    config = load_config()
    assert config["cultures"] == "data/cultures.tsv"
    assert config["ingest"]["resolution"] == 64
    assert config["gan"]["seeds"] == [0, 1]  # >= 2 seeds: seed stability is reported for every measure
    assert config["joint"]["enabled"] and config["gan"]["mixed_precision"] == "auto"


def test_repository_config_is_valid():
    config = load_config("config.yaml")
    assert config["ingest"]["channels"] in (1, 3)


def test_unknown_key_is_named(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("ingest:\n  resolutoin: 64\n")
    with pytest.raises(UserError, match="resolutoin"):
        load_config(bad)


def test_bad_value_names_the_key(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("ingest:\n  resolution: 48\n")
    with pytest.raises(UserError, match="ingest.resolution"):
        load_config(bad)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_section_from_settings_json_gets_defaults():
    ingest = section("ingest", json.dumps({"channels": 3}))
    assert ingest["channels"] == 3 and ingest["resolution"] == 64


def test_section_rejects_bad_json():
    with pytest.raises(UserError, match="not valid JSON"):
        section("ingest", "{not json")
