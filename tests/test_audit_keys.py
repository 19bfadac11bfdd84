"""Keys independent of SECRET_KEY (issue 14): rotating SECRET_KEY keeps the audit chain
verifying, every family's access code working, and (with SECRET_KEY_FALLBACKS) staff signed in.

Until this issue the audit and access-code keys were derived from SECRET_KEY unless set; an
instance that never set them keeps deriving them, and `init-db` writes the derived values down
(tests/test_migrations.py runs that command). Here the apps are given the keys as init-db
writes them and share one database, as one server does before and after a restart.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlmodel import Session
from support import TEST_PASSWORD

from pow_registry import config
from pow_registry.services import accounts, audit, inquiries

OLD_SECRET = "old-" + secrets.token_urlsafe(40)
NEW_SECRET = "new-" + secrets.token_urlsafe(40)
FAMILY = {"surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич", "date_of_birth": "2005-03-12",
          "requester_name": "Выдумкина Ольга Петровна", "requester_relationship": "мать",
          "phones": "8 999 000-00-01", "preferred_language": "ru", "consent_contact": "y"}


def add_staff(app: Any, session: Session) -> Any:
    return accounts.create_user(session=session, actor=None, audit_key=app.config["AUDIT_KEY_BYTES"],
                                passwords=app.extensions["pow_registry.passwords"], policy=accounts.PasswordPolicy(),
                                email="staff@example.org", password=TEST_PASSWORD, roles=["staff"])


def new_inquiry(app: Any) -> Any:
    """A staff member and the inquiry they take; its reference and code as the family got them."""
    with Session(app.extensions["pow_registry.engine"], expire_on_commit=False) as session:
        staff = add_staff(app, session)
        return inquiries.create_inquiry(session=session, actor=staff, audit_key=app.config["AUDIT_KEY_BYTES"],
                                        access_key=app.config["ACCESS_CODE_KEY_BYTES"], data=FAMILY)


def family_sees_the_status(app: Any, reference: str, code: str) -> bool:
    page = app.test_client().post("/status", data={"reference": reference, "access_code": code},
                                  environ_base={"REMOTE_ADDR": "10.0.0.7"}).get_data(as_text=True)
    return reference in page


def signed_in(app: Any, cookie: str) -> bool:
    client = app.test_client()
    client.set_cookie("session", cookie, domain="localhost")
    return client.get("/home/").status_code == 200


@pytest.fixture
def before_rotation(make_app: Any) -> dict[str, Any]:
    """An instance at work under OLD_SECRET: events in the log, a family's inquiry and its code,
    a staff member signed in."""
    keys = {"AUDIT_KEY": config.random_server_key(), "ACCESS_CODE_KEY": config.random_server_key()}
    app = make_app(SECRET_KEY=OLD_SECRET, **keys)
    issued = new_inquiry(app)
    client = app.test_client()
    assert client.post("/login", data={"email": "staff@example.org", "password": TEST_PASSWORD}).status_code == 302
    cookie = client.get_cookie("session", domain="localhost").value
    assert family_sees_the_status(app, issued.inquiry.reference, issued.access_code)
    assert signed_in(app, cookie)
    return {"keys": keys, "reference": issued.inquiry.reference, "code": issued.access_code, "cookie": cookie}


def test_rotating_secret_key_keeps_the_chain_the_codes_and_with_fallbacks_the_sessions(make_app, before_rotation):
    state = before_rotation
    rotated = make_app(SECRET_KEY=NEW_SECRET, SECRET_KEY_FALLBACKS=[OLD_SECRET], **state["keys"])
    with Session(rotated.extensions["pow_registry.engine"]) as session:
        report = audit.verify_chain(session, key=rotated.config["AUDIT_KEY_BYTES"])
    assert report.ok and report.events_checked >= 2
    assert family_sees_the_status(rotated, state["reference"], state["code"])
    assert signed_in(rotated, state["cookie"])


def test_without_fallbacks_a_rotation_signs_everyone_out_and_nothing_else(make_app, before_rotation):
    """What SECRET_KEY still does: sign session cookies (and CSRF tokens)."""
    state = before_rotation
    rotated = make_app(SECRET_KEY=NEW_SECRET, **state["keys"])
    assert not signed_in(rotated, state["cookie"])
    assert family_sees_the_status(rotated, state["reference"], state["code"])
    with Session(rotated.extensions["pow_registry.engine"]) as session:
        assert audit.verify_chain(session, key=rotated.config["AUDIT_KEY_BYTES"]).ok


def test_keys_still_derived_from_secret_key_break_on_rotation(make_app):
    """Why init-db writes them down: an instance that derives them loses its chain and its
    families' codes when SECRET_KEY changes."""
    app = make_app(SECRET_KEY=OLD_SECRET)
    assert app.config["AUDIT_KEY_BYTES"] == config.derived_key(OLD_SECRET, "AUDIT_KEY")
    issued = new_inquiry(app)
    rotated = make_app(SECRET_KEY=NEW_SECRET)
    with Session(rotated.extensions["pow_registry.engine"]) as session:
        assert not audit.verify_chain(session, key=rotated.config["AUDIT_KEY_BYTES"]).ok
    assert not family_sees_the_status(rotated, issued.inquiry.reference, issued.access_code)
    # The same keys written down (as init-db does, derived values as bytes) survive the rotation.
    kept = make_app(SECRET_KEY=NEW_SECRET, AUDIT_KEY=config.derived_key(OLD_SECRET, "AUDIT_KEY"),
                    ACCESS_CODE_KEY=config.derived_key(OLD_SECRET, "ACCESS_CODE_KEY"))
    with Session(kept.extensions["pow_registry.engine"]) as session:
        assert audit.verify_chain(session, key=kept.config["AUDIT_KEY_BYTES"]).ok
    assert family_sees_the_status(kept, issued.inquiry.reference, issued.access_code)
