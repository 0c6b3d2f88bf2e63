"""Typed, frozen training recipes: the config sections resolved once, at the stage boundary.

A stage reads its validated config section (``ganstyle.config.section``; the
schema is the one place for keys, defaults and descriptions) and turns it into
one recipe object here; networks, tasks, optimisers and checkpoints read the
recipe by attribute and never see ``None`` or a raw dict.

- :class:`GANRecipe`: a per-culture GAN (``gan`` section). Keys the ``gan``
  section leaves at null take the architecture's values from ``ARCHITECTURE_VALUES``
  (the ``default`` recipe, or the seed document's DCGAN).
- :class:`JointRecipe`: the joint conditional GAN: the ``gan`` section with the
  ``joint`` section's non-null keys on top, plus the joint critic's own keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

# What each architecture trains with where a `gan` key is left at null (the schema documents these keys).
ARCHITECTURE_VALUES = {
    # small-data recipe: the non-saturating loss with Adam beta1 0.5 kept ~2x more
    # sample diversity than hinge; feature matching (weight 10) cut the held-out KID
    # ~3x where generators had collapsed to one pattern (tuned on the demo corpus at
    # 600 steps, before the critic measures were the endpoint).  Augmentation keeps
    # ink density (circular shift, no colour jitter: a critic of scripts should not
    # learn to ignore stroke weight), and no minibatch stddev, so nothing a critic
    # computes depends on a batch.  Widths 8/8 are what the demo's 15-minute budget
    # on 2 CPU cores affords for 2 seeds of 12 cultures (README).
    "default": {
        "loss": "bce",
        "feature_matching": 10.0,
        "minibatch_stddev": False,
        "augment": ["shift", "cutout"],
        "ema_decay": 0.999,
        "learning_rate_g": 2e-4,
        "learning_rate_d": 2e-4,
        "beta1": 0.5,
        "beta2": 0.99,
        "latent_dim": 64,
        "g_width": 8,
        "d_width": 8,
        "max_width": 256,
    },
    # the seed document's DCGAN: BCE, Adam(2e-4, beta1 0.5), no augmentation, no EMA
    "seed": {
        "loss": "bce",
        "feature_matching": 0.0,
        "minibatch_stddev": False,
        "augment": [],
        "ema_decay": 0.0,
        "learning_rate_g": 2e-4,
        "learning_rate_d": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "latent_dim": 100,
        "g_width": 64,
        "d_width": 64,
        "max_width": 512,
    },
}


@dataclass(frozen=True)
class GANRecipe:
    """How one GAN is built and trained; every field set (no null means "look elsewhere")."""

    architecture: str
    steps: int
    batch_size: int
    latent_dim: int
    g_width: int
    d_width: int
    max_width: int
    loss: str
    augment: tuple[str, ...]
    ema_decay: float
    feature_matching: float
    minibatch_stddev: bool
    rotation_head: float
    r1_gamma: float
    learning_rate_g: float
    learning_rate_d: float
    beta1: float
    beta2: float
    checkpoint_every: int | None  # None: tied to steps (ganstyle.models.training.checkpoint_interval)
    log_every: int
    jit_compile: bool
    mixed_precision: str | bool
    deterministic: bool
    samples: int
    grid: int
    n_boot: int
    # the mode-seeking weight: the gan section's for a per-culture GAN, the joint section's for the joint critic
    mode_seeking: float = 0.0
    # the joint critic's objective terms; off for a per-culture GAN
    classification: float = 0.0
    feature_head: float = 0.0
    feature_head_lr: float = 0.0
    spectral_embedding: bool = True

    # fields that do not change the trained weights: a checkpoint stays valid when they change
    # (``steps`` among them: raising it continues a finished run)
    NOT_TRAINING = ("steps", "checkpoint_every", "log_every", "samples", "grid", "n_boot")

    @classmethod
    def from_section(cls, gan: dict) -> GANRecipe:
        """The ``gan`` config section (validated, defaults filled) with its nulls resolved."""
        return cls(**_fields_of(cls, _resolve_nulls(gan)))

    def training_fields(self) -> dict:
        """The fields that define the trained weights, as plain JSON values (for checkpoint fingerprints)."""
        return {k: v for k, v in self.as_dict().items() if k not in self.NOT_TRAINING}

    def fingerprint(self, *parts) -> str:
        """A digest of the training fields and ``parts`` (bytes or JSON values): which checkpoints fit this run."""
        digest = hashlib.sha256(json.dumps(self.training_fields(), sort_keys=True).encode())
        for part in parts:
            digest.update(part if isinstance(part, bytes) else json.dumps(part).encode())
        return digest.hexdigest()[:32]

    def as_dict(self) -> dict:
        """JSON-ready fields (tuples as lists), e.g. for metrics.json."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes) -> GANRecipe:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class JointRecipe(GANRecipe):
    """The joint critic: a class-conditional GAN over all cultures, exported at its last snapshots."""

    snapshots: int = 1
    snapshot_every: int = 1

    NOT_TRAINING = (*GANRecipe.NOT_TRAINING, "snapshots", "snapshot_every")

    def samples_per_culture(self, n_cultures: int) -> int:
        """How many of ``samples`` the joint generator draws for each culture (at least one)."""
        return max(self.samples // n_cultures, 1)

    @classmethod
    def from_sections(cls, gan: dict, joint: dict) -> JointRecipe:
        """The ``gan`` section with every non-null key of the ``joint`` section on top (architecture default;
        no rotation head: the joint critic has the feature head)."""
        own = {"enabled"}
        merged = {**gan, **{k: v for k, v in joint.items() if v is not None and k not in own}, "architecture": "default", "rotation_head": 0.0}
        merged["feature_head_lr"] = joint["feature_head_lr"] if joint["feature_head_lr"] is not None else None
        resolved = _resolve_nulls(merged)
        if resolved["feature_head_lr"] is None:
            resolved["feature_head_lr"] = resolved["learning_rate_d"]  # null: the critic's own rate
        return cls(**_fields_of(cls, resolved))


def _resolve_nulls(section: dict) -> dict:
    values = ARCHITECTURE_VALUES[section["architecture"]]
    return {key: (values[key] if value is None and key in values else value) for key, value in {**values, **section}.items()}


def _fields_of(cls, values: dict) -> dict:
    fields = {f.name for f in dataclasses.fields(cls)}
    chosen = {k: v for k, v in values.items() if k in fields}
    if "augment" in chosen:
        chosen["augment"] = tuple(chosen["augment"])
    return chosen
