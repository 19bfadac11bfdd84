"""Configuration: defaults → instance/config.py → POW_REGISTRY_* environment → test config.

The app refuses to start on a weak secret outside tests, the first `init-db` writes a random key
that only its owner can read, and X-Forwarded-For counts only from the proxies we say we have.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

from pow_registry import config
from pow_registry.config import ConfigError

STRONG = "Kq3vX9pL2mN8rT5wY7zB4cF6hJ1dG0sA"  # 32 characters, fictitious, used only here
assert len(STRONG) == 32
# Contact-data keys for these tests only (a Fernet key is 32 bytes in url-safe base64).
CONTACT_DATA_KEY = "dGVzdHMtb25seS1jb250YWN0LWRhdGEta2V5LTAwMDE="
CONTACT_INDEX_KEY = "Zp7Qw2Lx9Rv4Tn8Ks3Hd6Jm1Fb5Gc0Ya"


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No POW_REGISTRY_* from outside; a temporary instance folder and database."""
    for name in list(os.environ):
        if name.startswith("POW_REGISTRY_"):
            monkeypatch.delenv(name)
    instance = tmp_path / "instance"
    monkeypatch.setenv("POW_REGISTRY_INSTANCE_PATH", str(instance))
    monkeypatch.setenv("POW_REGISTRY_DATABASE_URL", f"sqlite:///{tmp_path / 'config.sqlite3'}")
    monkeypatch.setenv("POW_REGISTRY_CONTACT_DATA_KEYS", CONTACT_DATA_KEY)
    monkeypatch.setenv("POW_REGISTRY_CONTACT_INDEX_KEY", CONTACT_INDEX_KEY)
    yield instance


