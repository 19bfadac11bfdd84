"""Two-factor sign-in (issue 12): required for admins and staff, enrolled with a QR code and
recovery codes, a code works once, wrong codes slow down like wrong passwords. Fictitious accounts."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from sqlmodel import select
from support import TEST_PASSWORD

from pow_registry import clock
from pow_registry.models import AuditEvent, User


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app(TWO_FACTOR_ROLES=["admin", "staff"])


def _sign_in(client: Any, user: User, password: str = TEST_PASSWORD) -> Any:
    return client.post("/login", data={"email": user.email, "password": password})


def _enrol(client: Any) -> tuple[str, list[str]]:
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in page  # the QR code, drawn inline
    secret = re.search(r'<code class="secret">([A-Z2-7]{32})</code>', page)
    assert secret
    assert client.post("/account/two-factor", data={"code": "000000"}).status_code == 200
    done = client.post("/account/two-factor", data={"code": pyotp.TOTP(secret.group(1)).now()})
    codes = re.findall(r"<code>([A-Z2-9]{5}-[A-Z2-9]{5})</code>", done.get_data(as_text=True))
    return secret.group(1), codes


def test_staff_turn_it_on_before_anything_else_then_sign_in_with_a_code(
    app: Any, client: Any, session: Any, make_user: Any
) -> None:
    staff = make_user("staff")
    assert _sign_in(client, staff).status_code == 302
    refused = client.get("/inquiries/")
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/account/two-factor")
    secret, codes = _enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/inquiries/").status_code == 200
    stored = session.exec(select(User).where(User.id == staff.id).execution_options(populate_existing=True)).one()
    session.commit()
    assert stored.totp_secret == secret and secret not in stored.recovery_codes
    assert all(code not in stored.recovery_codes for code in codes)  # only their hashes are kept

    other = app.test_client()
    step = _sign_in(other, staff)
    assert step.status_code == 302 and step.headers["Location"].endswith("/login/code")
    assert other.get("/inquiries/").status_code == 302  # the password alone signs in nobody
    assert other.post("/login/code", data={"code": "123456"}).status_code == 401
    totp = pyotp.TOTP(secret)
    code = totp.at(clock.timestamp() + totp.interval)  # the next step: the one at enrolment is used
    assert other.post("/login/code", data={"code": code}).status_code == 302
    assert other.get("/inquiries/").status_code == 200
    # The same code again (seen over a shoulder) does not work; a recovery code works once.
    third = app.test_client()
    _sign_in(third, staff)
    assert third.post("/login/code", data={"code": code}).status_code == 401
    assert third.post("/login/code", data={"code": codes[0].lower()}).status_code == 302
    fourth = app.test_client()
    _sign_in(fourth, staff)
    assert fourth.post("/login/code", data={"code": codes[0]}).status_code == 401
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.entity_id == staff.id,
                                                                       AuditEvent.entity_type == "user"))]
    session.commit()
    assert "user.two_factor" in actions and actions.count("auth.login_failed") == 3


def test_wrong_codes_slow_down_and_the_password_step_expires(app: Any, client: Any, make_user: Any,
                                                             time_machine: Any) -> None:
    staff = make_user("staff")
    _sign_in(client, staff)
    _enrol(client)
    client.post("/logout", data={})
    time_machine.move_to(clock.now(), tick=False)
    other = app.test_client()
    _sign_in(other, staff)
    answers = [other.post("/login/code", data={"code": "000000"}).status_code for _ in range(7)]
    assert answers[:5] == [401] * 5 and 429 in answers[5:]
    time_machine.shift(301)
    late = other.get("/login/code")
    assert late.status_code == 302 and late.headers["Location"].endswith("/login")


def test_a_researcher_is_not_asked_and_the_command_line_turns_it_on(app: Any, client: Any, make_user: Any,
                                                                    session: Any) -> None:
    researcher = make_user("researcher")
    assert _sign_in(client, researcher).status_code == 302
    assert client.get("/registry/").status_code == 200
    result = app.test_cli_runner().invoke(args=["users", "create", "cli-2fa@example.org", "--role", "admin",
                                                "--password-stdin", "--totp"], input="Oblepiha-zima 2033 reka\n")
    assert result.exit_code == 0, result.output
    secret = re.search(r"Two-factor secret: ([A-Z2-7]{32})", result.output)
    assert secret and "otpauth://totp/" in result.output
    admin = session.exec(select(User).where(User.email == "cli-2fa@example.org")).one()
    session.commit()
    other = app.test_client()
    assert _sign_in(other, admin, "Oblepiha-zima 2033 reka").headers["Location"].endswith("/login/code")
    assert other.post("/login/code", data={"code": pyotp.TOTP(secret.group(1)).now()}).status_code == 302
    assert other.get("/admin/users").status_code == 200
