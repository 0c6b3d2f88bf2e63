"""Stage ``methods``: a methods text to paste into a paper, written from what the run did.

``results/methods.md`` is generated from the validated config (every number in it is a config
value or a value a recipe resolved from it), the measure registry
(:mod:`ganstyle.metrics.measures`: which measures exist in which space, with their untrained
controls and baselines), the run's ``measures.tsv`` (the transfer measures it computed) and
``results/run_info.json`` (code version, library versions, hardware, precision).  It ends with
the references the method rests on.  Nothing in it is typed by hand per run, so it cannot drift
from the code the way a hand-written methods section does.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ganstyle import io
from ganstyle.config import validate
from ganstyle.errors import UserError
from ganstyle.metrics.measures import MEASURES, SPACES, measure_label, reference_counterpart, untrained_counterpart

log = logging.getLogger(__name__)

# key -> the reference, in the order the text cites them first
REFERENCES: dict[str, str] = {
    "miyato2018": "Miyato, T., Kataoka, T., Koyama, M., Yoshida, Y. (2018). Spectral normalization for generative adversarial networks. ICLR.",
    "zhao2020": "Zhao, S., Liu, Z., Lin, J., Zhu, J.-Y., Han, S. (2020). Differentiable augmentation for data-efficient GAN training. NeurIPS.",
    "miyato_koyama2018": "Miyato, T., Koyama, M. (2018). cGANs with projection discriminator. ICLR.",
    "odena2017": "Odena, A., Olah, C., Shlens, J. (2017). Conditional image synthesis with auxiliary classifier GANs. ICML.",
    "mao2019": "Mao, Q., Lee, H.-Y., Tseng, H.-Y., Ma, S., Yang, M.-H. (2019). Mode seeking generative adversarial networks for diverse image synthesis. CVPR.",
    "binkowski2018": "Bińkowski, M., Sutherland, D. J., Arbel, M., Gretton, A. (2018). Demystifying MMD GANs. ICLR.",
    "heusel2017": "Heusel, M., Ramsauer, H., Unterthiner, T., Nessler, B., Hochreiter, S. (2017). GANs trained by a two time-scale update rule converge to a local Nash equilibrium. NeurIPS.",
    "walther2016": "Walther, A., Nili, H., Ejaz, N., Alink, A., Kriegeskorte, N., Diedrichsen, J. (2016). Reliability of dissimilarity measures for multi-voxel pattern analysis. NeuroImage 137, 188-200.",
    "shmelkov2018": "Shmelkov, K., Schmid, C., Alahari, K. (2018). How good is my GAN? ECCV.",
    "ravuri2019": "Ravuri, S., Vinyals, O. (2019). Classification accuracy score for conditional generative models. NeurIPS.",
    "mantel1967": "Mantel, N. (1967). The detection of disease clustering and a generalized regression approach. Cancer Research 27, 209-220.",
    "anderson2001": "Anderson, M. J. (2001). A new method for non-parametric multivariate analysis of variance. Austral Ecology 26, 32-46.",
    "anderson2006": "Anderson, M. J. (2006). Distance-based tests for homogeneity of multivariate dispersions. Biometrics 62, 245-253.",
    "hubert_arabie1985": "Hubert, L., Arabie, P. (1985). Comparing partitions. Journal of Classification 2, 193-218.",
    "benjamini_hochberg1995": "Benjamini, Y., Hochberg, Y. (1995). Controlling the false discovery rate: a practical and powerful approach to multiple testing. JRSS B 57, 289-300.",
    "efron_tibshirani1993": "Efron, B., Tibshirani, R. J. (1993). An introduction to the bootstrap. Chapman & Hall.",
    "portilla_simoncelli2000": "Portilla, J., Simoncelli, E. P. (2000). A parametric texture model based on joint statistics of complex wavelet coefficients. IJCV 40, 49-70.",
    "mcinnes2018": "McInnes, L., Healy, J., Melville, J. (2018). UMAP: uniform manifold approximation and projection for dimension reduction. arXiv:1802.03426.",
    "vandermaaten2008": "van der Maaten, L., Hinton, G. (2008). Visualizing data using t-SNE. JMLR 9, 2579-2605.",
}


def cite(*keys: str) -> str:
    """``(Author year; ...)`` for reference keys; an unknown key is a programming error."""
    return "(" + "; ".join(_short(REFERENCES[key]) for key in keys) + ")"


def _short(reference: str) -> str:
    authors, rest = reference.split(" (", 1)
    year = rest[:4]
    names = [part.strip().split(",")[0] for part in authors.split("., ") if part.strip()]
    first = names[0]
    if len(names) == 1:
        return f"{first} {year}"
    if len(names) == 2:
        return f"{first} & {names[1]} {year}"
    return f"{first} et al. {year}"


def _percent(x: float) -> str:
    return f"{round(100 * x)} %"


def _mode_seeking_clause(weight: float) -> str:
    """The recipe sentences' mode-seeking clause (empty when the term is off)."""
    return f"a mode-seeking term for the generator (weight {weight:g}) {cite('mao2019')}, " if weight > 0 else ""


