"""Given names and patronymics: one class per name across Russian, Ukrainian and Latin.

The table is data (pow_registry/data/given_names.tsv); these tests are what keeps it honest:
every listed form, under every romanisation, reads back as its own class; no form belongs to
two classes unless it is a diminutive marked as ambiguous. All names are common name forms.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pow_registry.domain.given_names import (
    _parse_table,
    _tables,
    derive_patronymics,
    given_name_key,
    given_name_keys,
    listed_given_name,
    name_class,
    name_classes,
    patronymic_key,
    read_given_name,
    read_patronymic,
)
from pow_registry.domain.names import name_skeleton, skeleton_variants
from pow_registry.domain.romanize import SCHEMES, romanize

CLASSES = list(name_classes().values())
CYRILLIC_FORMS = [(c.id, form) for c in CLASSES for form in c.ru + c.uk]
PATRONYMICS = [(c.id, form) for c in CLASSES for form in derive_patronymics(c)]


# --- the table ------------------------------------------------------------------------------


def test_the_table_covers_the_common_male_names() -> None:
    assert len(CLASSES) >= 150
    for class_id in (
        "aleksandr", "aleksei", "sergei", "dmitrii", "andrei", "evgenii", "vitalii", "viktor",
        "nikolai", "iurii", "artem", "mikhail", "ivan", "maksim", "vladimir", "ilia", "petr",
    ):  # fmt: skip
        cls = name_class(class_id)
        assert cls.ru and cls.uk


def test_every_class_has_russian_and_ukrainian_forms() -> None:
    for cls in CLASSES:
        assert cls.ru, cls.id
        assert cls.uk, cls.id


@pytest.mark.parametrize(("class_id", "form"), CYRILLIC_FORMS)
def test_every_cyrillic_form_round_trips_across_scripts(class_id: str, form: str) -> None:
    spellings = [form, form.upper(), form.lower()] + [romanize(form, s) for s in SCHEMES]
    for spelling in spellings:
        reading = read_given_name(spelling)
        assert reading is not None, spelling
        assert reading.classes == (class_id,), (spelling, reading)
        assert reading.level == "name", (spelling, reading)


def test_every_latin_form_reads_as_its_class() -> None:
    for cls in CLASSES:
        for form in cls.latin:
            assert given_name_keys(form) == {cls.id}, form


def test_no_full_form_is_in_two_classes() -> None:
    owners: dict[str, set[str]] = {}
    for cls in CLASSES:
        for form in cls.full_forms() + (cls.id,):
            owners.setdefault(name_skeleton(form), set()).add(cls.id)
    shared = {key: ids for key, ids in owners.items() if len(ids) > 1}
    assert not shared


def test_a_shared_diminutive_is_marked_ambiguous_everywhere() -> None:
    plain: dict[str, set[str]] = {}
    marked: dict[str, set[str]] = {}
    for cls in CLASSES:
        for form in cls.diminutives:
            plain.setdefault(name_skeleton(form), set()).add(cls.id)
        for form in cls.ambiguous_diminutives:
            marked.setdefault(name_skeleton(form), set()).add(cls.id)
    for key, ids in plain.items():
        assert len(ids) == 1 and key not in marked, (key, ids, marked.get(key))
    for key, ids in marked.items():
        assert len(ids) >= 2, f"{key} is marked ambiguous but belongs to {ids} only"


def test_no_diminutive_is_another_names_full_form() -> None:
    full = {name_skeleton(form): cls.id for cls in CLASSES for form in cls.full_forms() + (cls.id,)}
    for cls in CLASSES:
        for form in cls.diminutives + cls.ambiguous_diminutives:
            owner = full.get(name_skeleton(form))
            assert owner in (None, cls.id), (form, cls.id, owner)


def test_no_patronymic_is_in_two_classes() -> None:
    shared = {key: ids for key, ids in _tables().patronymic.items() if len(ids) > 1}
    assert not shared


@pytest.mark.parametrize(("class_id", "form"), PATRONYMICS)
def test_every_patronymic_round_trips_across_scripts(class_id: str, form: str) -> None:
    for spelling in [form, form.upper()] + [romanize(form, s) for s in SCHEMES]:
        reading = read_patronymic(spelling)
        assert reading is not None
        assert reading.classes == (class_id,), (spelling, reading)


def test_the_table_rejects_malformed_lines() -> None:
    with pytest.raises(ValueError, match="6 tab-separated"):
        _parse_table("ivan\tИван\tІван\n")
    line = "ivan\tИван\tІван\t\t\t"
    with pytest.raises(ValueError, match="twice"):
        _parse_table(f"{line}\n{line}\n")
    with pytest.raises(ValueError, match="ru: or uk:"):
        _parse_table("ivan\tИван\tІван\t\t\tИванович\n")


# --- reading names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "class_id"),
    [
        (["Алексей", "Олексій", "Aleksei", "Alexey", "Oleksii", "Alexsey", "Aleksej"], "aleksei"),
        (["Николай", "Микола", "Nikolai", "Mykola", "Nikolay", "Nicholas"], "nikolai"),
        (["Дмитрий", "Дмитро", "Dmitrii", "Dmytro", "Dmitry", "Dmitriy"], "dmitrii"),
        (["Юрий", "Юрій", "Iurii", "Yuriy", "Yury", "Jurij"], "iurii"),
        (["Артём", "Артем", "Artem", "Artyom", "Artiom"], "artem"),
        (["Евгений", "Євген", "Yevhen", "Evgenii", "Yevgeny", "Eugene"], "evgenii"),
        (["Виталий", "Віталій", "Vitalii", "Vitaliy", "Vitaly", "Vitalij"], "vitalii"),
        (
            ["Александр", "Олександр", "Alexander", "Alecsandr", "Aleksandr", "Oleksandr"],
            "aleksandr",
        ),
        (["Михаил", "Михайло", "Mikhail", "Mykhailo", "Mihail", "Michael"], "mikhail"),
        (["Пётр", "Петр", "Петро", "Pyotr", "Petr", "Petro", "Peter"], "petr"),
        (["Илья", "Ілля", "Ilya", "Illia", "Ilia"], "ilia"),
        (["Кирилл", "Кирило", "Kirill", "Kyrylo"], "kirill"),
    ],
)
def test_one_name_in_every_script_and_spelling(group: list[str], class_id: str) -> None:
    for spelling in group:
        assert given_name_key(spelling) == class_id, spelling


@pytest.mark.parametrize(
    ("text", "class_id", "level"),
    [
        ("Саша", "aleksandr", "diminutive"),
        ("Шура", "aleksandr", "diminutive"),
        ("Sasha", "aleksandr", "diminutive"),
        ("Женя", "evgenii", "diminutive"),
        ("Zhenya", "evgenii", "diminutive"),
        ("Лёша", "aleksei", "diminutive"),
        ("Леша", "aleksei", "diminutive"),
        ("Вова", "vladimir", "diminutive"),
        ("Коля", "nikolai", "diminutive"),
        ("Виталия", "vitalii", "genitive"),  # copied from a letter
        ("Олексія", "aleksei", "genitive"),
        ("Миколи", "nikolai", "genitive"),
        ("Сергея", "sergei", "genitive"),
        ("Алекандр", "aleksandr", "fuzzy"),  # a typo
        ("Aleksnadr", "aleksandr", "fuzzy"),
        ("Іваг", "ivan", "fuzzy"),  # one wrong letter in a short name
    ],
)
def test_diminutives_case_forms_and_typos(text: str, class_id: str, level: str) -> None:
    reading = read_given_name(text)
    assert reading is not None
    assert reading.classes == (class_id,)
    assert reading.level == level


def test_an_ambiguous_diminutive_keeps_every_name_it_may_be() -> None:
    reading = read_given_name("Витя")
    assert reading is not None
    assert reading.level == "ambiguous diminutive"
    assert set(reading.classes) == {"viktor", "vitalii"}
    assert reading.key is None
    assert given_name_keys("Vitya") == {"viktor", "vitalii"}
    assert given_name_key("Витя") is None


def test_unknown_names_have_a_skeleton_and_no_class() -> None:
    reading = read_given_name("Зорислав")
    assert reading is not None
    assert reading.classes == ()
    assert reading.level == "unknown"
    assert reading.skeleton == name_skeleton("Зорислав")
    assert read_given_name("") is None
    assert read_given_name("  -  ") is None


def test_listed_given_name_never_guesses() -> None:
    assert listed_given_name("Иван") is not None
    assert listed_given_name("Ваня") is not None
    assert listed_given_name("Ивана") is None  # a case form: not listed
    assert listed_given_name("Выдумкин") is None


@pytest.mark.parametrize(
    ("text", "class_id", "level"),
    [
        ("Евгеньевич", "evgenii", "name"),
        ("Евгениевич", "evgenii", "name"),
        ("Євгенович", "evgenii", "name"),
        ("Yevhenovych", "evgenii", "name"),
        ("Evgenievich", "evgenii", "name"),
        ("Evgen'evich", "evgenii", "name"),
        ("Евгеньевича", "evgenii", "genitive"),
        ("Ильич", "ilia", "name"),
        ("Ілліч", "ilia", "name"),
        ("Ilyich", "ilia", "name"),
        ("Николаевич", "nikolai", "name"),
        ("Миколайович", "nikolai", "name"),
        ("Mykolaiovych", "nikolai", "name"),
        ("Михайлович", "mikhail", "name"),
        ("Петрович", "petr", "name"),
        ("Павлович", "pavel", "name"),
        ("Львович", "lev", "name"),
        ("Юрьевич", "iurii", "name"),
        ("Юрійович", "iurii", "name"),
        ("Aleksandrowitsch", "aleksandr", "name"),
        ("Віталійовича", "vitalii", "genitive"),
        ("Евгеньвеич", "evgenii", "fuzzy"),
    ],
)
def test_patronymics_read_as_the_fathers_name(text: str, class_id: str, level: str) -> None:
    reading = read_patronymic(text)
    assert reading is not None
    assert reading.classes == (class_id,)
    assert reading.level == level
    assert patronymic_key(text) == class_id


def test_a_patronymic_is_not_a_given_name_and_the_other_way_round() -> None:
    assert given_name_keys("Евгеньевич") == frozenset()
    assert read_patronymic("Евгений") is not None
    assert patronymic_key("Евгений") is None


def test_patronymics_by_language() -> None:
    evgenii = name_class("evgenii")
    assert derive_patronymics(evgenii, "ru")[0] == "Евгеньевич"
    assert derive_patronymics(evgenii, "uk")[0] == "Євгенович"
    assert derive_patronymics(name_class("nikolai"), "uk")[0] == "Миколайович"
    assert derive_patronymics(name_class("ilia"), "ru")[0] == "Ильич"


# --- skeleton readings used for names -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("Xrustalev", "Khrustalev"),  # GOST 7.79 B: х → x
        ("Czoj", "Tsoi"),  # GOST 7.79 B: ц → cz
        ("Kuznetcov", "Kuznetsov"),  # 2010 passports: ц → tc
        ("Корольов", "Королёв"),  # Ukrainian ьо for ё
    ],
)
def test_alternative_readings_of_a_spelling(text: str, reading: str) -> None:
    variants = skeleton_variants(text)
    assert variants[0] == name_skeleton(text)
    assert name_skeleton(reading) in variants


def test_a_spelling_without_alternatives_has_one_reading() -> None:
    assert skeleton_variants("Лейкин") == ("leikin",)
    assert skeleton_variants("") == ("",)


# --- properties -------------------------------------------------------------------------------

_NAME_ALPHABET = (
    "абвгґдеёєжзиіїйклмнопрстуфхцчшщъыьэюя"
    "АБВГҐДЕЁЄЖЗИІЇЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ -'’"
)


@given(st.text(alphabet=_NAME_ALPHABET, max_size=14))
def test_given_name_keys_are_idempotent(text: str) -> None:
    for key in given_name_keys(text):
        assert given_name_keys(key) == {key}


@given(st.text(alphabet=_NAME_ALPHABET, max_size=16))
def test_patronymic_keys_are_idempotent(text: str) -> None:
    key = patronymic_key(text)
    if key is not None:
        assert given_name_key(key) == key
        assert read_patronymic(derive_patronymics(name_class(key), "ru")[0]).classes == (key,)


@given(
    st.sampled_from(CYRILLIC_FORMS),
    st.sampled_from(SCHEMES),
    st.sampled_from([str, str.upper, str.lower, str.title]),
)
def test_given_name_keys_are_script_blind(item: tuple[str, str], scheme: str, case: object) -> None:
    class_id, form = item
    spelling = case(romanize(form, scheme))  # type: ignore[operator, arg-type]
    assert given_name_keys(spelling) == given_name_keys(form) == {class_id}


@given(st.sampled_from(PATRONYMICS), st.sampled_from(SCHEMES))
def test_patronymic_keys_are_script_blind(item: tuple[str, str], scheme: str) -> None:
    class_id, form = item
    assert patronymic_key(romanize(form, scheme)) == patronymic_key(form) == class_id


@given(st.text(max_size=20))
def test_reading_never_fails(text: str) -> None:
    reading = read_given_name(text)
    if reading is not None:
        assert reading.skeleton == name_skeleton(text)
        assert reading.level in {
            "name", "diminutive", "ambiguous diminutive", "genitive", "oblique", "fuzzy",
            "unknown",
        }  # fmt: skip
    read_patronymic(text)


def test_romanisation_examples() -> None:
    name = "Лейкин Виталий Евгеньевич"
    assert romanize(name, "icao") == "Leikin Vitalii Evgenevich"
    assert romanize(name, "bgn") == "Leykin Vitaliy Yevgen'yevich"
    assert romanize(name, "press") == "Leykin Vitaly Yevgenyevich"
    assert romanize("Лейкін Віталій Євгенович", "ua") == "Leikin Vitalii Yevhenovych"
    assert romanize("Згурський", "ua") == "Zghurskyi"
    assert romanize("Щербаков Цой", "gost779b") == "Shherbakov Czoj"
    assert romanize("Кузнецов", "gost52535") == "Kuznetcov"
    assert romanize("Алексей", "press") == "Alexey"
    assert romanize("ЛЕЙКИН", "icao") == "LEIKIN"
    with pytest.raises(ValueError, match="unknown"):
        romanize("Лейкин", "wrong")  # type: ignore[arg-type]


def test_every_pair_of_schemes_agrees_on_the_skeleton_of_each_form() -> None:
    for _, form in CYRILLIC_FORMS[:60]:
        keys = {name_skeleton(romanize(form, s)) for s in SCHEMES if s != "gost779b"}
        for a, b in itertools.combinations(keys, 2):
            assert given_name_keys(a) == given_name_keys(b)
