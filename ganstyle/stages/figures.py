"""Stage ``figures``: publication figures, each as PDF + PNG with the data it plots as a TSV beside it.

``python -m ganstyle figures <family> [options]`` draws one family; ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence

from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.figures import style
from ganstyle.figures.family import Family
from ganstyle.figures.shared import display_of


def build_parser(families: Sequence[Family]) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cultures-file", required=True, help="culture registry (config key 'cultures'): labels and groups")
    common.add_argument("--metadata", default="null", help="config key 'metadata' as JSON")
    add_settings_arguments(common, "figures")

    parser = argparse.ArgumentParser(prog="python -m ganstyle figures", description=__doc__.split("\n\n")[0])
    subcommands = parser.add_subparsers(dest="family", required=True, metavar="family")
    for family in families:
        family.add_to(subcommands, [common])
    return parser


def main(argv: list[str] | None = None, stage: str = "figures") -> int:
    from ganstyle.config.registry import load_registry
    from ganstyle.figures import FAMILIES as families

    args = build_parser(families).parse_args(argv)
    for noisy in ("matplotlib", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = section("figures", args.settings, args.config_path)
    try:
        metadata = json.loads(args.metadata)
    except json.JSONDecodeError as err:
        raise UserError(f"--metadata is not valid JSON: {err}") from err
    registry = load_registry(args.cultures_file, metadata)
    style.apply(settings["font_size"], settings["dpi"])
    family = next(f for f in families if f.name == args.family)
    family.draw(args, settings, display_of(registry), registry)
    return 0
