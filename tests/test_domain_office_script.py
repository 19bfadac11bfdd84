"""Names in the office's script: the spelling sent and where it came from. All names are fictitious."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pow_registry.domain.office_script import office_names, script_of, to_script

RUSSIAN = re.compile(r"[А-Яа-яЁё' .-]*")
UKRAINIAN = re.compile(r"[А-ЩЬЮЯЄІЇҐа-щьюяєіїґ'’ .-]*")


@pytest.mark.parametrize(("text", "script"), [
    ("Выдумкин", "ru"), ("Выдумкін", "mixed"), ("Лейкін", "uk"), ("Лейкин", "cyrillic"), ("Eskizov", "latin"),
    ("Eskizов", "mixed"), ("", ""), ("123", ""), ("Мар'ян", "uk"),
])
def test_script_of(text: str, script: str) -> None:
    assert script_of(text) == script


@pytest.mark.parametrize(("registry", "family", "language", "expected"), [
    # Already in the office's script: as in the registry.
    (("Выдумкин", "Виталий", "Евгеньевич"), None, "ru", ("Выдумкин", "Виталий", "Евгеньевич", "registry")),
    (("Лейкін", "Віталій", "Євгенович"), None, "uk", ("Лейкін", "Віталій", "Євгенович", "registry")),
    # Letters of both alphabets in one name (ы with і) fit neither office.
    (("Выдумкін", "Віталій", "Євгенович"), None, "uk", ("Видумкін", "Віталій", "Євгенович", "converted")),
    # The family's spelling is the best source when it is in the office's script.
    (("Eskizov", "Maxim", ""), ("Эскизов", "Максим", "Олегович"), "ru", ("Эскизов", "Максим", "Олегович", "family")),
    (("Выдумкин", "Виталий", ""), ("Выдумкин", "Виталий", "Евгеньевич"), "ru",
     ("Выдумкин", "Виталий", "Евгеньевич", "family")),
    # The family writes Russian, the office reads Ukrainian: converted from the family's spelling.
    (("Eskizov", "Maxim", ""), ("Эскизов", "Максим", "Олегович"), "uk", ("Ескізов", "Максим", "Олегович", "converted")),
    # Otherwise converted by the documented rules.
    (("Eskizov", "Maxim", ""), None, "ru", ("Эскизов", "Максим", "", "converted")),
    (("Выдумкін", "Віталій", "Євгенович"), None, "ru", ("Выдумкин", "Виталий", "Евгеньевич", "converted")),
    (("Выдумкин", "Виталий", "Евгеньевич"), None, "uk", ("Видумкін", "Віталій", "Євгенович", "converted")),
    (("Hryhorenko", "Oleksii", "Petrovych"), None, "ru", ("Григоренко", "Алексей", "Петрович", "converted")),
    (("Oliinyk", "Mykola", ""), None, "uk", ("Олійник", "Микола", "", "converted")),
    (("Литвиненко", "Микола", ""), None, "ru", ("Литвиненко", "Николай", "", "converted")),
    (("Воробьёв", "Пётр", ""), None, "uk", ("Воробйов", "Петро", "", "converted")),
    (("Корнеев", "Сергей", "Ильич"), None, "uk", ("Корнеєв", "Сергій", "Ілліч", "converted")),
    # Latin for an English-language office.
    (("Выдумкин", "Виталий", ""), None, "en", ("Vydumkin", "Vitalii", "", "converted")),
    (("Eskizov", "Maxim", ""), None, "en", ("Eskizov", "Maxim", "", "registry")),
    # What is not a name goes as entered.
    (("=1+2", "Иван", ""), None, "ru", ("=1+2", "Иван", "", "registry")),
])
def test_office_names(registry: tuple[str, str, str], family: tuple[str, str, str] | None, language: str,
                      expected: tuple[str, str, str, str]) -> None:
    found = office_names(registry, language, family=family)
    assert (found.surname, found.given_name, found.patronymic, found.source) == expected


def test_a_family_spelling_without_a_surname_is_not_a_spelling() -> None:
    assert office_names(("Eskizov", "Maxim", ""), "ru", family=("", "Максим", "")).source == "converted"


def test_a_part_the_family_left_out_comes_from_the_registry() -> None:
    found = office_names(("Выдумкин", "Виталий", "Евгеньевич"), "ru", family=("Выдумкин", "", ""))
    assert (found.given_name, found.patronymic, found.source) == ("Виталий", "Евгеньевич", "family")


def test_upper_case_is_kept() -> None:
    assert to_script("ESKIZOV", "surname", "ru") == "ЭСКИЗОВ"


NAME = st.from_regex(r"[A-Za-zА-Яа-яЁёІіЇїЄєҐґ]{1,12}(-[A-Za-zА-Яа-яЁёІіЇїЄєҐґ]{1,8})?", fullmatch=True)


LATIN = re.compile(r"[A-Za-z'\"`ë -]*")


@pytest.mark.parametrize(("language", "letters"), [("ru", RUSSIAN), ("uk", UKRAINIAN), ("en", LATIN)])
@settings(max_examples=300, deadline=None)
@given(NAME, NAME, NAME)
def test_every_name_reaches_an_office_in_its_own_letters(language: str, letters: re.Pattern[str], surname: str,
                                                         given_name: str, patronymic: str) -> None:
    found = office_names((surname, given_name, patronymic), language)
    for name in (found.surname, found.given_name, found.patronymic):
        assert letters.fullmatch(name), (language, name)
