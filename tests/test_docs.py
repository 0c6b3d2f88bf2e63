"""The reference pages say what the code does: config keys, measure names, rule names and GPU claims in
README.md and docs/*.md are checked against the schema, the measure registry and workflow/rules/*.smk.

(docs/configuration.md's tables are checked against the schema by tests/config/test_docs.py; the validation
corpora by tests/test_validation_docs.py.)  Every check reads files only: no workflow run."""

import fnmatch
import re
from pathlib import Path

import pytest
import yaml

from ganstyle.config import load_schema
from ganstyle.metrics.measures import MEASURES, METRICS, SPACES

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# pages that record history (what was run when, with the names of the time) rather than describe the code
HISTORY = {"validation.md"}
BACKTICKED = re.compile(r"`([^`\n]+)`")
FILE_SUFFIX = re.compile(r"\.(py|smk|css|js|tsv|csv|md|yaml|json|npz|html|png|pdf|svg|keras|rst)$")


def schema_keys() -> set[str]:
    """Every config key as a dotted path (``gan.steps``, ``metadata.filters``, ``stats.external_matrices.name``)."""
    keys: set[str] = set()

    def walk(spec: dict, prefix: str) -> None:
        for key, sub in spec.get("properties", {}).items():
            keys.add(prefix + key)
            walk(sub, f"{prefix}{key}.")
        if isinstance(spec.get("items"), dict):
            walk(spec["items"], prefix)

    walk(load_schema("config"), "")
    return keys


def workflow_rules() -> dict[str, str]:
    """Rule name -> its body, from the Snakefile and workflow/rules/*.smk."""
    rules = {}
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        text = path.read_text(encoding="utf-8")
        heads = list(re.finditer(r"^(?:rule|checkpoint) (\w+):", text, flags=re.M))
        for head, after in zip(heads, [*heads[1:], None][: len(heads)], strict=True):
            rules[head.group(1)] = text[head.end() : after.start() if after else len(text)]
    return rules


def gpu_rules() -> set[str]:
    """The rules whose resources ask for a GPU."""
    return {name for name, body in workflow_rules().items() if re.search(r"^\s+gpu=\d", body, flags=re.M)}


def page_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def sections_of_schema() -> set[str]:
    return set(load_schema("config")["properties"])


def config_key_claims(text: str) -> set[str]:
    """Backticked ``section.key`` (optionally followed by ``: value`` or ``=value``) naming a config section."""
    sections = "|".join(sorted(sections_of_schema(), key=len, reverse=True))
    found = set()
    for token in BACKTICKED.findall(text):
        match = re.fullmatch(rf"((?:{sections})(?:\.[a-z_0-9]+)+)(?:\s*[:=].*)?", token.strip())
        if match and not FILE_SUFFIX.search(match.group(1)):
            found.add(match.group(1))
    return found


def measure_claims(text: str) -> set[str]:
    """Backticked names shaped like a measure: <metric>[_median]_<space>[_excess|_ratio], or the reversed
    <space>_<metric> (a name the registry never makes)."""
    metrics = "|".join(sorted(METRICS, key=len, reverse=True))
    spaces = "|".join(sorted(SPACES, key=len, reverse=True))
    shaped = re.compile(rf"(?:(?:{metrics})(?:_median)?_(?:{spaces})(?:_excess|_ratio)?|(?:{spaces})_(?:{metrics}))")
    return {token for token in BACKTICKED.findall(text) if shaped.fullmatch(token)}


def rule_claims(text: str) -> set[str]:
    """Names the text calls a rule: 'rule `x`' / 'rule x' / 'rules (`x`, `y`)', and every backticked train_*."""
    found = {m.group(1) for m in re.finditer(r"\brules? `([a-z][a-z_*]+)`", text)}
    found |= {m.group(1) for m in re.finditer(r"\brule ([a-z]+_[a-z_]+)\b", text)}
    found |= {token for token in BACKTICKED.findall(text) if re.fullmatch(r"train_[a-z_]+", token)}
    for line in text.splitlines():  # a table whose header names a column "rules"
        if line.startswith("|") and re.search(r"\|\s*rules?\s*\|", line):
            header = [cell.strip() for cell in line.strip("|").split("|")]
            column = header.index(next(c for c in header if c in ("rule", "rules")))
            start = text.index(line) + len(line)
            for row in text[start:].splitlines()[1:]:
                if not row.startswith("|"):
                    break
                cells = row.strip("|").split("|")
                if column < len(cells):
                    found |= set(BACKTICKED.findall(cells[column]))
    return found