def measure_inventory(transfer_measures: Sequence[str] = ()) -> list[str]:
    """Markdown bullet lines: the distance measures of every space, each GAN measure with its untrained control."""
    lines = []
    for space in SPACES.values():
        names = [m.name for m in MEASURES.values() if m.space == space.name and m.distance]
        if not names:
            continue
        role = {"gan": "GAN critic", "control": "untrained control", "baseline": "non-GAN baseline"}[space.role]
        lines.append(f"- *{space.description}* ({role}): " + ", ".join(f"`{n}`" for n in names))
    if transfer_measures:
        lines.append("- *transfer between cultures* (GAN translators): " + ", ".join(f"`{n}`" for n in transfer_measures))
    return lines


def methods_text(config: Mapping, run_info: Mapping, transfer_measures: Sequence[str] = (), results: str | None = None) -> str:
    """The methods section (markdown) of a run: ``config`` validated, ``run_info`` as run-info writes it."""
    from ganstyle.models.recipes import GANRecipe, JointRecipe

    ingest, gan, joint, sim, stats = (config[k] for k in ("ingest", "gan", "joint", "similarity", "stats"))
    recipe = GANRecipe.from_section(gan)
    seeds = len(gan["seeds"])
    res = ingest["resolution"]
    colour = "grey (ITU-R BT.601 luma)" if ingest["channels"] == 1 else "RGB (sRGB)"
    augment = ", ".join(recipe.augment) if recipe.augment else "none"
    parts = ["# Methods", "", "*Generated by `python -m ganstyle methods` from this run's validated config, the measure registry and run_info.json.*", ""]

    parts += [
        "## Corpus",
        "",
        f"Images were decoded with Pillow (EXIF orientation applied, ICC profiles converted to sRGB, transparency composited on "
        f"RGB {tuple(ingest['background'])}), brought to {res} x {res} pixels, {colour}, with the resize policy `{ingest['resize']}`, "
        f"and rejected with a reason when unreadable, smaller than {ingest['min_side']} px, larger than {ingest['max_pixels']:,} pixels or "
        f"nearly blank (pixel standard deviation below {ingest['min_std']} grey levels). Exact and near duplicates (64-bit perceptual hashes "
        f"at most {ingest['near_duplicate_bits']} bits apart) were kept once per culture, and images found in two cultures were removed "
        f"from both. About {_percent(ingest['heldout_fraction'])} of each culture's images were held out by a hash of their content; every "
        "comparison below uses held-out images only; a culture needed at least "
        f"{ingest['min_images']} images.",
        "",
        "## Critics",
        "",
        f"For every culture and each of {seeds} seed(s), a GAN was trained on the culture's training images for {gan['steps']} steps of "
        f"{gan['batch_size']} images ({recipe.loss} loss, discriminator with spectral normalisation {cite('miyato2018')}, "
        f"differentiable augmentation of real and generated images ({augment}) {cite('zhao2020')}, "
        f"feature matching weight {recipe.feature_matching:g}, "
        + _mode_seeking_clause(recipe.mode_seeking)
        + f"exponential moving average {recipe.ema_decay:g} of the generator weights, "
        f"Adam learning rates {recipe.learning_rate_g:g}/{recipe.learning_rate_d:g}, widths G {recipe.g_width} / D {recipe.d_width}, "
        f"latent dimension {recipe.latent_dim}). Its discriminator is the culture's *critic*: it maps an image to a realness logit and to "
        "its *features*, the mean and standard deviation of every channel at every resolution of the discriminator, concatenated "
        "(multi-layer statistics, not the activations of one layer).",
        "",
    ]
    if joint["enabled"]:
        jr = JointRecipe.from_sections(gan, joint)
        parts += [
            f"A *joint critic* was trained per seed: one class-conditional GAN over all cultures with a projection discriminator "
            f"{cite('miyato_koyama2018')}, {jr.loss} loss, an auxiliary culture classifier on the projection logits (weight "
            f"{joint['classification']:g}) {cite('odena2017')} and a linear culture classifier on the critic's features (weight "
            f"{joint['feature_head']:g}), "
            + _mode_seeking_clause(jr.mode_seeking)
            + f"{joint['steps']} steps of {joint['batch_size']} images, widths G {jr.g_width} / D {jr.d_width}; its "
            f"critic was exported at the last {joint['snapshots']} checkpoints ({joint['snapshot_every']} steps apart) and distances were "
            "averaged over them. Its logit conditioned on each culture gives the *cross-conditional score*: how much lower culture a's "
            "images score conditioned on b than on a.",
            "",
        ]
    parts += [
        "*Untrained controls*: every trained critic's network with its initial weights was passed the same images, so that each GAN "
        "measure can be read against what the architecture alone gives. *Baseline*: the same measures in a fixed, non-GAN "
        "reference feature space that no culture's images trained: random and oriented-edge filter statistics and spatial "
        f"autocorrelation {cite('portilla_simoncelli2000')}, intensity and, for colour images, opponent-colour statistics.",
        "",
    ]
    if joint["enabled"] and config["transfer"]["enabled"]:
        parts += [
            f"*Transfer*: for each joint-GAN seed an encoder was trained for {config['transfer']['steps']} steps to invert its generator"
            + (", its codes scaled onto the sphere where the generator's Gaussian noise lies" if config["transfer"]["codes_on_prior"] else "")
            + "; an image translated into culture b is the generator's output for its code with b's class input, and how far an image must "
            "move, and how well it then passes, gives transfer measures for every ordered pair of cultures.",
            "",
        ]
    parts += [
        f"*Judge*: a culture classifier trained on real training images only (never part of a measure) reported how often generated "
        f"and translated images were recognised as their intended culture, a classification-accuracy check of the generators "
        f"{cite('shmelkov2018', 'ravuri2019')}.",
        "",
        "## Measures",
        "",
        "Every culture's held-out images were passed through every critic. Cultures were compared by Fréchet distance "
        f"{cite('heusel2017')}, kernel inception distance (KID) {cite('binkowski2018')}, the cross-validated Mahalanobis "
        f"(crossnobis) distance {cite('walther2016')}, the confusion of a cross-validated linear probe, critic AUCs and, for the joint "
        f"critic, the cross-conditional score, in spaces reduced by PCA to {sim['n_components']} dimensions. The distance measures, by space:",
        "",
        *measure_inventory(transfer_measures),
        "",
        f"GAN measures were averaged over seeds. Intervals are {_percent(sim['ci'])} percentile intervals of {sim['n_boot']} bootstrap "
        f"replicates resampling each culture's held-out images {cite('efron_tibshirani1993')}; a culture's noise floor is the same measure "
        f"between random halves of its own images ({sim['split_half_reps']} splits).",
        "",
    ]
    primary = sim["primary_measure"]
    control = untrained_counterpart(primary)
    parts += [
        f"The primary measure, fixed before the run, was `{primary}`"
        + (f"; its untrained control `{control}`" if control else "")
        + f"; its baseline `{baseline_of(primary, config)}`; every other measure is secondary.",
        "",
        "## Statistics",
        "",
        "Group recovery, per measure: the probability that a within-group distance is smaller than an across-group one (an AUC over "
        "culture pairs, with its bootstrap interval and its range over seeds), and the adjusted Rand index "
        f"{cite('hubert_arabie1985')} between the average-linkage tree cut at the number of groups and the groups, with a permutation "
        "p-value (group labels shuffled over cultures) and a Benjamini-Hochberg q-value over the measures of the table "
        f"{cite('benjamini_hochberg1995')}. PERMANOVA {cite('anderson2001')} and PERMDISP {cite('anderson2006')} tested differences "
        "between cultures on image features and between groups with whole cultures permuted; Mantel tests "
        f"{cite('mantel1967')} with {stats['mantel_method'].title()} correlation related every pair of distance matrices, geographic distance and user matrices, "
        f"with Benjamini-Hochberg q-values over the table, and the matrices of different seeds. All tests used {stats['permutations']} "
        "permutations.",
        "",
        f"The image map lays out the held-out images of the `{config['map']['space'] or MEASURES[primary].space}` space by "
        + ("UMAP " + cite("mcinnes2018") if config["map"]["layout"] == "umap" else "t-SNE " + cite("vandermaaten2008"))
        + ".",
        "",
        "## Software and hardware",
        "",
        software_sentence(run_info),
        "",
    ]
    if results is not None:
        parts += ["## Result of the primary measure (template, filled from group_recovery.tsv)", "", results, ""]
    body = "\n".join(parts)
    # the references this text cites (a switched-off part cites none), in the order of REFERENCES
    cited = [entry for entry in REFERENCES.values() if _short(entry) in body]
    return body + "\n## References\n\n" + "".join(f"- {entry}\n" for entry in cited)


