"""What a family may see of its own inquiry (services/family.py): only what staff cleared, and
the same answer after the same work for an unknown reference, a malformed one and a wrong code."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col
from support import snapshot

from pow_registry.domain import references
from pow_registry.domain.references import access_code_digest
from pow_registry.models import Inquiry, InquiryStatus
from pow_registry.services import family
from pow_registry.services.family import FamilyView, check_status

REFERENCE = "INQ-7KD2-9QXM"
CODE = "7KD2-9QXM-ABCD-EF12"
OTHER_REFERENCE = "INQ-M4KE-T0V0"
OTHER_CODE = "NEBY-VA10-VQ00-0001"


@pytest.fixture
def key(app: Any) -> bytes:
    return app.config["ACCESS_CODE_KEY_BYTES"]


def add_inquiry(session: Any, key: bytes, reference: str = REFERENCE, code: str = CODE, **fields: Any) -> Inquiry:
    """An inquiry written straight to the database, then `fields` set as staff (or the matcher,
    for `last_checked_at`) would have set them."""
    inquiry = Inquiry(reference=reference, access_code_digest=access_code_digest(code, key),
                      surname="Выдумкин", given_name="Виталий", patronymic="Евгеньевич",
                      requester_name="Выдумкина Анна", requester_email="vydumkina@example.org",
                      preferred_language="uk")
    session.add(inquiry)
    session.flush()  # so that whatever runs at commit (the matcher) runs at this commit
    session.commit()
    # A plain UPDATE, which the matcher's hook does not see: the values stay exactly as set here.
    session.exec(update(Inquiry).where(col(Inquiry.id) == inquiry.id).values(**{"last_checked_at": None, **fields}))
    session.commit()
    session.refresh(inquiry)
    session.commit()
    return inquiry


def check(session: Any, key: bytes, reference: str = REFERENCE, code: str = CODE) -> FamilyView | None:
    view = check_status(session, reference=reference, code=code, key=key)
    session.commit()  # end the read (SQLite transactions here begin IMMEDIATE)
    return view


def test_the_right_reference_and_code_show_what_was_cleared(session: Any, key: bytes) -> None:
    add_inquiry(session, key, status=InquiryStatus.match_found, family_status=InquiryStatus.searching,
                family_message="Мы ищем.\nПозвоним вам.",
                last_checked_at=datetime(2025, 3, 12, 22, 30, tzinfo=UTC))
    view = check(session, key)
    assert view == FamilyView(reference=REFERENCE, status=InquiryStatus.searching, last_checked=date(2025, 3, 12),
                              message="Мы ищем.\nПозвоним вам.", language="uk")


def test_nothing_cleared_yet_reads_received_whatever_the_internal_status(session: Any, key: bytes) -> None:
    add_inquiry(session, key, status=InquiryStatus.match_found)
    view = check(session, key)
    assert view is not None
    assert view.status is InquiryStatus.received
    assert view.last_checked is None and view.message == ""


def test_the_view_carries_nothing_but_the_cleared_fields() -> None:
    assert [f.name for f in dataclasses.fields(FamilyView)] == [
        "reference", "status", "last_checked", "message", "language", "since"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        FamilyView(REFERENCE, InquiryStatus.received, None, "", "ru").status = InquiryStatus.returned  # type: ignore[misc]


@pytest.mark.parametrize(("reference", "code"), [
    ("inq-7kd2-9qxm", CODE),
    (" INQ 7KD2 9QXM ", CODE),
    ("7KD2-9QXM", CODE),
    (REFERENCE, "7kd2 9qxm abcd ef12"),
    (REFERENCE, "7KD2-9QXM-ABCD-EFI2"),  # a typed I is read as 1
])
def test_how_a_family_types_it_does_not_matter(session: Any, key: bytes, reference: str, code: str) -> None:
    add_inquiry(session, key)
    view = check(session, key, reference, code)
    assert view is not None and view.reference == REFERENCE


@pytest.mark.parametrize(("reference", "code"), [
    (REFERENCE, "7KD2-9QXM-ABCD-EF13"),  # wrong code
    (OTHER_REFERENCE, CODE),  # unknown reference
    (REFERENCE, OTHER_CODE),  # another family's code
    ("INQ-7KD2", CODE),  # malformed reference
    ("", CODE),
    ("INQ-UUUU-UUUU", CODE),  # the placeholder looked up for malformed references
    ("x" * 10_000, CODE),
    (REFERENCE, ""),  # malformed code
    (REFERENCE, "не код"),
    (REFERENCE, "7" * 10_000),
])
def test_any_failure_is_none(session: Any, key: bytes, reference: str, code: str) -> None:
    add_inquiry(session, key)
    add_inquiry(session, key, reference="INQ-NEBY-VA10", code=OTHER_CODE)
    assert check(session, key, reference, code) is None


def test_another_familys_inquiry_is_never_shown(session: Any, key: bytes) -> None:
    add_inquiry(session, key, family_message="Первое сообщение")
    add_inquiry(session, key, reference=OTHER_REFERENCE, code=OTHER_CODE, family_status=InquiryStatus.returned,
                family_message="Второе сообщение")
    mine, theirs = check(session, key), check(session, key, OTHER_REFERENCE, OTHER_CODE)
    assert mine is not None and theirs is not None
    assert (mine.reference, mine.status, mine.message) == (REFERENCE, InquiryStatus.received, "Первое сообщение")
    assert (theirs.reference, theirs.status, theirs.message) == (OTHER_REFERENCE, InquiryStatus.returned,
                                                                 "Второе сообщение")


@pytest.fixture
def hmac_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every access-code comparison (code, digest) and, under it, every HMAC computed."""
    calls: list[tuple[str, str]] = []
    real_matches, real_hmac = references.access_code_matches, references._hmac_hex

    def counting_matches(code: str, digest: str, key: bytes) -> bool:
        calls.append(("matches", digest))
        return real_matches(code, digest, key)

    def counting_hmac(normalised: str, key: bytes) -> str:
        calls.append(("hmac", ""))
        return real_hmac(normalised, key)

    monkeypatch.setattr(family, "access_code_matches", counting_matches)
    monkeypatch.setattr(references, "_hmac_hex", counting_hmac)
    return calls


