"""The image map in a real browser: headless Chromium from file://, both renderers (WebGL and Canvas 2D).

The page is built by the real typicality and map stages; the security test also runs the real ingest
and corpus stages on files whose names are HTML, quotes and bytes that are not UTF-8.
"""

import io
import json
import os

import numpy as np
import pandas as pd
import pytest
from browser import Browser
from map_inputs import decoded, glyph_images, map_argv, read_data, stage_paths, typicality_argv, write_features, write_map_inputs, write_registry
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from ganstyle.stages import corpus, ingest, typicality
from ganstyle.stages import map as map_stage
from ganstyle.stages.corpus import load_corpus

COUNTS = {"latin": 40, "greek": 35, "arabic": 30, "hebrew": 25}
OVERLAYS = ("heading", "legend", "status", "panel")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    inputs = write_map_inputs(tmp_path_factory.mktemp("browser"), cultures=tuple(COUNTS), n_per_culture=COUNTS)
    assert typicality.main(typicality_argv(inputs)) == 0
    assert map_stage.main(map_argv(inputs, layout="tsne")) == 0
    return inputs, read_data(inputs["map"])


@pytest.fixture(scope="module", params=["webgl", "canvas"])
def page(request, built):
    browser = Browser()
    browser.open_map(built[0]["map"], "" if request.param == "webgl" else "?renderer=canvas")
    yield browser, request.param, built[1]
    browser.close()


def map_pixels(browser: Browser) -> np.ndarray:
    """A screenshot (RGB) with the page's boxes over the map (heading, legend, status, panel) blanked out."""
    pixels = np.asarray(Image.open(io.BytesIO(browser.driver.get_screenshot_as_png())).convert("RGB")).copy()
    for name in OVERLAYS:
        box = browser.driver.execute_script(
            f"const e = document.getElementById('{name}'); if (e.hidden) return null; const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];"
        )
        if box:
            left, top, right, bottom = (int(v) for v in box)
            pixels[max(0, top - 2) : bottom + 2, max(0, left - 2) : right + 2] = 255
    return pixels


def colour_count(pixels: np.ndarray, colour: str) -> int:
    rgb = [int(colour[k : k + 2], 16) for k in (1, 3, 5)]
    return int((pixels == rgb).all(axis=2).sum())


def clickable(browser: Browser, i: int) -> tuple[int, int] | None:
    """Whole-pixel screen position of image i when a click there reaches the map and picks i, else None."""
    x, y = browser.driver.execute_script(f"const p = window.ganstyleMap.screenPosition({i}); return [Math.round(p.x), Math.round(p.y)];")
    hit = browser.driver.execute_script(f"return document.elementFromPoint({x}, {y}).id === 'images' && window.ganstyleMap.imageAt({x}, {y}) === {i};")
    return (x, y) if hit else None


