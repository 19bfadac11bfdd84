"""Case forms of names back to the nominative; feminine surname forms told apart.

«Выдумкин» is an invented surname. Both levels are tested: the pymorphy3 dictionaries and
the suffix rules the module falls back on when pymorphy3 is not installed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pow_registry.domain import morphology
from pow_registry.domain.morphology import (
    Nominative,
    given_name_nominatives,
    is_feminine_surname,
    patronymic_nominatives,
    surname_nominatives,
)

ROOT = Path(__file__).resolve().parents[1]

_CACHED = (
    surname_nominatives,
    is_feminine_surname,
    given_name_nominatives,
    patronymic_nominatives,
)


def _clear_caches() -> None:
    for function in _CACHED:
        function.cache_clear()  # type: ignore[attr-defined]


@pytest.fixture(params=["pymorphy3", "rules"])
def level(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with the dictionaries and again with the suffix rules only."""
    _clear_caches()
    if request.param == "rules":
        monkeypatch.setitem(morphology._state, "morph", None)
    yield request.param
    _clear_caches()


def _forms(word: str) -> set[tuple[str, str]]:
    return {(n.form, n.how) for n in surname_nominatives(word)}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Выдумкина", {("выдумкин", "genitive"), ("выдумкин", "feminine")}),
        ("Выдумкину", {("выдумкин", "oblique")}),
        ("Выдумкиным", {("выдумкин", "oblique")}),
        ("Выдумкиной", {("выдумкин", "feminine oblique")}),
        ("Петрова", {("петров", "genitive"), ("петров", "feminine")}),
        ("Вишневского", {("вишневский", "genitive")}),
        ("Вишневская", {("вишневский", "feminine")}),
        ("Вишневской", {("вишневский", "feminine oblique")}),
        ("Вишневського", {("вишневський", "genitive")}),  # Ukrainian spelling
        ("Толстого", {("толстой", "genitive")}),
        ("Шевчука", {("шевчук", "genitive")}),
        ("Гоголя", {("гоголь", "genitive")}),
        ("Шевченка", {("шевченко", "genitive")}),  # Ukrainian declension of -енко
    ],
)
def test_surname_case_forms_lead_back_to_the_nominative(
    level: str, word: str, expected: set[tuple[str, str]]
) -> None:
    assert expected <= _forms(word)


@pytest.mark.parametrize(
    "word", ["Выдумкин", "Петров", "Вишневский", "Шевченко", "Черных", "Толстой", "Ковальчук"]
)
def test_a_mans_nominative_surname_has_no_other_form(level: str, word: str) -> None:
    assert surname_nominatives(word) == ()


@pytest.mark.parametrize(
    ("word", "feminine"),
    [
        ("Выдумкина", True),  # a woman's surname, or a man's genitive: the caller decides
        ("Вишневская", True),
        ("Петрова", True),
        ("Выдумкин", False),
        ("Вишневского", False),
        ("Шевченко", False),
        ("Толстой", False),
    ],
)
def test_feminine_surname_forms(level: str, word: str, feminine: bool) -> None:
    assert is_feminine_surname(word) is feminine


def test_latin_spellings_of_case_forms() -> None:
    assert ("vydumkin", "feminine") in _forms("Vydumkina")
    assert ("vishnevskiy", "feminine") in _forms("Vishnevskaya")
    assert surname_nominatives("Vydumkin") == ()


@pytest.mark.parametrize(
    ("word", "nominative"),
    [
        ("Виталия", "виталий"),
        ("Сергея", "сергей"),
        ("Николая", "николай"),
        ("Олега", "олег"),
        ("Павла", "павел"),
        ("Никиты", "никита"),
        ("Ильи", "илья"),
        ("Олексія", "олексій"),
        ("Миколи", "микола"),
        ("Дмитра", "дмитро"),
        ("Виталием", "виталий"),
    ],
)
def test_given_name_case_forms(level: str, word: str, nominative: str) -> None:
    assert nominative in {n.form for n in given_name_nominatives(word)}


