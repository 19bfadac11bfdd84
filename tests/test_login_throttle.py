"""Failed password checks slow the guesser, never lock out the owner (issue 11, finding 6).

Per account+address and per address, growing delays (2, 4, 8, ... seconds, capped) after a few
free failures; the refusal is cheap (no password hashing) and is the uniform login failure.
"""

from __future__ import annotations

from typing import Any

import pytest
from limits.storage import MemoryStorage
from support import TEST_PASSWORD

from pow_registry import clock
from pow_registry.config import ConfigError
from pow_registry.throttle import Backoff, minutes

A, B, C = "198.51.100.1", "198.51.100.2", "198.51.100.3"
WRONG = "not the password at all"


def post_login(app: Any, email: str, password: str, address: str) -> Any:
    return app.test_client().post("/login", data={"email": email, "password": password},
                                  environ_base={"REMOTE_ADDR": address}, headers={"Accept-Language": "en"})


@pytest.fixture
def frozen(time_machine: Any) -> Any:
    """The clock stands still unless a test moves it: waits are exact."""
    time_machine.move_to(clock.now(), tick=False)
    return time_machine


@pytest.fixture
def throttled(make_app: Any) -> Any:
    return make_app(LOGIN_THROTTLE_FREE_FAILURES=3, LOGIN_THROTTLE_ADDRESS_FREE_FAILURES=6,
                    LOGIN_THROTTLE_MAX_DELAY_SECONDS=10)


