"""Planted analysis results: features with known groups through the similarity, cluster and stats stages.

Built once per test session (the ``planted`` fixture in tests/conftest.py) and read by the tests of those
stages and of the figures (tests/stages/test_similarity.py, test_stats.py, tests/figures/test_figures.py).
Six cultures in three groups (one of them a single culture), two GAN seeds, transfer distances for every
pair, an external matrix: every table the figures read.  Tests read it and never write into it.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from feature_files import write_feature_files

from ganstyle.stages import clustering, similarity, stats

CULTURES = ["latin", "greek", "cyrillic", "arabic", "hebrew", "thai"]
GROUPS = ["european", "european", "european", "semitic", "semitic", "southeast_asian"]
LABELS = ["Latin", "Greek", "Cyrillic", "Arabic", "Hebrew", "Thai"]
LATLON = [(41.9, 12.5), (37.98, 23.73), (43.16, 26.82), (23.0, 39.7), (31.78, 35.22), (17.01, 99.82)]
SEEDS = (0, 1)
N_IMAGES = 16
SIMILARITY_SETTINGS = {"n_components": 6, "n_boot": 10, "ci": 0.9, "split_half_reps": 4, "probe_folds": 3, "probe_c": 1.0, "crossnobis_folds": 3, "seed": 0}
CLUSTERING_SETTINGS = {"methods": ["average", "ward"], "max_clusters": 4}
STATS_SETTINGS = {"permutations": 19, "mantel_method": "spearman", "seed": 0}


@dataclass(frozen=True)
class Planted:
    """Where the planted results are, and the command lines that made them (to run a stage again elsewhere)."""

    root: Path
    cultures: list[str]
    groups: list[str]
    seeds: tuple[int, ...]
    registry: Path
    critics: list[str]
    reference: str
    transfer: Path | None
    external: Path | None
    similarity_settings: dict
    stats_settings: dict

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def similarity(self) -> Path:
        return self.results / "similarity"

    @property
    def clustering(self) -> Path:
        return self.results / "clustering"

    @property
    def stats(self) -> Path:
        return self.results / "stats"

    def similarity_argv(self, out: Path) -> list[str]:
        argv = ["--cultures", *self.cultures, "--critic-features", *self.critics, "--reference", self.reference, "--out", str(out)]
        argv += ["--settings", json.dumps(self.similarity_settings)]
        return argv + (["--transfer", str(self.transfer)] if self.transfer else [])

    def stats_argv(self, out: Path, settings: dict | None = None) -> list[str]:
        sim, cl = self.similarity, self.clustering
        return [
            "--distances", str(sim / "distances.npz"), "--per-seed", str(sim / "per_seed.tsv"), "--image-features", str(sim / "image_features.npz"),
            "--assignments", str(cl / "assignments.tsv"), "--cluster-summary", str(cl / "summary.tsv"), "--measures", str(sim / "measures.tsv"),
            "--cultures-file", str(self.registry), "--out", str(out), "--settings", json.dumps(settings or self.stats_settings),
        ]  # fmt: skip


def plant(
    root: Path,
    cultures=CULTURES,
    groups=GROUPS,
    labels=LABELS,
    latlon=LATLON,
    seeds=SEEDS,
    n_boot=SIMILARITY_SETTINGS["n_boot"],
    permutations=STATS_SETTINGS["permutations"],
    transfer=True,
    external=True,
) -> Planted:
    """Write features with planted groups under ``root/results`` and run the similarity, cluster and stats stages on them."""
    rng = np.random.default_rng(3)
    cultures, groups = list(cultures), list(groups)
    registry = root / "cultures.tsv"
    registry.write_text(
        "culture\tpath\tlabel\tgroup\tlat\tlon\n"
        + "".join(f"{c}\t{c}\t{lab}\t{g}\t{la}\t{lo}\n" for c, lab, g, (la, lo) in zip(cultures, labels, groups, latlon))
    )
    # each group a centre, each culture near its group's centre
    group_centres = {g: 4.0 * rng.normal(size=10) for g in dict.fromkeys(groups)}
    centres = {c: group_centres[g] + 0.6 * rng.normal(size=10) for c, g in zip(cultures, groups)}
    _, critics, reference = write_feature_files(root / "results" / "features", cultures=tuple(cultures), n=N_IMAGES, seeds=seeds, centres=centres)
    transfer_table = None
    if transfer:  # every ordered pair: the transfer measures become distance matrices
        transfer_table = root / "results" / "transfer" / "transfer_distances.tsv"
        transfer_table.parent.mkdir(parents=True)
        pairs = [(a, b) for a in cultures for b in cultures if a != b]
        pd.DataFrame(
            [(a, b, "cycle_l1", 1.0 + cultures.index(a) + cultures.index(b), 0.5, 9.0) for a, b in pairs],
            columns=["source", "target", "measure", "value", "ci_low", "ci_high"],
        ).to_csv(transfer_table, sep="\t", index=False)
    stats_settings = dict(STATS_SETTINGS, permutations=permutations)
    external_matrix = None
    if external:  # 1 between groups, 0 within: a "language" matrix the groups explain
        external_matrix = root / "language.tsv"
        square = (np.array(groups)[:, None] != np.array(groups)[None, :]).astype(float)
        pd.DataFrame(square, index=cultures, columns=cultures).to_csv(external_matrix, sep="\t")
        stats_settings["external_matrices"] = [{"name": "language", "path": str(external_matrix)}]
    planted = Planted(
        root=root,
        cultures=cultures,
        groups=groups,
        seeds=tuple(seeds),
        registry=registry,
        critics=critics,
        reference=reference,
        transfer=transfer_table,
        external=external_matrix,
        similarity_settings=dict(SIMILARITY_SETTINGS, n_boot=n_boot),
        stats_settings=stats_settings,
    )
    assert similarity.main(planted.similarity_argv(planted.similarity)) == 0
    sim = planted.similarity
    assert clustering.main(["--distances", str(sim / "distances.npz"), "--out", str(planted.clustering), "--settings", json.dumps(CLUSTERING_SETTINGS)]) == 0
    assert stats.main(planted.stats_argv(planted.stats)) == 0
    return planted
