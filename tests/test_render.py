"""Tests of the writing-system renderer (ganstyle.render), on DejaVu fonts shipped with matplotlib;
Arabic/Devanagari shaping tests run when Debian's fonts-noto-core is installed."""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ganstyle import cli, render
from ganstyle.errors import UserError

NOTO_DIR = Path("/usr/share/fonts/truetype/noto")
HAVE_NOTO = (NOTO_DIR / "NotoSansArabic-Regular.ttf").exists() and (NOTO_DIR / "NotoSansDevanagari-Regular.ttf").exists()
needs_noto = pytest.mark.skipif(not HAVE_NOTO, reason="Debian package fonts-noto-core not installed (/usr/share/fonts/truetype/noto)")


@pytest.fixture(scope="module")
def font_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fonts")
    mpl_fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name in ("DejaVuSans.ttf", "DejaVuSerif.ttf"):
        shutil.copy(mpl_fonts / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def faces(font_dir) -> dict[str, list[render.FontFace]]:
    return {code: render.find_fonts(font_dir, code) for code in ("Latn", "Grek", "Cyrl")}


def test_culture_id_and_code_normalisation():
    assert render.culture_id("Old_Italic") == "old_italic"
    assert render.normalise_script_code("deva") == "Deva"
    assert render.script_inventory("Laoo").culture == "lao"


@pytest.mark.parametrize("code", ["Xxxx", "Latin", "Zyyy", "La"])
def test_unknown_script_code_is_a_user_error(code):
    with pytest.raises(UserError, match="ISO 15924"):
        render.normalise_script_code(code)


def test_cli_reports_unknown_script(font_dir, tmp_path, capsys):
    status = cli.main(["render-scripts", "--scripts", "Qqqq", "--font-dir", str(font_dir), "--out", str(tmp_path)])
    assert status == 1
    assert "Qqqq" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_script_no_font_covers_is_a_user_error(font_dir):
    with pytest.raises(UserError, match="no font covers script Khmr"):
        render.find_fonts(font_dir, "Khmr")


def test_inventories_follow_the_scripts():
    latin = render.script_inventory("Latn")
    assert set(latin.lowercase) == set("abcdefghijklmnopqrstuvwxyz")
    greek = render.script_inventory("Grek")
    assert greek.final_of["σ"] == "ς" and "ς" not in greek.lowercase
    assert "ά" in greek.variants["α"] and "ϐ" not in greek.letters  # symbol variant left out
    arabic = render.script_inventory("Arab")
    assert arabic.rtl and "\u064e" in arabic.marks and arabic.virama is None  # fatha
    deva = render.script_inventory("Deva")
    assert deva.virama == "\u094d" and "\u0915" in deva.bases and "\u0905" in deva.independents
    assert "\u093c" not in deva.marks  # nukta
    assert render.script_inventory("Thai").virama is None  # Pali-only phinthu
    assert not render.script_inventory("Thai").word_spaces and render.script_inventory("Deva").word_spaces


def test_fonts_found_for_european_scripts(faces):
    for code, found in faces.items():
        assert sorted(face.path.name for face in found) == ["DejaVuSans.ttf", "DejaVuSerif.ttf"], code
        assert all(face.sentinel is not None for face in found)


def test_weights_filter(font_dir):
    with pytest.raises(UserError, match="weight 700"):
        render.find_fonts(font_dir, "Latn", weights=(700,))  # both DejaVu copies are Book (400)


def test_random_text_uses_only_mapped_characters(faces):
    rng = np.random.default_rng(3)
    for code, found in faces.items():
        inventory = render.script_inventory(code)
        # a font that maps only every other letter: the other letters must never appear
        partial = frozenset(ord(ch) for ch in inventory.letters[::2]) | {ord(" ")}
        alphabet = render.Alphabet.for_font(inventory, partial)
        text = "".join(render.random_line(rng, alphabet, n_words=20) for _ in range(20))
        assert set(map(ord, text)) <= partial
        full = render.Alphabet.for_font(inventory, found[0].cmap)
        text = "".join(render.random_line(rng, full, n_words=20) for _ in range(20))
        assert set(map(ord, text)) <= found[0].cmap
        assert {unicodedata.category(ch)[0] for ch in text} <= {"L", "Z"}


def test_greek_final_sigma_only_ends_words(faces):
    alphabet = render.Alphabet.for_font(render.script_inventory("Grek"), faces["Grek"][0].cmap)
    rng = np.random.default_rng(0)
    words = [render.random_word(rng, alphabet) for _ in range(500)]
    assert any(w.endswith("ς") for w in words)
    assert not any("ς" in w[:-1] for w in words)
    assert not any(w.endswith("σ") for w in words)


def test_shaping_guard_rejects_missing_glyphs(faces):
    face = faces["Latn"][0]
    assert render.shaped_cleanly(face, 30, "abc", "ltr")
    assert not render.shaped_cleanly(face, 30, "ab\u17c0", "ltr")  # Khmer: not in the cmap
    # A face whose cmap claims a code point the font lacks: only the sentinel font can notice.
    lying = render.FontFace(face.path, face.family, face.style, face.weight, face.cmap | {0x17C0}, face.sentinel)
    assert not render.shaped_cleanly(lying, 30, "ab\u17c0", "ltr")


def test_patches_have_size_mode_and_ink(faces):
    for code, found in faces.items():
        patches = render.render_script(code, found, n=6, size=64, seed=1)
        assert len(patches) == 6
        assert {p.font for p in patches} == {"DejaVuSans.ttf", "DejaVuSerif.ttf"}
        for patch in patches:
            assert patch.image.shape == (64, 64) and patch.image.dtype == np.uint8
            assert render.ink_fraction(patch.image) >= 0.04
            assert patch.image.min() < 64 and patch.image.max() > 192  # dark text on light paper


def test_deterministic_by_seed(faces):
    first = render.render_script("Grek", faces["Grek"], n=4, size=48, seed=7)
    again = render.render_script("Grek", faces["Grek"], n=4, size=48, seed=7)
    other = render.render_script("Grek", faces["Grek"], n=4, size=48, seed=8)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again))
    assert not all(np.array_equal(a.image, b.image) for a, b in zip(first, other))


