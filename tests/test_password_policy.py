"""Password rules (NIST SP 800-63B): a minimum length, nothing common, nothing made of the
account's own email, no spaces-only or one-character passwords (issue 11, finding 6)."""

from __future__ import annotations

from typing import Any

import pytest
from support import TEST_PASSWORD

from pow_registry.demo import DEMO_PASSWORD
from pow_registry.services import accounts
from pow_registry.services.accounts import PasswordPolicy, check_password
from pow_registry.services.errors import FieldErrors

EMAIL = "vydumkin@example.org"
POLICY = PasswordPolicy()

COMMON = "This password is too common or too easy to guess. A few unrelated words make a strong password that is easy to remember."
OWN_EMAIL = "The password must not contain the account's email address or its part before the @."


@pytest.mark.parametrize(("password", "problem"), [
    ("password1234", COMMON),
    ("qwertyuiop123", COMMON),
    ("iloveyou1234", COMMON),
    ("Password1234!", COMMON),
    ("123456789012", COMMON),
    ("            ", "The password cannot be only spaces."),
    (" \t" * 8, "The password cannot be only spaces."),
    ("aaaaaaaaaaaa", "The password cannot be one character repeated."),
    ("!!!!!!!!!!!!!!!!", "The password cannot be one character repeated."),
    ("vydumkin@example.org", OWN_EMAIL),
    ("my VYDUMKIN@Example.org 1917", OWN_EMAIL),
    ("glacier Vydumkin onion", OWN_EMAIL),
    ("short", "The password must be at least 12 characters long."),
    ("x" * 257, "The password must be at most 256 characters long."),
])
def test_refused(password: str, problem: str) -> None:
    assert check_password(password, POLICY, EMAIL) == problem


@pytest.mark.parametrize("password", [
    TEST_PASSWORD,
    "glacier onion harbour 1917",
    "Выдумка, тюльпан и сорок два",  # Cyrillic: length in characters, not bytes
    "a fictitious long password",
])
def test_accepted(password: str) -> None:
    assert check_password(password, POLICY, EMAIL) is None


def test_the_demo_password_meets_the_one_policy() -> None:
    for email in ("admin@demo.invalid", "researcher@demo.invalid", "researcher2@demo.invalid", "staff@demo.invalid"):
        assert check_password(DEMO_PASSWORD, POLICY, email) is None


def test_a_very_short_local_part_does_not_refuse_every_password_with_those_letters() -> None:
    assert check_password("glacier onion harbour 1917", POLICY, "li@example.org") is None
    assert check_password("my li@example.org is long", POLICY, "li@example.org") == OWN_EMAIL


def test_the_strength_threshold_is_a_setting() -> None:
    assert check_password("summer2024!!", PasswordPolicy(min_strength=3), "other@example.org") is None
    assert check_password("summer2024!!", PasswordPolicy(min_strength=4), "other@example.org") == COMMON
    assert check_password("password1234", PasswordPolicy(min_strength=0), "other@example.org") is None


def test_a_long_password_is_checked_quickly() -> None:
    assert check_password("glacier onion harbour 1917 " * 9, POLICY, EMAIL) is None


def test_account_creation_refuses_a_weak_password(app: Any, session: Any, audit_key: bytes) -> None:
    with pytest.raises(FieldErrors) as caught:
        accounts.create_user(session=session, actor=None, audit_key=audit_key,
                             passwords=app.extensions["pow_registry.passwords"], policy=POLICY,
                             email="Vydumkin@Example.org", password="Vydumkin@example.org!", roles=["staff"])
    assert caught.value.errors == {"password": OWN_EMAIL}


def test_a_password_change_and_an_admin_reset_refuse_a_weak_password(
        app: Any, session: Any, audit_key: bytes, make_user: Any) -> None:
    user = make_user("researcher", email=EMAIL)
    admin = make_user("admin")
    passwords = app.extensions["pow_registry.passwords"]
    for actor, current in ((user, TEST_PASSWORD), (admin, None)):
        with pytest.raises(FieldErrors) as caught:
            accounts.change_password(session=session, actor=actor, audit_key=audit_key, passwords=passwords,
                                     policy=POLICY, user=user, current_password=current,
                                     new_password="password1234")
        assert caught.value.errors == {"new_password": COMMON}
    assert passwords.verify(user.password_hash, TEST_PASSWORD)


def test_the_account_page_shows_the_reason_translated(app: Any, make_user: Any, login: Any, client: Any) -> None:
    user = make_user("researcher", email=EMAIL)
    login(user)
    client.post("/language", data={"lang-language": "en"})
    response = client.post("/account/password", data={"current_password": TEST_PASSWORD,
                                                      "new_password": " " * 12})
    assert response.status_code == 200
    assert "The password cannot be only spaces." in response.get_data(as_text=True)


def test_the_admin_form_refuses_a_common_password(app: Any, make_user: Any, login: Any, client: Any,
                                                  session: Any) -> None:
    admin = make_user("admin")
    login(admin)
    client.post("/language", data={"lang-language": "en"})
    response = client.post("/admin/users/new", data={"email": "maketov@example.org", "roles": ["staff"],
                                                     "password": "password1234"})
    assert response.status_code == 200
    assert "too common or too easy to guess" in response.get_data(as_text=True)
    assert accounts.get_by_email(session, "maketov@example.org") is None


def test_the_app_passes_its_strength_setting_on(make_app: Any) -> None:
    from pow_registry import auth

    app = make_app(PASSWORD_MIN_STRENGTH=4)
    with app.test_request_context():
        assert auth.password_policy() == PasswordPolicy(12, 256, 4)
