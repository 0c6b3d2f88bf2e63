"""What random text of a writing system is made of, for the ``render-scripts`` tool (pure functions).

* ``script_inventory``: which characters make up a script, from the Unicode
  character database (script property, general category, block, names).
* ``Alphabet``: an inventory restricted to the code points one font maps.
* ``random_line``: a random run of words or syllables over an alphabet.

The choices behind them are listed in ``ganstyle.tools.render_scripts`` and data/demo/README.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from fontTools import unicodedata as ucd

from ganstyle.errors import UserError

# Scripts whose virama (canonical combining class 9) only writes Pali/Sanskrit:
# ordinary text has no conjuncts, so they are written letter by letter.
PALI_ONLY_VIRAMA = frozenset({"Thai", "Laoo"})
# Scripts written without spaces between words (spaces separate phrases).
NO_WORD_SPACES = frozenset({"Thai", "Laoo", "Khmr", "Mymr", "Tibt", "Hani", "Hira", "Kana", "Bali", "Java"})
# Letters whose names mark them as historic forms or symbol variants.
EXCLUDED_NAME_WORDS = ("ARCHAIC", "SYMBOL")

# --------------------------------------------------------------------------
# Script inventory (pure)


@dataclass(frozen=True)
class ScriptInventory:
    """The characters random text of one script is drawn from."""

    code: str  # ISO 15924, e.g. "Deva"
    name: str  # Unicode script name, e.g. "Devanagari"
    letters: tuple[str, ...]  # every letter (incl. independent vowels, capitals)
    lowercase: tuple[str, ...]  # bicameral scripts: the lowercase letters; else empty
    finals: tuple[str, ...]  # letters only used at the end of a word (final sigma, final kaf)
    final_of: dict = field(hash=False, compare=False)  # letter -> its word-final form (σ -> ς)
    variants: dict = field(hash=False, compare=False)  # base letter -> precomposed letters on it (е -> ё, ѐ)
    bases: tuple[str, ...]  # letters that take combining marks (consonants when identifiable)
    independents: tuple[str, ...]  # abugidas: independent vowels and other non-consonant letters
    marks: tuple[str, ...]  # combining marks drawn onto bases (vowel signs, points, tone marks)
    virama: str | None  # joins consonants into conjuncts, or None
    rtl: bool
    word_spaces: bool

    @property
    def culture(self) -> str:
        return culture_id(self.name)


def culture_id(script_name: str) -> str:
    """Culture identifier of a script: its Unicode name, lowercase, '_' for other characters."""
    return re.sub(r"[^a-z0-9]+", "_", script_name.lower()).strip("_")


def normalise_script_code(code: str) -> str:
    """'latn' or 'LATN' -> 'Latn'; UserError for a code Unicode does not know."""
    canonical = code[:1].upper() + code[1:].lower()
    name = ucd.script_name(canonical, default=None)
    if len(canonical) != 4 or name is None or canonical in {"Zyyy", "Zinh", "Zzzz"}:
        raise UserError(f"--scripts: '{code}' is not an ISO 15924 code of a Unicode script (e.g. Latn, Arab, Deva)")
    return canonical


def _home_blocks(name: str, blocks: set[str]) -> set[str]:
    """The script's main block(s): 'Basic Latin', 'Greek and Coptic', 'Devanagari', ..."""
    low = name.lower().replace("_", " ")
    home = {b for b in blocks if b.lower() in (low, f"basic {low}") or b.lower().startswith(f"{low} and ")}
    if not home:  # e.g. Hangul: blocks named 'Hangul Syllables', 'Hangul Jamo'
        home = {
            b for b in blocks if b.lower().startswith(low) and not re.search(r"extended|supplement|presentation|compatibility|symbols|halfwidth", b.lower())
        }
    return home or blocks


def _final_forms(finals: list[str]) -> dict[str, str]:
    """'HEBREW LETTER FINAL KAF' is the word-final form of 'HEBREW LETTER KAF'."""
    forms = {}
    for final in finals:
        try:
            forms[unicodedata.lookup(unicodedata.name(final).replace("FINAL ", ""))] = final
        except KeyError:
            pass
    return forms


def _consonant_name(name: str) -> bool:
    """Brahmic-style letter names: 'DEVANAGARI LETTER KHA', 'THAI CHARACTER KO KAI', 'KHMER LETTER NGO'.

    Independent vowels ('LETTER AA', 'LETTER VOCALIC R', 'INDEPENDENT VOWEL QI')
    and vowel letters ('THAI CHARACTER SARA E') do not match.
    """
    match = re.search(r"\b(?:LETTER|CHARACTER) (\S+)", name)
    return bool(match and re.fullmatch(r"[^AEIOU]+[AO]", match.group(1)))


