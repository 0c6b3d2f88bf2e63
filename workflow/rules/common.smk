# Shared helpers: validated config and registry, target lists, settings passed to the CLI.

import hashlib
import json
import os
import re
import shlex
from pathlib import Path

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from ganstyle.config import validate as validate_config
from ganstyle.errors import UserError
from ganstyle.models.devices import REPRODUCIBLE_ENV
from ganstyle.stages.features import CRITIC_SPACES
from ganstyle.figures import FAMILIES
from ganstyle.io.files import CLUSTERING, GAN_RUN, JOINT_RUN, JUDGE, METADATA, SIMILARITY, STATS, TRANSLATOR_RUN
from ganstyle.stages.joint import critic_file, snapshot_steps
from ganstyle.stages.leakage import rows_digest
from ganstyle.metrics.measures import measure_label, primary_measure
from ganstyle.config.registry import load_study
from ganstyle.stages.judge import SCORE_KINDS as JUDGE_SCORE_KINDS
from ganstyle.figures.exemplars import parse_bridge_pairs
from ganstyle.stages.typicality import checked_space


def _validate_config():
    # ganstyle's validator, as the stages' own: it fills the defaults of keys inside
    # sections that may be null (metadata), which snakemake.utils.validate cannot
    try:
        validate_config(config, source="invalid config")
    except UserError as err:
        raise WorkflowError(str(err)) from None


_validate_config()
# the config as the user gave it (defaults filled), before null keys are resolved below: what run_info hashes
USER_CONFIG = json.loads(json.dumps(config))

# config reproducible reaches every job through the environment it inherits: the CLI applies it before
# numpy and TensorFlow load (ganstyle.models.devices.apply_reproducible_mode)
os.environ[REPRODUCIBLE_ENV] = config["reproducible"]

# The culture list must be known here, when the DAG is built: from the registry, the metadata table, or
# both (ganstyle.config.registry).  A table culture with fewer rows with images than ingest.min_images is
# left out (and counted in the metadata report).  Reading a 500k-row export takes a few seconds
# (benchmarks/bench_metadata.py).
try:
    STUDY = load_study(config["cultures"], config["metadata"], config["ingest"]["min_images"])
except UserError as err:
    raise WorkflowError(f"invalid cultures: {err}") from None

REGISTRY = STUDY.registry
CULTURES = STUDY.cultures
RESULTS = config["results"]
# the registry later stages read for labels, groups and coordinates: with a metadata table, the study's
# cultures as rule metadata_report writes them; else the configured registry
REGISTRY_FILE = METADATA.path(RESULTS, "registry") if config["metadata"] else config["cultures"]
LOGS = "logs"
# one file per job: wall and CPU seconds, memory (snakemake benchmark:); summarised after the run (onsuccess, Snakefile)
BENCHMARKS = f"{RESULTS}/benchmarks"


wildcard_constraints:
    culture="[a-z0-9_]+",
    seed="[0-9]+",
    digest="[0-9a-f]{16}",


def settings(section):
    """A config section as JSON, as the ganstyle CLI takes it (``--settings``)."""
    return json.dumps(config[section], sort_keys=True)


def source_fingerprint(wildcards):
    """Hash of a culture's file list, sizes and mtimes.

    Passed as a param so that adding, removing or changing an image re-runs
    only that culture's ingest, without handing every file name to Snakemake.
    """
    source = STUDY.source(wildcards.culture)
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


# Why the corpus depends on the leakage check the way it does.  leakage.tsv is a
# checkpoint: adding a culture re-runs it, but an existing culture's corpus must be
# rebuilt only when its own rows change.  So the corpus job's input is a file of the
# culture's rows named by their digest: unchanged rows, existing file, nothing to do;
# changed rows, a new file, a new corpus.  Every job that reads a corpus reaches it
# through settled_corpus(), created only after the checkpoint is settled: otherwise
# Snakemake 9 re-runs all GANs on every re-run of a finished workflow ("input files
# updated by another job" by a corpus job it then does not run).  Params that read
# the checkpoint (the simpler design) trigger the same re-runs and miss changed rows.


def metadata_inputs(wildcards=None):
    """The files the metadata report reads: the table, the mapping file, the registry."""
    metadata = config["metadata"] or {}
    return [path for path in (metadata.get("path"), metadata.get("mapping"), config["cultures"]) if path]


def metadata_targets():
    """The metadata report, when there is a metadata table."""
    return [METADATA.path(RESULTS, "report")] if config["metadata"] else []


