import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from ganstyle.config import REPO_ROOT, load_config, section
from ganstyle.errors import UserError


def test_defaults_fill_every_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config.yaml here
    config = load_config()
    assert config["cultures"] is None and config["metadata"] is None  # no registry unless named (the demo's config.yaml does)
    assert config["ingest"]["resolution"] == 64
    assert config["gan"]["seeds"] == [0, 1]  # >= 2 seeds: seed stability is reported for every measure
    assert config["joint"]["enabled"] and config["gan"]["mixed_precision"] == "auto"


def test_repository_config_is_valid():
    config = load_config("config.yaml")
    assert config["cultures"] == "data/cultures.tsv"
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


def test_without_config_a_stage_reads_config_yaml_of_the_working_directory(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="ganstyle.config"):
        assert section("ingest")["resolution"] == 64  # no config.yaml here: schema defaults, and the log says so
    assert "schema defaults" in caplog.text
    (tmp_path / "config.yaml").write_text("ingest: {resolution: 32}\n")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ganstyle.config"):
        assert section("ingest")["resolution"] == 32
    assert f"read {tmp_path / 'config.yaml'}" in caplog.text


def test_a_stage_run_by_hand_in_the_repository_uses_its_config_yaml(tmp_path):
    """`python -m ganstyle ingest` without --config: the demo's 32 px, not the schema's 64, and the log names the file."""
    result = subprocess.run(
        [sys.executable, "-m", "ganstyle", "ingest", "--culture", "latin", "--out", str(tmp_path / "latin"), "--no-progress"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"config: read {REPO_ROOT / 'config.yaml'}" in result.stderr
    with np.load(tmp_path / "latin" / "images.npz") as data:
        assert data["images"].shape[1:] == (32, 32, 1)