@cache
def script_inventory(code: str) -> ScriptInventory:
    """Letters and combining marks of a script from the Unicode character database."""
    code = normalise_script_code(code)
    name = ucd.script_name(code)
    by_block: dict[str, list[str]] = {}
    for cp in range(0x20, 0x30000):
        ch = chr(cp)
        category = unicodedata.category(ch)
        if category not in {"Lu", "Ll", "Lt", "Lo", "Mn", "Mc"}:
            continue
        script = ucd.script(ch)
        if script == code or (script == "Zinh" and code in ucd.script_extension(ch)):
            by_block.setdefault(ucd.block(ch), []).append(ch)
    if not by_block:
        raise UserError(f"--scripts: Unicode has no letters for script '{code}'")
    chars = [ch for block in sorted(_home_blocks(name, set(by_block))) for ch in by_block[block]]
    chars = [
        ch
        for ch in chars
        if not unicodedata.decomposition(ch).startswith("<")  # compatibility characters
        and not any(word in unicodedata.name(ch, "").split() for word in EXCLUDED_NAME_WORDS)
    ]
    # Atomic letters named '... WITH ...' (KA WITH DESCENDER, BEH WITH SMALL V BELOW) are
    # extensions for further languages; letters that decompose canonically into
    # base + mark (Greek ά, Cyrillic й, Arabic أ) stay.
    letters = [
        ch for ch in chars if unicodedata.category(ch).startswith("L") and not (" WITH " in unicodedata.name(ch, "") and not unicodedata.decomposition(ch))
    ]
    marks = [ch for ch in chars if unicodedata.category(ch).startswith("M")]
    viramas = [ch for ch in marks if unicodedata.combining(ch) == 9]
    virama = viramas[0] if viramas and code not in PALI_ONLY_VIRAMA else None
    # class 0: vowel signs; 10..199: fixed-position points, harakat, Thai vowels/tones.
    # Superscript letters written as marks (Syriac/Arabic superscript alaph) are left out.
    marks = [
        ch for ch in marks if (unicodedata.combining(ch) == 0 or 10 <= unicodedata.combining(ch) < 200) and "LETTER" not in unicodedata.name(ch, "").split()
    ]
    finals = [ch for ch in letters if "FINAL" in unicodedata.name(ch, "").split()]
    # Precomposed letters (ά, й, أ, क़) are drawn as variants of their base letter,
    # not as letters of their own, so accents and nuktas do not swamp the text.
    variants: dict[str, list[str]] = {}
    for ch in letters:
        base = unicodedata.normalize("NFD", ch)[0]
        if base != ch and base in letters:
            variants.setdefault(base, []).append(ch)
    precomposed = {ch for chars in variants.values() for ch in chars}
    atomic = [ch for ch in letters if ch not in precomposed]
    consonants = [ch for ch in atomic if _consonant_name(unicodedata.name(ch, ""))]
    lowercase = [ch for ch in atomic if unicodedata.category(ch) == "Ll" and ch not in finals]
    bases = consonants if marks and len(consonants) >= 10 else [ch for ch in atomic if ch not in finals]
    rtl_letters = sum(unicodedata.bidirectional(ch) in {"R", "AL"} for ch in letters)
    return ScriptInventory(
        code=code,
        name=name,
        letters=tuple(letters),
        lowercase=tuple(lowercase) if any(unicodedata.category(ch) == "Lu" for ch in letters) else (),
        finals=tuple(finals),
        final_of=_final_forms(finals),
        variants={base: tuple(chars) for base, chars in variants.items()},
        bases=tuple(bases),
        independents=tuple(ch for ch in atomic if ch not in finals and ch not in bases),
        marks=tuple(marks),
        virama=virama,
        rtl=rtl_letters > len(letters) / 2,
        word_spaces=code not in NO_WORD_SPACES,
    )


# --------------------------------------------------------------------------
# Random text (pure)


