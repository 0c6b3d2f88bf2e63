"""docs/own-corpus.md's worked colour-photo config: valid against the schema, and (slow) end to end on colour images.

The config is parsed out of the markdown, so the page and these tests cannot drift apart."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image, ImageDraw
from test_workflow import TINY

from ganstyle.config import validate

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "own-corpus.md"
# two groups of two cultures; each culture's objects have their own glaze hue and shape
CULTURES = {
    "attic": ("greek", (170, 60, 30), 0.8),
    "corinth": ("greek", (150, 80, 40), 0.7),
    "song": ("chinese", (60, 130, 120), 1.2),
    "ming": ("chinese", (40, 60, 160), 1.3),
}


def documented_config() -> dict:
    """The first yaml block of docs/own-corpus.md (the worked config)."""
    blocks = re.findall(r"```yaml\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, f"{PAGE}: no yaml block"
    return yaml.safe_load(blocks[0])


def merged(base: dict, overrides: dict) -> dict:
    """``base`` with the sections of ``overrides`` merged key by key (as --configfile overlays merge)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_documented_colour_config_is_valid_and_colour():
    config = validate(documented_config(), source=str(PAGE))
    assert config["ingest"]["channels"] == 3 and config["ingest"]["resize"] == "pad" and config["ingest"]["resolution"] == 64
    assert "color" not in config["gan"]["augment"] and "color" not in config["joint"]["augment"]  # the page argues against colour jitter
    # the keys it leaves out get the study defaults the page quotes
    assert config["gan"]["steps"] == 1200 and config["similarity"]["n_boot"] == 1000 and config["stats"]["permutations"] == 9999


def photographs(folder: Path, rgb: tuple[int, int, int], squat: float, n: int, seed: int) -> None:
    """``n`` photographs of vessels: a glazed body of the culture's hue and proportions on a white backdrop, JPEG."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        width, height = int(rng.integers(56, 80)), int(rng.integers(48, 72))  # not square: pad has work to do
        image = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        body_w = int(height * 0.5 * squat * rng.uniform(0.85, 1.15))
        cx, top = width // 2 + int(rng.integers(-4, 5)), int(rng.integers(4, 12))
        colour = tuple(int(np.clip(c + rng.normal(0, 12), 0, 255)) for c in rgb)
        draw.ellipse([cx - body_w // 2, top, cx + body_w // 2, height - 4], fill=colour)
        for _ in range(int(rng.integers(2, 6))):  # painted bands
            y = int(rng.integers(top + 4, height - 8))
            draw.line([cx - body_w // 3, y, cx + body_w // 3, y], fill=tuple(255 - c for c in colour), width=int(rng.integers(1, 3)))
        image.save(folder / f"{i:03d}.jpg", quality=92)


@pytest.mark.slow
def test_documented_colour_config_runs_end_to_end(tmp_path):
    rows = []
    for k, (culture, (group, rgb, squat)) in enumerate(CULTURES.items()):
        photographs(tmp_path / "photos" / culture, rgb, squat, 60, k)
        rows.append({"culture": culture, "path": str(tmp_path / "photos" / culture), "label": culture.title(), "group": group})
    pd.DataFrame(rows).to_csv(tmp_path / "cultures.tsv", sep="\t", index=False)
    # the page's config, kept tiny: its own registry, few images, few steps, 32 px
    config = merged(documented_config(), {"cultures": "cultures.tsv", "results": "results", "ingest": {"min_images": 20, "resolution": 32}, **TINY})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(tmp_path / "config.yaml"),
            "--cores",
            "2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    results = tmp_path / "results"
    with np.load(results / "corpus" / "song" / "images.npz") as corpus:
        images = corpus["images"]
    assert images.shape[1:] == (32, 32, 3)
    hue = images.reshape(-1, 3).astype(float).mean(axis=0)
    assert hue[2] > hue[0]  # the song vessels stayed blue-green: colour was not turned grey
    with np.load(results / "features" / "reference.npz") as reference:
        assert reference["features"].shape[1] == 235  # 219 luminance + 16 colour features
    recovery = pd.read_csv(results / "stats" / "group_recovery.tsv", sep="\t")
    assert {"gan", "control", "baseline"} <= set(recovery["role"]) and recovery["ari_q_bh"].notna().any()
    assert "RGB (sRGB)" in (results / "methods.md").read_text(encoding="utf-8")
