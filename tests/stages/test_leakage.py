"""Images shared between cultures (ganstyle.stages.leakage) and their removal by the corpus stage."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganstyle.errors import UserError
from ganstyle.io.hashing import phash_hex, thumbnail_hex
from ganstyle.stages import corpus, ingest, leakage

FLAT = thumbnail_hex(np.zeros((8, 8), np.uint8))


def texture(seed: int, size=(96, 80)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)


def manifest(rows, thumbnails=None):
    """rows: (source_id, source, phash int), one image each; thumbnails: hex per row (default all equal)."""
    thumbnails = thumbnails or [FLAT] * len(rows)
    return pd.DataFrame([{"id": s, "source_id": s, "source": src, "phash": phash_hex(h), "thumbnail": t} for (s, src, h), t in zip(rows, thumbnails)])


def test_exact_and_near_leaks_between_cultures_only():
    manifests = {
        "a": manifest([("x", "a/x.png", 0xF0F0), ("y", "a/y.png", 0xFF0000), ("w", "a/w.png", 0xFF0001)]),
        "b": manifest([("x", "b/x.png", 0xF0F0), ("z", "b/z.png", 0xFF0003), ("u", "b/u.png", 0xFFFF_FFFF_0000)]),
    }
    leaks = leakage.find_leaks(manifests, max_bits=1, max_difference=16)
    got = set(zip(leaks["culture"], leaks["id"], leaks["other_culture"], leaks["other_id"], leaks["kind"], leaks["distance"]))
    assert got == {
        ("a", "x", "b", "x", "exact", 0), ("b", "x", "a", "x", "exact", 0),
        ("a", "w", "b", "z", "near", 1), ("b", "z", "a", "w", "near", 1),
    }  # fmt: skip
    # y and w are near each other, but within one culture that is ingest's business
    assert list(leaks.columns) == leakage.LEAKAGE_COLUMNS
    assert leakage.find_leaks(manifests, max_bits=0, max_difference=16)["kind"].eq("exact").all()


def test_near_hashes_of_clearly_different_pixels_are_no_leak():
    """Flat and smooth images hash alike; their thumbnails tell them apart."""
    black, white = thumbnail_hex(np.zeros((8, 8), np.uint8)), thumbnail_hex(np.full((8, 8), 255, np.uint8))
    ramp = thumbnail_hex(np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1)))
    manifests = {
        "a": manifest([("k", "a/black.png", 0), ("r", "a/ramp.png", 1)], [black, ramp]),
        "b": manifest([("w", "b/white.png", 0), ("r2", "b/ramp.png", 1)], [white, ramp]),
    }
    leaks = leakage.find_leaks(manifests, max_bits=3, max_difference=16)
    assert set(zip(leaks["id"], leaks["other_id"])) == {("r", "r2"), ("r2", "r")}


def test_patches_of_one_image_count_once():
    patches = pd.DataFrame({"id": ["p0", "p1", "p2"], "source_id": "s", "source": "a/s.png", "phash": phash_hex(99), "thumbnail": FLAT})
    leaks = leakage.find_leaks({"a": patches, "b": manifest([("s", "b/s.png", 99)])}, 3, 16)
    assert len(leaks) == 2 and set(leaks["id"]) == {"s"}


def test_no_leaks_gives_a_table_with_its_header(tmp_path):
    for culture, seed in (("a", 1), ("b", 2)):
        (tmp_path / culture).mkdir()
        manifest([(f"id{seed}", f"{culture}/x.png", seed * 0x1234567)]).to_csv(tmp_path / culture / "manifest.tsv", sep="\t", index=False)
    out = tmp_path / "leakage.tsv"
    assert leakage.main(["--settings", "{}", "--out", str(out), str(tmp_path / "a" / "manifest.tsv"), str(tmp_path / "b" / "manifest.tsv")]) == 0
    table = pd.read_csv(out, sep="\t")
    assert table.empty and list(table.columns) == leakage.LEAKAGE_COLUMNS


def test_bad_manifest_is_a_user_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "manifest.tsv").write_text("id\tsource\nx\ty\n")
    with pytest.raises(UserError, match="missing column"):
        leakage.main(["--settings", "{}", "--out", str(tmp_path / "l.tsv"), str(tmp_path / "a" / "manifest.tsv")])


def test_shared_images_are_dropped_from_both_corpora(tmp_path):
    folders = {c: tmp_path / "data" / c for c in ("north", "south")}
    for offset, folder in enumerate(folders.values()):
        folder.mkdir(parents=True)
        for seed in range(8):
            texture(100 * (offset + 1) + seed).save(folder / f"own{seed}.png")
    shared = texture(7)
    shared.save(folders["north"] / "shared.png")
    shared.save(folders["south"] / "same_object.png")  # exact: same pixels
    near = texture(8)
    near.save(folders["north"] / "vase.png")
    buffer = io.BytesIO()
    near.resize((80, 66), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=95)
    (folders["south"] / "vase_scan.jpg").write_bytes(buffer.getvalue())  # near: resized, re-encoded

    cultures = tmp_path / "cultures.tsv"
    cultures.write_text("culture\tpath\tlabel\n" + "".join(f"{c}\t{f}\t{c}\n" for c, f in folders.items()))
    settings = json.dumps({"min_images": 5, "heldout_fraction": 0.5})  # 8 images: both splits non-empty
    results = tmp_path / "results"
    for culture in folders:
        argv = ["--culture", culture, "--cultures", str(cultures), "--metadata", "null", "--settings", settings]
        assert ingest.main(argv + ["--out", str(results / "ingest" / culture), "--no-progress"]) == 0
    table = results / "corpus" / "leakage.tsv"
    manifests = [str(results / "ingest" / c / "manifest.tsv") for c in folders]
    assert leakage.main(["--settings", settings, "--out", str(table), *manifests]) == 0
    leaks = pd.read_csv(table, sep="\t", dtype=str)
    north = leaks[leaks["culture"] == "north"].set_index("kind")
    assert north.loc["exact", "source"].endswith("shared.png") and north.loc["exact", "other_source"].endswith("same_object.png")
    assert north.loc["near", "source"].endswith("vase.png") and north.loc["near", "other_source"].endswith("vase_scan.jpg")
    assert len(leaks) == 4

    for culture in folders:
        out = results / "corpus" / culture
        argv = ["--culture", culture, "--settings", settings, "--leakage", str(table), "--ingested", str(results / "ingest" / culture)]
        assert corpus.main(argv + ["--out", str(out)]) == 0
        kept = pd.read_csv(out / "manifest.tsv", sep="\t", dtype=str)
        rejects = pd.read_csv(out / "rejects.tsv", sep="\t", dtype=str)
        assert len(kept) == 8 and kept["source"].str.contains("own").all()
        leaked = rejects[rejects["reason"] == "leaked"]
        assert len(leaked) == 2
        other = "south" if culture == "north" else "north"
        assert leaked["detail"].str.contains(f"also in '{other}'").all()
        images, ids = corpus.load_corpus(out)
        assert len(images) == 8 and set(ids) == set(kept["id"])


def _leaks(*cultures):
    return pd.DataFrame(
        [{c: "x" for c in leakage.LEAKAGE_COLUMNS} | {"culture": culture, "id": f"{culture}{i}"} for i, culture in enumerate(cultures)],
        columns=leakage.LEAKAGE_COLUMNS,
    )


def test_rows_digest_changes_only_with_the_cultures_own_rows():
    before = _leaks("latin", "greek")
    after = pd.concat([before, _leaks("arabic")], ignore_index=True)  # a new culture's rows
    assert leakage.rows_digest(after, "latin") == leakage.rows_digest(before, "latin")
    changed = pd.concat([before, _leaks("latin", "latin")], ignore_index=True)
    assert leakage.rows_digest(changed, "latin") != leakage.rows_digest(before, "latin")
    assert leakage.rows_digest(changed, "greek") == leakage.rows_digest(before, "greek")


def test_leakage_rows_stage_writes_one_cultures_rows(tmp_path):
    table = tmp_path / "leakage.tsv"
    _leaks("latin", "greek", "latin").to_csv(table, sep="\t", index=False)
    out = tmp_path / "latin.tsv"
    assert leakage.main(["--leakage", str(table), "--culture", "latin", "--out", str(out)], stage="leakage-rows") == 0
    rows = pd.read_csv(out, sep="\t", dtype=str)
    assert list(rows.columns) == leakage.LEAKAGE_COLUMNS and set(rows["culture"]) == {"latin"} and len(rows) == 2
    with pytest.raises(UserError, match="missing.tsv"):
        leakage.main(["--leakage", str(tmp_path / "missing.tsv"), "--culture", "latin", "--out", str(out)], stage="leakage-rows")