@pytest.mark.parametrize(("reference", "code", "against_dummy"), [
    (REFERENCE, CODE, False),  # right
    (REFERENCE, "7KD2-9QXM-ABCD-EF13", False),  # wrong code
    (REFERENCE, "nonsense", False),  # malformed code
    (OTHER_REFERENCE, CODE, True),  # unknown reference
    ("INQ-7KD", CODE, True),  # malformed reference
    ("", "", True),
])
def test_every_answer_costs_exactly_one_hmac(session: Any, key: bytes, hmac_calls: list[tuple[str, str]],
                                            reference: str, code: str, against_dummy: bool) -> None:
    inquiry = add_inquiry(session, key)
    hmac_calls.clear()  # the digest computed to store the code
    check(session, key, reference, code)
    assert [kind for kind, _digest in hmac_calls] == ["matches", "hmac"]
    digest = hmac_calls[0][1]
    assert len(digest) == 64 and int(digest, 16) >= 0  # a well-formed digest either way: the same work
    assert (digest != inquiry.access_code_digest) is against_dummy


def test_checking_writes_nothing(session: Any, key: bytes) -> None:
    add_inquiry(session, key)
    before = snapshot(session)
    assert check(session, key) is not None
    assert check(session, key, code="7KD2-9QXM-ABCD-EF13") is None
    assert snapshot(session) == before


def test_a_missing_or_short_key_is_an_error_not_a_refusal(session: Any, key: bytes) -> None:
    add_inquiry(session, key)
    with pytest.raises(ValueError, match="key"):
        check_status(session, reference=REFERENCE, code=CODE, key=b"short")
    session.rollback()
