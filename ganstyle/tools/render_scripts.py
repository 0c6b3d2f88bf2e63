"""Tool ``render-scripts``: text patches of writing systems rendered from a font folder.

Builds the bundled demo corpus (``data/demo``): for each ISO 15924 script code,
random letter sequences of that script are shaped with HarfBuzz (Pillow's raqm
layout, so Arabic and Syriac join and Indic conjuncts form), set in every
suitable font of the folder, and cropped into small grayscale patches.

The science-free but fiddly parts are pure functions:

* ``script_inventory``: which characters make up a script, from the Unicode
  character database (script property, general category, block, names), and
* ``random_line``: a random run of words or syllables over those characters,
  restricted to what one font maps (both in ``ganstyle.tools.script_text``);
* ``render_patch``: one patch, with size and position jitter.

Choices (documented in data/demo/README.md):

* Letters come from the script's home Unicode block(s) (``Basic Latin`` for
  Latin, ``Greek and Coptic`` for Greek, ``Devanagari`` for Devanagari, ...),
  so that supplements of rare, historic or phonetic letters do not dominate a
  uniform draw.  Compatibility characters (ligatures, symbol variants),
  letters named ARCHAIC or SYMBOL, and atomic letters named '... WITH ...'
  (additions for further languages) are left out; precomposed letters (ά, й,
  أ, क़) are drawn as occasional variants of their base letter.
* Combining marks are those of the script with canonical combining class 0
  (Indic vowel signs) or a fixed-position class 10..199 (Hebrew points, Arabic
  harakat, Thai vowels and tone marks); the generic above/below classes 220/230
  in these blocks hold cantillation, Quranic and Vedic annotation marks, which
  are left out, as are nuktas (class 7; precomposed nukta letters remain).
* Scripts with a virama (class 9) are written as syllables: consonant
  (+ virama + consonant) (+ vowel sign), so conjuncts and matras occur.  Thai
  and Lao viramas only write Pali, so those scripts are written letter by letter.
* Fonts: every font in the folder that maps at least ``min_coverage`` of the
  script's letters, is dedicated to that script (family name names it) or is a
  general family naming no script (Noto Sans, Noto Serif), has an upright
  normal-width face of one of the requested weights (OS/2 table), and whose
  family name has none of the excluded words (Mono, UI, Display, Looped, Kufi,
  Nastaliq, Rashi, ...): those are variants of a design already included, or extra
  traditional styles that exist for a few scripts only and would give those
  scripts more within-script variety than the others.
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from fontTools import unicodedata as ucd
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, TTLibError
from PIL import Image, ImageDraw, ImageFont, features

from ganstyle import io as gio
from ganstyle.errors import UserError
from ganstyle.tools.script_text import Alphabet, normalise_script_code, random_line, script_inventory

log = logging.getLogger(__name__)

DEFAULT_EXCLUDED_FAMILY_WORDS = (
    "Mono",
    "UI",
    "Display",
    "Looped",
    "Kufi",
    "Nastaliq",
    "Rashi",
    "Math",
    "Symbols",
    "Symbols2",
    "Emoji",
    "Music",
)
FONT_SUFFIXES = (".ttf", ".otf")
DOTTED_CIRCLE = 0x25CC  # HarfBuzz inserts it before a mark that cannot attach

# Proportions of the text relative to the patch side.
EM_FRACTION = 0.45  # font size (em) / patch side
EM_JITTER = 0.08  # +-8 % font size
CANVAS_FACTOR = 3  # the text block is rendered on CANVAS_FACTOR x CANVAS_FACTOR patch sides


# --------------------------------------------------------------------------
# Fonts


@dataclass(frozen=True, eq=False)  # identity hash: used as a cache key
class FontFace:
    """One font file usable for a script."""

    path: Path
    family: str
    style: str
    weight: int
    cmap: frozenset[int] = field(repr=False)
    sentinel: bytes | None = field(repr=False)  # see _sentinel_font

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.family} {self.style})"


def _name(font: TTFont, *ids: int) -> str:
    for name_id in ids:
        value = font["name"].getDebugName(name_id)
        if value:
            return value
    return ""


def _sentinel_font(path: Path, font: TTFont) -> bytes | None:
    """A copy of the font in which every glyph is blank except .notdef and the
    dotted circle, which become solid boxes.

    A line rendered with it shows ink exactly when shaping produced a
    missing-glyph box or a dotted circle (HarfBuzz's sign of a mark that cannot
    attach), so such lines can be rejected.  Only TrueType outlines (glyf) are
    rewritten; for CFF fonts the guard is unavailable (None).
    """
    if "glyf" not in font:
        return None
    font = TTFont(path)
    glyf = font["glyf"]
    upem = font["head"].unitsPerEm
    flagged = {font.getGlyphOrder()[0]}
    dotted = font.getBestCmap().get(DOTTED_CIRCLE)
    if dotted:
        flagged.add(dotted)
    for glyph_name in font.getGlyphOrder():
        pen = TTGlyphPen(None)
        if glyph_name in flagged:
            advance = max(font["hmtx"][glyph_name][0], upem // 2)
            pen.moveTo((0, -upem // 4))
            pen.lineTo((0, upem))
            pen.lineTo((advance, upem))
            pen.lineTo((advance, -upem // 4))
            pen.closePath()
        glyf[glyph_name] = pen.glyph()
    for table in ("fpgm", "prep", "cvt ", "hdmx", "LTSH", "VDMX", "gasp"):  # hinting of the old outlines
        if table in font:
            del font[table]
    return _font_bytes(font)


def _font_bytes(font: TTFont) -> bytes:
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def _script_names() -> set[str]:
    return {ucd.script_name(code).replace("_", " ").lower() for code in ucd.Scripts.NAMES}


def _read_face(path: Path) -> tuple[TTFont | None, str]:
    try:
        return TTFont(path, lazy=True), ""
    except (TTLibError, OSError, AssertionError) as err:
        return None, str(err)


def find_fonts(
    font_dir: str | Path,
    code: str,
    weights: tuple[int, ...] = (400, 700),
    excluded_family_words: tuple[str, ...] = DEFAULT_EXCLUDED_FAMILY_WORDS,
    min_coverage: float = 0.7,
) -> list[FontFace]:
    """Fonts of ``font_dir`` (recursively) suitable for script ``code``, sorted by file name."""
    inventory = script_inventory(code)
    font_dir = Path(font_dir)
    if not font_dir.is_dir():
        raise UserError(f"--font-dir: not a folder: {font_dir}")
    script_words = _script_names()
    own_name = inventory.name.replace("_", " ").lower()
    excluded = {w.lower() for w in excluded_family_words}
    faces = []
    for path in sorted(p for p in font_dir.rglob("*") if p.suffix.lower() in FONT_SUFFIXES):
        font, problem = _read_face(path)
        if font is None:
            log.warning("skipping unreadable font %s: %s", path, problem)
            continue
        with font:
            family = _name(font, 16, 1)
            style = _name(font, 17, 2)
            words = family.lower().split()
            if excluded & set(words):
                continue
            named = {w for w in script_words if f" {w} " in f" {family.lower()} "}
            if named and own_name not in named:  # dedicated to another script
                continue
            os2 = font["OS/2"] if "OS/2" in font else None
            italic = (os2 is not None and bool(os2.fsSelection & 0b1)) or bool(re.search(r"italic|oblique", style.lower()))
            weight = os2.usWeightClass if os2 is not None else (700 if "bold" in style.lower() else 400)
            width = os2.usWidthClass if os2 is not None else 5
            if italic or width != 5 or weight not in weights:
                continue
            cmap = frozenset(font.getBestCmap() or {})
            covered = sum(ord(ch) in cmap for ch in inventory.letters) / len(inventory.letters)
            if covered < min_coverage or ord(" ") not in cmap:
                continue
            faces.append(FontFace(path, family, style, weight, cmap, _sentinel_font(path, font)))
    if not faces:
        raise UserError(
            f"--font-dir {font_dir}: no font covers script {code} ({inventory.name}): need an upright, "
            f"normal-width font of weight {'/'.join(map(str, weights))} mapping >= {min_coverage:.0%} of its "
            f"{len(inventory.letters)} letters (e.g. install fonts-noto-core)"
        )
    return faces


# --------------------------------------------------------------------------
# Rendering


def check_layout_engine() -> None:
    if not features.check("raqm"):
        raise UserError("Pillow was built without raqm: complex scripts cannot be shaped (install libraqm)")


@lru_cache(maxsize=256)
def _load(face: FontFace, em: int, sentinel: bool = False) -> ImageFont.FreeTypeFont:
    source = io.BytesIO(face.sentinel) if sentinel else str(face.path)
    return ImageFont.truetype(source, em, layout_engine=ImageFont.Layout.RAQM)


def shaped_cleanly(face: FontFace, em: int, text: str, direction: str) -> bool:
    """True unless shaping ``text`` yields a missing-glyph box or a dotted circle."""
    if any(ord(ch) not in face.cmap for ch in text):
        return False
    if face.sentinel is None:
        return True
    return _load(face, em, sentinel=True).getmask(text, direction=direction).getbbox() is None


def render_block(rng: np.random.Generator, face: FontFace, alphabet: Alphabet, size: int) -> np.ndarray:
    """Lines of random text filling a canvas of CANVAS_FACTOR x CANVAS_FACTOR patch sides (uint8, 255 = paper)."""
    em = max(6, int(round(size * EM_FRACTION * rng.uniform(1 - EM_JITTER, 1 + EM_JITTER))))
    font = _load(face, em)
    direction = "rtl" if alphabet.inventory.rtl else "ltr"
    side = size * CANVAS_FACTOR
    canvas = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(canvas)
    ascent, descent = font.getmetrics()
    baseline = int(rng.integers(0, ascent + 1))
    while baseline - ascent < side:
        for _attempt in range(20):
            line = random_line(rng, alphabet, n_words=max(2, side // (3 * em)))
            if shaped_cleanly(face, em, line, direction):
                break
        else:
            raise RuntimeError(f"{face.label}: no cleanly shaped line of {alphabet.inventory.code} in 20 attempts")
        # right-aligned for right-to-left scripts, so a line starts at the canvas edge
        x, anchor = (side, "rs") if direction == "rtl" else (0, "ls")
        draw.text((x, baseline), line, font=font, fill=0, anchor=anchor, direction=direction)
        baseline += ascent + descent
    return np.asarray(canvas)


def ink_fraction(patch: np.ndarray) -> float:
    """Mean darkness in [0, 1] (0 = blank paper)."""
    return float(1.0 - patch.mean() / 255.0)


def render_patch(rng: np.random.Generator, face: FontFace, alphabet: Alphabet, size: int, min_ink: float = 0.04) -> np.ndarray:
    """One ``size`` x ``size`` grayscale patch of text, cropped at a random position with enough ink."""
    for _attempt in range(50):
        block = render_block(rng, face, alphabet, size)
        for _crop in range(10):
            top, left = rng.integers(0, block.shape[0] - size + 1, size=2)
            patch = block[top : top + size, left : left + size]
            if ink_fraction(patch) >= min_ink:
                return patch.copy()
    raise RuntimeError(f"{face.label}: could not find a {size}px patch with ink >= {min_ink}")


def script_rng(seed: int, code: str) -> np.random.Generator:
    """Per-script stream: adding or removing a script leaves the others' patches unchanged."""
    return np.random.default_rng([seed, zlib.crc32(code.encode())])


