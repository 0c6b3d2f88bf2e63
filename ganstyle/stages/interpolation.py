"""Stage ``interpolate``: what lies between two styles, as the joint generator draws it and the judge reads it.

For each pair of cultures a, b shown in the bridges figure (the closest pairs under the bridges
measure, by default the primary measure, and the configured pairs), the joint conditional
generator keeps its noise fixed while its culture input moves from a to b in
``interpolation.steps`` steps (culture weights ``(1 - t) a + t b``), for ``interpolation.draws``
noise draws.  The judge (a classifier of real images, ``ganstyle.stages.judge``) gives p(a) and
p(b) of every image.  If the generator has learnt the two styles, p(b) rises along the strip; the
table says whether it does, so a reader need not trust the pictures alone.

Writes ``results/images/interpolations.npz`` (the images, for the figure) and
``interpolations.tsv`` (one row per image: pair, draw, step, weight of b, p(a), p(b), the judge's
culture), and logs each pair's rise.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.io import files

log = logging.getLogger(__name__)

COLUMNS = ["pair", "a", "b", "closest", "configured", "draw", "step", "weight_b", "p_a", "p_b", "judged"]
RISE_COLUMNS = ["pair", "a", "b", "p_b_start", "p_b_end", "spearman_rho", "rises"]


# ---------------------------------------------------------------- pure functions


def culture_weights(a: int, b: int, n_cultures: int, steps: int) -> np.ndarray:
    """(steps, K) culture inputs from one-hot ``a`` to one-hot ``b``: row s is (1 - t) a + t b, t = s / (steps - 1)."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)
    weights = np.zeros((steps, n_cultures), np.float32)
    weights[:, a] += 1 - t
    weights[:, b] += t
    return weights


def rise_of_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """Per pair: the judge's mean p(b) over draws at the first and the last step, and the Spearman
    correlation of p(b) with the step over every image of the pair; ``rises``: p(b) ends higher
    than it starts and correlates positively with the step."""
    from scipy.stats import spearmanr

    rows = []
    for pair, rows_of_pair in table.groupby("pair", sort=True):
        by_step = rows_of_pair.groupby("step")["p_b"].mean()
        rho = spearmanr(rows_of_pair["step"], rows_of_pair["p_b"]).statistic if rows_of_pair["p_b"].nunique() > 1 else np.nan
        start, end = float(by_step.iloc[0]), float(by_step.iloc[-1])
        first = rows_of_pair.iloc[0]
        rows.append(
            {
                "pair": pair,
                "a": first["a"],
                "b": first["b"],
                "p_b_start": start,
                "p_b_end": end,
                "spearman_rho": float(rho),
                "rises": bool(end > start and rho > 0),
            }
        )
    return pd.DataFrame(rows, columns=RISE_COLUMNS)


# ---------------------------------------------------------------- I/O


def interpolation_pairs(measures: Path, matrices: Path, figure_settings: dict, cultures: list[str]) -> pd.DataFrame:
    """The bridges figure's pairs (``ganstyle.figures.exemplars``): the same list, so both figures show the same cultures."""
    from ganstyle.figures.exemplars import bridge_list, closest_pairs, parse_bridge_pairs, read_matrix
    from ganstyle.figures.shared import primary_measure_of_run

    measure = figure_settings["bridges_measure"] or primary_measure_of_run(measures)
    matrix = read_matrix(str(matrices / f"{measure}.tsv"))
    pairs = bridge_list(closest_pairs(matrix, figure_settings["bridges_closest"]), parse_bridge_pairs(figure_settings["bridges_pairs"], cultures), matrix)
    if pairs.empty:
        raise UserError("no pairs to interpolate: config keys 'figures.bridges_closest' is 0 and 'figures.bridges_pairs' is empty")
    return pairs


