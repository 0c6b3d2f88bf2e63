"""Stage corpus: split, minimum size, loading (ganstyle.stages.corpus)."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganstyle import cli
from ganstyle.errors import UserError
from ganstyle.stages import corpus, ingest


def texture(seed: int, size=(72, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)


def make_culture(tmp_path, seeds, name="west"):
    folder = tmp_path / "images" / name
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        texture(seed).save(folder / f"{seed:04d}.png")
    cultures = tmp_path / "cultures.tsv"
    cultures.write_text(f"culture\tpath\tlabel\n{name}\t{folder}\t{name}\n")
    return cultures


def ingest_and_build(tmp_path, cultures, settings, name="west", tag="run"):
    ingested, out = tmp_path / tag / "ingest", tmp_path / tag / "corpus"
    settings = json.dumps(settings)
    argv = ["--culture", name, "--cultures", str(cultures), "--metadata", "null", "--settings", settings]
    assert ingest.main(argv + ["--out", str(ingested), "--no-progress"]) == 0
    assert corpus.main(["--culture", name, "--settings", settings, "--ingested", str(ingested), "--out", str(out)]) == 0
    return ingested, out


def test_split_is_a_fixed_function_of_the_id_with_the_right_share():
    ids = [hashlib.sha256(str(k).encode()).hexdigest()[:16] for k in range(20000)]
    split = corpus.assign_split(ids, 0.2)
    assert abs((split == "heldout").mean() - 0.2) < 0.01  # binomial sd 0.003
    np.testing.assert_array_equal(corpus.assign_split(ids[::-1], 0.2), split[::-1])
    # a larger fraction only moves images from train to held-out
    larger = corpus.assign_split(ids, 0.3)
    assert ((split == "heldout") <= (larger == "heldout")).all()


def test_adding_images_never_reshuffles_existing_ones(tmp_path):
    settings = {"min_images": 10, "resolution": 32}
    cultures = make_culture(tmp_path, range(30))
    _, first = ingest_and_build(tmp_path, cultures, settings, tag="first")
    make_culture(tmp_path, range(30, 70))
    _, second = ingest_and_build(tmp_path, cultures, settings, tag="second")
    before = pd.read_csv(first / "manifest.tsv", sep="\t", dtype=str).set_index("id")["split"]
    after = pd.read_csv(second / "manifest.tsv", sep="\t", dtype=str).set_index("id")["split"]
    assert len(before) == 30 and len(after) == 70
    pd.testing.assert_series_equal(after.loc[before.index], before)
    with np.load(second / "images.npz") as data:
        assert set(data["split"]) == {"train", "heldout"} and len(data["split"]) == 70


def test_too_few_images_fail_with_one_clear_line(tmp_path, capsys):
    cultures = make_culture(tmp_path, range(12))
    (tmp_path / "images" / "west" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ingested = tmp_path / "ingest"
    settings = json.dumps({"min_images": 40})
    assert (
        cli.main(
            ["ingest", "--culture", "west", "--cultures", str(cultures), "--metadata", "null", "--settings", settings, "--out", str(ingested), "--no-progress"]
        )
        == 0
    )
    status = cli.main(["corpus", "--culture", "west", "--settings", settings, "--ingested", str(ingested), "--out", str(tmp_path / "corpus")])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 1
    assert "culture 'west'" in message and "only 12 usable images" in message
    assert "ingest.min_images = 40" in message and str(ingested / "rejects.tsv") in message
    assert not (tmp_path / "corpus" / "images.npz").exists()


def test_an_empty_split_is_an_error(tmp_path):
    cultures = make_culture(tmp_path, range(5))
    settings = {"min_images": 2, "heldout_fraction": 0.001}
    with pytest.raises(UserError, match="heldout split is empty.*ingest.heldout_fraction"):
        ingest_and_build(tmp_path, cultures, settings)


def test_leaked_ids_given_on_the_command_line(tmp_path):
    cultures = make_culture(tmp_path, range(12))
    ingested, _ = ingest_and_build(tmp_path, cultures, {"min_images": 5})
    ids = list(pd.read_csv(ingested / "manifest.tsv", sep="\t", dtype=str)["id"])
    out = tmp_path / "leaky"
    argv = ["--culture", "west", "--settings", '{"min_images": 5}', "--ingested", str(ingested), "--out", str(out)]
    assert corpus.main(argv + ["--leaked", f"{ids[0]},{ids[3]},ffffffffffffffff"]) == 0
    _, kept_ids = corpus.load_corpus(out)
    assert len(kept_ids) == 10 and ids[0] not in kept_ids and ids[3] not in kept_ids
    rejects = pd.read_csv(out / "rejects.tsv", sep="\t", dtype=str)
    assert (rejects["reason"] == "leaked").sum() == 2


def test_load_corpus(tmp_path):
    cultures = make_culture(tmp_path, range(20))
    ingested, out = ingest_and_build(tmp_path, cultures, {"min_images": 5, "channels": 3, "resolution": 32})
    images, ids = corpus.load_corpus(out / "images.npz")
    train, train_ids = corpus.load_corpus(out, split="train")
    heldout, heldout_ids = corpus.load_corpus(out, split="heldout")
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8 and ids.dtype.kind == "U"
    assert len(train) + len(heldout) == 20 and not set(train_ids) & set(heldout_ids)
    with np.load(out / "images.npz") as data:
        np.testing.assert_array_equal(train, data["images"][data["split"] == "train"])
    with pytest.raises(UserError, match="no train/held-out split"):
        corpus.load_corpus(ingested, split="train")
    with pytest.raises(ValueError):
        corpus.load_corpus(out, split="test")
    with pytest.raises(UserError, match="not found"):
        corpus.load_corpus(tmp_path / "nowhere.npz")


def test_every_patch_of_one_source_image_lands_in_the_same_split(tmp_path):
    """resize: patches cuts several training images from one source image: they are one image for the split,
    else its patches would sit on both sides and the held-out measures would see training pixels."""
    cultures = make_culture(tmp_path, range(40))
    settings = {"min_images": 10, "resolution": 32, "resize": "patches", "patches_per_image": 4, "min_std": 0, "heldout_fraction": 0.3, "seed": 3}
    _, out = ingest_and_build(tmp_path, cultures, settings)
    manifest = pd.read_csv(out / "manifest.tsv", sep="\t", dtype=str)
    assert len(manifest) == 160 and manifest["id"].is_unique and manifest.groupby("source_id").size().eq(4).all()
    splits = manifest.groupby("source_id")["split"].agg(set)
    assert (splits.map(len) == 1).all(), splits[splits.map(len) > 1]
    # the source image's id decides: the split of the patch ids themselves would differ
    assert (splits.map(min) == pd.Series(corpus.assign_split(list(splits.index), 0.3), index=splits.index)).all()
    assert (corpus.assign_split(manifest["id"], 0.3) != manifest["split"].to_numpy()).any()
    assert set(manifest["split"]) == {"train", "heldout"}
    with np.load(out / "images.npz") as data:
        assert list(data["ids"]) == list(manifest["id"]) and list(data["split"]) == list(manifest["split"])
