"""Stage ingest on a hostile corpus (ganstyle.stages.ingest)."""

import hashlib
import io
import json
import os
import random

import numpy as np
import pandas as pd
import pytest
from hostile_images import ico_wrapping, png_claiming
from met_export import build_met_export, met_metadata
from PIL import Image

from ganstyle import cli
from ganstyle.errors import UserError
from ganstyle.stages.ingest import Candidate, deduplicate, display_path, main

FLAT = np.zeros((8, 8), np.uint8)


def texture(seed: int, size=(96, 80)) -> Image.Image:
    """A smooth random RGB picture: distinct per seed, stable under resizing and re-encoding."""
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def folder_fingerprint(folder) -> str:
    """Hash of every name, link target and file content under a folder."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(os.fsencode(folder))):
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            digest.update(path + b"\0")
            if os.path.islink(path):
                digest.update(b"link:" + os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    digest.update(handle.read())
            digest.update(repr(os.lstat(path).st_mode).encode())
    return digest.hexdigest()


def registry(tmp_path, **folders) -> str:
    path = tmp_path / "cultures.tsv"
    path.write_text("culture\tpath\tlabel\n" + "".join(f"{c}\t{f}\t{c}\n" for c, f in folders.items()))
    return str(path)


def run_ingest(tmp_path, culture, folder, out=None, **settings):
    import json

    out = out or tmp_path / "results" / "ingest" / culture
    argv = ["--culture", culture, "--cultures", registry(tmp_path, **{culture: folder}), "--metadata", "null"]
    argv += ["--settings", json.dumps(settings), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    manifest = pd.read_csv(out / "manifest.tsv", sep="\t", dtype=str, keep_default_na=False)
    rejects = pd.read_csv(out / "rejects.tsv", sep="\t", dtype=str, keep_default_na=False)
    with np.load(out / "images.npz") as data:
        images, ids = data["images"], data["ids"]
    assert list(ids) == list(manifest["id"])
    return images, manifest, rejects


# Each hostile file: name -> expected reason (None: kept).
EXPECTED = {
    "a_copy.png": None,  # byte-identical to a_original.png; sorts first, so it is the one kept
    "a_original.png": "duplicate",
    "a_recompressed.png": "duplicate",  # same pixels, other bytes
    "sub/a_smaller.jpg": "near_duplicate",  # resized + JPEG: kept one is the larger a_copy.png
    "b.jpg": None,
    "link_inside.png": "duplicate",  # link to b_same.png inside the folder
    "b_same.png": None,
    "empty.png": "empty",
    "truncated.png": "truncated",
    "truncated.jpg": "truncated",
    "notes.jpg": "not_an_image",
    "garbage.png": "not_an_image",
    "bomb.png": "too_many_pixels",
    "tiny.png": "too_small",
    "escape.png": "outside_folder",
    "broken_link.png": "unreadable",
    "pipe.png": "not_a_file",
    "animated.gif": None,
    b"caf\xe9.png": None,  # not valid UTF-8
    "palette.png": None,
    "rgba.png": None,
    "cmyk.jpg": None,
    "grey16.png": None,
    "float.tif": None,
    "rotated.jpg": None,
    "icon.ico": None,  # its header also parses as a TGA
    "icon_bomb.ico": "too_many_pixels",  # wraps a PNG of 15000 x 15000
    "black.png": "low_information",
    "white.png": "low_information",
    "grey.png": "low_information",
    "gradient.png": None,  # smooth: hashes like the flat ones, but its pixels differ
    "gradient_dark.png": None,  # a different gradient, not a near duplicate of the first
    "wide_blank_middle.png": "low_information",  # text at both ends, blank centre square
    "jpeg_in.bmp": "unsupported_codec",
    "jpeg2000_in.tif": "unsupported_codec",
}


def build_hostile_corpus(root):
    """Every bad case of the issue, plus good images in awkward formats."""
    folder, outside = root / "culture", root / "outside"
    (folder / "sub").mkdir(parents=True)
    outside.mkdir()
    write = lambda name, data: (folder / name).write_bytes(data)  # noqa: E731
    a = texture(1)
    write("a_original.png", encode(a, "PNG"))
    write("a_copy.png", encode(a, "PNG"))
    write("a_recompressed.png", encode(a, "PNG", compress_level=1))
    write("sub/a_smaller.jpg", encode(a.resize((84, 70), Image.Resampling.LANCZOS), "JPEG", quality=95))
    write("b.jpg", encode(texture(2), "JPEG", quality=90))
    write("b_same.png", encode(texture(3), "PNG"))
    (folder / "link_inside.png").symlink_to("b_same.png")
    write("empty.png", b"")
    png, jpeg = encode(texture(4, (120, 120)), "PNG"), encode(texture(5, (120, 120)), "JPEG")
    write("truncated.png", png[: len(png) // 2])
    write("truncated.jpg", jpeg[: len(jpeg) // 2])
    write("notes.jpg", b"field notes, not a photograph\n")
    write("garbage.png", np.random.default_rng(0).bytes(3000))
    write("bomb.png", encode(texture(6, (300, 300)), "PNG"))  # above max_pixels = 50000 in the test
    write("tiny.png", encode(texture(7, (20, 20)), "PNG"))
    (outside / "secret.png").write_bytes(encode(texture(8), "PNG"))
    (folder / "escape.png").symlink_to(outside / "secret.png")
    (folder / "broken_link.png").symlink_to(folder / "does_not_exist.png")
    os.mkfifo(folder / "pipe.png")
    frames = [texture(s).convert("P", palette=Image.Palette.ADAPTIVE) for s in (9, 10, 11)]
    write("animated.gif", encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50))
    with open(os.fsencode(folder) + b"/caf\xe9.png", "wb") as handle:  # a name that is not UTF-8
        handle.write(encode(texture(12), "PNG"))
    write("palette.png", encode(texture(13).convert("P", palette=Image.Palette.ADAPTIVE, colors=32), "PNG"))
    rgba = texture(14).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    write("rgba.png", encode(rgba, "PNG"))
    write("cmyk.jpg", encode(texture(15).convert("CMYK"), "JPEG", quality=95))
    write("grey16.png", encode(Image.fromarray(np.asarray(texture(16).convert("L"), dtype=np.uint16) * 257), "PNG"))
    write("float.tif", encode(Image.fromarray(np.asarray(texture(17).convert("L"), dtype=np.float32) / 255), "TIFF"))
    # stored 96 wide x 64 high, left half dark; EXIF 6 = turn 90 degrees clockwise to view,
    # so the upright image is 64 x 96 with the dark half on top
    stored = np.full((64, 96, 3), 230, dtype=np.uint8)
    stored[:, :48] = 20
    stored[::8, ::8] = 128  # some texture, so its perceptual hash is not that of other images
    exif = Image.Exif()
    exif[0x0112] = 6
    write("rotated.jpg", encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif))
    rng = np.random.default_rng(0)
    icon = Image.fromarray((rng.random((128, 128, 4)) * 255).astype(np.uint8), "RGBA")  # 66 KB
    assert Image.open(io.BytesIO(encode(icon, "ICO", sizes=[(128, 128)])), formats=["TGA"]).size == (32, 253)  # the trap
    write("icon.ico", encode(icon, "ICO", sizes=[(128, 128)]))
    write("icon_bomb.ico", ico_wrapping(png_claiming(15000, 15000)))
    for name, value in (("black", 0), ("white", 255), ("grey", 128)):
        write(f"{name}.png", encode(Image.new("RGB", (80, 80), (value,) * 3), "PNG"))
    write("gradient.png", encode(Image.linear_gradient("L").resize((80, 80)).convert("RGB"), "PNG"))
    write("gradient_dark.png", encode(Image.linear_gradient("L").resize((80, 80)).point(lambda v: v // 3).convert("RGB"), "PNG"))
    wide = np.full((60, 400, 3), 255, dtype=np.uint8)
    wide[10:50, 10:100:3], wide[10:50, 300:390:3] = 0, 0  # strokes near both ends only
    write("wide_blank_middle.png", encode(Image.fromarray(wide), "PNG"))
    bmp = bytearray(encode(texture(18), "BMP"))
    bmp[30:34] = (4).to_bytes(4, "little")  # BI_JPEG
    write("jpeg_in.bmp", bytes(bmp))
    tiff = bytearray(encode(texture(19), "TIFF"))
    entry = tiff.index((259).to_bytes(2, "little") + (3).to_bytes(2, "little"))
    tiff[entry + 8 : entry + 10] = (34712).to_bytes(2, "little")
    write("jpeg2000_in.tif", bytes(tiff))
    return folder


def source_name(entry) -> str:
    return entry.decode("utf-8", "backslashreplace") if isinstance(entry, bytes) else entry


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hostile")
    folder = build_hostile_corpus(tmp_path)
    inputs = (folder, tmp_path / "outside")
    before = [folder_fingerprint(f) for f in inputs]
    images, manifest, rejects = run_ingest(tmp_path, "host", folder, max_pixels=50_000, min_side=32, channels=3)
    after = [folder_fingerprint(f) for f in inputs]
    return folder, images, manifest, rejects, before, after


def test_every_bad_file_is_rejected_with_its_reason(hostile):
    folder, images, manifest, rejects, *_ = hostile
    rejected = dict(zip(rejects["source"].map(lambda s: os.path.relpath(s, str(folder))), rejects["reason"]))
    kept = set(manifest["source"].map(lambda s: os.path.relpath(s, str(folder))))
    for entry, reason in EXPECTED.items():
        name = source_name(entry)
        if reason is None:
            assert name in kept, f"{name} should be kept; rejects say {rejected.get(name)}"
        else:
            assert rejected.get(name) == reason, f"{name}: expected {reason}, got {rejected.get(name)}"
    assert len(kept) + len(rejected) == len(EXPECTED) and len(images) == len(kept)
    assert images.shape[1:] == (64, 64, 3) and images.dtype == np.uint8


def test_duplicates_name_the_kept_file(hostile):
    folder, _, _, rejects, *_ = hostile
    detail = dict(zip(rejects["source"].map(lambda s: os.path.relpath(s, str(folder))), rejects["detail"]))
    assert detail["a_original.png"].startswith("identical file as ") and detail["a_original.png"].endswith("a_copy.png")
    assert detail["a_recompressed.png"].startswith("same pixels as ") and detail["a_recompressed.png"].endswith("a_copy.png")
    assert "bit(s) and" in detail["sub/a_smaller.jpg"] and detail["sub/a_smaller.jpg"].endswith("a_copy.png")
    assert "ingest.min_std" in detail["black.png"] and "ingest.resize: pad" in detail["wide_blank_middle.png"]
    assert "34712" in detail["jpeg2000_in.tif"] and "compression" in detail["jpeg_in.bmp"]
    assert detail["link_inside.png"].endswith("b_same.png")


def test_input_folder_is_unchanged(hostile):
    *_, before, after = hostile
    assert before == after


def test_manifest_records_modes_frames_and_orientation(hostile):
    folder, images, manifest, *_ = hostile
    rows = manifest.set_index(manifest["source"].map(lambda s: os.path.relpath(s, str(folder))))
    assert rows.loc["animated.gif", "frames"] == "3" and rows.loc["animated.gif", "format"] == "GIF"
    assert rows.loc["palette.png", "mode"] == "P" and rows.loc["rgba.png", "mode"] == "RGBA"
    assert rows.loc["cmyk.jpg", "mode"] == "CMYK" and rows.loc["float.tif", "mode"] == "F"
    assert rows.loc["grey16.png", "mode"].startswith("I;16")
    assert rows.loc["caf\\xe9.png", "id"] == manifest.loc[manifest["source"].str.endswith("caf\\xe9.png"), "id"].item()
    rotated = rows.loc["rotated.jpg"]
    assert (rotated["orientation"], rotated["width"], rotated["height"]) == ("6", "64", "96")
    image = images[list(manifest["id"]).index(rotated["id"])].mean(axis=2)
    assert image[:24].mean() < 60 and image[40:].mean() > 180  # dark half on top: EXIF applied
    for column in ("id", "source", "sha256", "phash", "width", "height", "mode", "frames"):
        assert column in manifest.columns
    assert manifest["id"].str.fullmatch("[0-9a-f]{16}").all() and manifest["sha256"].str.fullmatch("[0-9a-f]{64}").all()


def test_the_kept_set_does_not_depend_on_listing_order():
    rng = np.random.default_rng(0)
    hashes = [int(h) for h in rng.integers(0, 2**63, 6)]
    names = ["z.png", "a.png", "m.png", "b.png", "q.png", "c.png", "d.png"]
    # z/a same pixels, m near them, b (larger) near q, c and d unrelated
    spec = [
        ("id0", hashes[0], 50),
        ("id0", hashes[0], 50),
        ("id2", hashes[0] ^ 0b11, 50),
        ("id3", hashes[1], 80),
        ("id4", hashes[1] ^ 1, 40),
        ("id5", hashes[2], 50),
        ("id6", hashes[3], 50),
    ]
    candidates = [
        Candidate(name, name.encode(), sid, "0" * 64, h, FLAT, side, side, "RGB", "PNG", 1, 1, "none", np.zeros((1, 4, 4, 1), np.uint8))
        for name, (sid, h, side) in zip(names, spec)
    ]

    def outcome(order):
        shuffled = [candidates[k] for k in order]
        kept, dropped = deduplicate(shuffled, 3, 16)
        return sorted(shuffled[k].source for k in kept), sorted((shuffled[k].source, r, d) for k, r, d in dropped)

    reference = outcome(range(len(candidates)))
    assert reference == (
        ["a.png", "b.png", "c.png", "d.png"],
        [
            ("m.png", "near_duplicate", "perceptual hash 2 bit(s) and 0.0 grey levels from a.png"),
            ("q.png", "near_duplicate", "perceptual hash 1 bit(s) and 0.0 grey levels from b.png"),
            ("z.png", "duplicate", "identical file as a.png"),
        ],
    )
    for _ in range(20):
        order = list(range(len(candidates)))
        random.Random(_).shuffle(order)
        assert outcome(order) == reference


@pytest.fixture
def plain_folder(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    for seed in range(6):
        (folder / f"img{seed}.png").write_bytes(encode(texture(100 + seed, (120, 90)), "PNG"))
    return folder


@pytest.mark.parametrize("channels", [1, 3])
def test_channels(tmp_path, plain_folder, channels):
    images, manifest, rejects = run_ingest(tmp_path, "plain", plain_folder, channels=channels, resolution=32)
    assert images.shape == (6, 32, 32, channels) and rejects.empty


def test_pad_policy_keeps_the_whole_image_on_the_background(tmp_path, plain_folder):
    images, *_ = run_ingest(tmp_path, "plain", plain_folder, resize="pad", background=[0, 0, 255], channels=3, resolution=64)
    # 120 x 90 fitted into 64 x 64 is 64 x 48: 8 rows of background above and below
    assert (images[:, :7] == (0, 0, 255)).all() and (images[:, -7:] == (0, 0, 255)).all()
    assert not (images[:, 20:44] == (0, 0, 255)).all()


def test_patches_policy(tmp_path, plain_folder):
    (plain_folder / "small.png").write_bytes(encode(texture(200, (40, 40)), "PNG"))  # smaller than a patch
    settings = dict(resize="patches", patches_per_image=3, resolution=64, min_side=32, seed=5)
    images, manifest, rejects = run_ingest(tmp_path, "plain", plain_folder, **settings)
    assert images.shape == (18, 64, 64, 1)
    assert manifest["id"].is_unique and manifest.groupby("source_id").size().eq(3).all()
    assert set(manifest["patch"]) == {"0", "1", "2"}
    assert rejects.set_index("source").loc[str(plain_folder / "small.png"), "reason"] == "too_small"
    again, *_ = run_ingest(tmp_path, "plain", plain_folder, out=tmp_path / "again", **settings)
    np.testing.assert_array_equal(again, images)  # seeded
    other_seed, *_ = run_ingest(tmp_path, "plain", plain_folder, out=tmp_path / "other", **{**settings, "seed": 6})
    assert not np.array_equal(other_seed, images)


def test_flat_patches_are_dropped_and_an_all_flat_image_rejected(tmp_path):
    folder = tmp_path / "pages"
    folder.mkdir()
    page = np.full((300, 300), 255, dtype=np.uint8)
    page[:, :150] = np.asarray(texture(30, (150, 300)).convert("L"))  # text on the left half, blank margin on the right
    (folder / "page.png").write_bytes(encode(Image.fromarray(page), "PNG"))
    (folder / "blank.png").write_bytes(encode(Image.new("L", (300, 300), 255), "PNG"))
    settings = dict(resize="patches", patches_per_image=12, resolution=64, min_side=32, seed=1, channels=1)
    images, manifest, rejects = run_ingest(tmp_path, "pages", folder, **settings)
    assert images.std(axis=(1, 2, 3)).min() >= 2.0 and 0 < len(images) < 12  # only the flat patches went
    assert len(manifest["patch"].unique()) == len(images) and manifest["patch"].astype(int).max() < 12
    assert rejects.set_index("source").loc[str(folder / "blank.png"), "reason"] == "low_information"
    everything, *_ = run_ingest(tmp_path, "pages", folder, out=tmp_path / "all", **{**settings, "min_std": 0})
    assert len(everything) == 24  # min_std 0 keeps every patch, flat or not


def test_metadata_table_lists_files(tmp_path, plain_folder):
    table = tmp_path / "museum.csv"
    table.write_text("image,culture\nimg0.png,museum\nimg1.png,museum\nmissing.png,museum\n")
    out = tmp_path / "out"
    metadata = f'{{"path": "{table}", "image_column": "image", "culture_column": "culture", "root": "{plain_folder}"}}'
    cultures = tmp_path / "folders.tsv"
    cultures.write_text(f"culture\tpath\tlabel\nplain\t{plain_folder}\tPlain\n")
    settings = '{"min_images": 2}'  # fewer rows would leave the culture out of the study
    assert main(["--culture", "museum", "--cultures", str(cultures), "--metadata", metadata, "--settings", settings, "--out", str(out), "--no-progress"]) == 0
    manifest = pd.read_csv(out / "manifest.tsv", sep="\t", dtype=str)
    rejects = pd.read_csv(out / "rejects.tsv", sep="\t", dtype=str)
    assert sorted(os.path.basename(s) for s in manifest["source"]) == ["img0.png", "img1.png"]
    assert rejects.empty  # the row whose image is missing never reaches ingest: the metadata report counts it


def met_study(tmp_path):
    export = build_met_export(tmp_path / "museum")
    metadata = json.dumps(met_metadata(export))
    return export, ["--cultures", "null", "--metadata", metadata, "--settings", json.dumps({"min_images": 20, "resolution": 32})]


def test_metadata_report_stage_writes_the_report_and_the_registry(tmp_path):
    export, study = met_study(tmp_path)
    report, registry = tmp_path / "results" / "metadata_report.tsv", tmp_path / "results" / "cultures.tsv"
    assert cli.main(["metadata-report", *study, "--out-report", str(report), "--out-registry", str(registry)]) == 0
    table = pd.read_csv(report, sep="\t", dtype={"rows": int}, keep_default_na=False)
    assert table.loc[table["kind"] == "read", "rows"].item() == export.rows
    assert table.loc[table["kind"] != "read", "rows"].sum() == export.rows  # used + dropped = read
    assert dict(zip(table.loc[table["kind"] == "used", "culture"], table.loc[table["kind"] == "used", "label"])) == {c: export.labels[c] for c in export.used}
    written = pd.read_csv(registry, sep="\t", dtype=str, keep_default_na=False)
    assert list(written["culture"]) == ["greek_attic", "islamic_mamluk", "roman"] and set(written["path"]) == {""}
    # the written registry is a registry: later stages read labels from it without the table
    from ganstyle.config.registry import load_registry

    assert load_registry(registry).loc["islamic_mamluk", "label"] == "Islamic (Mamluk)"


def test_a_table_culture_is_ingested_beside_its_table(tmp_path):
    """results/ under the table's folder (as in the issue: MetObjects.csv in the project folder) is fine;
    only the images' own folder is an input that must not be written."""
    export, study = met_study(tmp_path)
    out = export.table.parent / "results" / "ingest" / "roman"
    assert main(["--culture", "roman", *study, "--out", str(out), "--no-progress"]) == 0
    manifest = pd.read_csv(out / "manifest.tsv", sep="\t", dtype=str)
    assert len(manifest) == 60 and all(os.path.dirname(s).endswith("museum/images") for s in manifest["source"])
    with pytest.raises(UserError, match="inputs are never written"):
        main(["--culture", "roman", *study, "--out", str(export.images / "out"), "--no-progress"])
    with pytest.raises(UserError, match=r"culture 'chinese_qing_dynasty' is not in the study \(its rows"):
        main(["--culture", "chinese_qing_dynasty", *study, "--out", str(tmp_path / "o"), "--no-progress"])


def test_output_inside_the_input_folder_is_refused(tmp_path, plain_folder):
    with pytest.raises(UserError, match="inputs are never written"):
        run_ingest(tmp_path, "plain", plain_folder, out=plain_folder / "results")


def test_cli_entry_point_and_bad_settings(tmp_path, plain_folder, capsys):
    argv = ["ingest", "--culture", "plain", "--cultures", registry(tmp_path, plain=plain_folder), "--metadata", "null"]
    assert cli.main(argv + ["--settings", '{"resolution": 48}', "--out", str(tmp_path / "o")]) == 1
    assert "resolution" in capsys.readouterr().err
    assert cli.main(argv + ["--settings", "{}", "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    assert (tmp_path / "o" / "images.npz").exists()


def test_display_path_is_readable_text():
    assert display_path(os.fsdecode(b"/tmp/caf\xe9.png")) == "/tmp/caf\\xe9.png"
    assert display_path("/tmp/tab\there.png") == "/tmp/tab\\x09here.png"
    assert display_path("/tmp/ünïcode.png") == "/tmp/ünïcode.png"
