"""One submission, one inquiry, the code shown once: the service under the family's form, staff's
new inquiry and the re-issue of a code (services/code_display.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select
from support import add_inquiry

from pow_registry.models import CodeDisplay
from pow_registry.services import code_display

KEY = b"k" * 32


def count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(CodeDisplay)).one())


def test_a_token_does_its_work_once_and_its_code_is_shown_once(session: Session) -> None:
    inquiry = add_inquiry(session)
    token = code_display.new_token()
    calls = []

    def issue() -> tuple[int, str]:
        calls.append(1)
        return inquiry.id, "AAAA-BBBB-CCCC-DDDD"

    for _ in range(3):
        code_display.issue_once(session, key=KEY, token=token, kind="family_form", issue=issue)
    assert len(calls) == 1 and count(session) == 1
    stored = session.exec(select(CodeDisplay)).one()
    assert "AAAA-BBBB" not in (stored.sealed_code or "") and token not in stored.token_digest  # sealed, keyed
    shown = code_display.show_once(session, key=KEY, token=token)
    assert shown is not None and shown.code == "AAAA-BBBB-CCCC-DDDD" and shown.inquiry.id == inquiry.id
    again = code_display.show_once(session, key=KEY, token=token)
    assert again is not None and again.code is None
    assert session.exec(select(CodeDisplay)).one().sealed_code is None
    assert code_display.show_once(session, key=KEY, token=code_display.new_token()) is None
    assert code_display.show_once(session, key=KEY, token="not a token") is None
    assert code_display.show_once(session, key=KEY, token=None) is None


def test_the_send_that_loses_the_race_to_the_commit_does_nothing(app: Any, session: Session) -> None:
    """Both sends looked before either committed: the unique token refuses the second at commit."""
    inquiry = add_inquiry(session)
    token = code_display.new_token()
    with Session(app.extensions["pow_registry.engine"]) as other:
        code_display.record(other, key=KEY, token=token, inquiry_id=inquiry.id, code="AAAA-BBBB-CCCC-DDDD",
                            kind="family_form")
        other.commit()
    # This send found nothing earlier; its own record fails at commit and is rolled back quietly.
    code_display.record(session, key=KEY, token=token, inquiry_id=inquiry.id, code="EEEE-FFFF-GGGG-HHHH",
                        kind="family_form")
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    calls = []
    code_display.issue_once(session, key=KEY, token=token, kind="family_form",
                            issue=lambda: calls.append(1) or (inquiry.id, "x"))  # type: ignore[func-returns-value]
    assert calls == [] and count(session) == 1
    shown = code_display.show_once(session, key=KEY, token=token)
    assert shown is not None and shown.code == "AAAA-BBBB-CCCC-DDDD"


def test_another_integrity_error_is_not_taken_for_a_second_send(session: Session) -> None:
    with pytest.raises(IntegrityError):
        code_display.issue_once(session, key=KEY, token=code_display.new_token(), kind="family_form",
                                issue=lambda: (999_999, "AAAA-BBBB-CCCC-DDDD"))  # no such inquiry
    session.rollback()
    assert count(session) == 0