def count_hashing(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    passwords = app.extensions["pow_registry.passwords"]
    verify = passwords.verify

    def counting(stored: Any, password: str) -> bool:
        calls.append(password)
        return verify(stored, password)

    monkeypatch.setattr(passwords, "verify", counting)
    return calls


# --- the owner is never locked out -----------------------------------------------------------------


def test_wrong_passwords_from_one_address_do_not_keep_the_owner_out_from_another(
        throttled: Any, make_user: Any, frozen: Any) -> None:
    owner = make_user("researcher", email="vydumkin@example.org")
    statuses = [post_login(throttled, owner.email, WRONG, A).status_code for _ in range(12)]
    assert statuses[:3] == [401, 401, 401]
    assert 429 in statuses[3:]
    # The owner, from his own address, at once and with the right password.
    assert post_login(throttled, owner.email, TEST_PASSWORD, B).status_code == 302


def test_the_default_settings_let_the_owner_in_after_ten_wrong_passwords_elsewhere(
        app: Any, make_user: Any, frozen: Any) -> None:
    owner = make_user("researcher", email="makarov@example.org")
    for _ in range(10):
        post_login(app, owner.email, WRONG, A)
    assert post_login(app, owner.email, TEST_PASSWORD, B).status_code == 302


def test_the_guessing_address_waits_longer_each_time_and_gets_in_after_the_wait(
        make_app: Any, make_user: Any, frozen: Any) -> None:
    throttled = make_app(LOGIN_THROTTLE_FREE_FAILURES=3, LOGIN_THROTTLE_MAX_DELAY_SECONDS=10)
    owner = make_user("researcher", email="vydumkin@example.org")
    for _ in range(3):  # free
        assert post_login(throttled, owner.email, WRONG, A).status_code == 401
    waits = []
    for _ in range(5):
        refused = post_login(throttled, owner.email, WRONG, A)
        assert refused.status_code == 429
        wait = int(refused.headers["Retry-After"])
        waits.append(wait)
        frozen.shift(wait - 1)
        assert post_login(throttled, owner.email, WRONG, A).status_code == 429  # not a second early
        frozen.shift(1)
        assert post_login(throttled, owner.email, WRONG, A).status_code == 401  # one more guess
    assert waits == [2, 4, 8, 10, 10]  # 2^n seconds, capped at LOGIN_THROTTLE_MAX_DELAY_SECONDS
    assert post_login(throttled, owner.email, TEST_PASSWORD, A).status_code == 429
    frozen.shift(10)
    assert post_login(throttled, owner.email, TEST_PASSWORD, A).status_code == 302
    # The success starts this account afresh from this address: three free failures again.
    for _ in range(3):
        assert post_login(throttled, owner.email, WRONG, A).status_code == 401
    assert post_login(throttled, owner.email, WRONG, A).status_code == 429


def test_the_refusal_is_cheap_and_the_uniform_failure_with_a_hint(
        throttled: Any, make_user: Any, frozen: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = make_user("researcher", email="vydumkin@example.org")
    for email in (owner.email, "nobody@example.org"):
        for _ in range(3):
            post_login(throttled, email, WRONG, A)
    hashed = count_hashing(throttled, monkeypatch)
    known = post_login(throttled, owner.email, TEST_PASSWORD, A)
    unknown = post_login(throttled, "nobody@example.org", TEST_PASSWORD, A)
    assert hashed == []  # refused before any password hashing
    assert known.status_code == unknown.status_code == 429
    body = known.get_data(as_text=True)
    assert "The email or password is not correct." in body
    assert "Try again in 1 min." in body
    # An existing account and an unknown one are refused alike.
    assert body.replace(owner.email, "EMAIL") == unknown.get_data(as_text=True).replace("nobody@example.org", "EMAIL")


def test_the_email_is_one_account_however_it_is_written(throttled: Any, make_user: Any, frozen: Any) -> None:
    owner = make_user("researcher", email="vydumkin@example.org")
    for email in ("VYDUMKIN@example.org", " vydumkin@EXAMPLE.org ", "Vydumkin@Example.Org"):
        assert post_login(throttled, email, WRONG, A).status_code == 401
    assert post_login(throttled, owner.email, TEST_PASSWORD, A).status_code == 429


# --- spraying and the limits of the throttle ---------------------------------------------------


def test_spraying_many_accounts_from_one_address_is_capped(throttled: Any, make_user: Any, frozen: Any) -> None:
    user = make_user("researcher", email="vydumkin@example.org")
    for i in range(6):  # LOGIN_THROTTLE_ADDRESS_FREE_FAILURES, one guess per account
        assert post_login(throttled, f"guess{i}@example.org", "password1234", A).status_code == 401
    refused = post_login(throttled, "guess-next@example.org", "password1234", A)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert post_login(throttled, user.email, TEST_PASSWORD, A).status_code == 429
    # Everyone elsewhere is unaffected.
    assert post_login(throttled, user.email, TEST_PASSWORD, B).status_code == 302


def test_logging_in_to_ones_own_account_does_not_reset_the_spraying_count(
        throttled: Any, make_user: Any, frozen: Any) -> None:
    mine = make_user("researcher", email="attacker@example.org")
    for i in range(6):
        post_login(throttled, f"guess{i}@example.org", WRONG, A)
    frozen.shift(2)
    assert post_login(throttled, mine.email, TEST_PASSWORD, A).status_code == 302
    assert post_login(throttled, "guess-next@example.org", WRONG, A).status_code == 429


def test_the_throttle_is_not_global(throttled: Any, make_user: Any, frozen: Any) -> None:
    victim = make_user("researcher", email="victim@example.org")
    third = make_user("staff", email="third@example.org")
    # Many addresses guessing at one account, one address guessing at many.
    for i in range(20):
        post_login(throttled, victim.email, WRONG, f"203.0.113.{i}")
    for i in range(20):
        post_login(throttled, f"guess{i}@example.org", WRONG, C)
    assert post_login(throttled, victim.email, TEST_PASSWORD, A).status_code == 302
    assert post_login(throttled, third.email, TEST_PASSWORD, B).status_code == 302
    assert post_login(throttled, third.email, WRONG, B).status_code == 401  # a real check, not a pass


def test_successful_logins_do_not_count(throttled: Any, make_user: Any, frozen: Any) -> None:
    user = make_user("researcher")
    for _ in range(10):
        assert post_login(throttled, user.email, TEST_PASSWORD, A).status_code == 302
    for _ in range(2):
        assert post_login(throttled, user.email, WRONG, A).status_code == 401
    assert post_login(throttled, user.email, TEST_PASSWORD, A).status_code == 302


def test_the_throttle_belongs_to_its_app(make_app: Any, make_user: Any, frozen: Any) -> None:
    """A second app in the same process (the CLI, a test) neither resets nor shares the counts."""
    first = make_app(LOGIN_THROTTLE_FREE_FAILURES=2)
    user = make_user("researcher")
    for _ in range(2):
        post_login(first, user.email, WRONG, A)
    second = make_app(LOGIN_THROTTLE_FREE_FAILURES=2)
    assert post_login(first, user.email, TEST_PASSWORD, A).status_code == 429
    assert post_login(second, user.email, TEST_PASSWORD, A).status_code == 302


@pytest.mark.parametrize("setting", ["LOGIN_THROTTLE_FREE_FAILURES", "LOGIN_THROTTLE_ADDRESS_FREE_FAILURES",
                                     "LOGIN_THROTTLE_MAX_DELAY_SECONDS", "LOGIN_THROTTLE_WINDOW_SECONDS"])
def test_a_throttle_that_would_not_throttle_is_refused_at_start(make_app: Any, setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        make_app(**{setting: 0})


# --- the account page's current password ---------------------------------------------------------


def test_the_current_password_check_is_throttled_the_same_way(
        throttled: Any, make_user: Any, frozen: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user("researcher", email="vydumkin@example.org")
    client = throttled.test_client()
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 302
    client.post("/language", data={"lang-language": "en"})

    def change(current: str) -> Any:
        return client.post("/account/password", data={"current_password": current,
                                                      "new_password": "glacier onion harbour 1917"})

    for _ in range(3):
        response = change(WRONG)
        assert response.status_code == 200
        assert "The current password is not correct." in response.get_data(as_text=True)
    hashed = count_hashing(throttled, monkeypatch)
    refused = change(TEST_PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert "Try again in 1 min." in refused.get_data(as_text=True)
    assert hashed == []
    frozen.shift(2)
    assert change(WRONG).status_code == 200
    refused = change(TEST_PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "4"
    frozen.shift(4)
    assert change(TEST_PASSWORD).status_code == 302
    # Another account's page is not slowed by this one's failures.
    other = make_user("researcher")
    other_client = throttled.test_client()
    other_client.post("/login", data={"email": other.email, "password": TEST_PASSWORD})
    response = other_client.post("/account/password", data={"current_password": TEST_PASSWORD,
                                                            "new_password": "glacier onion harbour 1917"})
    assert response.status_code == 302


# --- the mechanism ----------------------------------------------------------------------------


def backoff(free: int = 2, max_delay: int = 60) -> Backoff:
    return Backoff(storage=MemoryStorage(), scope="test", secret=b"k" * 32, free=free, max_delay=max_delay,
                   window=3600)


def test_delays_double_after_the_free_failures_and_stop_at_the_cap() -> None:
    limiter = backoff(free=2, max_delay=60)
    assert [limiter.delay(n) for n in range(10)] == [0, 0, 2, 4, 8, 16, 32, 60, 60, 60]
    assert limiter.delay(10_000) == 60


def test_one_attempt_per_wait_however_many_arrive_at_once(frozen: Any) -> None:
    limiter = backoff(free=1)
    limiter.failed("someone", A)
    assert limiter.wait("someone", A) == 2
    frozen.shift(2)
    assert limiter.wait("someone", A) == 0  # this one goes ahead
    assert limiter.wait("someone", A) > 0  # the ones that came with it wait
    assert limiter.wait("someone", B) == 0


def test_failures_are_forgotten_after_the_window(frozen: Any) -> None:
    limiter = backoff(free=1)
    limiter.failed("someone", A)
    assert limiter.wait("someone", A)
    frozen.shift(3600)
    assert limiter.wait("someone", A) == 0


def test_the_storage_holds_no_email_or_address() -> None:
    limiter = backoff(free=1)
    limiter.failed("vydumkin@example.org", A)
    keys = repr(vars(limiter.storage))
    assert "vydumkin" not in keys and A not in keys


def test_minutes_round_up() -> None:
    assert [minutes(s) for s in (1, 59, 60, 61, 900)] == [1, 1, 1, 2, 15]


def test_an_ipv6_subscriber_is_one_guesser_however_many_addresses_it_takes(
        throttled: Any, make_user: Any, frozen: Any) -> None:
    """A subscriber holds a whole /64: guessing from a fresh address each time gains nothing (the
    same count as the family pages keep, auth.remote_address)."""
    owner = make_user("researcher", email="vydumkin@example.org")
    statuses = [post_login(throttled, owner.email, WRONG, f"2001:db8:1:2::{n + 1}").status_code for n in range(5)]
    assert statuses[:3] == [401] * 3 and 429 in statuses[3:]
    # Another subscriber (another /64) is not held up.
    assert post_login(throttled, owner.email, TEST_PASSWORD, "2001:db8:1:3::1").status_code == 302