def baseline_of(primary: str, config: Mapping) -> str:
    """The baseline a measure is reported against: its reference-space counterpart, or else
    ``figures.baseline_measure`` (as the figures pair them)."""
    counterpart = reference_counterpart(primary)
    return counterpart if counterpart != primary and counterpart in MEASURES else config["figures"]["baseline_measure"]


def _auc(row: pd.Series) -> str:
    interval = f" [{row.group_auc_ci_low:.3f}, {row.group_auc_ci_high:.3f}]" if pd.notna(row.group_auc_ci_low) else ""
    return f"{row.group_auc:.3f}{interval}"


def _p(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:.2g}"


def results_paragraph(config: Mapping, recovery: pd.DataFrame, cultures: int | None = None) -> str:
    """The template results paragraph, filled from a run's group_recovery.tsv (see docs/reporting.md)."""
    if recovery.empty:
        return (
            "The registry gives no groups (fewer than two in its `group` column), so there is no group recovery to report: "
            "report the distance matrices with their bootstrap intervals and noise floors, the clustering with its "
            "bootstrap support, the culture-level PERMANOVA, the Mantel tests (geography, user matrices) and the seed stability."
        )
    primary = config["similarity"]["primary_measure"]
    table = recovery.set_index("measure")
    if primary not in table.index:
        return f"The primary measure `{primary}` (config similarity.primary_measure) is not in group_recovery.tsv: it was not computed in this run."
    row, ci = table.loc[primary], round(100 * config["similarity"]["ci"])
    tested = int(table["ari_p_value"].notna().sum())
    seeds = (
        f"; range over {int(row.n_seeds)} seeds {row.group_auc_seed_min:.3f}-{row.group_auc_seed_max:.3f}, seed-to-seed Mantel r {row.seed_r_mean:.2f}"
        if row.n_seeds > 1
        else ""
    )
    groups = f"of {cultures} cultures " if cultures else ""
    text = (
        f"The primary measure, the {measure_label(primary)} (`{primary}`), recovered the groups {groups}with a within-versus-across-group "
        f"AUC of {_auc(row)} ({ci} % bootstrap interval{seeds}) and an adjusted Rand index of {row.ari:.2f} at k = {int(row.k)} "
        f"(permutation p = {_p(row.ari_p_value)}, Benjamini-Hochberg q = {_p(row.ari_q_bh)} over the {tested} measures tested)."
    )
    control, baseline = untrained_counterpart(primary), baseline_of(primary, config)
    for name, role in ((control, "Its untrained control"), (baseline, "The non-GAN baseline fixed before the run")):
        if name and name in table.index:
            other = table.loc[name]
            text += f" {role}, `{name}`, reached {_auc(other)} (ARI {other.ari:.2f}, q = {_p(other.ari_q_bh)})."
    return text


