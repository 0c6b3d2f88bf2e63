import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganstyle.figures import style


@pytest.fixture(autouse=True)
def print_style():
    style.apply(dpi=100)


def test_group_palette_is_stable_and_colour_blind_safe_first():
    palette = style.group_palette(["b", "a", "b", None, "c", float("nan"), ""])
    assert list(palette) == ["b", "a", "c", style.NO_GROUP]
    assert [palette[g] for g in ("b", "a", "c")] == style.OKABE_ITO[:3]
    assert palette[style.NO_GROUP] == style.NO_GROUP_COLOUR
    # the same registry gives the same colours, whatever subset a figure shows
    assert style.group_palette(["b", "a", "b", None, "c"]) == palette


def test_group_palette_extends_beyond_eight_groups_with_distinct_colours():
    groups = [f"g{i}" for i in range(12)]
    palette = style.group_palette(groups)
    assert len(set(palette.values())) == 12
    assert [palette[g] for g in groups[:8]] == style.OKABE_ITO


def test_group_legend_handles_follow_the_palette_order():
    palette = style.group_palette(["x_y", "z"])
    handles = style.group_legend_handles(palette, ["z", "x_y"])
    assert [h.get_label() for h in handles] == ["x y", "z"]
    assert handles[0].get_markerfacecolor() == palette["x_y"]


def test_sizes_follow_journal_columns():
    assert style.figure_size("single", 2.0) == (3.5, 2.0)
    assert style.figure_size("double", 20.0) == (7.0, style.MAX_HEIGHT)


def test_number_formatting():
    assert style.common_exponent(np.array([0.5, 12.0, np.nan])) == 0
    assert style.common_exponent(np.array([0.0012, 0.0035])) == -3
    assert style.common_exponent(np.array([2500.0, 12000.0])) == 3
    assert style.common_exponent(np.array([np.nan])) == 0
    assert [style.format_significant(v) for v in (206.4, 12.3, 1.234, 0.0123, 0.0, np.nan)] == ["206", "12", "1.2", "0.012", "0", ""]
    assert style.format_significant(-0.456) == "-0.46"
    assert style.format_p(0.001) == "0.001" and style.format_p(0.04567) == "0.046" and style.format_p(np.nan) == "n/a"
    assert style.format_p(0.00012) == "1.2e-04"


def test_chosen_font_has_every_character_the_figures_print():
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    family = style.available_font()
    path = font_manager.findfont(font_manager.FontProperties(family=family))
    font = FT2Font(path)
    assert all(font.get_char_index(ord(ch)) for ch in style.NEEDED_CHARACTERS)
    assert style.available_font(["No Such Font"]) == "DejaVu Sans"
    params = style.rc_params()
    assert params["pdf.fonttype"] == 42 and params["font.sans-serif"][0] == family


def test_save_writes_every_format_and_the_data_reproducibly(tmp_path):
    import matplotlib.pyplot as plt

    plt.close("all")  # figures an earlier test left open are not this test's
    data = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0.5, 0.25, 0.125]})

    def draw():
        fig, ax = plt.subplots(figsize=style.figure_size("single", 2.0))
        ax.plot(data["x"], data["y"])
        return fig

    paths = style.save(draw(), tmp_path / "a" / "figure", data, ("pdf", "png", "svg"), dpi=150)
    assert set(paths) == {"pdf", "png", "svg", "tsv"}
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    with Image.open(paths["png"]) as image:
        assert image.info.get("dpi", (0, 0))[0] == pytest.approx(150, abs=1)
        assert 3.5 * 150 * 0.8 < image.size[0] <= 3.5 * 150 * 1.02  # column width, tight bbox trims only margins
    pd.testing.assert_frame_equal(pd.read_csv(paths["tsv"], sep="\t"), data, check_dtype=False)
    again = style.save(draw(), tmp_path / "b" / "figure", data, ("pdf", "png", "svg"), dpi=150)
    for fmt in ("pdf", "png", "svg", "tsv"):
        assert paths[fmt].read_bytes() == again[fmt].read_bytes(), fmt
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # no temporary files left
    assert plt.get_fignums() == []  # figures are closed


def test_place_labels_keeps_labels_apart_and_inside():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.5, 3.0))
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 0.05, 6), rng.normal(3, 0.05, 6)])
    y = np.concatenate([rng.normal(0, 0.05, 6), rng.normal(1, 0.05, 6)])
    ax.scatter(x, y)
    ax.set_xlim(-1, 4)
    ax.set_ylim(-1, 2)
    labels = style.place_labels(ax, x, y, [f"Culture {i}" for i in range(12)])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    from matplotlib.text import Text

    boxes = [Text.get_window_extent(label, renderer) for label in labels]  # the text, without leader lines
    overlaps = sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert overlaps == 0  # twelve labels around two tight clusters
    axes_box = ax.get_window_extent(renderer)
    assert all(axes_box.x0 - 1 <= b.x0 and b.x1 <= axes_box.x1 + 1 for b in boxes)
    plt.close(fig)
