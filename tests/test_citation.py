"""CITATION.cff and LICENSE agree with pyproject.toml and with the methods text's references.

Schema validation of CITATION.cff is cffconvert's (``cffconvert --validate``, a step of .ci/run in a
virtual environment of its own: cffconvert 2.0.0 needs jsonschema < 4, the workflow pins 4.x)."""

import re
import tomllib
from pathlib import Path

import yaml

from ganstyle.stages.methods import REFERENCES

ROOT = Path(__file__).resolve().parents[1]


def test_citation_agrees_with_pyproject_and_the_licence():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    assert str(citation["version"]) == project["version"]
    assert citation["license"] == project["license"]["text"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_citation_lists_the_references_of_the_methods_text():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    cited = [(ref["title"], ref["year"], ref["authors"][0]["family-names"]) for ref in citation["references"]]
    expected = []
    for entry in REFERENCES.values():
        authors, rest = entry.split(" (", 1)
        title = re.split(r"(?<=[.?]) ", rest[7:], maxsplit=1)[0].rstrip(".")
        expected.append((title, int(rest[:4]), authors.split(",")[0]))
    assert cited == expected