def software_sentence(run_info: Mapping) -> str:
    """Code version, libraries, hardware and precision as run_info.json records them."""
    code, versions, hardware = run_info.get("code", {}), run_info.get("versions", {}), run_info.get("hardware", {})
    gpus = hardware.get("gpus") or []
    device = ", ".join(g.get("name", "GPU") for g in gpus) if gpus else f"CPU {hardware.get('cpu', {}).get('model', 'unknown')}"
    precision = "; ".join(f"{stage}: {value.get('policy')}" for stage, value in (run_info.get("precision") or {}).items())
    commit = code.get("commit") or code.get("version", "unknown")
    return (
        f"ganstyle {code.get('version', 'unknown')} (commit {commit}, tree {code.get('tree', 'unknown')}), Python "
        f"{versions.get('python', 'unknown')}, TensorFlow {versions.get('tensorflow', 'unknown')}, Keras {versions.get('keras', 'unknown')}, "
        f"NumPy {versions.get('numpy', 'unknown')}, scikit-learn, SciPy and scikit-bio; on {device}; precision {precision or 'unknown'}. "
        f"Config SHA-256 {run_info.get('config_sha256', 'unknown')}."
    )


def transfer_measures_of(measures_tsv: Path) -> list[str]:
    """The transfer measures a run computed (its measures.tsv), in table order."""
    table = io.read_tsv(measures_tsv)
    if "measure" not in table.columns:
        raise UserError(f"{measures_tsv}: no 'measure' column (re-run rule similarity)")
    return [str(m) for m in table["measure"] if str(m).startswith("transfer_") and str(m) not in MEASURES]


