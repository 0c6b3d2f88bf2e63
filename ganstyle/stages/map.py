"""Stage ``map``: the interactive image map, ``results/map/index.html``.

Every held-out image is a thumbnail at a 2-D layout (UMAP or t-SNE, fixed seed) of one feature
space, coloured by culture.  Hovering names an image; clicking opens a panel with the image, its
culture, its typicality under every critic (``results/images/typicality.tsv``) and its nearest
images in the full feature space (found here, not in the 2-D layout).

The folder opens from ``file://`` without a server or network, and can be copied as one piece:

``index.html``, ``map.css``, ``map.js``
    the page (written by us, no third-party code), copied from ``ganstyle/stages/map_page/``.
``data.js``
    the images' names, cultures, positions, scores and neighbours as one JSON object;
    numeric columns are base64 little-endian typed arrays (compact, fast to decode).
``atlas-NNN.js``
    sprite atlases: lossless WebP images of up to 64 x 64 thumbnails (8 % smaller than PNG on the
    demo), as data URIs in scripts.  Browsers refuse
    image files next to a ``file://`` page as WebGL textures, but not a data URI, and a
    ``<script src>`` loads from ``file://`` where ``fetch`` does not.

The page draws each atlas's thumbnails as point sprites in one WebGL draw call (a few calls for
50,000 images), or with Canvas 2D where WebGL is missing (``index.html?renderer=canvas`` forces it).
Names come from users' folders: the page shows them as text only, and the JSON is embedded with
``<``, ``>``, ``&``, U+2028 and U+2029 escaped, so no name can end a script or run one.
"""

from __future__ import annotations

import argparse
import base64
import io as bytes_io
import json
import logging
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ganstyle import io
from ganstyle.config import add_settings_arguments, section
from ganstyle.errors import UserError
from ganstyle.figures.shared import heldout_images
from ganstyle.io.files import MAP, load_critic_space, load_reference_features, load_typicality, seed_rows
from ganstyle.metrics.measures import SPACES
from ganstyle.stages.typicality import checked_space

log = logging.getLogger(__name__)

SPACE_KEY = "map.space"
PAGE = Path(__file__).with_name("map_page")
PAGE_FILES = ("index.html", "map.css", "map.js")
ATLAS_SIDE = 2048  # pixels: every WebGL implementation takes textures this large
DATA_VERSION = 1


# --------------------------------------------------------------------------- the feature space


@dataclass
class SpaceImages:
    """The held-out images of one feature space: ``x`` (N, d) as the similarity stage embeds them."""

    space: str
    culture: np.ndarray  # (N,)
    ids: np.ndarray  # (N,)
    x: np.ndarray  # (N, d)


def critic_blocks(features: np.ndarray, blocks: Sequence[int]) -> list[np.ndarray]:
    """Every snapshot's feature blocks ((S, N, F) with block widths ``blocks``) as a list of (N, F_b)."""
    edges = np.cumsum([0, *blocks])
    return [snapshot[:, a:b] for snapshot in features for a, b in zip(edges[:-1], edges[1:])]


def load_space(paths: Sequence[str], space: str, n_components: int) -> SpaceImages:
    """One space's images embedded as the similarity stage embeds a space (``joint_space``: standardised
    blocks side by side, PCA); a critic space's seeds and snapshots are blocks side by side, each
    weighed as one."""
    from ganstyle.metrics.spaces import joint_space

    if space == "reference":
        if len(paths) != 1:
            raise UserError(f"the reference space is one file (results/features/reference.npz), got {len(paths)}")
        f = load_reference_features(paths[0])
        culture, ids, blocks = f.culture, f.ids, [f.features]
    else:
        files = [load_critic_space(path) for path in paths]
        for f, path in zip(files, paths):
            if f.space != space:
                raise UserError(f"{path}: holds the space '{f.space}', config key '{SPACE_KEY}' is '{space}'")
        culture, ids, blocks = files[0].culture, files[0].ids, []
        for f, rows in zip(files, seed_rows(files, list(paths))):
            blocks += critic_blocks(f.features[:, rows], f.blocks)
    if len(ids) == 0:
        raise UserError(f"{paths[0]}: the map has no images (no held-out images in the space '{space}')")
    if len(ids) == 1:
        return SpaceImages(space, culture, ids, np.zeros((1, 1)))
    try:
        x, _ = joint_space(blocks, n_components)
    except ValueError as err:
        raise UserError(f"{paths[0]}: {err}") from err
    return SpaceImages(space, culture, ids, x)


