"""Configuration: one JSON schema (workflow/schemas/config.schema.yaml) is the
single source of truth for keys and defaults, for Snakemake and the CLI alike."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import jsonschema
import yaml

from ganstyle.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"
# what a stage run by hand reads without --config: the study's config in the working directory,
# as `snakemake` itself does (not the schema defaults, which differ from the demo's config.yaml)
DEFAULT_CONFIG = "config.yaml"

log = logging.getLogger("ganstyle.config")


def load_schema(name: str) -> dict:
    return yaml.safe_load((SCHEMA_DIR / f"{name}.schema.yaml").read_text())


def _validator_with_defaults():
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = json.loads(json.dumps(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})


def describe_error(err: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    return f"config key '{key}': {err.message}"


def validate(config: dict, schema_name: str = "config", source: str = "config") -> dict:
    """Validate ``config`` in place, filling defaults; raise UserError naming the key."""
    validator = _validator_with_defaults()(load_schema(schema_name))
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise UserError(f"{source}: {describe_error(errors[0])}")
    return config


def load_config(path: str | Path | None = None) -> dict:
    """Read a config YAML and return it validated with defaults.

    Without ``path``: ``config.yaml`` in the working directory if there is one, else
    the schema defaults.  The log says which it was.
    """
    if path is None:
        path = Path(DEFAULT_CONFIG)
        if not path.is_file():
            log.info("config: no --config and no %s in %s; using the schema defaults", DEFAULT_CONFIG, Path.cwd())
            return validate({}, source="defaults")
    path = Path(path)
    if not path.exists():
        raise UserError(f"config file not found: {path}")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML: {err}") from None
    log.info("config: read %s", path.resolve())
    return validate(config, source=str(path))


def section(name: str, settings: str | None = None, config_path: str | None = None) -> dict:
    """Settings of one config section for a CLI stage.

    ``settings`` is the section as a JSON string (what Snakemake rules pass);
    otherwise the section comes from ``config_path``, else from ``config.yaml`` in
    the working directory, else the schema defaults (:func:`load_config`).
    """
    if settings:
        log.info("config: section '%s' from --settings", name)
        try:
            value = json.loads(settings)
        except json.JSONDecodeError as err:
            raise UserError(f"--settings for '{name}' is not valid JSON: {err}") from err
        return validate({name: value}, source="--settings")[name]
    return load_config(config_path)[name]


def add_settings_arguments(parser, name: str) -> None:
    """The two ways a stage receives its config section."""
    parser.add_argument("--settings", help=f"the '{name}' config section as JSON (as Snakemake passes it)")
    parser.add_argument(
        "--config",
        dest="config_path",
        help=f"read the section from this config YAML instead (default: ./{DEFAULT_CONFIG} if present, else the schema defaults)",
    )