def main(argv: list[str] | None = None, stage: str = "methods") -> int:
    parser = argparse.ArgumentParser(prog=f"python -m ganstyle {stage}", description=__doc__.splitlines()[0])
    parser.add_argument("--config-json", required=True, help="the validated config as JSON")
    parser.add_argument("--run-info", required=True, type=Path, help="results/run_info.json")
    parser.add_argument("--measures", required=True, type=Path, help="results/similarity/measures.tsv")
    parser.add_argument("--group-recovery", required=True, type=Path, help="results/stats/group_recovery.tsv")
    parser.add_argument("--cultures", type=int, help="number of cultures (for the results paragraph)")
    parser.add_argument("--out", required=True, type=Path, help="results/methods.md")
    args = parser.parse_args(argv)
    try:
        config = validate(json.loads(args.config_json), source="--config-json")
    except json.JSONDecodeError as err:
        raise UserError(f"--config-json: not valid JSON: {err}") from None
    try:
        run_info = json.loads(args.run_info.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{args.run_info}: cannot read run information: {err}") from None
    paragraph = results_paragraph(config, io.read_tsv(args.group_recovery), args.cultures)
    text = methods_text(config, run_info, transfer_measures_of(args.measures), paragraph)
    io.write_text(args.out, text)
    log.info("methods -> %s", args.out)
    return 0
