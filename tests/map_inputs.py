"""Inputs of the typicality and map stages as the earlier stages write them, from synthetic glyph-like
images (shared by the stage tests, the browser tests and benchmarks/bench_map.py).

Culture c's images scatter around a centre in feature space; the joint critic's logit for culture c
is minus the squared distance to c's centre plus noise, so every culture's critic finds its own
images most typical and the map shows one cluster per culture.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from ganstyle.io import files, write_npz, write_tsv

GROUPS = ("european", "semitic", "indic", "southeast_asian")


def glyph_images(n: int, side: int = 32, seed: int = 0, style: int = 0) -> np.ndarray:
    """uint8 (n, side, side, 1): dark strokes on white, their number and shapes varying with ``style``
    (compressible as real scans of writing are, unlike noise)."""
    rng = np.random.default_rng([seed, style])
    out = np.empty((n, side, side, 1), np.uint8)
    for i in range(n):
        image = Image.new("L", (side, side), 255)
        draw = ImageDraw.Draw(image)
        for _ in range(2 + style % 3):
            x0, y0, x1, y1 = (rng.uniform(0.1, 0.9, 4) * side).tolist()
            width = int(1 + (style + i) % 3)
            if (style + _) % 2:
                draw.line((x0, y0, x1, y1), fill=int(rng.integers(0, 80)), width=width)
            else:
                box = (min(x0, x1), min(y0, y1), max(x0, x1) + 2, max(y0, y1) + 2)
                draw.arc(box, float(rng.uniform(0, 180)), float(rng.uniform(180, 360)), fill=int(rng.integers(0, 80)), width=width)
        out[i, ..., 0] = np.asarray(image)
    return out


def write_features(root: Path, cultures, ids_by_culture: dict, seeds=(0, 1), features: int = 16) -> dict:
    """Joint-critic feature files of every seed (and reference.npz) for the held-out images ``ids_by_culture``."""
    rng = np.random.default_rng(7)
    centres = {c: 3.0 * rng.normal(size=features) for c in cultures}
    labels = np.concatenate([np.full(len(ids_by_culture[c]), c) for c in cultures])
    ids = np.concatenate([np.asarray(ids_by_culture[c]).astype(str) for c in cultures])
    points = np.concatenate([centres[c] + rng.normal(size=(len(ids_by_culture[c]), features)) for c in cultures])
    logits = np.stack([-np.sum((points - centres[c]) ** 2, axis=1) / features for c in cultures], axis=1)
    paths = []
    for seed in seeds:
        path = root / "results" / "features" / "joint" / f"seed{seed}.npz"
        files.save_critic_space(
            path,
            files.CriticSpaceFeatures(
                space="joint",
                seed=seed,
                culture=labels,
                ids=ids,
                logit_cultures=np.array(list(cultures)),
                steps=np.array([10, 20]),
                features=np.stack([np.tanh(points + 0.1 * rng.normal(size=points.shape)) for _ in range(2)]).astype(np.float32),
                blocks=np.array([features]),
                logits=np.stack([logits + 0.2 * rng.normal(size=logits.shape) for _ in range(2)]).astype(np.float32),
                embeddings=np.zeros((2, len(cultures), 4), np.float32),
            ),
        )
        paths.append(str(path))
    reference = root / "results" / "features" / "reference.npz"
    files.save_reference_features(reference, files.ReferenceFeatures(points.astype(np.float32), labels, ids))
    return {"features": paths, "reference": str(reference), "ids": ids, "culture": labels, "points": points}


def write_registry(root: Path, cultures) -> str:
    registry = root / "cultures.tsv"
    rows = [{"culture": c, "path": f"images/{c}", "label": c.title(), "group": GROUPS[k % len(GROUPS)]} for k, c in enumerate(cultures)]
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(registry, sep="\t", index=False)
    return str(registry)


def stage_paths(root: Path, cultures) -> dict:
    """Where the earlier stages put each file under ``root``/results."""
    results = root / "results"
    return {
        "root": root,
        "cultures": list(cultures),
        "corpora": [str(results / "corpus" / c / "images.npz") for c in cultures],
        "manifests": [str(results / "corpus" / c / "manifest.tsv") for c in cultures],
        "typicality": str(results / "images" / "typicality.tsv"),
        "map": str(results / "map"),
    }


def write_map_inputs(
    root: Path, cultures=("latin", "greek", "arabic"), n_per_culture: int | dict = 20, names: dict | None = None, seeds=(0, 1), side: int = 32, images=None
) -> dict:
    """A results tree with every input of the typicality and map stages (all images held out); returns the paths.

    ``names``: id -> source file name for chosen images (others are ``<culture>/<n>.png``);
    ``images(n, side, k, culture)``: the images of the k-th culture (default ``glyph_images``).
    """
    counts = n_per_culture if isinstance(n_per_culture, dict) else dict.fromkeys(cultures, n_per_culture)
    paths = stage_paths(root, cultures)
    ids_by_culture = {}
    for k, culture in enumerate(cultures):
        n = counts[culture]
        ids_by_culture[culture] = np.array([f"{k:04x}{i:012x}" for i in range(n)])
        pixels = images(n, side, k, culture) if images else glyph_images(n, side, seed=k, style=k)
        write_npz(paths["corpora"][k], images=pixels, ids=ids_by_culture[culture], split=np.full(n, "heldout"))
        sources = [(names or {}).get(image, f"{culture}/{i:05d}.png") for i, image in enumerate(ids_by_culture[culture])]
        write_tsv(paths["manifests"][k], pd.DataFrame({"id": ids_by_culture[culture], "source": sources, "split": "heldout"}))
    return {**paths, "registry": write_registry(root, cultures), **write_features(root, cultures, ids_by_culture, seeds)}


# --------------------------------------------------------------------------- reading the page's folder


def read_data(folder) -> dict:
    text = (Path(folder) / "data.js").read_text(encoding="ascii")
    prefix = "window.GANSTYLE_MAP_DATA = "
    assert text.startswith(prefix) and text.endswith(";\n")
    return json.loads(text[len(prefix) : -2])


def decoded(data: dict, key: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(data[key]), dtype=np.dtype(dtype).newbyteorder("<"))


def atlas_image(folder, i: int) -> np.ndarray:
    text = (Path(folder) / f"atlas-{i:03d}.js").read_text(encoding="ascii")
    uri = re.fullmatch(r'window\.GANSTYLE_MAP_ATLAS\(\d+, "data:image/webp;base64,([A-Za-z0-9+/=]+)"\);\n', text).group(1)
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri))).convert("RGB"))
    # WebP has no grey mode: grey atlases come back with three equal channels
    assert (pixels == pixels[..., :1]).all()
    return pixels[..., 0]


def typicality_argv(inputs: dict, space: str = "joint") -> list[str]:
    return [
        "--features", *inputs["features"], "--manifests", *inputs["manifests"], "--out", inputs["typicality"],
        "--settings", json.dumps({"space": space}),
    ]  # fmt: skip


def map_argv(inputs: dict, features: list[str] | None = None, out: str | None = None, **settings) -> list[str]:
    chosen = {"space": "joint", "layout": "umap", "seed": 0, **settings}
    return [
        "--corpora", *inputs["corpora"], "--features", *(features or inputs["features"]),
        "--typicality", inputs["typicality"], "--cultures-file", inputs["registry"], "--n-components", "8",
        "--out", out or inputs["map"], "--settings", json.dumps(chosen),
    ]  # fmt: skip
