"""Command line entry point: ``python -m ganstyle <stage> [options]``.

Stages and tools are imported lazily so that light ones (ingest, render-scripts)
do not pay for importing TensorFlow.  Each of their modules exposes ``main(argv) -> int``.
"""

from __future__ import annotations

import importlib
import logging
import sys

from ganstyle.errors import UserError
from ganstyle.models import devices

# tool name -> (module, one-line description): commands around the study, not steps of its workflow
TOOLS: dict[str, tuple[str, str]] = {
    "render-scripts": ("ganstyle.tools.render_scripts", "render text patches of writing systems from a font folder (the demo corpus)"),
    "compare-runs": ("ganstyle.tools.compare_runs", "group recovery of several finished runs side by side (corpora, recipes)"),
    "benchmark-summary": ("ganstyle.tools.benchmark_summary", "per-job and per-stage seconds from the rules' benchmark files"),
    "learning-curve": (
        "ganstyle.tools.learning_curve",
        "judge and sanity of per-culture GANs, or of the joint GAN, at several step counts of one run (recipe search)",
    ),
}
# stage name -> (module, one-line description)
STAGES: dict[str, tuple[str, str]] = {
    "ingest": ("ganstyle.stages.ingest", "decode, clean and hash one culture's images"),
    "metadata-report": ("ganstyle.stages.ingest", "rows of the metadata table used per culture and dropped per reason; the study's registry"),
    "leakage": ("ganstyle.stages.leakage", "find images shared between cultures"),
    "leakage-rows": ("ganstyle.stages.leakage", "one culture's rows of the leakage table"),
    "corpus": ("ganstyle.stages.corpus", "final per-culture training set: drop leaked images, split"),
    "train-gan": ("ganstyle.stages.gan", "train one culture's GAN"),
    "train-joint": ("ganstyle.stages.joint", "train the joint critic: one class-conditional GAN over all cultures"),
    "gan-sanity": ("ganstyle.stages.gan", "KID of every culture's generator against every culture's held-out images"),
    "train-judge": ("ganstyle.stages.judge", "train the judge: a culture classifier of real images"),
    "judge-score": ("ganstyle.stages.judge", "the judge on generated or translated images"),
    "train-translator": ("ganstyle.stages.transfer", "train the translator of one joint-GAN seed; translate every held-out image into every culture"),
    "transfer-distances": ("ganstyle.stages.transfer", "the translators' transfer measures of every pair, averaged over seeds"),
    "extract-features": ("ganstyle.stages.features", "critic, untrained-control and reference features of held-out images"),
    "similarity": ("ganstyle.stages.similarity", "culture x culture similarity matrices"),
    "cluster": ("ganstyle.stages.clustering", "hierarchical clustering, bootstrap support, MDS"),
    "stats": ("ganstyle.stages.stats", "group recovery, ARI/NMI, PERMANOVA, PERMDISP, Mantel tests, seed stability"),
    "typicality": ("ganstyle.stages.typicality", "every held-out image's score under every culture's critic"),
    "interpolate": ("ganstyle.stages.interpolation", "the joint generator from culture a to b with fixed noise, judged (pairs of the bridges figure)"),
    "map": ("ganstyle.stages.map", "the interactive image map (results/map/index.html)"),
    "figures": ("ganstyle.stages.figures", "publication figures"),
    "run-info": ("ganstyle.stages.run_info", "what the run ran on: code, config hash, versions, CPU/GPU, threads, precision"),
    "methods": ("ganstyle.stages.methods", "the methods text with references (results/methods.md), from the config, the measure registry and run_info"),
}


COMMANDS = {**STAGES, **TOOLS}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m ganstyle <stage|tool> [options]", "", "stages:"]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in STAGES.items()]
    lines += ["", "tools:"]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in TOOLS.items()]
    lines += ["", "Run 'python -m ganstyle <stage> --help' for a stage's or tool's options."]
    return "\n".join(lines)


def setup_logging() -> None:
    """One log format for every stage, on stderr (Snakemake rules send it to the rule's log: file)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s", stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    stage, rest = argv[0], argv[1:]
    if stage not in COMMANDS:
        print(f"ganstyle: unknown stage '{stage}'\n\n{_usage()}", file=sys.stderr)
        return 2
    setup_logging()
    try:
        # before the stage's imports: numpy and TensorFlow pick their kernels when they load
        devices.apply_reproducible_mode()
        module = importlib.import_module(COMMANDS[stage][0])
        return int(module.main(rest, stage=stage) or 0)
    except UserError as err:
        print(f"ganstyle {stage}: error: {err}", file=sys.stderr)
        return 1
