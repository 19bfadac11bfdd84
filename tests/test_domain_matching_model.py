"""The match model: hand-set defaults, learning m and u from the data, and freezing it with the
term frequencies (issue 13). Every name here is invented."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from pow_registry.domain.matching import (
    DEFAULT_MODEL,
    MatchIndex,
    MatchModel,
    MatchRecord,
    compare,
    estimate_model,
    prepare,
)
from pow_registry.domain.matching.model import DEFAULT_LEVELS, FIELDS

SURNAMES = [
    "Выдумкин", "Придумов", "Сочинский", "Небывалов", "Мечтаев", "Вымыслов", "Затейкин", "Фантазёров",
    "Небылицын", "Сказкин", "Загадкин", "Потешкин", "Шуткин", "Байкин", "Складнев", "Ладушкин",
    "Понарошкин", "Кривдин", "Небывайло", "Чудилов", "Дивнов", "Забавин", "Игрушкин", "Сновидцев",
]  # fmt: skip
GIVEN = ["Иван", "Пётр", "Алексей", "Сергей", "Дмитрий", "Андрей", "Виталий", "Олег", "Юрий", "Максим"]
VILLAGES = ["Выдуманное", "Небывалое", "Сказочное", "Придуманка", "Загадочное", "Мечтательное", "Потешное",
            "Вымышленка", "Забавное", "Чудесное"]  # fmt: skip
FATHERS = ["Иванович", "Петрович", "Алексеевич", "Сергеевич", "Олегович", "Юрьевич"]


def _men(rng: random.Random, n: int, capture: tuple[date, int]) -> list[dict[str, str]]:
    start, spread = capture
    men = []
    for i in range(n):
        born = date(1975, 1, 1) + timedelta(days=rng.randrange(365 * 30))
        captured = start + timedelta(days=rng.randrange(spread))
        men.append({
            "surname": rng.choice(SURNAMES) + ("" if i % 3 else rng.choice("аеоу") + "в"),
            "given_name": rng.choice(GIVEN),
            "patronymic": rng.choice(FATHERS),
            "date_of_birth": born.isoformat(),
            "unit": f"{rng.randrange(10000, 99999)}",
            "event": captured.isoformat(),
            "contact": (captured - timedelta(days=rng.randrange(3, 20))).isoformat(),
        })
    return men


def _data(capture: tuple[date, int], seed: int = 7) -> tuple[list, list]:
    rng = random.Random(seed)
    men = _men(rng, 600, capture)
    persons = [prepare(MatchRecord(f"p{i}", "person", surname=m["surname"], given_name=m["given_name"],
                                   patronymic=m["patronymic"] if rng.random() < 0.5 else None,
                                   date_of_birth=m["date_of_birth"] if rng.random() < 0.7 else m["date_of_birth"][:4],
                                   unit=m["unit"] if rng.random() < 0.6 else None, event_date=m["event"]))
               for i, m in enumerate(men)]  # fmt: skip
    inquiries = []
    for i in range(900):
        j = rng.randrange(len(men))
        m = men[j] if i < 600 else _men(rng, 1, capture)[0]  # a third not in the registry
        inquiries.append(prepare(MatchRecord(f"q{i}-p{j}" if i < 600 else f"q{i}-none", "inquiry", surname=m["surname"], given_name=m["given_name"],
                                             patronymic=m["patronymic"], date_of_birth=m["date_of_birth"],
                                             unit=m["unit"] if rng.random() < 0.4 else None,
                                             event_date=m["contact"])))  # fmt: skip
    return inquiries, persons


def _one_offensive(weeks_days: int, seed: int) -> list[MatchRecord]:
    """2,000 men: nine in ten captured within `weeks_days` days from 6 August 2024, the rest
    spread over two years."""
    rng = random.Random(seed)
    return [MatchRecord(f"p{i}", "person", surname=f"Выдумкин{i}",
                        event_date=(date(2024, 8, 6) + timedelta(days=rng.randrange(weeks_days))).isoformat() if i % 10
                        else (date(2022, 3, 1) + timedelta(days=rng.randrange(700))).isoformat())
            for i in range(2000)]  # fmt: skip


def test_the_default_model_is_the_hand_set_one_with_every_field() -> None:
    assert set(DEFAULT_MODEL.levels) == set(FIELDS)
    assert not DEFAULT_MODEL.learned
    m, u = DEFAULT_LEVELS["unit"]["disagree"]
    assert DEFAULT_MODEL.weight("unit", "disagree") == pytest.approx(-3.28, abs=0.01)
    assert (m, u) == (0.1, 0.97)
    assert "hand-set defaults" in DEFAULT_MODEL.explain()


def test_too_few_records_keep_the_hand_set_model_and_say_why() -> None:
    inquiries, persons = _data((date(2024, 8, 6), 400))
    model = estimate_model(inquiries[:50], persons[:50])
    assert not model.learned
    assert model.levels == DEFAULT_MODEL.levels
    assert "not learned: 50 inquiries and 50 persons" in model.explain()


def test_an_event_everyone_shares_earns_no_weight_but_a_telling_one_does() -> None:
    # one offensive: every capture within the same three weeks, every family's last contact just before
    inquiries, persons = _data((date(2024, 8, 6), 21))
    shared = estimate_model(inquiries, persons, random_pairs=20_000)
    inquiries, persons = _data((date(2022, 3, 1), 900))
    spread = estimate_model(inquiries, persons, random_pairs=20_000)
    assert shared.learned and spread.learned
    assert abs(shared.weight("capture / contact", "soon after")) < 1.0
    assert spread.weight("capture / contact", "soon after") > 3.0
    # the hand-set weight gave the shared weeks +3.2 bits for every pair
    assert DEFAULT_MODEL.weight("capture / contact", "soon after") > 3.0


def test_a_learned_model_scores_true_pairs_high_and_namesakes_low() -> None:
    inquiries, persons = _data((date(2022, 3, 1), 900))
    model = estimate_model(inquiries, persons, random_pairs=20_000)
    assert model.learned and model.estimation.name_pairs > 0 and model.estimation.birth_date_pairs > 0
    # m of the agreeing levels is far above u, of the disagreeing ones below
    assert model.weight("date of birth", "disagree") < -3
    assert model.weight("surname", "disagree") < -3
    index = MatchIndex(persons, model=model)
    right = sure_but_wrong = 0
    for inquiry in inquiries:
        found = index.query(inquiry, limit=1)
        man = inquiry.record.record_id.split("-")[1]
        right += bool(found) and found[0].right_id == man
        sure_but_wrong += bool(found) and found[0].probability >= 0.9 and found[0].right_id != man
    assert right >= 0.95 * 600
    assert sure_but_wrong <= 3


def test_the_model_is_frozen_with_the_statistics_so_scores_depend_on_the_pair_alone() -> None:
    inquiries, persons = _data((date(2022, 3, 1), 900))
    model = estimate_model(inquiries, persons, random_pairs=20_000)
    index = MatchIndex(persons, model=model)
    frozen = MatchIndex(persons[:10], statistics=index.statistics(), prior=index.prior)
    assert frozen.model.as_dict() == model.as_dict()
    assert MatchModel.from_dict(model.as_dict()).as_dict() == model.as_dict()
    pair = (inquiries[0], persons[0])
    assert frozen.score(*pair).weight == index.score(*pair).weight


def test_agreeing_on_a_rare_birth_date_or_place_counts_more_than_on_a_common_one() -> None:
    # half the registry wrote the 1st of January when only the year was known
    people = [MatchRecord(f"p{i}", "person", surname=f"Выдумкин{i}", date_of_birth="1990-01-01" if i % 2 else
                          f"19{70 + i % 30}-0{1 + i % 9}-1{i % 10}", place="Суджа" if i % 3 else f"село {VILLAGES[i % len(VILLAGES)]}")
              for i in range(400)]  # fmt: skip
    index = MatchIndex(people)
    common = index.score(MatchRecord("q1", "inquiry", date_of_birth="1990-01-01"),
                         MatchRecord("p9", "person", date_of_birth="1990-01-01"))
    rare = index.score(MatchRecord("q2", "inquiry", date_of_birth="1971-02-11"),
                       MatchRecord("p2", "person", date_of_birth="1971-02-11"))
    assert rare.fields[3].weight > common.fields[3].weight + 4
    town = index.score(MatchRecord("q1", "inquiry", place="Суджа"), MatchRecord("p1", "person", place="Суджа"))
    village = index.score(MatchRecord("q1", "inquiry", place="с. Выдуманное"),
                          MatchRecord("p3", "person", place="село Выдуманное"))
    assert village.fields[5].weight > town.fields[5].weight + 2
    # without statistics the weights are the hand-set ones
    assert compare(MatchRecord("q", "inquiry", date_of_birth="1990-01-01"),
                   MatchRecord("p", "person", date_of_birth="1990-01-01")).fields[3].weight == pytest.approx(12.9, abs=0.1)


def test_the_man_born_in_the_asked_year_outranks_a_namesake_born_1987_in_another_unit() -> None:
    asked = MatchRecord("q", "inquiry", surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич",
                        date_of_birth="2005-03-12")  # fmt: skip
    same_year = MatchRecord("a", "person", surname="Выдумкин", given_name="Виталий", date_of_birth="2005",
                            unit="в/ч 12345", event_date="2024-08-10")  # fmt: skip
    older = MatchRecord("b", "person", surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич",
                        date_of_birth="1987-05-02", unit="в/ч 54321", event_date="2024-08-10")  # fmt: skip
    index = MatchIndex([same_year, older])
    found = index.query(asked)
    assert [m.right_id for m in found][:1] == ["a"]
    assert compare(asked, same_year).probability > compare(asked, older).probability + 0.2


def test_two_reports_with_different_birth_dates_and_units_are_not_shown_as_likely() -> None:
    one = MatchRecord("d1", "person", surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич",
                      date_of_birth="2005-03-12", unit="в/ч 12345", event_date="2024-08-10")  # fmt: skip
    other = MatchRecord("d2", "person", surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич",
                        date_of_birth="1999-07-01", unit="в/ч 54321", event_date="2024-08-12")  # fmt: skip
    match = compare(one, other)
    assert match.probability < 0.8
    by_field = {f.field: f for f in match.fields}
    assert by_field["date of birth"].level == "five years or more apart" and by_field["date of birth"].weight < -5
    assert by_field["unit"].weight < -2


def test_a_common_name_and_nothing_else_says_so_and_what_would_settle_it() -> None:
    people = [MatchRecord(f"p{i}", "person", surname="Иванов", given_name="Александр", date_of_birth=f"{1970 + i % 30}")
              for i in range(60)] + [MatchRecord(f"r{i}", "person", surname=f"Выдумкин{i}") for i in range(200)]
    index = MatchIndex(people)
    match = index.score(MatchRecord("q", "inquiry", surname="Иванов", given_name="Александр"),
                        MatchRecord("x", "person", surname="Иванов", given_name="Александр"))
    assert match.notes[0] == "common name, nothing else known: ask the family for the date of birth or unit"
    assert match.notes[1] == ("what would settle it: the date of birth, the unit number, the place, "
                              "the capture or last contact date")
    # a rare surname and nothing else: said too, without calling it common
    rare = index.score(MatchRecord("q", "inquiry", surname="Небывайлов", given_name="Александр", unit="12345"),
                       MatchRecord("y", "person", surname="Небывайлов", given_name="Александр"))
    assert rare.notes[0] == "only the name is known on both sides"
    assert rare.notes[1].startswith("what would settle it: the date of birth, the unit number")
    # anything else known on both sides: no such note
    dated = index.score(MatchRecord("q", "inquiry", surname="Иванов", given_name="Александр", date_of_birth="1980"),
                        MatchRecord("z", "person", surname="Иванов", given_name="Александр", date_of_birth="1980"))
    assert dated.notes == ()


def test_the_demo_inquiry_ranks_the_man_born_2005_above_a_namesake_born_1987_in_another_unit() -> None:
    # issue 13: the demo's published inquiry, a conscript born 2005 last heard of near Суджа; the
    # registry holds the exact name born 2005 (another unit, place and category) and the name in
    # Ukrainian spelling born 1987 (another unit; the same place and category)
    asked = MatchRecord("1", "inquiry", surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич",
                        date_of_birth="2005", unit="в/ч 12345", place="Суджа", event_date="2024-08-05",
                        service_category="conscript")  # fmt: skip
    born_2005 = MatchRecord("1", "person", surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич",
                            date_of_birth="2005", unit="ВЧ-54321", place="Малая Локня", event_date="2024-08-16",
                            service_category="contract")  # fmt: skip
    born_1987 = MatchRecord("17", "person", surname="Выдумкін", given_name="Віталій", patronymic="Євгенович",
                            date_of_birth="1987-05", unit="military unit 11111", place="Суджа, Курская область",
                            event_date="2024-08-18", service_category="conscript")  # fmt: skip
    found = MatchIndex([born_2005, born_1987]).query(asked)
    assert [m.right_id for m in found][0] == "1"
    assert found[0].probability > found[-1].probability
    assert {f.field: f.level for f in compare(asked, born_1987).fields}["date of birth"] == "five years or more apart"


def test_captured_soon_after_the_last_contact_weighs_by_how_many_were_captured_in_those_weeks() -> None:
    # nine in ten captured in the same three weeks of one offensive, the rest spread over two years
    index = MatchIndex(_one_offensive(weeks_days=21, seed=3))
    in_the_offensive = index.score(MatchRecord("q1", "inquiry", event_date="2024-08-04"),
                                   MatchRecord("x1", "person", event_date="2024-08-12"))
    in_a_quiet_month = index.score(MatchRecord("q2", "inquiry", event_date="2023-02-04"),
                                   MatchRecord("x2", "person", event_date="2023-02-12"))
    level_a, weight_a = in_the_offensive.fields[6].level, in_the_offensive.fields[6].weight
    level_b, weight_b = in_a_quiet_month.fields[6].level, in_a_quiet_month.fields[6].weight
    assert level_a == level_b == "captured soon after last contact"
    assert abs(weight_a) < 1.0  # everybody shares those weeks: no weight
    assert weight_b > weight_a + 3


@pytest.mark.parametrize(
    ("russian", "ukrainian"),
    [
        ("села Выдуманное", "с. Вигадане"),  # the demo's village: a translation, listed in data/place_names.tsv
        ("Коренево", "Кореневе"),  # the ending alone differs
        ("Малая Локня", "Мала Локня"),
        ("Снагость", "Снагість"),  # Ukrainian і for о
        ("Погребки", "Погрібки"),  # and for е
        ("Мартыновка", "Мартинівка"),
        ("Большое Солдатское", "Велике Солдатське"),  # a word translated (listed)
        ("Николаевка", "Миколаївка"),  # listed; not the Mykolaiv region
        ("Артёмовск", "Бахмут"),  # renamed
        ("Суджа", "Sudzha"),
    ],
)
def test_a_place_written_in_russian_and_in_ukrainian_agrees(russian: str, ukrainian: str) -> None:
    match = compare(MatchRecord("q", "inquiry", place=russian), MatchRecord("p", "person", place=ukrainian))
    assert match.fields[5].level == "agree"
    assert match.fields[5].weight > 2


def test_different_places_and_a_region_named_like_a_village_still_differ() -> None:
    def place(a: str, b: str) -> str:
        return compare(MatchRecord("q", "inquiry", place=a), MatchRecord("p", "person", place=b)).fields[5].level

    assert place("Суджа", "Коренево") == "disagree"
    assert place("Николаевка", "Николаевская область") == "disagree"
    assert place("Суджа, Курская область", "Коренево, Курская обл.") == "same region"


def test_a_man_reported_by_his_given_name_and_unit_only_is_found_by_his_family_and_said_to_be_partial() -> None:
    registry = [MatchRecord(f"p{i}", "person", surname=f"Выдумкин{i}", given_name="Олег", unit=f"в/ч {10000 + i}")
                for i in range(300)]  # fmt: skip
    registry.append(MatchRecord("video", "person", given_name="Виталий", unit="в/ч 12345", event_date="2024-08-10"))
    index = MatchIndex(registry)
    asked = MatchRecord("q", "inquiry", surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич",
                        date_of_birth="2005-03-12", unit="12345", event_date="2024-08-01")  # fmt: skip
    found = index.query(asked, threshold=0.01)
    assert [m.right_id for m in found] == ["video"]
    by_field = {f.field: f for f in found[0].fields}
    assert by_field["surname"].level == "missing" and by_field["unit"].level == "exact"
    # another given name in that unit is not brought in
    assert index.query(MatchRecord("q2", "inquiry", surname="Выдумкин", given_name="Пётр", unit="12345"),
                       threshold=0.01) == []


def test_two_reports_captured_the_same_day_weigh_by_how_many_were_captured_that_day() -> None:
    index = MatchIndex(_one_offensive(weeks_days=10, seed=5))
    busy = index.score(MatchRecord("a", "person", event_date="2024-08-08"), MatchRecord("b", "person", event_date="2024-08-09"))
    quiet = index.score(MatchRecord("c", "person", event_date="2023-02-08"), MatchRecord("d", "person", event_date="2023-02-09"))
    assert busy.fields[6].level == quiet.fields[6].level == "same capture date"
    assert busy.fields[6].weight < 1.0 and quiet.fields[6].weight > busy.fields[6].weight + 3


def test_two_reports_of_one_call_sign_are_found_and_weighed_by_how_rare_it_is() -> None:
    registry = [MatchRecord(f"p{i}", "person", surname=f"Выдумкин{i}", call_sign="Сокол" if i % 4 == 0 else None)
                for i in range(400)]  # fmt: skip
    registry.append(MatchRecord("known", "person", call_sign="«Небывалый»", unit="в/ч 12345", event_date="2024-08-10"))
    index = MatchIndex(registry)
    report = MatchRecord("video", "person", call_sign="Nebyvalyi", unit="12345", event_date="2024-08-11")
    found = index.query(report, threshold=0.01)
    assert found and found[0].right_id == "known"
    by_field = {f.field: f for f in found[0].fields}
    assert by_field["call sign"].level == "exact"
    rare = by_field["call sign"].weight
    common = index.score(MatchRecord("a", "person", call_sign="Сокол"), MatchRecord("b", "person", call_sign="Sokol"))
    assert {f.field: f for f in common.fields}["call sign"].weight < rare - 3
    other = index.score(MatchRecord("a", "person", call_sign="Сокол"), MatchRecord("b", "person", call_sign="Грач"))
    assert {f.field: f for f in other.fields}["call sign"].level == "disagree"


def test_reviewed_pairs_are_labels_the_model_learns_from() -> None:
    inquiries, persons = _data((date(2022, 3, 1), 900))
    plain = estimate_model(inquiries, persons, random_pairs=20_000)
    # staff confirmed 300 men whose families gave another unit (the one he served in before)
    with_unit = [p for p in persons if p.unit][:300]
    confirmed = [(prepare(MatchRecord(f"r{i}", "inquiry", surname=man.record.surname,
                                      given_name=man.record.given_name, unit="99999")), man)
                 for i, man in enumerate(with_unit)]  # fmt: skip
    labelled = estimate_model(inquiries, persons, random_pairs=20_000, confirmed=confirmed)
    assert labelled.estimation.confirmed == 300
    assert labelled.m("unit", "disagree") > plain.m("unit", "disagree") + 0.05
    assert labelled.weight("unit", "disagree") > plain.weight("unit", "disagree")
    # and rejected pairs count as two different men: they move no m
    rejected = estimate_model(inquiries, persons, random_pairs=20_000, rejected=confirmed)
    assert rejected.estimation.rejected == 300
    assert rejected.m("unit", "disagree") <= plain.m("unit", "disagree") + 1e-9


def test_an_index_built_to_learn_a_model_then_scores_with_it_but_frozen_statistics_keep_theirs() -> None:
    inquiries, persons = _data((date(2022, 3, 1), 900))
    index = MatchIndex(persons)
    model = estimate_model(inquiries, persons, random_pairs=20_000,
                           candidates=[(q, index.candidates(q)) for q in inquiries[:300]])
    before = index.score(inquiries[0], persons[0]).weight
    index.use_model(model)
    assert index.model is model and index.statistics()["model"] == model.as_dict()
    assert index.score(inquiries[0], persons[0]).weight != before
    frozen = MatchIndex(persons[:5], statistics=index.statistics(), prior=index.prior)
    with pytest.raises(ValueError, match="frozen"):
        frozen.use_model(DEFAULT_MODEL)