def gpu_claims(text: str) -> list[set[str]]:
    """For each sentence saying which rules ask for (or get) a GPU: the backticked rule names it lists."""
    claims = []
    for sentence in re.split(r"(?<=[.;])\s", text.replace("\n", " ")):
        if re.search(r"(ask|asks|get|gets|request|requests) (for )?a GPU", sentence) and "`" in sentence:
            names = {t for t in BACKTICKED.findall(sentence) if re.fullmatch(r"[a-z_]+", t)}
            if names:
                claims.append(names)
    return claims


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in HISTORY], ids=lambda p: p.name)
def test_config_keys_in_the_page_exist(page):
    unknown = config_key_claims(page_text(page)) - schema_keys()
    assert not unknown, f"{page.name}: config keys not in workflow/schemas/config.schema.yaml: {sorted(unknown)}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in HISTORY], ids=lambda p: p.name)
def test_measure_names_in_the_page_exist(page):
    unknown = measure_claims(page_text(page)) - set(MEASURES)
    assert not unknown, f"{page.name}: measures not in ganstyle.metrics.measures.MEASURES: {sorted(unknown)}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.name not in HISTORY], ids=lambda p: p.name)
def test_rule_names_in_the_page_exist(page):
    rules = set(workflow_rules())
    unknown = {claim for claim in rule_claims(page_text(page)) if not fnmatch.filter(rules, claim)}
    assert not unknown, f"{page.name}: rules not in the Snakefile or workflow/rules/*.smk: {sorted(unknown)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_gpu_claims_name_exactly_the_rules_that_ask_for_one(page):
    for claim in gpu_claims(page_text(page)):
        assert claim == gpu_rules(), f"{page.name}: says {sorted(claim)} ask for a GPU; the rules say {sorted(gpu_rules())}"


@pytest.mark.parametrize("profile", ["gpu", "paper", "slurm"])
def test_profiles_give_gpus_to_exactly_those_rules(profile):
    settings = yaml.safe_load((ROOT / "workflow" / "profiles" / profile / "config.yaml").read_text(encoding="utf-8"))
    given = {rule for rule, resources in settings["set-resources"].items() if (resources or {}).get("gpu")}
    assert given == gpu_rules()


def test_the_checks_catch_what_they_are_for():
    text = (
        "In `ingest.py` set `gan.stepz: 3` and `ingest.channels: 3`; the measure `critic_separability` and `separability_critic`; "
        "rule `train_transfer` and `train_gan`. Only the training rules (`train_gan`, `train_transfer`) ask for a GPU."
    )
    assert config_key_claims(text) == {"gan.stepz", "ingest.channels"} and config_key_claims(text) - schema_keys() == {"gan.stepz"}
    assert measure_claims(text) - set(MEASURES) == {"critic_separability"}
    assert rule_claims(text) - set(workflow_rules()) == {"train_transfer"}
    assert gpu_claims(text) == [{"train_gan", "train_transfer"}] and gpu_rules() == {"train_gan", "train_joint", "train_translator", "train_judge"}
    table = "| stage | rules | module |\n|---|---|---|\n| 1 | `ingest`, `old_rule` | x |\n\nafter"
    assert rule_claims(table) == {"ingest", "old_rule"}


def test_architecture_output_table_matches_the_rules_and_ingest():
    from ganstyle.stages.ingest import MANIFEST_COLUMNS, REJECT_COLUMNS

    text = page_text(ROOT / "docs" / "architecture.md")
    table = text[text.index("| stage | output | contents |") :].split("\n\n", 1)[0].splitlines()[2:]
    stages = {row.strip("|").split("|")[0].split()[0] for row in table}
    rules = set(workflow_rules())
    unknown = {stage for stage in stages if not fnmatch.filter(rules, stage)}
    assert not unknown, f"architecture.md: output rows of no rule: {sorted(unknown)}"
    missing = {r for r in rules if r != "all" and not any(fnmatch.fnmatch(r, stage) for stage in stages)}
    assert not missing, f"architecture.md: rules without an output row: {sorted(missing)}"
    manifest = next(row for row in table if "manifest.tsv` | one row per kept image" in row)
    assert manifest.rsplit("`", 2)[-2] == ", ".join(MANIFEST_COLUMNS)
    rejects = next(row for row in table if "rejects.tsv` |" in row and row.startswith("| ingest"))
    assert f"`{', '.join(REJECT_COLUMNS)}`" in rejects
