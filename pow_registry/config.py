"""Configuration: defaults, then instance/config.py, then POW_REGISTRY_* environment, then tests.

The environment wins over the file so that a deployment can override a checked-in config.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from limits import parse_many

ENV_PREFIX = "POW_REGISTRY_"

# Secrets that must never run a real deployment.
WEAK_SECRETS = {"", "dev", "change-me", "changeme", "secret", "development", "test"}
MIN_SECRET_LENGTH = 32
# A random key of 32+ characters from any usual alphabet has far more distinct characters.
MIN_DISTINCT_CHARACTERS = 8
# Placeholders copied from examples and tests.
PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "replace-me", "replaceme", "your-secret",
                     "placeholder", "not-a-secret", "insecure", "test-secret", "dev-secret")


class ConfigError(RuntimeError):
    """The app refuses to start with this configuration."""


def default_instance_path() -> Path:
    env = os.environ.get(ENV_PREFIX + "INSTANCE_PATH")
    if env:
        return Path(env).resolve()
    return (Path(__file__).resolve().parent.parent / "instance").resolve()


def defaults(instance_path: Path) -> dict[str, Any]:
    return {
        "SECRET_KEY": None,
        "DATABASE_URL": f"sqlite:///{instance_path / 'pow_registry.sqlite3'}",
        # Seconds a write waits for the database's lock (SQLite's busy timeout, PostgreSQL's
        # lock_timeout and pool timeout) before the page says "busy, try again" (503).
        "DATABASE_BUSY_TIMEOUT_SECONDS": 15,
        # The log `serve` writes to stderr: JSON lines ("json") or plain text ("text"), and from
        # which level (observability.py says what the access log keeps and what it never does).
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        # `serve` (waitress): connections accepted at once, and seconds an idle one is kept.
        "SERVE_CONNECTION_LIMIT": 1000,
        "SERVE_CHANNEL_TIMEOUT_SECONDS": 60,
        "STATIC_MAX_AGE_SECONDS": 3600,
        # A bearer token that lets a Prometheus server read /admin/metrics (admins may, signed in).
        "METRICS_TOKEN": None,
        # Older keys that still open session cookies signed with them (Flask): put the old
        # SECRET_KEY here when rotating it, so that nobody is signed out; remove it later.
        "SECRET_KEY_FALLBACKS": [],
        # The audit chain's HMAC key, and the key of the families' access codes: independent of
        # SECRET_KEY and of each other. `init-db` writes random ones into instance/config.py (on
        # an instance that already used them, the values it derived from SECRET_KEY, so that
        # SECRET_KEY can rotate); unset, they are still derived from SECRET_KEY (server_key).
        "AUDIT_KEY": None,
        "ACCESS_CODE_KEY": None,
        # A family's contact data (requester name, email, phone numbers) is encrypted with these
        # keys, never derived from SECRET_KEY and never in the database: CONTACT_DATA_KEYS are
        # Fernet keys, the first encrypts and all decrypt (rotation); CONTACT_INDEX_KEY keys the
        # blind index phone search uses and the digests the audit log keeps instead of values.
        "CONTACT_DATA_KEYS": [],
        "CONTACT_INDEX_KEY": None,
        # Contact data of an inquiry closed this many days ago is erased by `retention run`.
        "CONTACT_DATA_RETENTION_DAYS": 365,
        "EVIDENCE_DIR": str(instance_path / "evidence"),
        "EVIDENCE_MAX_BYTES": 50 * 1024 * 1024,
        "IMPORT_MAX_BYTES": 20 * 1024 * 1024,
        # Jobs (pow_registry/worker.py): the queue ("" = the embedded one, a SQLite file in
        # instance/jobs/; redis://host:6379/0 in production), and the consumer threads `serve`
        # runs itself (0: none, `pow-registry worker` runs them); instances sharing one Redis
        # database need a queue name each.
        "JOB_QUEUE_URL": "",
        "JOB_QUEUE_NAME": "pow_registry",
        "JOB_WORKERS_IN_SERVE": 1,
        # Records a commit changes are matched by the process that runs jobs (the worker, or
        # `serve`'s job threads), which keeps the registry's match index in memory, built when it
        # starts; web requests only queue them. False: match inside the transaction that writes
        # (every process that writes then builds and holds an index of its own).
        "MATCHING_IN_JOBS": True,
        "MAX_CONTENT_LENGTH": 60 * 1024 * 1024,
        # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto we trust
        # (0 = none), and the address the nearest one connects from: those headers are believed
        # only on connections from that address (`serve` hands both to waitress).
        "TRUSTED_PROXIES": 0,
        "TRUSTED_PROXY_ADDRESS": "127.0.0.1",
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": False,
        # Failed logins (and current-password checks on the account page) slow the guesser, never
        # lock out the owner: after LOGIN_THROTTLE_FREE_FAILURES failures for one account from one
        # address, each further attempt from there waits 2, 4, 8, ... seconds, at most
        # LOGIN_THROTTLE_MAX_DELAY_SECONDS; one address guessing across accounts gets the same after
        # LOGIN_THROTTLE_ADDRESS_FREE_FAILURES failures. Counts are forgotten
        # LOGIN_THROTTLE_WINDOW_SECONDS after their first failure, and a successful login clears
        # that account's count for that address.
        "LOGIN_THROTTLE_FREE_FAILURES": 5,
        "LOGIN_THROTTLE_ADDRESS_FREE_FAILURES": 30,
        "LOGIN_THROTTLE_MAX_DELAY_SECONDS": 15 * 60,
        "LOGIN_THROTTLE_WINDOW_SECONDS": 24 * 60 * 60,
        # The family's pages: limits that protect the server's work, never lock a family out
        # (security.md): per address only, checked before any hashing or database work. No limit
        # per reference (references are not secret, and at 80 bits a code cannot be guessed
        # anyway) and none overall (an attacker could use it up and shut every family out).
        # /status: wrong codes (and unknown references) from one address; every check from one address.
        "STATUS_FAILED_CHECKS_PER_ADDRESS": "30 per hour",
        "STATUS_CHECKS_PER_ADDRESS": "60 per minute",
        # /inquire: inquiries sent from one address; every submission (invalid ones too) from one address.
        "INQUIRY_FORM_SENT_PER_ADDRESS": "5 per hour",
        "INQUIRY_FORM_POSTS_PER_ADDRESS": "60 per hour",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": 60 * 60 * 8,
        "SESSION_INACTIVITY_SECONDS": 60 * 30,
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session, which itself expires
        "BABEL_DEFAULT_LOCALE": "ru",
        "LANGUAGES": ["ru", "uk", "en"],
        "PAGE_SIZE": 25,
        "ARGON2_TIME_COST": 3,
        "ARGON2_MEMORY_COST": 64 * 1024,
        "ARGON2_PARALLELISM": 2,
        # zxcvbn's score (0-4) a new password needs: 3 refuses common passwords and their variants.
        "PASSWORD_MIN_STRENGTH": 3,
        # Roles that must sign in with a second factor (TOTP): admins, and staff, who read family
        # data. A comma-separated list in the environment; the test suite turns it off except where
        # it tests it.
        "TWO_FACTOR_ROLES": ["admin", "staff"],
        "PASSWORD_MIN_LENGTH": 12,
        "PASSWORD_MAX_LENGTH": 256,
        # Who runs this instance, as every family page says (a name per language may override
        # the plain one), how to reach it, and the privacy notice in each language (empty: the
        # standard notice, translated, with the name and contact filled in).
        "ORGANISATION_NAME": "",
        "ORGANISATION_NAME_RU": "",
        "ORGANISATION_NAME_UK": "",
        "ORGANISATION_NAME_EN": "",
        "ORGANISATION_CONTACT": "",
        "PRIVACY_NOTICE_RU": "",
        "PRIVACY_NOTICE_UK": "",
        "PRIVACY_NOTICE_EN": "",
    }


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, current: Any, raw: str) -> Any:
    """Environment values are strings; give them the type of the default.

    A value that does not fit is an error, not a guess: `SESSION_COOKIE_SECURE=ture` must not
    quietly turn the Secure flag off.
    """
    if isinstance(current, bool):
        value = raw.strip().lower()
        if value not in _TRUE | _FALSE:
            raise ConfigError(f"{ENV_PREFIX}{name} must be true or false, not {raw!r}.")
        return value in _TRUE
    if isinstance(current, int):
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name} must be a whole number, not {raw!r}.") from None
    if isinstance(current, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def contact_keys(config: dict[str, Any]) -> tuple[list[str], str]:
    """CONTACT_DATA_KEYS and CONTACT_INDEX_KEY as configured, checked (ConfigError when missing
    or malformed). Tests without keys get random ones, the same for the whole process."""
    from pow_registry.domain.contact_crypto import ContactCrypto, ContactKeyError

    data_keys = config.get("CONTACT_DATA_KEYS") or []
    if isinstance(data_keys, str):
        data_keys = [part.strip() for part in data_keys.split(",") if part.strip()]
    index_key = config.get("CONTACT_INDEX_KEY") or ""
    if config.get("TESTING"):
        data_keys = list(data_keys) or [_TEST_CONTACT_KEYS[0]]
        index_key = index_key or _TEST_CONTACT_KEYS[1]
    if not data_keys or not index_key:
        raise ConfigError(
            "CONTACT_DATA_KEYS and CONTACT_INDEX_KEY are required: families' contact data is encrypted "
            "with keys kept outside the database. Run `pow-registry init-db` to write random ones into "
            "instance/config.py, or set POW_REGISTRY_CONTACT_DATA_KEYS (Fernet keys, comma-separated, "
            "the newest first) and POW_REGISTRY_CONTACT_INDEX_KEY (at least 32 random characters).")
    try:
        ContactCrypto(data_keys, index_key)
    except ContactKeyError as exc:
        raise ConfigError(str(exc)) from None
    if not config.get("TESTING") and weak_secret(index_key):
        raise ConfigError("CONTACT_INDEX_KEY is weak: set at least 32 random characters.")
    if int(config.get("CONTACT_DATA_RETENTION_DAYS") or 0) < 1:
        raise ConfigError("CONTACT_DATA_RETENTION_DAYS must be a whole number of days, 1 or more.")
    return list(data_keys), str(index_key)


def _random_contact_keys() -> tuple[str, str]:
    from pow_registry.domain.contact_crypto import generate_data_key, generate_index_key

    return generate_data_key(), generate_index_key()


_TEST_CONTACT_KEYS = _random_contact_keys()


def from_environment(config: dict[str, Any]) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    for name, raw in os.environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "INSTANCE_PATH":
            continue
        key = name[len(ENV_PREFIX):]
        updates[key] = _coerce(key, config.get(key), raw)
    return updates


def weak_secret(secret: str | None) -> bool:
    """Missing, short, a known placeholder, or too uniform to be random."""
    secret = secret or ""
    lowered = secret.lower()
    return (
        secret in WEAK_SECRETS
        or len(secret) < MIN_SECRET_LENGTH
        or len(set(secret)) < MIN_DISTINCT_CHARACTERS
        or any(word in lowered for word in PLACEHOLDER_WORDS)
    )


# Settings that no longer exist, and what replaced them: a deployment that still sets one would
# otherwise believe it is protected (or limited) in a way it is not.
REMOVED_SETTINGS = {
    "STATUS_RATE_LIMIT_PER_REFERENCE": "nothing: a per-reference limit let anyone lock a family out "
                                       "(see the README's security section)",
    "STATUS_RATE_LIMIT_PER_ADDRESS": "STATUS_FAILED_CHECKS_PER_ADDRESS and STATUS_CHECKS_PER_ADDRESS",
    "STATUS_RATE_LIMIT_OVERALL": "nothing: an overall limit let anyone shut every family out",
    "INQUIRY_FORM_RATE_LIMIT_PER_ADDRESS": "INQUIRY_FORM_SENT_PER_ADDRESS and INQUIRY_FORM_POSTS_PER_ADDRESS",
    "INQUIRY_FORM_RATE_LIMIT_OVERALL": "nothing: an overall limit let anyone shut every family out",
}
LIMIT_SETTINGS = ("STATUS_FAILED_CHECKS_PER_ADDRESS", "STATUS_CHECKS_PER_ADDRESS",
                  "INQUIRY_FORM_SENT_PER_ADDRESS", "INQUIRY_FORM_POSTS_PER_ADDRESS")


def check_limits(config: dict[str, Any]) -> None:
    """The rate-limit and proxy settings make sense, and no removed one is still set."""
    for name, replacement in REMOVED_SETTINGS.items():
        if name in config:
            raise ConfigError(f"{name} was removed; remove it from the configuration (replaced by {replacement}).")
    for name in LIMIT_SETTINGS:
        value = str(config.get(name) or "")
        try:
            parsed = parse_many(value)
        except ValueError:
            parsed = []
        if len(parsed) != 1:
            raise ConfigError(f"{name} must be one limit such as '30 per hour', not {value!r}.")
    try:
        proxies = int(config.get("TRUSTED_PROXIES") or 0)
    except (TypeError, ValueError):
        proxies = -1
    if proxies < 0:
        raise ConfigError("TRUSTED_PROXIES is the number of reverse proxies in front of the app: 0 or more.")
    address = str(config.get("TRUSTED_PROXY_ADDRESS") or "").strip()
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError("TRUSTED_PROXY_ADDRESS is the IP address the reverse proxy connects from "
                          f"(for example 127.0.0.1), not {address!r}.") from None


def check_secret(config: dict[str, Any]) -> None:
    """Refuse to run a real deployment on a weak key (tests may use anything)."""
    check_limits(config)
    if config.get("TESTING"):
        return
    if weak_secret(config.get("SECRET_KEY")):
        raise ConfigError(
            "SECRET_KEY is missing or weak. Run `pow-registry init-db` to write a random one into "
            "instance/config.py, or set POW_REGISTRY_SECRET_KEY (at least 32 random characters)."
        )
    for fallback in config.get("SECRET_KEY_FALLBACKS") or []:
        if weak_secret(fallback):
            raise ConfigError("SECRET_KEY_FALLBACKS holds a weak key: anyone who knows it could sign session "
                              "cookies. Keep only former SECRET_KEYs there (at least 32 random characters).")
    for name in SERVER_KEYS:
        value = config.get(name)
        weak = len(value) < MIN_SECRET_LENGTH if isinstance(value, bytes) else weak_secret(value)
        if value and weak:
            raise ConfigError(f"{name} is weak: leave it unset and run `pow-registry init-db`, which writes a "
                              "random one, or set at least 32 random characters.")


# Keys kept outside the database besides the contact-data keys, and the labels an instance
# without them derives them from SECRET_KEY with (HMAC-SHA256(SECRET_KEY, label)).
SERVER_KEYS = {"AUDIT_KEY": b"pow_registry audit chain", "ACCESS_CODE_KEY": b"pow_registry access codes"}


def derived_key(secret_key: str, name: str) -> bytes:
    """The key an instance without `name` configured has always used: derived from SECRET_KEY,
    so rotating SECRET_KEY changes it. Kept so that such an instance keeps working until
    `init-db` writes the value down."""
    return hmac.new(secret_key.encode(), SERVER_KEYS[name], hashlib.sha256).digest()


def server_key(config: Mapping[str, Any], name: str) -> bytes:
    """AUDIT_KEY or ACCESS_CODE_KEY as bytes: as configured (text is used as UTF-8, bytes as they
    are), else derived from SECRET_KEY."""
    configured = config.get(name)
    if configured:
        return configured if isinstance(configured, bytes) else str(configured).encode()
    return derived_key(str(config.get("SECRET_KEY") or ""), name)


def random_server_key() -> str:
    return secrets.token_urlsafe(48)


def _configured_outside(config_file: Path, name: str) -> bool:
    """The environment or instance/config.py already names this setting."""
    if os.environ.get(ENV_PREFIX + name):
        return True
    return config_file.exists() and name in config_file.read_text(encoding="utf-8")


def ensure_instance_server_keys(instance_path: Path, values: Mapping[str, bytes | str]) -> list[str]:
    """Write AUDIT_KEY / ACCESS_CODE_KEY into instance/config.py with the values given, each only
    when neither the environment nor the file has it. Text is written as text, bytes (a value
    derived from SECRET_KEY) as `bytes.fromhex(...)`. Returns the names written."""
    instance_path.mkdir(parents=True, exist_ok=True)
    config_file = instance_path / "config.py"
    lines: list[str] = []
    written: list[str] = []
    for name, value in values.items():
        if name not in SERVER_KEYS or _configured_outside(config_file, name):
            continue
        literal = f"bytes.fromhex({value.hex()!r})" if isinstance(value, bytes) else repr(value)
        if not written:
            lines.append("# The audit chain's key and the families' access codes' key, independent of SECRET_KEY "
                         "(which may rotate): losing or changing them breaks the audit chain and every access code.")
        lines.append(f"{name} = {literal}")
        written.append(name)
    if lines:
        _append_private(config_file, lines)
    return written


def _append_private(config_file: Path, lines: list[str]) -> None:
    # Created 0600 from the start (an append keeps an existing file): never readable by others,
    # not even for the moment between writing and a later chmod.
    fd = os.open(config_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))


def ensure_instance_secret(instance_path: Path) -> bool:
    """Write a random SECRET_KEY into instance/config.py when none is configured anywhere.

    Returns True when a key was written.
    """
    if os.environ.get(ENV_PREFIX + "SECRET_KEY"):
        return False
    instance_path.mkdir(parents=True, exist_ok=True)
    config_file = instance_path / "config.py"
    if config_file.exists() and "SECRET_KEY" in config_file.read_text(encoding="utf-8"):
        return False
    _append_private(config_file, [f"SECRET_KEY = {secrets.token_urlsafe(48)!r}"])
    return True


def ensure_instance_contact_keys(instance_path: Path) -> list[str]:
    """Write random CONTACT_DATA_KEYS / CONTACT_INDEX_KEY into instance/config.py, each only when
    neither the environment nor the file has it. Returns the names written."""
    instance_path.mkdir(parents=True, exist_ok=True)
    config_file = instance_path / "config.py"
    existing = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
    data_key, index_key = _random_contact_keys()
    lines: list[str] = []
    written: list[str] = []
    if not os.environ.get(ENV_PREFIX + "CONTACT_DATA_KEYS") and "CONTACT_DATA_KEYS" not in existing:
        lines.append("# The first key encrypts families' contact data, every key decrypts: to rotate, put a new "
                     "key first, run `pow-registry keys rotate-contact-data`, then drop the old one. "
                     "Losing these keys loses the contact data.")
        lines.append(f"CONTACT_DATA_KEYS = [{data_key!r}]")
        written.append("CONTACT_DATA_KEYS")
    if not os.environ.get(ENV_PREFIX + "CONTACT_INDEX_KEY") and "CONTACT_INDEX_KEY" not in existing:
        lines.append(f"CONTACT_INDEX_KEY = {index_key!r}")
        written.append("CONTACT_INDEX_KEY")
    if lines:
        _append_private(config_file, lines)
    return written