# --------------------------------------------------------------------------- layout and neighbours


def unit_square(xy: np.ndarray) -> np.ndarray:
    """Positions moved and scaled (one factor for both axes) into [0, 1]^2, centred."""
    xy = np.asarray(xy, dtype=np.float64)
    low, high = xy.min(axis=0), xy.max(axis=0)
    extent = float((high - low).max())
    if extent == 0:
        return np.full_like(xy, 0.5)
    return (xy - (low + high) / 2) / extent + 0.5


def layout_2d(x: np.ndarray, method: str, neighbours: int, seed: int) -> np.ndarray:
    """(N, 2) positions in [0, 1]^2: UMAP or t-SNE of ``x`` with a fixed seed (same input, same positions).

    Too few images for either method (fewer than ``neighbours`` + 2, or 4) are placed by PCA.
    """
    n = len(x)
    if n < max(4, neighbours + 2) or x.shape[1] < 2:
        return unit_square(_pca_2d(x))
    if method == "umap":
        with warnings.catch_warnings():
            # "n_jobs overridden by setting random_state": the price of a reproducible layout
            warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
            from umap import UMAP

            xy = UMAP(n_components=2, n_neighbors=neighbours, min_dist=0.1, random_state=seed, init="spectral").fit_transform(x)
    elif method == "tsne":
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, perplexity=float(min(neighbours, (n - 1) / 3)), init="pca", random_state=seed).fit_transform(x)
    else:
        raise UserError(f"config key 'map.layout': unknown layout '{method}' (umap or tsne)")
    return unit_square(xy)


def _pca_2d(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=0)
    if len(x) < 2 or not centred.any():
        return np.zeros((len(x), 2))
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    xy = u[:, :2] * s[:2]
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))


def nearest_images(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image's ``k`` nearest other images (Euclidean, in the full space): indices and distances (N, k'),
    nearest first, ``k' = min(k, N - 1)``."""
    from sklearn.neighbors import NearestNeighbors

    n = len(x)
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0))
    distance, index = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    # drop the image itself; where equal points hid it, drop the farthest instead
    own = index == np.arange(n)[:, None]
    own[~own.any(axis=1), -1] = True
    return index[~own].reshape(n, k), distance[~own].reshape(n, k)


# --------------------------------------------------------------------------- thumbnails and atlases


def thumbnails(images: np.ndarray, side: int) -> np.ndarray:
    """uint8 (N, t, t, C) with t = min(side, image side): images shrunk (box filter), never enlarged."""
    from PIL import Image

    t = min(side, images.shape[1])
    if t == images.shape[1] and images.shape[1] == images.shape[2]:
        return images
    out = np.empty((len(images), t, t, images.shape[3]), np.uint8)
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0] if image.shape[2] == 1 else image)
        out[i] = np.asarray(pil.resize((t, t), Image.Resampling.BOX)).reshape(t, t, -1)
    return out


def atlas_grid(thumb: int) -> tuple[int, int]:
    """(thumbnails per atlas row, per atlas) for thumbnails of side ``thumb``."""
    columns = ATLAS_SIDE // thumb
    return columns, columns * columns


def atlas_images(thumbs: np.ndarray) -> list[bytes]:
    """The thumbnails tiled row by row into lossless WebP atlases (``atlas_grid`` of them per atlas, the last one cut to its rows)."""
    from PIL import Image

    from ganstyle.io.images import image_grid

    columns, per_atlas = atlas_grid(thumbs.shape[1])
    atlases = []
    for start in range(0, len(thumbs), per_atlas):
        part = thumbs[start : start + per_atlas]
        grid = image_grid(part, columns if len(part) > columns else len(part), gap=0)
        buffer = bytes_io.BytesIO()
        # quality is the encoder's effort in lossless mode: 50 is 6x faster than 100 for 0.2 % more bytes
        Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid).save(buffer, format="WEBP", lossless=True, quality=50, method=3)
        atlases.append(buffer.getvalue())
    return atlases


