# Shared helpers: validated config and registry, target lists, settings passed to the CLI.

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from ganstyle.errors import UserError
from ganstyle.registry import culture_source, load_registry


def _validate_config():
    try:
        validate(config, schema="../schemas/config.schema.yaml")
    except WorkflowError as err:
        # snakemake's message is long; keep the line that names the key
        lines = [l.strip() for l in str(err).splitlines() if l.strip()]
        summary = " | ".join(lines[:3])
        raise WorkflowError(f"invalid config: {summary}") from None


_validate_config()

try:
    REGISTRY = load_registry(config["cultures"], config["metadata"])
except UserError as err:
    raise WorkflowError(f"invalid culture registry: {err}") from None

CULTURES = list(REGISTRY["culture"])
RESULTS = config["results"]
LOGS = "logs"


wildcard_constraints:
    culture="[a-z0-9_]+",
    seed="[0-9]+",


def settings(section):
    """A config section as JSON, as the ganstyle CLI takes it (``--settings``)."""
    return json.dumps(config[section], sort_keys=True)


def source_fingerprint(wildcards):
    """Hash of a culture's file list, sizes and mtimes.

    Passed as a param so that adding, removing or changing an image re-runs
    only that culture's ingest, without handing every file name to Snakemake.
    """
    source = culture_source(REGISTRY, wildcards.culture, config["metadata"])
    files = source.files if source.files is not None else sorted(source.root.rglob("*"))
    digest = hashlib.sha256()
    for path in files:
        try:
            stat = os.stat(path)
        except OSError:
            stat = None  # broken link: still part of the listing
        signature = repr((stat and (stat.st_size, stat.st_mtime_ns))).encode()
        digest.update(b"%s\0%s\n" % (os.fsencode(path), signature))
    return digest.hexdigest()[:16]


def corpus_targets():
    return expand(f"{RESULTS}/corpus/{{culture}}/images.npz", culture=CULTURES)


def leaked_digest(wildcards):
    """Hash of this culture's rows in leakage.tsv.

    leakage.tsv is an input marked ancient(): adding a culture re-runs the
    leakage check, but a culture's corpus is rebuilt only when its own rows
    change (this param).  The corpus job reads the rows itself (--leakage);
    the ids on the command line could exceed the kernel's 128 KB limit for
    one argument.
    """
    table = checkpoints.leakage.get().output[0]
    leaks = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
    rows = leaks.loc[leaks["culture"] == wildcards.culture].to_csv(sep="\t", index=False)
    return hashlib.sha256(rows.encode()).hexdigest()[:16]
