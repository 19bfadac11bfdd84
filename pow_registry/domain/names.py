"""Names: what we store, what we flag, and the script-blind key we search by.

Names are kept as entered (domain.md); every other spelling is derived. The skeleton is
deliberately lossy: it only has to make the spellings of one name collide, and the matcher
then compares skeletons with an edit distance and says why (matching.md).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_name", "mixed_script_words", "name_skeleton", "skeleton_variants"]

_WHITESPACE_RUN = re.compile(r"\s+")

# Apostrophe look-alikes used for the soft sign or Ukrainian apostrophe ("Il'in", «Григор'єв»).
# Some are modifier *letters* (category Lm), so they must be named, not caught as punctuation.
_APOSTROPHES = frozenset(
    "'\u2019\u2018\u02bc\u02bb\u02b9\u02bd\u0060\u00b4\u2032\uff07\u055a\ua78c"
)


def _is_invisible(char: str) -> bool:
    """Format characters (Cf) hide spoofing and break equality; stray controls break exports."""
    category = unicodedata.category(char)
    return category == "Cf" or (category == "Cc" and not char.isspace())


def clean_name(text: str) -> str:
    """Return the name as we store it: as entered, minus what nobody can see.

    Letters and case are never changed; only invisible characters go and whitespace is
    collapsed, so two records typed the same way compare equal in the database.
    """
    text = "".join(char for char in text if not _is_invisible(char))
    text = _WHITESPACE_RUN.sub(" ", text).strip()
    # NFC last: removing a joiner between a letter and its accent can leave a composable pair.
    return unicodedata.normalize("NFC", text)


def _script(char: str) -> str | None:
    if not char.isalpha():
        return None
    name = unicodedata.name(char, "")
    for script in ("LATIN", "CYRILLIC", "GREEK"):
        if name.startswith(script):
            return script
    return None


def mixed_script_words(text: str) -> list[str]:
    """Return the words that mix Latin, Cyrillic (or Greek) letters, in order, once each.

    A Cyrillic «е» inside "Leikin" looks right on screen but never matches the real name;
    such words are flagged for a human to fix rather than silently "corrected".
    """
    found: list[str] = []
    for word in clean_name(text).split(" "):
        scripts = {script for char in word if (script := _script(char)) is not None}
        if len(scripts) > 1 and word not in found:
            found.append(word)
    return found


# Russian and Ukrainian letters (plus a few neighbours seen in names) to a plain Latin form.
# ё, є and э are plain "e", soft and hard signs vanish: the Latin folding below does the rest.
_CYRILLIC_TO_LATIN: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ґ": "g", "д": "d", "е": "e", "ё": "e",
    "є": "e", "э": "e", "ж": "zh", "з": "z", "и": "i", "і": "i", "ї": "i", "й": "i",
    "ы": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ь": "", "ю": "iu", "я": "ia",
    # Belarusian, Central Asian and Caucasian letters that turn up in Russian lists.
    "ў": "u", "ә": "a", "ө": "o", "ү": "u", "ұ": "u", "қ": "k", "ғ": "g", "ң": "n",
    "һ": "h", "җ": "zh", "ӏ": "", "ј": "j", "ђ": "dj", "ћ": "c", "љ": "l", "њ": "n",
    "џ": "dzh", "ѕ": "dz",
}  # fmt: skip

# Latin letters whose diacritic carries the sound (ISO 9, Czech, Polish) or that do not
# decompose to an ASCII base letter.
_LATIN_SPECIAL: dict[str, str] = {
    "č": "ch", "š": "sh", "ž": "zh", "ŝ": "shch", "ı": "i", "ł": "l", "ø": "o",
    "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ß": "ss", "ĸ": "k",
}  # fmt: skip

# Multi-letter spellings of one sound, longest first so "shch" wins over "sh" + "ch".
# The right-hand sides are chosen so that the output re-reads as itself (idempotence).
_LATIN_SEQUENCES: tuple[tuple[str, str], ...] = (
    ("schtsch", "sch"),  # German щ
    ("shch", "sch"),  # ICAO, BGN/PCGN щ
    ("szcz", "sch"),  # Polish щ
    ("tsch", "ch"),  # German ч
    ("shh", "sch"),  # GOST 7.79 B щ
    ("tch", "ch"),  # French ч
    ("ch", "ch"),
    ("sh", "sh"),
    ("zh", "zh"),
    ("kh", "g"),  # х: Khrustalev = Hrustalev, and Ukrainian г→h meets Russian г→g
    ("ph", "f"),
    ("ts", "c"),  # ц: Tsoi = Coj
    ("cz", "ch"),  # Polish ч
    ("sz", "sh"),  # Polish ш
    ("x", "ks"),
    ("h", "g"),
    ("y", "i"),
    ("j", "i"),
    ("w", "v"),
    ("q", "k"),
)
_LATIN_TOKEN = re.compile("|".join(re.escape(seq) for seq, _ in _LATIN_SEQUENCES))
_LATIN_REPLACEMENT = dict(_LATIN_SEQUENCES)

_DOUBLED = re.compile(r"([a-z])\1+")
# ye/ie (е, є) and yo/io (ё) after the y→i fold: Yevgeniy = Evgenii, Artyom = Artem.
_IOTATED_E = re.compile(r"i[eo]")
# A "c" before a consonant is a hard k (Victor, Alecsandr); "ch" is a letter of its own.
_HARD_C = re.compile(r"c(?=[bcdfgklmnprstvz])")


def _to_latin(text: str) -> str:
    """Lower-case ASCII letters only: Cyrillic transliterated, accents and separators dropped."""
    # Letters and their accents only, and before NFKC, which would make "No" out of «№».
    text = "".join(
        c
        for c in text
        if c not in _APOSTROPHES and (c.isalpha() or unicodedata.category(c).startswith("M"))
    )
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    out: list[str] = []
    for char in text:
        if char in _CYRILLIC_TO_LATIN:
            out.append(_CYRILLIC_TO_LATIN[char])
        elif char in _LATIN_SPECIAL:
            out.append(_LATIN_SPECIAL[char])
        else:
            for part in unicodedata.normalize("NFKD", char):
                if "a" <= part <= "z":
                    out.append(part)
                elif part in _CYRILLIC_TO_LATIN:  # a Cyrillic base under a stray accent
                    out.append(_CYRILLIC_TO_LATIN[part])
    return "".join(out)


def _fold_once(latin: str) -> str:
    latin = _LATIN_TOKEN.sub(lambda m: _LATIN_REPLACEMENT[m.group(0)], latin)
    latin = _DOUBLED.sub(r"\1", latin)
    latin = _IOTATED_E.sub("e", latin)
    latin = _HARD_C.sub("k", latin)
    return _DOUBLED.sub(r"\1", latin)


def name_skeleton(text: str) -> str:
    """Return a spelling-insensitive key for one name part: «Лейкін», "Leykin" → "leikin".

    Cyrillic (Russian and Ukrainian) is transliterated with a small table, then the many
    Latin spellings of each sound are folded together (i/y/j, ye/e, yo/e, g/h/kh, ks/x,
    ts/c, doubled letters), so that ICAO, BGN/PCGN, Ukrainian national and press spellings
    collide. Separators are dropped. Different spellings may collide more than people would
    (Иванов and Иванова do); the matcher decides, the key only brings candidates together.
    Returns "" when there are no letters to key on.
    """
    latin = _to_latin(text)
    # Folding can expose a new pair (ii → i next to e); repeat until nothing changes so
    # the key of a key is the key itself. Each round that changes something shortens or
    # canonicalises the string, so this ends within a few rounds.
    for _ in range(len(latin) + 2):
        folded = _fold_once(latin)
        if folded == latin:
            return folded
        latin = folded
    raise AssertionError("name skeleton folding did not settle")  # pragma: no cover


# Latin letters that one romanisation uses for a different Cyrillic letter than the others:
# GOST 7.79-2000 B writes х as "x" (elsewhere "x" is кс) and ц as "cz" (elsewhere Polish ч);
# the 2010–2013 passport table writes ц as "tc". Each rewrite gives one alternative reading.
_ALTERNATIVE_READINGS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile("x", re.IGNORECASE), "kh"),
    (re.compile("cz", re.IGNORECASE), "ts"),
    (re.compile("tc", re.IGNORECASE), "ts"),
)


# Ukrainian spelling writes a Russian ё after a consonant as "ьо" (Корольов for Королёв), whose
# skeleton would keep the "o"; read it back as ё too.
_UKRAINIAN_YO = re.compile("ьо", re.IGNORECASE)


def skeleton_variants(text: str) -> tuple[str, ...]:
    """The skeleton of `text`, then those of its alternative readings, once each.

    "Xrustalev" (GOST 7.79 B) has the skeleton "ksrustalev" but also reads as "Khrustalev";
    "Czoj" also reads as "Tsoj"; "Kuznetcov" (2010 passports) as "Kuznetsov"; the Ukrainian
    spelling «Корольов» also as «Королёв». The first item is always `name_skeleton(text)`;
    "" alone when there are no letters.
    """
    first = name_skeleton(text)
    found = [first]
    if _UKRAINIAN_YO.search(text):
        variant = name_skeleton(_UKRAINIAN_YO.sub("ё", text))
        if variant and variant not in found:
            found.append(variant)
    for pattern, replacement in _ALTERNATIVE_READINGS:
        if pattern.search(text):
            variant = name_skeleton(pattern.sub(replacement, text))
            if variant and variant not in found:
                found.append(variant)
    return tuple(found)
