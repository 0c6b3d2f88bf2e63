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
    config["gan"]["steps"], config["gan"]["batch_size"], config["stats"]["permutations"] = 321, 48, 4321
    text = methods.methods_text(config, RUN_INFO, ["transfer_pixel_sym"])
    assert "for 321 steps of 48 images" in text and "All tests used 4321 permutations" in text
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


def test_the_per_culture_recipe_names_mode_seeking_only_when_it_is_on():
    config = demo_config()
    config["joint"]["enabled"] = False  # the joint critic's own mode-seeking sentence is not the one tested
    config["gan"]["mode_seeking"] = 0.25
    assert "mode-seeking term for the generator (weight 0.25)" in methods.methods_text(config, RUN_INFO)
    config["gan"]["mode_seeking"] = 0.0
    assert "mode-seeking" not in methods.methods_text(config, RUN_INFO)


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


def test_primary_measure_with_its_control_and_baseline():
    config = demo_config()
    text = methods.methods_text(config, RUN_INFO)
    assert (
        "primary measure, fixed before the run, was `cross_conditional_joint`; its untrained control `cross_conditional_joint_untrained`; its baseline `fd_reference`"
        in text
    )
    assert "held-out images of the `joint` space" in text  # map.space null: the primary measure's space
    config["similarity"]["primary_measure"] = "fd_critic"
    assert "was `fd_critic`; its untrained control `fd_critic_untrained`; its baseline `fd_reference`" in methods.methods_text(config, RUN_INFO)


RECOVERY = pd.DataFrame(
    {
        "measure": ["cross_conditional_joint", "cross_conditional_joint_untrained", "fd_reference", "fd_critic"],
        "ari": [0.54, -0.02, 0.49, 0.3],
        "ari_p_value": [0.002, 0.833, 0.004, 0.2],
        "ari_q_bh": [0.008, 0.833, 0.008, 0.267],
        "k": [4, 4, 4, 4],
        "group_auc": [0.887, 0.608, 0.770, 0.7],
        "group_auc_ci_low": [0.873, 0.528, 0.730, 0.6],
        "group_auc_ci_high": [0.904, 0.705, 0.815, 0.8],
        "group_auc_seed_min": [0.887, 0.5, float("nan"), 0.6],
        "group_auc_seed_max": [0.897, 0.644, float("nan"), 0.7],
        "n_seeds": [2, 2, 0, 2],
        "seed_r_mean": [0.95, 0.25, float("nan"), 0.8],
    }
)


def test_results_paragraph_is_filled_from_the_table():
    config = demo_config()
    text = methods.results_paragraph(config, RECOVERY, 12)
    assert "the cross-conditional score, joint critic (`cross_conditional_joint`), recovered the groups of 12 cultures" in text
    assert "AUC of 0.887 [0.873, 0.904] (95 % bootstrap interval; range over 2 seeds 0.887-0.897, seed-to-seed Mantel r 0.95)" in text
    assert "adjusted Rand index of 0.54 at k = 4 (permutation p = 0.002, Benjamini-Hochberg q = 0.008 over the 4 measures tested)" in text
    assert "Its untrained control, `cross_conditional_joint_untrained`, reached 0.608 [0.528, 0.705] (ARI -0.02, q = 0.83)" in text
    # no reference counterpart: the baseline is figures.baseline_measure, as the figures pair them
    assert "The non-GAN baseline fixed before the run, `fd_reference`, reached 0.770 [0.730, 0.815] (ARI 0.49, q = 0.008)" in text
    config["similarity"]["primary_measure"] = "fd_critic"
    other = methods.results_paragraph(config, RECOVERY)
    assert "(`fd_critic`)" in other and "untrained control" not in other and "`fd_reference`, reached" in other  # no control row in the table
    config["similarity"]["primary_measure"] = "kid_joint"
    assert "`kid_joint` (config similarity.primary_measure) is not in group_recovery.tsv" in methods.results_paragraph(config, RECOVERY)


def test_without_groups_the_paragraph_says_what_to_report_instead():
    text = methods.results_paragraph(demo_config(), RECOVERY.iloc[0:0])
    assert "no groups" in text and "seed stability" in text


def test_stage_writes_the_file(tmp_path):
    run_info = tmp_path / "run_info.json"
    run_info.write_text(json.dumps(RUN_INFO))
    measures = tmp_path / "measures.tsv"
    pd.DataFrame({"measure": ["fd_reference", "transfer_pixel", "transfer_pixel_sym"]}).to_csv(measures, sep="\t", index=False)
    out = tmp_path / "methods.md"
    recovery = tmp_path / "group_recovery.tsv"
    RECOVERY.assign(primary=[True, False, False, False]).to_csv(recovery, sep="\t", index=False)
    argv = ["--config-json", json.dumps(demo_config()), "--run-info", str(run_info), "--measures", str(measures), "--group-recovery", str(recovery)]
    argv += ["--cultures", "12", "--out", str(out)]
    assert methods.main(argv) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Methods") and "`transfer_pixel`, `transfer_pixel_sym`" in text
    assert "## Result of the primary measure" in text and "recovered the groups of 12 cultures with" in text
    run_info.write_text("{not json")
    with pytest.raises(UserError, match="run_info.json"):
        methods.main(argv)
