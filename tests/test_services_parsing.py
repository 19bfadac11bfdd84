"""One home for input parsing (services/parsing.py): the rules, properties, and that no service
keeps a copy of its own. All data fictitious."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pow_registry.domain.dates import PartialDate
from pow_registry.models import ServiceCategory
from pow_registry.services import parsing

TODAY = date(2026, 3, 1)  # the rules are given "today"; this one is fixed on purpose


@pytest.mark.parametrize(("typed", "kept", "error"), [
    ("12.03.2005", "2005-03-12", None), ("2005-03", "2005-03", None), ("2005", "2005", None), ("", None, None),
    ("31.02.2004", None, "This date does not exist."), ("13.2004", None, "This date does not exist."),
    ("вчера", None, "Enter a date as YYYY-MM-DD, DD.MM.YYYY, YYYY-MM or YYYY."),
    ("02.03.2026", "2026-03-02", None),  # one day of slack: a time-zone ahead is not the future
    ("2027", None, "This date is in the future."),
])
def test_partial_dates(typed: str, kept: str | None, error: str | None) -> None:
    errors: dict[str, str] = {}
    assert parsing.partial_date(typed, "date_of_birth", errors, TODAY) == kept
    assert errors.get("date_of_birth") == error


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30) | st.from_regex(r"\d{1,2}\.\d{1,2}\.\d{4}", fullmatch=True))
def test_a_partial_date_is_a_date_or_an_error_never_an_exception(typed: str) -> None:
    errors: dict[str, str] = {}
    kept = parsing.partial_date(typed, "d", errors, TODAY)
    assert (kept is None) or (not errors and str(PartialDate.parse(kept)) == kept)
    assert kept is None or PartialDate.parse(kept).earliest() <= TODAY


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.integers(min_value=1, max_value=40))
def test_plain_text_is_clean_and_too_long_is_said(typed: str, limit: int) -> None:
    errors: dict[str, str] = {}
    kept = parsing.plain(typed, limit, "unit", errors)
    assert kept == kept.strip() and "\n" not in kept
    assert ("unit" in errors) == (len(kept) > limit)


def test_choices_and_yes_no() -> None:
    errors: dict[str, str] = {}
    assert parsing.choice(ServiceCategory, " conscript ", "c", errors) == ServiceCategory.conscript
    assert parsing.choice(ServiceCategory, "", "c", errors, default=None) is None and not errors
    assert parsing.choice(ServiceCategory, "general", "c", errors) is None and errors["c"]
    answers: dict[str, str] = {}
    assert [parsing.yes_no(v, "ok", answers) for v in (True, "Да", "так", "x", "", "нет", None)] == [
        True, True, True, True, False, False, False]
    assert not answers
    assert parsing.yes_no("может быть", "ok", answers) is False and answers["ok"] == "Answer yes or no."
    assert parsing.escape_like("50%_a\\b") == "50\\%\\_a\\\\b"


def test_no_service_keeps_a_parser_of_its_own() -> None:
    services = Path(__file__).parent.parent / "pow_registry" / "services"
    copies = [f"{path.name}: def {name}" for path in services.glob("*.py") if path.name != "parsing.py"
              for name in re.findall(r"^def (_text|_plain|_partial_date|_enum|_bool|_multiline|_escape_like)\(",
                                     path.read_text(encoding="utf-8"), re.M)]
    assert copies == []
