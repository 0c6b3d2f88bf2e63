import json

import pandas as pd
import pytest

from ganstyle.config import REPO_ROOT, load_config
from ganstyle.errors import UserError
from ganstyle.metrics.measures import MEASURES
from ganstyle.stages import methods

RUN_INFO = {
    "code": {"version": "0.1.0", "commit": "abc123", "tree": "clean"},
    "config_sha256": "f" * 64,
    "versions": {"python": "3.11.2", "tensorflow": "2.20.0", "keras": "3.11.0", "numpy": "2.1.0"},
    "hardware": {"cpu": {"model": "AMD EPYC 9R14"}, "gpus": []},
    "precision": {"gan": {"policy": "mixed_bfloat16"}, "joint": {"policy": "mixed_bfloat16"}},
}


def demo_config():
    return load_config(REPO_ROOT / "config.yaml")


def test_numbers_come_from_the_config_and_run_info():
    config = demo_config()
    config["gan"]["steps"], config["stats"]["permutations"] = 321, 4321
    text = methods.methods_text(config, RUN_INFO, ["transfer_pixel_sym"])
    assert "for 321 steps of 32 images" in text and "All tests used 4321 permutations" in text
    assert "32 x 32 pixels, grey" in text and "2 seed(s)" in text
    assert "commit abc123" in text and "AMD EPYC 9R14" in text and "gan: mixed_bfloat16" in text
    assert "penultimate" not in text and "multi-layer statistics" in text
    # every distance measure of the registry is named, with the run's transfer measures
    for name, measure in MEASURES.items():
        assert (f"`{name}`" in text) == measure.distance, name
    assert "`transfer_pixel_sym`" in text


def test_colour_and_switched_off_parts_change_the_text():
    config = demo_config()
    config["ingest"]["channels"] = 3
    config["joint"]["enabled"] = False
    text = methods.methods_text(config, RUN_INFO)
    assert "RGB (sRGB)" in text and "joint critic* was trained" not in text and "*Transfer*" not in text


@pytest.mark.parametrize("layout", ["umap", "tsne"])
def test_the_reference_list_is_what_the_text_cites(layout):
    config = demo_config()
    config["map"]["layout"] = layout
    body, references = methods.methods_text(config, RUN_INFO, []).split("## References", 1)
    listed = {key for key, entry in methods.REFERENCES.items() if f"- {entry}" in references}
    assert listed == {key for key, entry in methods.REFERENCES.items() if methods._short(entry) in body}
    assert {"binkowski2018", "walther2016", "zhao2020", "miyato_koyama2018", "miyato2018", "benjamini_hochberg1995", "anderson2001"} <= listed
    assert ("mcinnes2018" in listed) == (layout == "umap") and ("vandermaaten2008" in listed) == (layout == "tsne")
    assert methods.cite("walther2016", "binkowski2018") == "(Walther et al. 2016; Bińkowski et al. 2018)"
    assert methods.cite("miyato_koyama2018", "mantel1967") == "(Miyato & Koyama 2018; Mantel 1967)"


def test_primary_measure_with_its_control_when_configured():
    config = demo_config()
    config["stats"]["primary_measure"] = "cross_conditional_joint"
    text = methods.methods_text(config, RUN_INFO)
    assert "primary measure, fixed before the run, was `cross_conditional_joint`; its untrained control `cross_conditional_joint_untrained`" in text


def test_stage_writes_the_file(tmp_path):
    run_info = tmp_path / "run_info.json"
    run_info.write_text(json.dumps(RUN_INFO))
    measures = tmp_path / "measures.tsv"
    pd.DataFrame({"measure": ["fd_reference", "transfer_pixel", "transfer_pixel_sym"]}).to_csv(measures, sep="\t", index=False)
    out = tmp_path / "methods.md"
    argv = ["--config-json", json.dumps(demo_config()), "--run-info", str(run_info), "--measures", str(measures), "--out", str(out)]
    assert methods.main(argv) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Methods") and "`transfer_pixel`, `transfer_pixel_sym`" in text
    run_info.write_text("{not json")
    with pytest.raises(UserError, match="run_info.json"):
        methods.main(argv)
