"""Names: stored as entered, flagged when scripts mix, keyed by a script-blind skeleton.

All names here are fictitious or common name forms, used only as spelling examples.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pow_registry.domain.names import clean_name, mixed_script_words, name_skeleton

CYRILLIC_E = "\u0435"  # looks exactly like Latin "e"

# --- clean_name -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Лейкин", "Лейкин"),
        ("  Лейкин  ", "Лейкин"),
        ("ЛЕЙКИН", "ЛЕЙКИН"),  # case is kept
        ("leikin", "leikin"),
        ("Леи\u0306кин", "Лейкин"),  # decomposed й → NFC
        ("Арте\u0308м", "Артём"),  # е + combining diaeresis → ё
        ("Лей\u200bкин", "Лейкин"),  # zero-width space
        ("Лей\u200dкин", "Лейкин"),  # zero-width joiner
        ("Лей\u200cкин", "Лейкин"),  # zero-width non-joiner
        ("\u202eникйеЛ", "никйеЛ"),  # right-to-left override goes, letters stay
        ("\u2066Лейкин\u2069", "Лейкин"),  # bidi isolate
        ("\ufeffЛейкин", "Лейкин"),  # byte order mark
        ("Лей\u00adкин", "Лейкин"),  # soft hyphen
        ("Лейкин\u00a0Виталий", "Лейкин Виталий"),  # no-break space
        ("Лейкин \t\n  Виталий", "Лейкин Виталий"),
        ("Лейкин\u2003\u202fВиталий", "Лейкин Виталий"),
        ("Лей\x00кин", "Лейкин"),  # stray control character
        ("Петров-Водкин", "Петров-Водкин"),
        ("Григор'єв", "Григор'єв"),  # apostrophe is part of the name as entered
        ("Le" + CYRILLIC_E + "ikin", "Le" + CYRILLIC_E + "ikin"),  # letters never swapped
        ("", ""),
        (" \u200b\u00a0 ", ""),
    ],
)
def test_clean_name(raw: str, stored: str) -> None:
    assert clean_name(raw) == stored


def test_clean_name_composes_after_removing_a_joiner() -> None:
    # The joiner blocks composition; once it is gone the pair must be composed.
    assert clean_name("Арте\u200d\u0308м") == "Артём"


@given(st.text())
def test_clean_name_is_idempotent(text: str) -> None:
    once = clean_name(text)
    assert clean_name(once) == once


@given(st.text())
def test_clean_name_leaves_nothing_invisible(text: str) -> None:
    cleaned = clean_name(text)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert unicodedata.is_normalized("NFC", cleaned)
    for char in cleaned:
        assert unicodedata.category(char) not in {"Cf", "Cc"}
        assert char == " " or not char.isspace()


_LETTERS = st.characters(categories=["Lu", "Ll"], codec="utf-8")


@given(st.lists(st.text(_LETTERS, min_size=1), min_size=1, max_size=4))
def test_clean_name_keeps_plain_names_as_entered(words: list[str]) -> None:
    name = unicodedata.normalize("NFC", " ".join(words))
    assert clean_name(name) == name


# --- mixed_script_words -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Leikin Vitalii", []),
        ("Лейкин Виталий Евгеньевич", []),
        ("Лейкин Vitalii", []),  # two scripts, but each word is whole
        ("L" + CYRILLIC_E + "ikin Vitalii", ["L" + CYRILLIC_E + "ikin"]),
        ("Лейкин Bиталий", ["Bиталий"]),  # Latin B at the start of a Cyrillic word
        ("Лeйкин Bиталий", ["Лeйкин", "Bиталий"]),
        ("Петров-Vodkin", ["Петров-Vodkin"]),
        ("Lеikin Lеikin", ["Lеikin"]),  # once each
        ("Le\u200b" + CYRILLIC_E + "ikin", ["Le" + CYRILLIC_E + "ikin"]),  # reported cleaned
        ("Ivan\u03bfv", ["Ivan\u03bfv"]),  # Greek omicron
        ("Ivanov 2", []),
        ("", []),
    ],
)
def test_mixed_script_words(text: str, flagged: list[str]) -> None:
    assert mixed_script_words(text) == flagged


# --- name_skeleton: what must collide ---------------------------------------------------

EQUIVALENT = [
    ["Лейкин", "Лейкін", "ЛЕЙКИН", "Leikin", "Leykin", "Lejkin", "LEIKIN"],
    ["Виталий", "Віталій", "Vitalii", "Vitaliy", "Vitaly", "Vitalij"],
    ["Алексей", "Aleksei", "Alexey", "Aleksey", "Alexei"],
    ["Юрий", "Yuriy", "Iurii", "Yurii", "Jurij"],
    ["Артём", "Артем", "Artem", "Artyom", "Artiom"],
    ["Евгений", "Yevgeniy", "Evgenii", "Evgeny"],
    ["Щербаков", "Shcherbakov", "Scherbakov"],
    ["Жуков", "Zhukov"],
    ["Хрусталёв", "Khrustalev", "Hrustalev"],
    ["Цой", "Tsoi", "Tsoy", "Coj"],
    ["Чернов", "Chernov"],
    ["Ільїн", "Ильин", "Ilyin", "Ilin", "Il'in"],
    ["Григорьев", "Григор'єв", "Hryhoriev", "Grigoryev", "Grigorev"],
    # Apostrophes of every kind, soft and hard signs, ё/е, case, separators.
    ["Il'in", "Il’in", "Ilʼin", "Il`in", "Il´in", "Ilʹin", "Ил'ин", "Ильин", "Илъин"],
    ["Григорьев", "Григор’єв", "Григорʼєв", "ГРИГОРЬЕВ"],
    ["Петров-Водкин", "Петров Водкин", "Petrov-Vodkin", "PETROV VODKIN", "Petrow-Wodkin"],
    ["Фёдоров", "Федоров", "Fyodorov", "Fedorov", "Fiodorov"],
    ["Сергеевич", "Sergeyevich", "Sergeevich"],
    ["Наталья", "Natalya", "Natalia", "Nataliia"],
    ["Артём", "Arte\u0308m", "Artëm"],  # Latin with a diaeresis, composed or not
    ["Чернов", "Černov", "Tchernov", "Czernow"],  # ISO 9, French, Polish
    ["Шевченко", "Shevchenko", "Ševčenko", "Szewczenko"],
    ["Ксения", "Kseniya", "Xenia", "Ksenia"],
]

_PAIRS = [
    pytest.param(a, b, id=f"{a}={b}")
    for group in EQUIVALENT
    for a, b in itertools.combinations(group, 2)
]


@pytest.mark.parametrize(("a", "b"), _PAIRS)
def test_spellings_of_one_name_share_a_skeleton(a: str, b: str) -> None:
    assert name_skeleton(a) == name_skeleton(b) != ""


@pytest.mark.parametrize(
    ("name", "skeleton"),
    [
        ("Лейкин", "leikin"),
        ("Виталий", "vitali"),
        ("Алексей", "aleksei"),
        ("Щербаков", "scherbakov"),
        ("Цой", "coi"),
        ("Петров-Водкин", "petrovodkin"),
    ],
)
def test_skeleton_is_lower_case_ascii_letters(name: str, skeleton: str) -> None:
    assert name_skeleton(name) == skeleton


# --- name_skeleton: what must stay apart ------------------------------------------------

DIFFERENT = [
    ("Иванов", "Ивашов"),
    ("Петров", "Петренко"),
    ("Виктор", "Виталий"),
    ("Александр", "Алексей"),
    ("Сергей", "Сергеев"),
    ("Ivanov", "Ivashov"),
    ("Petrov", "Petrenko"),
    ("Viktor", "Vitaliy"),
    ("Aleksandr", "Aleksei"),
    ("Sergei", "Sergeev"),
    ("Жуков", "Жиков"),
    ("Чернов", "Цернов"),
    ("Лейкин", "Лапкин"),
    ("Николай", "Никита"),
    ("Дмитрий", "Денис"),
    ("Михаил", "Максим"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT, ids=[f"{a}≠{b}" for a, b in DIFFERENT])
def test_different_names_keep_different_skeletons(a: str, b: str) -> None:
    assert name_skeleton(a) != name_skeleton(b)


def test_feminine_forms_may_share_the_stem_but_not_the_key() -> None:
    # The matcher, not the key, decides about Иванов / Иванова; the key keeps the ending.
    assert name_skeleton("Иванова").startswith(name_skeleton("Иванов"))


@pytest.mark.parametrize("text", ["", "   ", "-", "'", "123", "ь", "ъь", "\u200b", "№ 5"])
def test_letterless_input_has_an_empty_skeleton(text: str) -> None:
    assert name_skeleton(text) == ""


# --- name_skeleton: properties ----------------------------------------------------------

_NAME_ALPHABET = (
    "абвгґдеёєжзиіїйклмнопрстуфхцчшщъыьэюя"
    "АБВГҐДЕЁЄЖЗИІЇЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "čšžëéÉ -'’ʼ`´."
)
_name_like = st.text(alphabet=_NAME_ALPHABET, max_size=30)
_any_text = st.text(max_size=30)
_texts = st.one_of(_name_like, _any_text)

_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u202e", "\u2066", "\u2069", "\ufeff", "\u00ad"]
_APOSTROPHES = ["'", "\u2019", "\u02bc", "`", "\u00b4", "\u2018", "\u02b9"]


@given(_texts)
def test_skeleton_is_idempotent(text: str) -> None:
    key = name_skeleton(text)
    assert name_skeleton(key) == key


@given(_texts)
def test_skeleton_is_lower_case_ascii(text: str) -> None:
    key = name_skeleton(text)
    assert key == "" or (key.isascii() and key.isalpha() and key.islower())


@given(_texts)
def test_skeleton_is_case_blind(text: str) -> None:
    key = name_skeleton(text)
    assert name_skeleton(text.upper()) == key
    assert name_skeleton(text.lower()) == key
    assert name_skeleton(text.title()) == key


@given(
    _texts,
    st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from(_INVISIBLE + _APOSTROPHES)),
        max_size=5,
    ),
)
def test_skeleton_ignores_invisible_characters_and_apostrophes(
    text: str, insertions: list[tuple[int, str]]
) -> None:
    noisy = text
    for position, char in insertions:
        at = position % (len(noisy) + 1)
        noisy = noisy[:at] + char + noisy[at:]
    assert name_skeleton(noisy) == name_skeleton(text)


@given(_name_like)
def test_skeleton_of_a_stored_name_is_the_skeleton_of_the_input(text: str) -> None:
    assert name_skeleton(clean_name(text)) == name_skeleton(text)


# --- layering ---------------------------------------------------------------------------


def test_domain_modules_import_without_flask_or_a_database() -> None:
    code = (
        "import sys\n"
        "import pow_registry.domain.names, pow_registry.domain.dates\n"
        "import pow_registry.domain.units, pow_registry.domain.urls\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'sqlalchemy', 'sqlmodel', 'werkzeug', 'jinja2'})\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)  # noqa: S603
