"""Tests of the writing-system renderer (ganstyle.tools.render_scripts), on DejaVu fonts shipped with matplotlib;
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

from ganstyle import cli
from ganstyle.errors import UserError
from ganstyle.tools import render_scripts, script_text

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
def faces(font_dir) -> dict[str, list[render_scripts.FontFace]]:
    return {code: render_scripts.find_fonts(font_dir, code) for code in ("Latn", "Grek", "Cyrl")}


def test_cli_reports_unknown_script(font_dir, tmp_path, capsys):
    status = cli.main(["render-scripts", "--scripts", "Qqqq", "--font-dir", str(font_dir), "--out", str(tmp_path)])
    assert status == 1
    assert "Qqqq" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_script_no_font_covers_is_a_user_error(font_dir):
    with pytest.raises(UserError, match="no font covers script Khmr"):
        render_scripts.find_fonts(font_dir, "Khmr")


def test_fonts_found_for_european_scripts(faces):
    for code, found in faces.items():
        assert sorted(face.path.name for face in found) == ["DejaVuSans.ttf", "DejaVuSerif.ttf"], code
        assert all(face.sentinel is not None for face in found)


def test_weights_filter(font_dir):
    with pytest.raises(UserError, match="weight 700"):
        render_scripts.find_fonts(font_dir, "Latn", weights=(700,))  # both DejaVu copies are Book (400)


def test_random_text_uses_only_mapped_characters(faces):
    rng = np.random.default_rng(3)
    for code, found in faces.items():
        inventory = script_text.script_inventory(code)
        # a font that maps only every other letter: the other letters must never appear
        partial = frozenset(ord(ch) for ch in inventory.letters[::2]) | {ord(" ")}
        alphabet = script_text.Alphabet.for_font(inventory, partial)
        text = "".join(script_text.random_line(rng, alphabet, n_words=20) for _ in range(20))
        assert set(map(ord, text)) <= partial
        full = script_text.Alphabet.for_font(inventory, found[0].cmap)
        text = "".join(script_text.random_line(rng, full, n_words=20) for _ in range(20))
        assert set(map(ord, text)) <= found[0].cmap
        assert {unicodedata.category(ch)[0] for ch in text} <= {"L", "Z"}


def test_greek_final_sigma_only_ends_words(faces):
    alphabet = script_text.Alphabet.for_font(script_text.script_inventory("Grek"), faces["Grek"][0].cmap)
    rng = np.random.default_rng(0)
    words = [script_text.random_word(rng, alphabet) for _ in range(500)]
    assert any(w.endswith("ς") for w in words)
    assert not any("ς" in w[:-1] for w in words)
    assert not any(w.endswith("σ") for w in words)


def test_shaping_guard_rejects_missing_glyphs(faces):
    face = faces["Latn"][0]
    assert render_scripts.shaped_cleanly(face, 30, "abc", "ltr")
    assert not render_scripts.shaped_cleanly(face, 30, "ab\u17c0", "ltr")  # Khmer: not in the cmap
    # A face whose cmap claims a code point the font lacks: only the sentinel font can notice.
    lying = render_scripts.FontFace(face.path, face.family, face.style, face.weight, face.cmap | {0x17C0}, face.sentinel)
    assert not render_scripts.shaped_cleanly(lying, 30, "ab\u17c0", "ltr")


def test_patches_have_size_mode_and_ink(faces):
    for code, found in faces.items():
        patches = render_scripts.render_script(code, found, n=6, size=64, seed=1)
        assert len(patches) == 6
        assert {p.font for p in patches} == {"DejaVuSans.ttf", "DejaVuSerif.ttf"}
        for patch in patches:
            assert patch.image.shape == (64, 64) and patch.image.dtype == np.uint8
            assert render_scripts.ink_fraction(patch.image) >= 0.04
            assert patch.image.min() < 64 and patch.image.max() > 192  # dark text on light paper


def test_deterministic_by_seed(faces):
    first = render_scripts.render_script("Grek", faces["Grek"], n=4, size=48, seed=7)
    again = render_scripts.render_script("Grek", faces["Grek"], n=4, size=48, seed=7)
    other = render_scripts.render_script("Grek", faces["Grek"], n=4, size=48, seed=8)
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
    face = next(f for f in render_scripts.find_fonts(NOTO_DIR, "Arab") if f.path.name == "NotoSansArabic-Regular.ttf")
    font = render_scripts._load(face, 40)
    beh = "\u0628"
    joined = font.getlength(beh * 3, direction="rtl")
    isolated = 3 * font.getlength(beh, direction="rtl")
    assert joined < 0.8 * isolated  # initial/medial/final forms are narrower than three isolated behs
    patches = render_scripts.render_script("Arab", [face], n=3, size=64, seed=0)
    assert all(render_scripts.ink_fraction(p.image) >= 0.04 for p in patches)


@needs_noto
def test_devanagari_conjuncts_form():
    face = next(f for f in render_scripts.find_fonts(NOTO_DIR, "Deva") if f.path.name == "NotoSansDevanagari-Regular.ttf")
    font = render_scripts._load(face, 40)
    ka, virama, ssa = "\u0915", "\u094d", "\u0937"
    conjunct = font.getlength(ka + virama + ssa)  # क्ष, one ligature
    apart = font.getlength(ka + virama) + font.getlength(ssa)  # half-form/virama + full letter
    assert conjunct < apart
    assert render_scripts.shaped_cleanly(face, 40, ka + virama + ssa, "ltr")
    assert not render_scripts.shaped_cleanly(face, 40, "\u093f", "ltr")  # a lone vowel sign gets a dotted circle