@dataclass(frozen=True)
class Alphabet:
    """A script inventory restricted to the code points one font maps."""

    inventory: ScriptInventory
    letters: tuple[str, ...]
    lowercase: tuple[str, ...]
    finals: tuple[str, ...]
    bases: tuple[str, ...]
    independents: tuple[str, ...]
    marks: tuple[str, ...]
    variants: dict
    virama: str | None

    @classmethod
    def for_font(cls, inventory: ScriptInventory, cmap: frozenset[int]) -> Alphabet:
        def keep(chars):
            return tuple(ch for ch in chars if ord(ch) in cmap)

        virama = inventory.virama if inventory.virama and ord(inventory.virama) in cmap else None
        variants = {base: keep(chars) for base, chars in inventory.variants.items() if keep(chars)}
        return cls(
            inventory,
            keep(inventory.letters),
            keep(inventory.lowercase),
            keep(inventory.finals),
            keep(inventory.bases),
            keep(inventory.independents),
            keep(inventory.marks),
            variants,
            virama,
        )

    def draw(self, rng: np.random.Generator, pool: tuple[str, ...], variant_rate: float = 0.2) -> str:
        """A letter of ``pool``, replaced by one of its precomposed variants with ``variant_rate``."""
        letter = pool[rng.integers(len(pool))]
        variants = self.variants.get(letter)
        if variants and rng.random() < variant_rate:
            letter = variants[rng.integers(len(variants))]
        return letter


def _with_marks(rng: np.random.Generator, base: str, marks: tuple[str, ...], rate: float) -> str:
    """A base letter with at most two combining marks of different classes, in canonical order."""
    if not marks or rng.random() >= rate:
        return base
    chosen = [marks[rng.integers(len(marks))]]
    second = marks[rng.integers(len(marks))]
    classes = {unicodedata.combining(chosen[0]), unicodedata.combining(second)}
    if rng.random() < 0.3 and len(classes) == 2:  # e.g. Thai vowel + tone mark, Hebrew dagesh + vowel
        chosen.append(second)
    chosen.sort(key=unicodedata.combining)
    return base + "".join(chosen)


def random_syllable(rng: np.random.Generator, alphabet: Alphabet) -> str:
    """consonant (+ virama + consonant)* (+ vowel sign), or an independent vowel."""
    if alphabet.independents and rng.random() < 0.08:
        return alphabet.draw(rng, alphabet.independents)
    cluster = alphabet.draw(rng, alphabet.bases)
    for probability in (0.25, 0.2):  # two- and (rarer) three-consonant conjuncts
        if rng.random() >= probability:
            break
        cluster += alphabet.virama + alphabet.draw(rng, alphabet.bases)
    if alphabet.marks and rng.random() < 0.6:
        cluster += alphabet.marks[rng.integers(len(alphabet.marks))]
    return cluster


def random_word(rng: np.random.Generator, alphabet: Alphabet) -> str:
    """One word: syllables for abugidas with a virama, else letters with occasional marks."""
    if alphabet.virama:
        return "".join(random_syllable(rng, alphabet) for _ in range(rng.integers(1, 5)))
    n = int(rng.integers(2, 9))
    pool = alphabet.lowercase or tuple(ch for ch in alphabet.bases + alphabet.independents if ch not in alphabet.finals)
    units = []
    for _ in range(n):
        letter = alphabet.draw(rng, pool)
        if letter in alphabet.bases:
            letter = _with_marks(rng, letter, alphabet.marks, rate=0.3)
        units.append(letter)
    final = alphabet.inventory.final_of.get(units[-1][0])
    if final in alphabet.finals:  # sigma -> final sigma, kaf -> final kaf at the end of a word
        units[-1] = final + units[-1][1:]
    word = "".join(units)
    if alphabet.lowercase:  # bicameral: some capitalised and a few all-caps words
        draw = rng.random()
        if draw < 0.03:
            word = _upper_within(word, alphabet)
        elif draw < 0.18:
            word = _upper_within(word[0], alphabet) + word[1:]
    return word


def _upper_within(text: str, alphabet: Alphabet) -> str:
    """Uppercase letter by letter, keeping a letter whose capital the font lacks."""
    allowed = set(alphabet.letters)
    return "".join(up if (up := ch.upper()) in allowed else ch for ch in text)


def random_line(rng: np.random.Generator, alphabet: Alphabet, n_words: int) -> str:
    """``n_words`` random words; scripts without word spaces get a space every few words (phrases)."""
    words = [random_word(rng, alphabet) for _ in range(n_words)]
    if alphabet.inventory.word_spaces:
        return " ".join(words)
    line = ""
    for word in words:
        line += word + (" " if rng.random() < 0.2 else "")
    return line.strip()