@pytest.fixture
def build(clean_env: Path) -> Iterator[Callable[..., Flask]]:
    from pow_registry.app import create_app

    apps: list[Flask] = []

    def factory(test_config: dict[str, Any] | None = None) -> Flask:
        app = create_app(test_config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["pow_registry.engine"].dispose()


@pytest.mark.parametrize("secret", [
    None, "", "dev", "short-but-random-9f2k", "change-me", "x" * 40, "changeme" * 5,
    "please-change-me-0123456789abcdefghij", "test-secret-" + "x" * 40, "0123456" * 6,
])
def test_a_missing_short_or_default_secret_is_refused_outside_tests(build: Callable[..., Flask],
                                                                    secret: str | None) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        build({"SECRET_KEY": secret})


def test_a_weak_secret_in_the_environment_or_instance_file_is_refused(build: Callable[..., Flask], clean_env: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError):
        build()  # nothing configured at all
    clean_env.mkdir(parents=True, exist_ok=True)
    (clean_env / "config.py").write_text("SECRET_KEY = 'dev'\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        build()
    monkeypatch.setenv("POW_REGISTRY_SECRET_KEY", "changeme")
    with pytest.raises(ConfigError):
        build()


def test_a_strong_secret_starts_and_tests_may_use_anything(build: Callable[..., Flask]) -> None:
    assert build({"SECRET_KEY": STRONG}).config["SECRET_KEY"] == STRONG
    assert build({"SECRET_KEY": "dev", "TESTING": True}).config["TESTING"] is True


def test_a_weak_explicit_audit_key_is_refused(build: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigError, match="AUDIT_KEY"):
        build({"SECRET_KEY": STRONG, "AUDIT_KEY": "audit"})
    app = build({"SECRET_KEY": STRONG, "AUDIT_KEY": STRONG[::-1]})
    assert app.config["AUDIT_KEY_BYTES"] == STRONG[::-1].encode()
    derived = build({"SECRET_KEY": STRONG}).config["AUDIT_KEY_BYTES"]
    assert len(derived) == 32 and STRONG.encode() not in derived


def test_environment_wins_over_the_instance_file(build: Callable[..., Flask], clean_env: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env.mkdir(parents=True, exist_ok=True)
    (clean_env / "config.py").write_text(
        f"SECRET_KEY = {STRONG!r}\nPAGE_SIZE = 10\nTRUSTED_PROXIES = 2\nLANGUAGES = ['ru']\n", encoding="utf-8")
    app = build()
    assert (app.config["SECRET_KEY"], app.config["PAGE_SIZE"], app.config["TRUSTED_PROXIES"]) == (STRONG, 10, 2)

    monkeypatch.setenv("POW_REGISTRY_SECRET_KEY", STRONG[::-1])
    monkeypatch.setenv("POW_REGISTRY_PAGE_SIZE", "7")
    monkeypatch.setenv("POW_REGISTRY_TRUSTED_PROXIES", "1")
    monkeypatch.setenv("POW_REGISTRY_SESSION_COOKIE_SECURE", "false")
    monkeypatch.setenv("POW_REGISTRY_LANGUAGES", "uk, en")
    monkeypatch.setenv("POW_REGISTRY_RATELIMIT_STORAGE_URI", "memory://")
    app = build()
    assert app.config["SECRET_KEY"] == STRONG[::-1]
    assert app.config["PAGE_SIZE"] == 7
    assert app.config["TRUSTED_PROXIES"] == 1
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["LANGUAGES"] == ["uk", "en"]
    # ...and the test config (last) wins over both.
    assert build({"PAGE_SIZE": 3}).config["PAGE_SIZE"] == 3


@pytest.mark.parametrize("name,value", [("SESSION_COOKIE_SECURE", "ture"), ("PAGE_SIZE", "ten"),
                                        ("TRUSTED_PROXIES", "one"), ("TRUSTED_PROXIES", "-1"),
                                        ("TRUSTED_PROXY_ADDRESS", "proxy.example.org"),
                                        ("TRUSTED_PROXY_ADDRESS", "*"),
                                        ("STATUS_FAILED_CHECKS_PER_ADDRESS", "thirty"),
                                        ("STATUS_CHECKS_PER_ADDRESS", "1 per minute; 5 per hour"),
                                        ("INQUIRY_FORM_SENT_PER_ADDRESS", ""),
                                        ("STATUS_RATE_LIMIT_PER_REFERENCE", "10 per hour"),
                                        ("STATUS_RATE_LIMIT_OVERALL", "600 per minute"),
                                        ("INQUIRY_FORM_RATE_LIMIT_OVERALL", "200 per hour")])
def test_a_malformed_environment_value_is_a_clear_error(build: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch,
                                                        name: str, value: str) -> None:
    monkeypatch.setenv("POW_REGISTRY_SECRET_KEY", STRONG)
    monkeypatch.setenv(f"POW_REGISTRY_{name}", value)
    with pytest.raises(ConfigError, match=name):
        build()


def test_defaults_are_the_safe_ones(build: Callable[..., Flask]) -> None:
    app = build({"SECRET_KEY": STRONG})
    c = app.config
    assert c["SESSION_COOKIE_SECURE"] is True and c["SESSION_COOKIE_HTTPONLY"] is True
    assert c["SESSION_COOKIE_SAMESITE"] in ("Lax", "Strict")
    assert c["REMEMBER_COOKIE_SECURE"] is True and c["REMEMBER_COOKIE_HTTPONLY"] is True
    assert c["WTF_CSRF_ENABLED"] is not False
    assert c["TRUSTED_PROXIES"] == 0 and c["TRUSTED_PROXY_ADDRESS"] == "127.0.0.1"
    assert c["MAX_CONTENT_LENGTH"] and c["SESSION_INACTIVITY_SECONDS"] <= 60 * 60
    assert c["DEBUG"] is False and c["TESTING"] is False


def test_ensure_instance_secret_writes_a_random_key_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POW_REGISTRY_SECRET_KEY", raising=False)
    old_umask = os.umask(0)  # even with the most permissive umask the file is private
    try:
        first, second = tmp_path / "one", tmp_path / "two"
        assert config.ensure_instance_secret(first) is True
        written = (first / "config.py").read_text(encoding="utf-8")
        assert config.ensure_instance_secret(first) is False
        assert (first / "config.py").read_text(encoding="utf-8") == written
        assert stat.S_IMODE((first / "config.py").stat().st_mode) == 0o600
        assert config.ensure_instance_secret(second) is True
    finally:
        os.umask(old_umask)
    keys = []
    for folder in (first, second):
        namespace: dict[str, Any] = {}
        exec((folder / "config.py").read_text(encoding="utf-8"), namespace)  # noqa: S102 - our own file
        keys.append(namespace["SECRET_KEY"])
    assert keys[0] != keys[1]
    assert all(not config.weak_secret(key) and len(key) >= 48 for key in keys)


def test_ensure_instance_secret_keeps_an_existing_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POW_REGISTRY_SECRET_KEY", raising=False)
    tmp_path.joinpath("config.py").write_text("PAGE_SIZE = 10\n", encoding="utf-8")
    tmp_path.joinpath("config.py").chmod(0o644)
    assert config.ensure_instance_secret(tmp_path) is True
    text = tmp_path.joinpath("config.py").read_text(encoding="utf-8")
    assert text.startswith("PAGE_SIZE = 10\n") and text.count("SECRET_KEY") == 1
    assert stat.S_IMODE(tmp_path.joinpath("config.py").stat().st_mode) == 0o600


def test_ensure_instance_secret_leaves_an_environment_key_alone(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POW_REGISTRY_SECRET_KEY", STRONG)
    monkeypatch.setenv("POW_REGISTRY_CONTACT_DATA_KEYS", CONTACT_DATA_KEY)
    monkeypatch.setenv("POW_REGISTRY_CONTACT_INDEX_KEY", CONTACT_INDEX_KEY)
    assert config.ensure_instance_secret(tmp_path) is False
    assert config.ensure_instance_contact_keys(tmp_path) == []
    assert not tmp_path.joinpath("config.py").exists()


def test_the_written_key_starts_the_app(build: Callable[..., Flask], clean_env: Path) -> None:
    config.ensure_instance_secret(clean_env)
    app = build()
    assert not config.weak_secret(app.config["SECRET_KEY"])


# ---------------------------------------------------------------------------------------------
# Trusted proxies


def _seen(app: Flask) -> list[tuple[str | None, str]]:
    seen: list[tuple[str | None, str]] = []

    @app.before_request
    def _record() -> None:
        seen.append((request.remote_addr, request.scheme))

    return seen


HEADERS = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7", "X-Forwarded-Proto": "https"}


def test_no_trusted_proxy_ignores_forwarded_headers(make_app: Any) -> None:
    app = make_app(TRUSTED_PROXIES=0)
    seen = _seen(app)
    response = app.test_client().get("/healthz", headers=HEADERS, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert seen == [("192.0.2.1", "http")]
    assert "Strict-Transport-Security" not in response.headers


def test_one_trusted_proxy_honours_exactly_one_hop(make_app: Any) -> None:
    app = make_app(TRUSTED_PROXIES=1, TRUSTED_PROXY_ADDRESS="192.0.2.1")
    seen = _seen(app)
    response = app.test_client().get("/healthz", headers=HEADERS, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    # The client's own claim (6.6.6.6) is not believed; the hop our proxy added is.
    assert seen == [("203.0.113.7", "https")]
    assert "Strict-Transport-Security" in response.headers


def test_two_trusted_proxies_honour_two_hops(make_app: Any) -> None:
    app = make_app(TRUSTED_PROXIES=2, TRUSTED_PROXY_ADDRESS="192.0.2.1")
    seen = _seen(app)
    app.test_client().get("/healthz", headers={"X-Forwarded-For": "1.1.1.1, 6.6.6.6, 203.0.113.7"},
                          environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert seen[0][0] == "6.6.6.6"


def test_a_spoofed_forwarded_for_does_not_dodge_the_address_throttle(make_app: Any, make_user: Any) -> None:
    app = make_app(TRUSTED_PROXIES=1, TRUSTED_PROXY_ADDRESS="192.0.2.1", LOGIN_THROTTLE_ADDRESS_FREE_FAILURES=3)
    user = make_user("researcher")
    for i in range(3):
        response = app.test_client().post("/login", data={"email": f"guess{i}@example.org", "password": "wrong!"},
                                          headers={"X-Forwarded-For": f"10.9.9.{i}, 203.0.113.7"},
                                          environ_base={"REMOTE_ADDR": "192.0.2.1"})
        assert response.status_code == 401
    response = app.test_client().post("/login", data={"email": user.email, "password": "correct horse battery staple"},
                                      headers={"X-Forwarded-For": "10.9.9.200, 203.0.113.7"},
                                      environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert response.status_code == 429
    # Another real client behind the same proxy is not affected.
    response = app.test_client().post("/login", data={"email": user.email, "password": "correct horse battery staple"},
                                      headers={"X-Forwarded-For": "203.0.113.8"},
                                      environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert response.status_code == 302


def test_forwarded_headers_from_anyone_but_the_proxy_are_ignored(make_app: Any) -> None:
    """A client that reaches the app directly cannot pose as the proxy with its own headers."""
    app = make_app(TRUSTED_PROXIES=1, TRUSTED_PROXY_ADDRESS="192.0.2.1")
    seen = _seen(app)
    response = app.test_client().get("/healthz", headers=HEADERS, environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert seen == [("198.51.100.9", "http")]
    assert "Strict-Transport-Security" not in response.headers


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_family_limit(make_app: Any) -> None:
    app = make_app(TRUSTED_PROXIES=1, TRUSTED_PROXY_ADDRESS="192.0.2.1", STATUS_FAILED_CHECKS_PER_ADDRESS="2 per day")

    def check(forwarded_for: str) -> int:
        return int(app.test_client().post("/status", data={"reference": "INQ-0000-0000", "access_code": "x"},
                                          headers={"X-Forwarded-For": forwarded_for},
                                          environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code)

    assert [check(f"10.9.8.{i}") for i in range(3)] == [403, 403, 429]


@pytest.mark.parametrize("unset", ["POW_REGISTRY_CONTACT_DATA_KEYS", "POW_REGISTRY_CONTACT_INDEX_KEY"])
def test_production_without_contact_keys_refuses_to_start(build: Callable[..., Flask],
                                                          monkeypatch: pytest.MonkeyPatch, unset: str) -> None:
    monkeypatch.delenv(unset)
    with pytest.raises(ConfigError, match="CONTACT_DATA_KEYS and CONTACT_INDEX_KEY are required"):
        build({"SECRET_KEY": STRONG})


@pytest.mark.parametrize("name,value,message", [
    ("CONTACT_DATA_KEYS", "not-a-fernet-key", "not a Fernet key"),
    ("CONTACT_INDEX_KEY", "short", "at least 32"),
    ("CONTACT_DATA_RETENTION_DAYS", "0", "RETENTION_DAYS"),
])
def test_malformed_contact_settings_are_clear_errors(build: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch,
                                                     name: str, value: str, message: str) -> None:
    monkeypatch.setenv(f"POW_REGISTRY_{name}", value)
    with pytest.raises(ConfigError, match=message):
        build({"SECRET_KEY": STRONG})


def test_contact_keys_from_the_environment_rotate_in_order(build: Callable[..., Flask],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from pow_registry.domain.contact_crypto import ContactCrypto, generate_data_key

    new_key = generate_data_key()
    monkeypatch.setenv("POW_REGISTRY_CONTACT_DATA_KEYS", f"{new_key}, {CONTACT_DATA_KEY}")
    app = build({"SECRET_KEY": STRONG})
    assert app.config["CONTACT_DATA_KEYS"] == [new_key, CONTACT_DATA_KEY]
    crypto = app.extensions["pow_registry.contact_crypto"]
    old_token = ContactCrypto([CONTACT_DATA_KEY], CONTACT_INDEX_KEY).encrypt("+79990000001")
    assert crypto.decrypt(old_token) == "+79990000001" and not crypto.is_current(old_token)
    assert crypto.is_current(crypto.encrypt("+79990000001"))


def test_the_first_init_db_writes_contact_keys_that_start_the_app(build: Callable[..., Flask], clean_env: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POW_REGISTRY_CONTACT_DATA_KEYS")
    monkeypatch.delenv("POW_REGISTRY_CONTACT_INDEX_KEY")
    config.ensure_instance_secret(clean_env)
    assert config.ensure_instance_contact_keys(clean_env) == ["CONTACT_DATA_KEYS", "CONTACT_INDEX_KEY"]
    written = clean_env.joinpath("config.py").read_text(encoding="utf-8")
    assert stat.S_IMODE(clean_env.joinpath("config.py").stat().st_mode) == 0o600
    assert written.count("CONTACT_DATA_KEYS = [") == 1 and written.count("CONTACT_INDEX_KEY = ") == 1
    app = build()
    assert app.config["CONTACT_DATA_KEYS"] and app.config["CONTACT_INDEX_KEY"]
    # Independent of SECRET_KEY: not derived from it, not equal to it.
    assert app.config["SECRET_KEY"] not in (app.config["CONTACT_INDEX_KEY"], *app.config["CONTACT_DATA_KEYS"])
    assert config.ensure_instance_contact_keys(clean_env) == []
    assert clean_env.joinpath("config.py").read_text(encoding="utf-8") == written  # written once


# ---------------------------------------------------------------------------------------------
# AUDIT_KEY and ACCESS_CODE_KEY: independent of SECRET_KEY (issue 14)


def test_the_derivation_existing_instances_rely_on_never_changes() -> None:
    """Instances that never set the keys have chains and access codes made with these values;
    computed here independently of the code under test."""
    import hashlib
    import hmac

    for name, label in (("AUDIT_KEY", b"pow_registry audit chain"), ("ACCESS_CODE_KEY", b"pow_registry access codes")):
        assert config.derived_key(STRONG, name) == hmac.new(STRONG.encode(), label, hashlib.sha256).digest()
        assert config.server_key({"SECRET_KEY": STRONG}, name) == config.derived_key(STRONG, name)
    assert config.server_key({"SECRET_KEY": STRONG, "AUDIT_KEY": "text key"}, "AUDIT_KEY") == b"text key"
    assert config.server_key({"SECRET_KEY": STRONG, "AUDIT_KEY": b"\x00\xff"}, "AUDIT_KEY") == b"\x00\xff"


def test_server_keys_are_written_once_privately_and_load_as_written(build: Callable[..., Flask], clean_env: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config.ensure_instance_secret(clean_env)
    derived = config.derived_key("a former secret key, long and random enough", "AUDIT_KEY")
    fresh = config.random_server_key()
    values: dict[str, bytes | str] = {"AUDIT_KEY": derived, "ACCESS_CODE_KEY": fresh}
    assert config.ensure_instance_server_keys(clean_env, values) == ["AUDIT_KEY", "ACCESS_CODE_KEY"]
    written = clean_env.joinpath("config.py").read_text(encoding="utf-8")
    assert stat.S_IMODE(clean_env.joinpath("config.py").stat().st_mode) == 0o600
    app = build()
    assert app.config["AUDIT_KEY_BYTES"] == derived  # bytes stay bytes
    assert app.config["ACCESS_CODE_KEY_BYTES"] == fresh.encode()
    assert config.ensure_instance_server_keys(clean_env, {"AUDIT_KEY": config.random_server_key()}) == []
    assert clean_env.joinpath("config.py").read_text(encoding="utf-8") == written
    # A key in the environment is not written into the file.
    other = clean_env.parent / "other"
    monkeypatch.setenv("POW_REGISTRY_AUDIT_KEY", STRONG)
    assert config.ensure_instance_server_keys(other, {"AUDIT_KEY": fresh, "ACCESS_CODE_KEY": fresh}) == ["ACCESS_CODE_KEY"]
    assert "AUDIT_KEY" not in other.joinpath("config.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("value", ["audit", b"short bytes", "x" * 40])
def test_a_weak_server_key_is_refused(build: Callable[..., Flask], value: str | bytes) -> None:
    with pytest.raises(ConfigError, match="ACCESS_CODE_KEY is weak"):
        build({"SECRET_KEY": STRONG, "ACCESS_CODE_KEY": value})


def test_secret_key_fallbacks_come_from_the_environment_and_must_be_strong(build: Callable[..., Flask],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert build({"SECRET_KEY": STRONG}).config["SECRET_KEY_FALLBACKS"] == []
    monkeypatch.setenv("POW_REGISTRY_SECRET_KEY", STRONG)
    monkeypatch.setenv("POW_REGISTRY_SECRET_KEY_FALLBACKS", f"{STRONG[::-1]}, {STRONG.swapcase()}")
    assert build().config["SECRET_KEY_FALLBACKS"] == [STRONG[::-1], STRONG.swapcase()]
    monkeypatch.setenv("POW_REGISTRY_SECRET_KEY_FALLBACKS", "changeme")
    with pytest.raises(ConfigError, match="SECRET_KEY_FALLBACKS"):
        build()