def interpolate(generator, judge, cultures: list[str], pairs: pd.DataFrame, settings: dict) -> tuple[np.ndarray, pd.DataFrame]:
    """(P, draws, steps, H, W, C) uint8 images and their table (``COLUMNS``)."""
    from ganstyle.models.gan import generate_images
    from ganstyle.models.judge import judge_probabilities

    steps, draws = settings["steps"], settings["draws"]
    latent = int(generator.inputs[0].shape[-1])
    # one set of noise draws for every pair: strips of different pairs differ only in their cultures
    noise = np.random.default_rng(settings["seed"]).standard_normal((draws, latent)).astype(np.float32)
    index = {c: k for k, c in enumerate(cultures)}
    strips, rows = [], []
    for p, pair in pairs.iterrows():
        a, b = index[pair["a"]], index[pair["b"]]
        weights = np.tile(culture_weights(a, b, len(cultures), steps), (draws, 1))
        images = generate_images(generator, np.repeat(noise, steps, axis=0), weights)
        probabilities = judge_probabilities(judge, images)
        strips.append(images.reshape(draws, steps, *images.shape[1:]))
        for i, (draw, step) in enumerate(np.ndindex(draws, steps)):
            rows.append(
                {
                    "pair": p, "a": pair["a"], "b": pair["b"], "closest": pair["closest"], "configured": pair["configured"], "draw": draw, "step": step,
                    "weight_b": float(weights[i, b]), "p_a": float(probabilities[i, a]), "p_b": float(probabilities[i, b]),
                    "judged": cultures[int(probabilities[i].argmax())],
                }
            )  # fmt: skip
    return np.stack(strips), pd.DataFrame(rows, columns=COLUMNS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganstyle interpolate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", required=True, type=Path, help="results/joint/seed{seed}/generator.keras (the first GAN seed's)")
    parser.add_argument("--judge", required=True, type=Path, help="results/judge/judge.keras")
    parser.add_argument("--cultures", nargs="+", required=True, help="culture ids in the order the joint GAN and the judge were trained on")
    parser.add_argument("--measures", required=True, type=Path, help="results/similarity/measures.tsv")
    parser.add_argument("--matrices", required=True, type=Path, help="results/similarity/matrices")
    parser.add_argument("--figure-settings", required=True, help="the 'figures' config section as JSON (its bridges_* keys choose the pairs)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (results/images)")
    add_settings_arguments(parser, "interpolation")
    return parser


def main(argv: list[str] | None = None, stage: str = "interpolate") -> int:
    args = _parser().parse_args(argv)
    settings = section("interpolation", args.settings, args.config_path)
    figure_settings = section("figures", args.figure_settings)
    cultures = list(args.cultures)

    from ganstyle.models import training
    from ganstyle.models.critic import load_model

    training.configure_tensorflow(1, 0)
    generator = load_model(args.generator, "joint generator")
    judge = load_model(args.judge, "judge")
    for model, what, path in ((generator, "joint generator", args.generator), (judge, "judge", args.judge)):
        known = int((model.inputs[1] if what == "joint generator" else model.outputs[0]).shape[-1])
        if known != len(cultures):
            raise UserError(f"{path}: the {what} knows {known} cultures, --cultures lists {len(cultures)}; re-run it")
    pairs = interpolation_pairs(args.measures, args.matrices, figure_settings, cultures)
    unknown = sorted((set(pairs["a"]) | set(pairs["b"])) - set(cultures))
    if unknown:
        raise UserError(f"{args.matrices}: the matrix names cultures --cultures lacks: {', '.join(unknown)} (re-run similarity)")
    images, table = interpolate(generator, judge, cultures, pairs, settings)
    files.save_interpolations(args.out / files.IMAGES["interpolations"], files.Interpolations(images, pairs["a"].to_numpy(str), pairs["b"].to_numpy(str)))
    io.write_tsv(args.out / files.IMAGES["interpolations_table"], table)
    for _, rise in rise_of_pairs(table).iterrows():
        log.info(
            "%s -> %s: the judge's p(%s) from %.3f to %.3f along the strip (Spearman rho %.2f): %s",
            rise.a, rise.b, rise.b, rise.p_b_start, rise.p_b_end, rise.spearman_rho, "rises" if rise.rises else "does not rise",
        )  # fmt: skip
    return 0
