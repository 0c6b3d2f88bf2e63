"""The record of one figure family.

A ``Family`` says everything about one ``python -m ganstyle figures <name>`` subcommand: its
options, the figures it writes with their report captions, and the function that draws them.  The
command line (``cli.py``), the Snakemake outputs and report entries, and rule all's targets
(``workflow/rules/common.smk``) are derived from it; a family whose every option is a file of an
earlier stage (``Family.generated_rule``) gets its whole rule from it (``workflow/rules/figures.smk``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One command-line option, required unless it has a ``default``.

    ``result``: the file under ``results/`` that the rule passes (a rule input named like the option,
    ``--mds-bootstrap`` -> ``input.mds_bootstrap``); its help is that path, ``help`` adds a note.
    """

    flag: str
    help: str = ""
    result: str = ""
    nargs: str | None = None
    type: Callable = str
    default: object = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        text = (f"results/{self.result}" + (f" ({self.help})" if self.help else "")) if self.result else self.help
        options = {"required": self.default is None, "help": text or None, "nargs": self.nargs, "type": self.type}
        if self.default is not None:
            options["default"] = self.default
        parser.add_argument(self.flag, **options)


@dataclass(frozen=True)
class Output:
    """One figure of a family (or a folder of figures) and its entry in the Snakemake report.

    ``stem``: path under ``results/figures/`` without suffix (``.pdf``, ``.png``, ``.tsv`` are
    written); ``{culture}`` in it: one figure per culture.  With ``pattern`` the stem is a folder
    whose PNGs match ``pattern`` (one figure per measure, say).  ``caption`` is a file in
    ``workflow/report/``.  ``flag``: the option that takes the stem.
    """

    stem: str
    caption: str
    category: str
    subcategory: str | None = None
    pattern: str = ""
    flag: str = "--out"

    @property
    def folder(self) -> bool:
        return bool(self.pattern)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(self.flag, required=True, help="output folder" if self.folder else "output path without suffix")


@dataclass(frozen=True)
class Family:
    """A figure family: its subcommand ``name``, ``help``, options, outputs and ``draw``.

    ``draw(args, settings, display, registry)`` reads the files named by the options, draws and
    writes every output.  ``only_with``: rule all asks for the family only when the run has this
    (a key of ``FIGURE_CONDITIONS`` in ``workflow/rules/common.smk``).
    """

    name: str
    help: str
    options: tuple[Option, ...]
    outputs: tuple[Output, ...]
    draw: Callable
    only_with: str = ""

    @property
    def slug(self) -> str:
        """The name in rule, log and benchmark names (``figure_{slug}``, ``logs/figures/{slug}.log``)."""
        return self.name.replace("-", "_")

    @property
    def generated_rule(self) -> bool:
        """Whether figures.smk writes the rule from this record: every option is a results file and there is one output."""
        return len(self.outputs) == 1 and all(option.result for option in self.options)

    def add_to(self, subcommands, parents: list[argparse.ArgumentParser]) -> None:
        parser = subcommands.add_parser(self.name, parents=parents, help=self.help, description=self.help)
        for item in (*self.outputs, *self.options):
            item.add_to(parser)