def test_cli_writes_corpus_sheets_and_font_table(font_dir, tmp_path):
    out, sheets = tmp_path / "demo", tmp_path / "sheets"
    (out / "latin").mkdir(parents=True)
    Image.new("L", (8, 8), 255).save(out / "latin" / "0099.png")  # left from an earlier, larger run
    argv = [
        "render-scripts",
        "--scripts",
        "Latn",
        "cyrl",
        "--font-dir",
        str(font_dir),
        "--per-script",
        "5",
        "--size",
        "32",
        "--seed",
        "0",
        "--out",
        str(out),
        "--sheet",
        str(sheets),
    ]
    assert cli.main(argv) == 0
    for culture in ("latin", "cyrillic"):
        files = sorted(p.name for p in (out / culture).iterdir())
        assert files == [f"{i:04d}.png" for i in range(5)]
        with Image.open(out / culture / "0003.png") as image:
            assert image.mode == "L" and image.size == (32, 32)
        assert (sheets / f"{culture}.png").exists()
    table = pd.read_csv(out / "fonts.tsv", sep="\t")
    assert list(table.columns) == ["culture", "file", "font"] and len(table) == 10
    first = (out / "latin" / "0000.png").read_bytes()
    assert cli.main(argv) == 0
    assert (out / "latin" / "0000.png").read_bytes() == first  # same seed, same files


@needs_noto
def test_arabic_letters_join():
    face = next(f for f in render.find_fonts(NOTO_DIR, "Arab") if f.path.name == "NotoSansArabic-Regular.ttf")
    font = render._load(face, 40)
    beh = "\u0628"
    joined = font.getlength(beh * 3, direction="rtl")
    isolated = 3 * font.getlength(beh, direction="rtl")
    assert joined < 0.8 * isolated  # initial/medial/final forms are narrower than three isolated behs
    patches = render.render_script("Arab", [face], n=3, size=64, seed=0)
    assert all(render.ink_fraction(p.image) >= 0.04 for p in patches)


@needs_noto
def test_devanagari_conjuncts_form():
    face = next(f for f in render.find_fonts(NOTO_DIR, "Deva") if f.path.name == "NotoSansDevanagari-Regular.ttf")
    font = render._load(face, 40)
    ka, virama, ssa = "\u0915", "\u094d", "\u0937"
    conjunct = font.getlength(ka + virama + ssa)  # क्ष, one ligature
    apart = font.getlength(ka + virama) + font.getlength(ssa)  # half-form/virama + full letter
    assert conjunct < apart
    assert render.shaped_cleanly(face, 40, ka + virama + ssa, "ltr")
    assert not render.shaped_cleanly(face, 40, "\u093f", "ltr")  # a lone vowel sign gets a dotted circle
