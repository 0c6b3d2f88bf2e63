"""Stage map: the page's data, layout, neighbours and atlases (the page itself: test_map_browser.py)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from map_inputs import atlas_image, decoded, map_argv, read_data, typicality_argv, write_map_inputs

from ganstyle import io as gio
from ganstyle.errors import UserError
from ganstyle.io import files
from ganstyle.stages import map as map_stage
from ganstyle.stages import typicality
from ganstyle.stages.corpus import load_corpus


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    inputs = write_map_inputs(tmp_path_factory.mktemp("map"), n_per_culture={"latin": 30, "greek": 25, "arabic": 20})
    assert typicality.main(typicality_argv(inputs)) == 0
    assert map_stage.main(map_argv(inputs, layout="tsne")) == 0
    return inputs, read_data(inputs["map"])


def test_the_folder_holds_the_page_data_and_atlases(built):
    inputs, data = built
    names = sorted(p.name for p in Path(inputs["map"]).iterdir())
    assert names == ["atlas-000.js", "data.js", "index.html", "map.css", "map.js"]
    assert data["n"] == 75 and data["space"] == "joint" and data["layout"] == "tsne" and data["k"] == 10
    assert [c["id"] for c in data["cultures"]] == ["latin", "greek", "arabic"]
    assert [c["count"] for c in data["cultures"]] == [30, 25, 20] and [c["label"] for c in data["cultures"]] == ["Latin", "Greek", "Arabic"]
    assert len({c["colour"] for c in data["cultures"]}) == 3
    html = (Path(inputs["map"]) / "index.html").read_text()
    # no network reference anywhere in the page
    for name in ("index.html", "map.js", "map.css"):
        assert not re.search(
            r"https?://|//cdn|fetch\(|XMLHttpRequest|innerHTML|outerHTML|insertAdjacentHTML|document\.write", (Path(inputs["map"]) / name).read_text()
        )
    assert '<script src="data.js"></script>' in html and "Content-Security-Policy" in html


def test_every_image_is_in_its_atlas_cell_with_its_culture_and_name(built):
    inputs, data = built
    ids, culture = np.array(data["ids"]), decoded(data, "culture", "uint16")
    atlas = atlas_image(inputs["map"], 0)
    columns, thumb = data["atlas"]["columns"], data["thumb"]
    manifests = {}
    for corpus in inputs["corpora"]:
        images, corpus_ids = load_corpus(corpus, split="heldout")
        manifests.update({image: (pixels[..., 0], Path(corpus).parent.name) for image, pixels in zip(corpus_ids.astype(str), images)})
    for i, image in enumerate(ids):
        row, column = divmod(i, columns)
        pixels, culture_of = manifests[image]
        np.testing.assert_array_equal(atlas[row * thumb : (row + 1) * thumb, column * thumb : (column + 1) * thumb], pixels)
        assert data["cultures"][culture[i]]["id"] == culture_of
    assert data["names"][list(ids).index("0001000000000004")] == "greek/00004.png"
    # shuffled, so that no culture is drawn over all the others
    assert len(set(culture[:10])) > 1


def test_neighbours_are_nearest_in_the_full_space_not_in_the_layout(built):
    inputs, data = built
    ids, k = np.array(data["ids"]), data["k"]
    space = map_stage.load_space(inputs["features"], "joint", 8)
    x = space.x[[list(space.ids).index(image) for image in ids]]  # in page order
    assert data["neighbourType"] == "uint16"
    neighbours = decoded(data, "neighbours", "uint16").reshape(-1, k)
    distances = decoded(data, "neighbourDistance", "float16").reshape(-1, k).astype(np.float64)
    full = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(full, np.inf)
    for i in range(len(ids)):
        np.testing.assert_allclose(np.sort(full[i])[:k], distances[i], rtol=1e-3)  # half precision
        np.testing.assert_allclose(full[i, neighbours[i]], distances[i], rtol=1e-3)
        assert i not in neighbours[i]
    xy = decoded(data, "xy", "float32").reshape(-1, 2)
    layout = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(layout, np.inf)
    assert any(set(np.argsort(layout[i])[:k]) != set(neighbours[i]) for i in range(len(ids)))


def test_scores_are_the_typicality_table(built):
    inputs, data = built
    table = files.load_typicality(inputs["typicality"])
    scores = decoded(data, "scores", "float32").reshape(data["n"], -1)
    assert data["criticIds"] == ["latin", "greek", "arabic"]
    for q, critic in enumerate(data["criticIds"]):
        expected = table[table["critic"] == critic].set_index("id").loc[data["ids"], "score"]
        np.testing.assert_allclose(scores[:, q], expected, rtol=1e-5)


@pytest.mark.parametrize("layout", ["tsne", "umap"])
def test_the_same_config_gives_the_same_coordinates(tmp_path, layout):
    inputs = write_map_inputs(tmp_path, n_per_culture=15)
    assert typicality.main(typicality_argv(inputs)) == 0
    runs = []
    for out, seed in (("a", 0), ("b", 0), ("c", 1)):
        assert map_stage.main(map_argv(inputs, out=str(tmp_path / out), layout=layout, seed=seed)) == 0
        data = read_data(tmp_path / out)
        xy = decoded(data, "xy", "float32").reshape(-1, 2)
        runs.append(dict(zip(data["ids"], map(tuple, xy))))
    assert runs[0] == runs[1]
    # UMAP's seed moves its layout; t-SNE starts from the PCA of the features, so its seed has no effect
    assert (runs[0] != runs[2]) == (layout == "umap")
    xy = np.array(list(runs[0].values()))
    assert xy.min() >= 0 and xy.max() <= 1 and np.isclose(np.ptp(xy, axis=0).max(), 1)
    # the layout keeps the planted cultures apart: most images' nearest image in 2-D is of their culture
    culture = np.array([image[:4] for image in runs[0]])
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert (culture[d.argmin(axis=1)] == culture).mean() > 0.9


def test_the_reference_space_and_larger_images(tmp_path):
    inputs = write_map_inputs(tmp_path, n_per_culture=6, side=64)
    assert typicality.main(typicality_argv(inputs)) == 0
    assert map_stage.main(map_argv(inputs, features=[inputs["reference"]], space="reference", layout="tsne", thumbnail=32, neighbours=4)) == 0
    data = read_data(inputs["map"])
    assert data["space"] == "reference" and data["thumb"] == 32 and data["k"] == 4
    # thumbnails are the images shrunk by a box filter: each pixel the mean of a 2 x 2 block
    images, ids = load_corpus(inputs["corpora"][0], split="heldout")
    i = data["ids"].index(str(ids[0]))
    row, column = divmod(i, data["atlas"]["columns"])
    cell = atlas_image(inputs["map"], 0)[row * 32 : row * 32 + 32, column * 32 : column * 32 + 32]
    expected = images[0, ..., 0].reshape(32, 2, 32, 2).mean(axis=(1, 3))
    assert np.abs(cell.astype(float) - expected).max() <= 1


def test_embedded_text_cannot_end_a_script():
    hostile = ["</script><script>alert(1)</script>", "a\u2028b\u2029c", "<!--", "&amp;", 'it\'s "q"']
    text = map_stage.script_json({"names": hostile})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text and "\u2029" not in text
    assert text.isascii() and json.loads(text) == {"names": hostile}
    with pytest.raises(ValueError):
        map_stage.script_json({"score": float("nan")})


def test_nearest_images_without_self_even_for_equal_points():
    x = np.array([[0.0], [0.0], [1.0], [3.0]])
    index, distance = map_stage.nearest_images(x, 2)
    for i in range(4):
        assert i not in index[i]
    assert set(index[0]) == {1, 2} and set(index[1]) == {0, 2}
    np.testing.assert_allclose(distance[3], [2.0, 3.0])
    index, _ = map_stage.nearest_images(x[:1], 10)
    assert index.shape == (1, 0)


def test_unit_square_keeps_the_aspect():
    xy = map_stage.unit_square(np.array([[0.0, 0.0], [4.0, 1.0], [2.0, 0.5]]))
    np.testing.assert_allclose(xy, [[0.0, 0.375], [1.0, 0.625], [0.5, 0.5]])
    np.testing.assert_allclose(map_stage.unit_square(np.zeros((3, 2))), 0.5)


def test_a_space_that_does_not_exist_is_a_clear_error(tmp_path):
    inputs = write_map_inputs(tmp_path, n_per_culture=4)
    assert typicality.main(typicality_argv(inputs)) == 0
    with pytest.raises(UserError, match="config key 'map.space': no feature space 'jiont'"):
        map_stage.main(map_argv(inputs, space="jiont"))
    with pytest.raises(UserError, match="holds the space 'joint', config key 'map.space' is 'critic'"):
        map_stage.main(map_argv(inputs, space="critic"))
    with pytest.raises(UserError, match="features not found: .*critic/seed0.npz"):
        map_stage.main(map_argv(inputs, features=[str(tmp_path / "results" / "features" / "critic" / "seed0.npz")], space="critic"))


def test_a_map_with_no_images_is_a_clear_error(tmp_path):
    inputs = write_map_inputs(tmp_path, n_per_culture=0)
    with pytest.raises(UserError, match="the map has no images"):
        map_stage.main(map_argv(inputs))
    assert not Path(inputs["map"]).exists()


def test_images_without_scores_are_a_clear_error(tmp_path):
    inputs = write_map_inputs(tmp_path, n_per_culture=4)
    assert typicality.main(typicality_argv(inputs)) == 0
    table = files.load_typicality(inputs["typicality"])
    files.save_typicality(inputs["typicality"], table[table["culture"] != "greek"])
    with pytest.raises(UserError, match="typicality.tsv: no typicality scores for 4 image"):
        map_stage.main(map_argv(inputs))


def test_a_failed_build_leaves_the_previous_map_whole(tmp_path):
    folder = tmp_path / "map"
    with gio.atomic_directory(folder) as new:
        (new / "index.html").write_text("first")
    with pytest.raises(RuntimeError), gio.atomic_directory(folder) as new:
        (new / "index.html").write_text("second")
        raise RuntimeError("killed")
    assert (folder / "index.html").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map"]
