"""The image map at 1k, 10k and 50k synthetic images: build time, folder size, time until ready in headless Chromium.

    python benchmarks/bench_map.py [--sizes 1000 10000 50000] [--layout umap] [--repeats 3] [--keep DIR]

For each size: 32 px images cut at random places and scales from the demo corpus (``data/demo``: text
in 12 scripts) and resized as ingest resizes, so that the atlases compress as the demo's held-out images
do (not as noise, nor as flat shapes), as many per culture, two seeds of a 16-dimensional joint-critic feature file with one cluster per culture
(``tests/map_inputs.py``), then the real ``typicality`` and ``map`` stages as the workflow runs them
(one thread, as its rule does).  The page is opened from file:// in headless Chromium (Debian's
chromium with SwiftShader for WebGL, the flags of ``tests/browser.py``) three times per renderer; the
median time from navigation to the page's ready flag is reported, and the median time of one frame
(drawn and finished) at the whole-map view and zoomed 8x.

Ratios are printed against the first (smallest) size, run in the same process, and against the
targets at 50k images: ready in under 10 s, folder under 40 MB.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

READY_TARGET_S, SIZE_TARGET_MB = 10.0, 40.0
CULTURES = ("latin", "greek", "cyrillic", "arabic", "hebrew", "syriac", "devanagari", "bengali", "gurmukhi", "thai", "lao", "khmer")


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def frame_ms(browser, frames: int = 10) -> float:
    """Median milliseconds of one finished frame."""
    times = browser.driver.execute_script(
        f"const t = []; for (let f = 0; f < {frames}; f++) {{ window.ganstyleMap.panBy(f % 2 ? 3 : -3, 0);"
        " const s = performance.now(); window.ganstyleMap.frame(); t.push(performance.now() - s); } return t;"
    )
    return statistics.median(times)


def measure_page(folder: Path, renderer: str, repeats: int) -> dict:
    from browser import Browser

    ready, whole, zoomed = [], [], []
    for _ in range(repeats):
        browser = Browser()
        try:
            ready.append(browser.open_map(folder, "" if renderer == "webgl" else "?renderer=canvas", timeout=120))
            state = browser.state()
            assert state["renderer"] == renderer, state
            whole.append(frame_ms(browser))
            browser.driver.execute_script("window.ganstyleMap.zoomBy(8);")
            zoomed.append(frame_ms(browser))
            errors = browser.console_errors()
            assert not errors, errors
        finally:
            browser.close()
    return {"ready_s": statistics.median(ready), "frame_ms": statistics.median(whole), "zoomed_frame_ms": statistics.median(zoomed), "drawn": state["drawn"]}


def demo_crops(n: int, side: int, k: int, culture: str) -> np.ndarray:
    """``n`` grey (n, side, side, 1) crops of the culture's demo images, resized as ingest resizes
    (``centre_crop``: Lanczos): random square windows of 85-100 % of an image's side at random places,
    so that different windows make different images as dense in text as the demo's own."""
    from PIL import Image

    from ganstyle.io.images import centre_crop

    sources = sorted((ROOT / "data" / "demo" / culture).glob("*.png"))
    if not sources:
        raise SystemExit(f"no demo images in {ROOT / 'data' / 'demo' / culture}")
    rng = np.random.default_rng([k, n])
    pictures = [np.asarray(Image.open(path).convert("L")) for path in sources]
    out = np.empty((n, side, side, 1), np.uint8)
    for i in range(n):
        picture = pictures[rng.integers(len(pictures))]
        height, width = picture.shape
        window = int(rng.uniform(0.85, 1.0) * min(height, width))
        top, left = rng.integers(0, height - window + 1), rng.integers(0, width - window + 1)
        out[i] = centre_crop(picture[top : top + window, left : left + window, None], side)
    return out


def run(n: int, cultures: tuple[str, ...], layout: str, work: Path, repeats: int) -> dict:
    from map_inputs import map_argv, typicality_argv, write_map_inputs

    from ganstyle.stages import map as map_stage
    from ganstyle.stages import typicality

    counts = {c: n // len(cultures) + (k < n % len(cultures)) for k, c in enumerate(cultures)}
    started = time.perf_counter()
    inputs = write_map_inputs(work / f"n{n}", cultures=cultures, n_per_culture=counts, images=demo_crops)
    made = time.perf_counter() - started
    started = time.perf_counter()
    assert typicality.main(typicality_argv(inputs)) == 0
    typicality_s = time.perf_counter() - started
    started = time.perf_counter()
    assert map_stage.main([*map_argv(inputs, layout=layout), "--threads", "1"]) == 0
    build_s = time.perf_counter() - started
    result = {"n": n, "inputs_s": made, "typicality_s": typicality_s, "build_s": build_s, "mb": folder_mb(Path(inputs["map"]))}
    for renderer in ("webgl", "canvas"):
        page = measure_page(Path(inputs["map"]), renderer, repeats)
        assert page["drawn"] == n, page
        result.update({f"{renderer}_{key}": value for key, value in page.items() if key != "drawn"})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--layout", choices=["umap", "tsne"], default="umap")
    parser.add_argument("--repeats", type=int, default=3, help="page loads per size and renderer")
    parser.add_argument("--keep", type=Path, help="keep the built maps in this folder (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    cultures = CULTURES
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_map-"))
    results = []
    try:
        for n in args.sizes:
            results.append(run(n, cultures, args.layout, work, args.repeats))
            r = results[-1]
            print(
                f"{r['n']:>6} images: build {r['build_s']:.1f} s (typicality {r['typicality_s']:.1f} s), folder {r['mb']:.1f} MB, "
                f"ready {r['webgl_ready_s']:.2f} s WebGL / {r['canvas_ready_s']:.2f} s Canvas 2D, "
                f"frame {r['webgl_frame_ms']:.1f} / {r['canvas_frame_ms']:.1f} ms, zoomed 8x {r['webgl_zoomed_frame_ms']:.1f} / {r['canvas_zoomed_frame_ms']:.1f} ms",
                flush=True,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    reference = results[0]
    print(f"\nratios against the {reference['n']}-image run of this process:")
    for r in results[1:]:
        print(
            f"{r['n']:>6} images ({r['n'] / reference['n']:.0f}x): build {r['build_s'] / reference['build_s']:.1f}x, folder {r['mb'] / reference['mb']:.1f}x, "
            f"ready {r['webgl_ready_s'] / reference['webgl_ready_s']:.1f}x WebGL, {r['canvas_ready_s'] / reference['canvas_ready_s']:.1f}x Canvas 2D"
        )
    largest = results[-1]
    print(f"\ntargets at {largest['n']} images:")
    print(f"ready (WebGL): {largest['webgl_ready_s']:.2f} s = {largest['webgl_ready_s'] / READY_TARGET_S:.2f}x of {READY_TARGET_S:.0f} s")
    print(f"ready (Canvas 2D): {largest['canvas_ready_s']:.2f} s = {largest['canvas_ready_s'] / READY_TARGET_S:.2f}x of {READY_TARGET_S:.0f} s")
    print(f"folder: {largest['mb']:.1f} MB = {largest['mb'] / SIZE_TARGET_MB:.2f}x of {SIZE_TARGET_MB:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