def leaked_rows_file(wildcards):
    table = checkpoints.leakage.get().output[0]
    leaks = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
    return f"{RESULTS}/corpus/leakage/{wildcards.culture}-{rows_digest(leaks, wildcards.culture)}.tsv"


def settled_corpus(culture):
    checkpoints.leakage.get()
    return f"{RESULTS}/corpus/{culture}/images.npz"


def corpus_of(wildcard):
    """Input function: the settled corpus of the culture named by ``wildcard`` (culture, a or b)."""
    return lambda wildcards: settled_corpus(wildcards[wildcard])


def all_corpora(wildcards=None):
    """Every culture's corpus, in registry order (readers of held-out images select them themselves)."""
    return [settled_corpus(culture) for culture in CULTURES]


# ---- used by gan.smk

GAN_SEEDS = config["gan"]["seeds"]
# the seed whose GAN stands for its culture where one is needed: samples, transfer critics, figures
FIRST_GAN_SEED = GAN_SEEDS[0]


def gan_settings(*keys_not_used):
    """The gan section as JSON without keys a rule does not use, so that e.g. adding
    a seed or changing sanity_n_boot does not re-train every GAN (params changes re-run jobs).
    """
    return json.dumps(
        {k: v for k, v in config["gan"].items() if k not in keys_not_used},
        sort_keys=True,
    )


def gan_metrics():
    """metrics.json of every culture's GAN of every seed."""
    return expand(
        GAN_RUN.path(RESULTS, "metrics", culture="{culture}", seed="{seed}"),
        culture=CULTURES,
        seed=GAN_SEEDS,
    )


def gan_targets():
    return [*gan_metrics(), f"{RESULTS}/gan/sanity_kid.tsv", *joint_targets()]


# ---- used by joint.smk

JOINT = config["joint"]["enabled"]


def joint_snapshot_steps():
    joint = config["joint"]
    return snapshot_steps(joint["steps"], joint["snapshot_every"], joint["snapshots"])


def _joint_critic_files():
    return [critic_file(step) for step in joint_snapshot_steps()]


JOINT_CRITIC_FILES = _joint_critic_files()


def joint_critic_files(seed):
    """The joint critic's exported snapshots of one seed."""
    return [f"{RESULTS}/{JOINT_RUN.folder.format(seed=seed)}/{name}" for name in JOINT_CRITIC_FILES]


def joint_critics(seed):
    """The joint critic's snapshots as an input (none when the joint critic is off)."""
    return joint_critic_files(seed) if JOINT else []


def joint_targets():
    return [JOINT_RUN.path(RESULTS, "metrics", seed=seed) for seed in GAN_SEEDS] if JOINT else []


# ---- used by run_info.smk


def training_metrics():
    """metrics.json of every training that records its precision, device and threads (per-culture GANs, joint critic)."""
    return [*gan_metrics(), *joint_targets()]


# ---- used by transfer.smk

# one translator per joint-GAN seed; it needs the joint GAN
TRANSLATORS = JOINT and config["transfer"]["enabled"]


def transfer_targets():
    """The transfer table of every pair of cultures, or nothing without translators."""
    return [rules.transfer_distances.output[0]] if TRANSLATORS else []


# ---- used by judge.smk

# the judge's training outputs (the score tables are written by judge_score)
JUDGE_TRAINING = ("model", "real", "confusion", "history", "metrics")
# what the judge scores in this run: the joint samples and translations only where they exist
JUDGED_KINDS = [kind for kind in JUDGE_SCORE_KINDS if kind == "gan_samples" or (kind == "joint_samples" and JOINT) or (kind == "translations" and TRANSLATORS)]


def judge_score_images(wildcards):
    """The images the judge scores for one kind: every culture's GAN samples (culture x seed), or one file per seed."""
    kind = wildcards.kind
    if kind == "gan_samples":
        return [GAN_RUN.path(RESULTS, "samples", culture=c, seed=s) for c in CULTURES for s in GAN_SEEDS]
    if kind == "joint_samples":
        return [JOINT_RUN.path(RESULTS, "samples", seed=s) for s in GAN_SEEDS]
    return [TRANSLATOR_RUN.path(RESULTS, "translations", seed=s) for s in GAN_SEEDS]


def judge_score_corpora(wildcards):
    """The corpora, for the real images' diversity beside the joint samples'."""
    return all_corpora() if wildcards.kind == "joint_samples" else []