@pytest.mark.parametrize(
    ("word", "nominatives"),
    [
        ("Евгеньевича", {"евгеньевич", "евгениевич"}),
        ("Петровичем", {"петрович"}),
        ("Євгеновича", {"євгенович"}),
        ("Yevhenovycha", {"yevhenovych"}),
    ],
)
def test_patronymic_case_forms(level: str, word: str, nominatives: set[str]) -> None:
    found = {n.form for n in patronymic_nominatives(word)}
    assert found & nominatives


@pytest.mark.parametrize(("function", "word", "nominative"), [
    (surname_nominatives, "Шевченка", Nominative("шевченко", "genitive")),  # no Ukrainian letter, Russian knows no name
    (surname_nominatives, "Петренкові", Nominative("петренко", "oblique")),  # the Ukrainian dative
    (given_name_nominatives, "Олексія", Nominative("олексій", "genitive")),
    (given_name_nominatives, "Андрієві", Nominative("андрій", "oblique")),
    (given_name_nominatives, "Миколи", Nominative("микола", "genitive")),
    (patronymic_nominatives, "Івановича", Nominative("іванович", "genitive")),
])
def test_ukrainian_case_forms_through_the_ukrainian_dictionary(function: Any, word: str, nominative: Nominative) -> None:
    """Issue 13: «Олексія Шевченка» and «Миколи», as a Ukrainian letter writes them."""
    assert nominative in function(word)


def test_patronymic_nominative_is_genitive_for_a_letter() -> None:
    assert Nominative("евгеньевич", "genitive") in patronymic_nominatives("Евгеньевича")


def test_the_level_in_use_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    assert morphology.available()
    assert morphology.backend().startswith("pymorphy3 Russian and Ukrainian")
    monkeypatch.setitem(morphology._state, "morph:ru", None)
    assert not morphology.available()
    assert "pymorphy3 is not installed" in morphology.backend()


@given(st.text(max_size=24))
def test_nominatives_never_fail_and_never_repeat_the_word(text: str) -> None:
    word = text.strip().lower()
    for function in (surname_nominatives, given_name_nominatives, patronymic_nominatives):
        for item in function(text):
            assert item.form != word
            assert item.form == item.form.lower()
            assert item.how in {"genitive", "oblique", "feminine", "feminine oblique"}


_CYRILLIC = "абвгдежзийклмнопрстуфхцчшщыьэюяіїє"


@given(st.text(alphabet=_CYRILLIC, min_size=2, max_size=12))
def test_dictionary_and_rules_agree_that_a_consonant_ending_is_nominative(stem: str) -> None:
    # A Russian man's surname ending in a consonant is its own nominative: nothing to undo.
    word = stem + "ов"
    assert all(item.how != "feminine" for item in surname_nominatives(word))


def test_the_analyser_is_loaded_lazily_once() -> None:
    code = (
        "import sys\n"
        "from pow_registry.domain import morphology\n"
        "assert 'pymorphy3' not in sys.modules\n"
        "morphology.surname_nominatives('Выдумкина')\n"
        "assert 'pymorphy3' in sys.modules\n"
        "first = morphology._analyser()\n"
        "morphology.surname_nominatives('Петрова')\n"
        "assert morphology._analyser() is first\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)  # noqa: S603


def test_the_matcher_works_without_pymorphy3() -> None:
    # A meta-path finder that refuses pymorphy3, as if it were not installed.
    code = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'pymorphy3':\n"
        "            raise ImportError('pymorphy3 is not installed')\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "from pow_registry.domain import morphology\n"
        "from pow_registry.domain.matching import MatchIndex, MatchRecord\n"
        "assert not morphology.available()\n"
        "index = MatchIndex([MatchRecord('p1', 'person', surname='Выдумкин', "
        "given_name='Виталий', patronymic='Евгеньевич', date_of_birth='1994-03-12')])\n"
        "found = index.query(MatchRecord('q1', 'inquiry', surname='Выдумкина', "
        "given_name='Виталия', patronymic='Евгеньевича', date_of_birth='1994'))\n"
        "assert [m.right_id for m in found] == ['p1'], found\n"
        "surname = found[0].fields[0]\n"
        "assert surname.level == 'genitive', surname\n"
        "assert any('suffix rules' in note for note in found[0].notes), found[0].notes\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)  # noqa: S603