# --------------------------------------------------------------------------- the page's data


def typed_base64(values: np.ndarray, dtype: str) -> str:
    """A numeric array as base64 of its little-endian bytes (the page decodes it into a typed array)."""
    return base64.b64encode(np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode("ascii")


def script_json(value) -> str:
    """JSON that is safe inside any script: no ``<``, ``>`` or ``&`` (no ``</script>``, no ``<!--``), only
    ASCII (U+2028 and U+2029 escaped); NaN refused."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def score_matrix(typicality: pd.DataFrame, ids: np.ndarray, path: str) -> tuple[list[str], np.ndarray, list[str]]:
    """Critics, scores (N, K) and file names of the images ``ids``, from the typicality table."""
    critics = list(dict.fromkeys(typicality["critic"]))
    wide = typicality.pivot_table(index="id", columns="critic", values="score", aggfunc="first", dropna=False).reindex(columns=critics)
    missing = [image for image in ids if image not in wide.index]
    if missing:
        raise UserError(f"{path}: no typicality scores for {len(missing)} image(s) of the map (e.g. {missing[0]}): re-run typicality")
    scores = wide.loc[list(ids)].to_numpy(np.float32)
    names = typicality.drop_duplicates("id").set_index("id")["source"].reindex(list(ids)).fillna("").astype(str)
    return critics, scores, list(names)


def shuffled(order: np.ndarray, images: SpaceImages, xy: np.ndarray, neighbours: tuple[np.ndarray, np.ndarray], thumbs: np.ndarray):
    """Everything in the page's order ``order`` (neighbour indices renumbered).

    The page draws images in its order, later ones on top; the registry order would draw the last
    culture over all others where they overlap, a fixed shuffle mixes them.
    """
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    index, distance = neighbours
    moved = SpaceImages(images.space, images.culture[order], images.ids[order], images.x[order])
    return moved, xy[order], (position[index[order]], distance[order]), thumbs[order]


def page_data(
    images: SpaceImages,
    xy: np.ndarray,
    neighbours: tuple[np.ndarray, np.ndarray],
    typicality: pd.DataFrame,
    typicality_path: str,
    registry: pd.DataFrame,
    thumbs_shape: tuple[int, ...],
    n_atlases: int,
    settings: dict,
) -> dict:
    """Everything the page shows, as one JSON-able object (see ``map.js``: ``decodeData``)."""
    from ganstyle.figures import style

    order = [c for c in registry["culture"] if c in set(images.culture)] + sorted(set(images.culture) - set(registry["culture"]))
    index = {c: k for k, c in enumerate(order)}
    palette = style.culture_palette(order)
    counts = pd.Series(images.culture).value_counts()
    cultures = []
    for c in order:
        known = c in registry.index
        cultures.append(
            {
                "id": c,
                "label": str(registry.loc[c, "label"]) if known else c,
                "group": style.group_name(registry.loc[c, "group"]) if known else style.NO_GROUP,
                "colour": palette[c],
                "count": int(counts.get(c, 0)),
            }
        )
    critics, scores, names = score_matrix(typicality, images.ids, typicality_path)
    thumb, channels = thumbs_shape[1], thumbs_shape[3]
    columns, per_atlas = atlas_grid(thumb)
    neighbour_index, neighbour_distance = neighbours
    index_type = "uint16" if len(images.ids) <= 2**16 else "int32"
    return {
        "version": DATA_VERSION,
        "n": len(images.ids),
        "space": images.space,
        "spaceLabel": SPACES[images.space].label,
        "layout": settings["layout"],
        "seed": settings["seed"],
        "typicalitySpace": str(typicality["space"].iloc[0]) if len(typicality) else "",
        "typicalityLabel": SPACES[str(typicality["space"].iloc[0])].label if len(typicality) and str(typicality["space"].iloc[0]) in SPACES else "",
        "cultures": cultures,
        "critics": [index.get(c, -1) for c in critics],
        "criticIds": critics,
        "thumb": thumb,
        "channels": channels,
        "atlas": {"columns": columns, "perAtlas": per_atlas, "count": n_atlases, "files": [atlas_name(i) for i in range(n_atlases)]},
        "ids": [str(i) for i in images.ids],
        "names": names,
        "k": int(neighbour_index.shape[1]),
        "culture": typed_base64([index[c] for c in images.culture], "uint16"),
        "xy": typed_base64(xy.reshape(-1), "float32"),
        # the largest share of the page after the atlases: 2 bytes an index up to 65,536 images, half precision for distances
        "neighbourType": index_type,
        "neighbours": typed_base64(neighbour_index.reshape(-1), index_type),
        "neighbourDistance": typed_base64(neighbour_distance.reshape(-1), "float16"),
        "scores": typed_base64(scores.reshape(-1), "float32"),
    }


def atlas_name(i: int) -> str:
    return f"atlas-{i:03d}.js"


def write_page(out: str | Path, data: dict, atlases: Sequence[bytes]) -> None:
    """The page's folder, whole or not at all."""
    with io.atomic_directory(out) as folder:
        for name in PAGE_FILES:
            shutil.copyfile(PAGE / name, folder / name)
        (folder / "data.js").write_text(f"window.GANSTYLE_MAP_DATA = {script_json(data)};\n", encoding="ascii")
        for i, atlas in enumerate(atlases):
            uri = "data:image/webp;base64," + base64.b64encode(atlas).decode("ascii")
            (folder / atlas_name(i)).write_text(f"window.GANSTYLE_MAP_ATLAS({i}, {script_json(uri)});\n", encoding="ascii")


# --------------------------------------------------------------------------- the stage


def build_map(args, settings: dict, n_components: int) -> dict:
    """Everything from the inputs to the page's folder; returns the page data (for logs and tests)."""
    from ganstyle.config.registry import load_registry

    space = checked_space(settings["space"], SPACE_KEY, critics=False)
    images = load_space(args.features, space, n_components)
    log.info("%s: %d images x %d dimensions", space, len(images.ids), images.x.shape[1])
    typicality = load_typicality(args.typicality)
    try:
        metadata = json.loads(args.metadata)
    except json.JSONDecodeError as err:
        raise UserError(f"--metadata is not valid JSON: {err}") from err
    registry = load_registry(args.cultures_file, metadata)
    thumbs = thumbnails(heldout_images(args.corpora, images.ids), settings["thumbnail"])
    xy = layout_2d(images.x, settings["layout"], settings["layout_neighbours"], settings["seed"])
    log.info("layout: %s of %d images", settings["layout"], len(xy))
    neighbours = nearest_images(images.x, settings["neighbours"])
    images, xy, neighbours, thumbs = shuffled(np.random.default_rng(settings["seed"]).permutation(len(xy)), images, xy, neighbours, thumbs)
    atlases = atlas_images(thumbs)
    data = page_data(images, xy, neighbours, typicality, args.typicality, registry, thumbs.shape, len(atlases), settings)
    write_page(args.out, data, atlases)
    log.info("wrote %s: %d images in %d atlas(es)", Path(args.out) / MAP["index"], len(xy), len(atlases))
    return data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganstyle map", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", nargs="+", required=True, help="results/corpus/{culture}/images.npz of every culture (the held-out images)")
    parser.add_argument(
        "--features",
        nargs="+",
        required=True,
        help="the space's files: results/features/<space>/seed<seed>.npz of every seed, or results/features/reference.npz",
    )
    parser.add_argument("--typicality", required=True, help="results/images/typicality.tsv")
    parser.add_argument("--cultures-file", required=True, help="culture registry (config key 'cultures'): labels and groups")
    parser.add_argument("--metadata", default="null", help="config key 'metadata' as JSON")
    parser.add_argument("--n-components", type=int, required=True, help="PCA dimensions of the space (config similarity.n_components)")
    parser.add_argument("--out", required=True, help="the page's folder, results/map")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the layout and the neighbour search (the rule's threads:)")
    add_settings_arguments(parser, "map")
    return parser


def main(argv: list[str] | None = None, stage: str = "map") -> int:
    args = build_parser().parse_args(argv)
    settings = section("map", args.settings, args.config_path)
    with threadpool_limits(limits=max(1, args.threads)):
        build_map(args, settings, args.n_components)
    return 0