def judge_targets():
    return [JUDGE.path(RESULTS, "metrics")] + [f"{RESULTS}/judge/{kind}.tsv" for kind in JUDGED_KINDS]


# ---- used by features.smk

# the joint spaces exist only with the joint critic
FEATURE_SPACES = [space for space in CRITIC_SPACES if JOINT or not space.startswith("joint")]


def critic_feature_files():
    """Every critic space's features, for every GAN seed."""
    return expand(
        f"{RESULTS}/features/{{space}}/seed{{seed}}.npz",
        space=FEATURE_SPACES,
        seed=GAN_SEEDS,
    )


# ---- used by similarity.smk


def transfer_distance_input():
    """The translators' transfer measures of every pair of cultures (none without translators)."""
    return [rules.transfer_distances.output[0]] if TRANSLATORS else []


# ---- used by stats.smk


def external_matrix_files():
    return [entry["path"] for entry in config["stats"]["external_matrices"]]


def analysis_targets():
    """Every table of the features, similarity, clustering and stats stages (for rule all)."""
    return [
        *critic_feature_files(),
        rules.reference_features.output[0],
        *rules.similarity.output,
        *rules.cluster.output,
        *rules.stats.output,
    ]


# ---- used by typicality.smk, map.smk and the image figures


def primary_space():
    """The feature space of the study's primary measure (config similarity.primary_measure)."""
    return primary_measure(config["similarity"]["primary_measure"]).space


def map_space():
    """The feature space of the image map: config map.space, by default the primary measure's."""
    return config["map"]["space"] or primary_space()


def typicality_space():
    """The critics that score every image's typicality: config typicality.space, by default the primary measure's."""
    return config["typicality"]["space"] or primary_space()


def space_features(space, key):
    """The feature files of one space: reference.npz, or every GAN seed's file of a critic space."""
    if space == "reference":
        return [rules.reference_features.output[0]]
    if space not in FEATURE_SPACES:
        raise WorkflowError(f"invalid config: config key '{key}': the space '{space}' needs the joint critic (joint.enabled is false)")
    return expand(f"{RESULTS}/features/{space}/seed{{seed}}.npz", seed=GAN_SEEDS)


def image_targets():
    """The typicality table and the image map (for rule all)."""
    return [rules.typicality.output[0], rules.image_map.output[0]]


try:
    if primary_space() not in ["reference", *FEATURE_SPACES]:
        raise UserError(f"config key 'similarity.primary_measure': '{config['similarity']['primary_measure']}' needs the joint critic (joint.enabled is false)")
    # a null space follows the primary measure: resolved once here, so the stages' settings and the
    # report's captions read the space actually used
    config["typicality"]["space"] = checked_space(typicality_space(), "typicality.space")
    config["map"]["space"] = checked_space(map_space(), "map.space", critics=False)
    config["figures"]["bridges_measure"] = config["figures"]["bridges_measure"] or config["similarity"]["primary_measure"]
    BRIDGE_PAIRS = parse_bridge_pairs(config["figures"]["bridges_pairs"], CULTURES)
except UserError as err:
    raise WorkflowError(f"invalid config: {err}") from None


# ---- used by figures.smk

# Every figure family is one record (ganstyle/figures/): its outputs, report entries and
# command line are read from there, so that a figure's file name is declared once.
FIGURE_FAMILIES = {family.name: family for family in FAMILIES}

FIGURES = f"{RESULTS}/figures"


FIGURE_FORMATS = config["figures"]["formats"]


def figure_files(stem):
    """Every file of one figure except its PNG (the PNG is the report entry): other formats and the TSV."""
    return [f"{stem}.{fmt}" for fmt in FIGURE_FORMATS if fmt != "png"] + [f"{stem}.tsv"]


# rule all asks for a family with `only_with` only when the run has it
FIGURE_CONDITIONS = {
    "several GAN seeds": len(GAN_SEEDS) > 1,
    "translators": TRANSLATORS,
    "judge of every kind": JUDGED_KINDS == list(JUDGE_SCORE_KINDS),
    # group statistics need two groups (registry column group, or a mapping's); a table alone has none
    "known groups": len({str(group) for group in REGISTRY["group"] if not pd.isna(group) and str(group)}) > 1,
    "bridge pairs": len(CULTURES) > 1 and (config["figures"]["bridges_closest"] > 0 or bool(BRIDGE_PAIRS)),
    # interpolations: the joint generator between the bridge pairs' cultures, read by the judge
    "interpolations": JOINT and len(CULTURES) > 1 and (config["figures"]["bridges_closest"] > 0 or bool(BRIDGE_PAIRS)),
}
_unknown = {f.only_with for f in FAMILIES if f.only_with} - set(FIGURE_CONDITIONS)
if _unknown:
    raise WorkflowError(f"figure families need unknown conditions: {sorted(_unknown)}")