@dataclass(frozen=True)
class Patch:
    image: np.ndarray
    font: str


def render_script(code: str, faces: list[FontFace], n: int, size: int, seed: int, min_ink: float = 0.04) -> list[Patch]:
    """``n`` patches of script ``code``; fonts are used in turn so each gets an equal share."""
    inventory = script_inventory(code)
    alphabets = [Alphabet.for_font(inventory, face.cmap) for face in faces]
    rng = script_rng(seed, inventory.code)
    order = np.arange(n) % len(faces)
    rng.shuffle(order)
    return [Patch(render_patch(rng, faces[i], alphabets[i], size, min_ink), faces[i].path.name) for i in order]


def contact_sheet(images: list[np.ndarray], columns: int = 10, gap: int = 2) -> Image.Image:
    """Images tiled on a grey background, for looking at a corpus."""
    size = images[0].shape[0]
    rows = -(-len(images) // columns)
    sheet = Image.new("L", (columns * (size + gap) + gap, rows * (size + gap) + gap), 128)
    for i, image in enumerate(images):
        row, col = divmod(i, columns)
        sheet.paste(Image.fromarray(image), (gap + col * (size + gap), gap + row * (size + gap)))
    return sheet


# --------------------------------------------------------------------------
# I/O


def save_png(path: Path, image: Image.Image) -> None:
    with gio.atomic_path(path) as tmp:
        image.save(tmp, format="PNG", optimize=True)


def write_script(out: Path, culture: str, patches: list[Patch]) -> list[dict]:
    """Write ``out/culture/nnnn.png``; numbered PNGs left from a larger earlier run are removed."""
    folder = out / culture
    width = max(4, len(str(len(patches) - 1)))
    names = [f"{i:0{width}d}.png" for i in range(len(patches))]
    for name, patch in zip(names, patches):
        save_png(folder / name, Image.fromarray(patch.image, mode="L"))
    written = set(names)
    for stale in folder.glob("*.png"):
        if re.fullmatch(r"\d+\.png", stale.name) and stale.name not in written:
            stale.unlink()
    return [{"culture": culture, "file": f"{culture}/{name}", "font": patch.font} for name, patch in zip(names, patches)]


def main(argv: list[str] | None = None, stage: str = "render-scripts") -> int:
    parser = argparse.ArgumentParser(prog=f"ganstyle {stage}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripts", nargs="+", required=True, help="ISO 15924 codes, e.g. Latn Grek Arab Deva")
    parser.add_argument("--font-dir", required=True, help="folder searched recursively for .ttf/.otf fonts")
    parser.add_argument("--out", required=True, help="writes OUT/<culture>/<nnnn>.png and OUT/fonts.tsv")
    parser.add_argument("--per-script", type=int, default=420, help="patches per script (default 420)")
    parser.add_argument("--size", type=int, default=64, help="patch side in pixels (default 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", type=int, nargs="+", default=[400, 700], help="OS/2 weight classes (default 400 700)")
    parser.add_argument(
        "--exclude-families", nargs="*", default=list(DEFAULT_EXCLUDED_FAMILY_WORDS), help="skip fonts whose family name contains one of these words"
    )
    parser.add_argument("--min-coverage", type=float, default=0.7, help="fraction of the script's letters a font must map (default 0.7)")
    parser.add_argument("--min-ink", type=float, default=0.04, help="minimum mean darkness of a patch (0..1)")
    parser.add_argument("--sheet", help="also write one contact sheet PNG per script into this folder")
    args = parser.parse_args(argv)
    if args.per_script < 1 or args.size < 16:
        raise UserError("--per-script must be >= 1 and --size >= 16")
    check_layout_engine()
    codes = [normalise_script_code(code) for code in args.scripts]
    plan = {
        code: find_fonts(args.font_dir, code, tuple(args.weights), tuple(args.exclude_families), args.min_coverage) for code in codes
    }  # every script checked before anything is written
    out = Path(args.out)
    rows = []
    for code, faces in plan.items():
        inventory = script_inventory(code)
        log.info(
            "%s -> %s: %d letters, %d marks, fonts: %s",
            code,
            inventory.culture,
            len(inventory.letters),
            len(inventory.marks),
            ", ".join(face.path.name for face in faces),
        )
        for face in faces:
            if face.sentinel is None:
                log.warning("%s has CFF outlines: missing-glyph boxes cannot be detected after shaping", face.path.name)
        patches = render_script(code, faces, args.per_script, args.size, args.seed, args.min_ink)
        rows += write_script(out, inventory.culture, patches)
        if args.sheet:
            save_png(Path(args.sheet) / f"{inventory.culture}.png", contact_sheet([p.image for p in patches[:100]]))
    gio.write_tsv(out / "fonts.tsv", pd.DataFrame(rows, columns=["culture", "file", "font"]))
    log.info("wrote %d patches of %d scripts to %s", len(rows), len(plan), out)
    return 0