def click_at(browser: Browser, x: int, y: int) -> None:
    canvas = browser.driver.find_element(By.ID, "images")
    width, height = canvas.size["width"], canvas.size["height"]
    ActionChains(browser.driver).move_to_element_with_offset(canvas, x - width // 2, y - height // 2).click().perform()


def open_panel(browser: Browser, i: int) -> None:
    """Click image i (moved to the middle of the map first when something covers it)."""
    spot = clickable(browser, i)
    if spot is None:
        browser.driver.execute_script(f"window.ganstyleMap.centreOn({i});")
        spot = clickable(browser, i)
    assert spot is not None, f"image {i} cannot be clicked"
    click_at(browser, *spot)


def panel(browser: Browser) -> dict:
    return browser.driver.execute_script(
        """const p = document.getElementById('panel');
        return {hidden: p.hidden, index: Number(p.dataset.index), name: document.getElementById('panel-name').textContent,
                culture: document.getElementById('panel-culture').textContent.trim(), rank: document.getElementById('panel-rank').textContent,
                neighbours: [...document.querySelectorAll('#panel-neighbours li .name')].map((e) => e.textContent),
                scores: [...document.querySelectorAll('#panel-scores tbody tr')].map((r) => [...r.cells].map((c) => c.textContent))};"""
    )


def test_every_image_is_drawn_with_the_chosen_renderer(page):
    browser, renderer, data = page
    state = browser.state()
    assert state == {"ready": True, "renderer": renderer, "drawn": sum(COUNTS.values()), "n": sum(COUNTS.values()), "error": ""}
    assert browser.driver.execute_script("return document.documentElement.dataset.ready") == "true"


def test_every_cultures_colour_is_in_the_screenshot(page):
    browser, _, data = page
    pixels = map_pixels(browser)
    for culture in data["cultures"]:
        assert colour_count(pixels, culture["colour"]) > 100, culture["id"]


def test_a_click_on_an_image_opens_its_panel_with_its_neighbours(page):
    browser, _, data = page
    i = next(i for i in range(data["n"]) if clickable(browser, i))
    x, y = clickable(browser, i)
    ActionChains(browser.driver).move_to_element_with_offset(browser.driver.find_element(By.ID, "images"), 0, 0).perform()
    click_at(browser, x, y)
    shown = panel(browser)
    k = data["k"]
    neighbours = decoded(data, "neighbours", data["neighbourType"]).reshape(-1, k)[i]
    culture = data["cultures"][decoded(data, "culture", "uint16")[i]]
    assert not shown["hidden"] and shown["index"] == i
    assert shown["name"] == data["names"][i] and shown["culture"] == culture["label"]
    assert shown["neighbours"] == [data["names"][j] for j in neighbours] and len(shown["neighbours"]) == 10
    # one row per critic, with the score of the typicality table and the image's rank under it
    scores = decoded(data, "scores", "float32").reshape(data["n"], -1)[i]
    assert [row[0] for row in shown["scores"]] == [c["label"] for c in data["cultures"]]
    assert [float(row[1]) for row in shown["scores"]] == pytest.approx(list(scores), abs=0.006)
    # hovering names the image
    tooltip = browser.driver.execute_script("const t = document.getElementById('tooltip'); return [t.hidden, t.textContent];")
    assert tooltip == [False, f"{data['names'][i]} ({culture['label']})"]


def test_the_panel_rank_is_the_typicality_tables(page, built):
    browser, _, data = page
    inputs = built[0]
    table = pd.read_csv(inputs["typicality"], sep="\t", dtype={"id": str, "critic": str, "culture": str})
    for i in (0, 7, 33):
        browser.driver.execute_script(f"window.ganstyleMap.select({i});")
        shown = panel(browser)
        rows = table[table["id"] == data["ids"][i]].set_index("critic").loc[data["criticIds"]]
        assert [int(row[2]) for row in shown["scores"]] == list(rows["rank"])
        own = rows.loc[rows["culture"].iloc[0]]
        assert f"ranks it {own['rank']} of {own['n_images']}" in shown["rank"]


def test_the_legend_hides_and_shows_a_culture(page):
    browser, _, data = page
    greek = next(c for c in data["cultures"] if c["id"] == "greek")
    button = browser.driver.find_element(By.CSS_SELECTOR, "#cultures button[data-culture='greek']")
    button.click()
    browser.driver.execute_script("return new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));")
    assert browser.state()["drawn"] == sum(COUNTS.values()) - COUNTS["greek"]
    assert colour_count(map_pixels(browser), greek["colour"]) == 0
    button.click()
    browser.driver.execute_script("return new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));")
    assert browser.state()["drawn"] == sum(COUNTS.values())
    assert colour_count(map_pixels(browser), greek["colour"]) > 100


def test_no_errors_in_the_console(page):
    browser, _, _ = page
    assert browser.console_errors() == []


def test_without_webgl_the_page_draws_with_canvas(built):
    browser = Browser("--disable-webgl")
    try:
        browser.open_map(built[0]["map"])
        assert browser.state()["renderer"] == "canvas" and browser.state()["drawn"] == sum(COUNTS.values())
        assert browser.console_errors() == []
    finally:
        browser.close()


# --------------------------------------------------------------------------- names from users' folders


HOSTILE = [
    "<img src=x onerror=alert(1)>.png",
    'it\'s "quoted" & <b>bold</b>.png',
    os.fsdecode(b"caf\xe9 \xff.png"),  # not UTF-8: ingest writes it as caf\xe9 \xff.png
    "x</script><script>alert(2)</script>.png",  # '/' makes folders: the path holds a closing script tag
    "line\u2028separator.png",
]


@pytest.fixture(scope="module")
def hostile_map(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_map")
    cultures = ("latin", "greek")
    for k, culture in enumerate(cultures):
        folder = root / "images" / culture
        names = HOSTILE + [f"plain{i}.png" for i in range(20)] if culture == "latin" else [f"g{i}.png" for i in range(20)]
        for name, pixels in zip(names, glyph_images(len(names), 40, seed=10 + k, style=k)):
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[..., 0]).save(os.fsencode(path), format="PNG")
    registry = write_registry(root, cultures)
    frame = pd.read_csv(registry, sep="\t")
    frame["path"] = [str(root / "images" / c) for c in cultures]
    frame.to_csv(registry, sep="\t", index=False)
    paths = stage_paths(root, cultures)
    ingest_settings = {"resolution": 32, "min_images": 2, "min_side": 32}
    for culture in cultures:
        argv = ["--culture", culture, "--cultures", registry, "--metadata", "null", "--no-progress"]
        assert ingest.main([*argv, "--out", str(root / "results" / "ingest" / culture), "--settings", json.dumps(ingest_settings)]) == 0
    # the split is a hash of each image: hold out every hostile file, and train on some other file of each culture
    manifests = {c: pd.read_csv(root / "results" / "ingest" / c / "manifest.tsv", sep="\t", dtype=str, keep_default_na=False) for c in cultures}
    scores = {c: np.array([corpus.heldout_score(s) for s in m["source_id"]]) for c, m in manifests.items()}
    hostile = np.array(["/latin/" in s and "plain" not in s for s in manifests["latin"]["source"]])
    fraction = float(scores["latin"][hostile].max()) + 1e-9
    assert all((scores[c] >= fraction).any() and (scores[c] < fraction).any() for c in cultures), "pick other image seeds"
    settings = json.dumps({**ingest_settings, "heldout_fraction": fraction})
    ids = {}
    for culture, corpus_path in zip(cultures, paths["corpora"]):
        ingested = str(root / "results" / "ingest" / culture)
        assert corpus.main(["--culture", culture, "--ingested", ingested, "--out", os.path.dirname(corpus_path), "--settings", settings]) == 0
        ids[culture] = load_corpus(corpus_path, split="heldout")[1]
    inputs = {**paths, "registry": registry, **write_features(root, cultures, ids)}
    assert typicality.main(typicality_argv(inputs)) == 0
    assert map_stage.main(map_argv(inputs, layout="tsne")) == 0
    manifest = pd.read_csv(paths["manifests"][0], sep="\t", dtype=str, keep_default_na=False)
    return inputs, read_data(inputs["map"]), manifest


@pytest.mark.parametrize("renderer", ["webgl", "canvas"])
def test_file_names_are_shown_as_text_and_run_nothing(hostile_map, renderer):
    inputs, data, manifest = hostile_map
    # as ingest writes them: a byte that is not UTF-8 and a line separator as \xNN escapes
    expected = [
        "<img src=x onerror=alert(1)>.png",
        'it\'s "quoted" & <b>bold</b>.png',
        "caf\\xe9 \\xff.png",
        "x</script><script>alert(2)</script>.png",
        "line\\x2028separator.png",
    ]
    names = {short: next(s for s in manifest["source"] if s.endswith("/latin/" + short)) for short in expected}
    held_out = set(manifest.loc[manifest["split"] == "heldout", "source"])
    browser = Browser()
    try:
        # record any alert() instead of letting it block: a script run from a name would call it
        browser.driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument", {"source": "window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m));"}
        )
        browser.open_map(inputs["map"], "" if renderer == "webgl" else "?renderer=canvas")
        for source in names.values():
            assert source in held_out, source
            i = data["names"].index(source)
            open_panel(browser, i)
            shown = panel(browser)
            assert shown["index"] == i and shown["name"] == source
            tooltip = browser.driver.execute_script("return document.getElementById('tooltip').textContent;")
            assert tooltip.startswith(source)
        counts = browser.driver.execute_script(
            "return [window.__alerts.length, document.images.length, document.scripts.length, document.querySelectorAll('b, img').length];"
        )
        assert counts == [0, 0, 2 + data["atlas"]["count"], 0]
        assert browser.console_errors() == []
    finally:
        browser.close()