def culture_label(wildcards):
    return {"culture": str(REGISTRY.loc[wildcards.culture, "label"])}


def measure_labels(wildcards):
    labels = {"measure": measure_label(wildcards.measure)}
    if "method" in wildcards.keys():
        labels["linkage"] = wildcards.method
    return labels


FIGURE_PARAMS = {
    # REGISTRY_FILE already holds the metadata table's cultures
    "metadata": "null",
    "settings": settings("figures"),
}


def output_stem(wildcards, output):
    """The output path without suffix, as the figures CLI takes it (``--out``)."""
    return os.path.splitext(output.png)[0]


def figure_command(family):
    """The start of every figures shell command (the options all families share)."""
    return f"python -m ganstyle figures {family}" + " --cultures-file {input.registry:q} --metadata {params.metadata:q} --settings {params.settings:q}"


def _figure_report(output):
    """One output of a family record as its rule declares it (the PNG, or the folder, in the report)."""
    path = f"{FIGURES}/{output.stem}"
    if "{culture}" in output.stem:
        labels = culture_label
    else:
        labels = measure_labels if output.folder else None
    entry = {
        "caption": f"../report/{output.caption}",
        "category": output.category,
        "subcategory": output.subcategory,
        "labels": labels,
    }
    if output.folder:
        return report(directory(path), patterns=[output.pattern], **entry)
    return report(f"{path}.png", **entry)


def _output_name(output):
    """The name of a figure's PNG among the rule's outputs: 'png', or after its option (--out-curves -> 'curves')."""
    return "png" if output.flag == "--out" else output.flag.removeprefix("--out-")


def figure_outputs(name):
    """The outputs of family ``name``'s rule: its folder, or each figure's PNG and every figure's other files ('other')."""
    family = FIGURE_FAMILIES[name]
    if family.outputs[0].folder:
        return {"folder": _figure_report(family.outputs[0])}
    outputs = {_output_name(output): _figure_report(output) for output in family.outputs}
    outputs["other"] = [path for output in family.outputs for path in figure_files(f"{FIGURES}/{output.stem}")]
    return outputs


def figure_inputs(name):
    """The results files a generated rule passes, named as the options that take them."""
    family = FIGURE_FAMILIES[name]
    return {option.dest: f"{RESULTS}/{option.result}" for option in family.options}


def figure_params(name):
    """Params of a generated rule: the shared ones, the family and its arguments (every option's
    results file, the output last), all fixed when the rule is defined.

    The rules are made in a loop, and Snakemake evaluates a rule's shell expression when the job
    runs, so the command itself must not depend on the loop's variable: every generated rule has
    the same command (GENERATED_FIGURE_COMMAND), filled from these params.
    """
    family = FIGURE_FAMILIES[name]
    output = family.outputs[0]
    options = [f"{o.flag} {shlex.quote(f'{RESULTS}/{o.result}')}" for o in family.options]
    options.append(f"{output.flag} {shlex.quote(f'{FIGURES}/{output.stem}')}")
    return {**FIGURE_PARAMS, "family": family.name, "arguments": " ".join(options)}


GENERATED_FIGURE_COMMAND = (
    "python -m ganstyle figures {params.family} --cultures-file {input.registry:q} --metadata {params.metadata:q}"
    " --settings {params.settings:q} {params.arguments} > {log} 2>&1"
)


def figure_targets():
    """Every figure file (for rule all); each family's figures, one per culture where the stem has
    {culture}; a family with `only_with` only when the run has it."""
    targets = []
    for family in FAMILIES:
        if family.only_with and not FIGURE_CONDITIONS[family.only_with]:
            continue
        for output in family.outputs:
            stem = f"{FIGURES}/{output.stem}"
            stems = [stem.replace("{culture}", culture) for culture in CULTURES] if "{culture}" in stem else [stem]
            for path in stems:
                targets += [path] if output.folder else [f"{path}.png", *figure_files(path)]
    return targets
