"""End-to-end fixtures: the real app under waitress on a free port, and headless Chromium.

Each test gets a brand-new SQLite database in its own tmp_path, migrated with Alembic and loaded
with the fictitious demo data, served by waitress on 127.0.0.1 with CSRF, secure headers and
rate limits switched on exactly as in production (only the cookie is allowed over plain http and
argon2 is cheap). The browser is Debian's /usr/bin/chromium driven by Playwright: the test is
skipped when it is missing, except in CI (`CI=true`), where that is a failure.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("POW_REGISTRY_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
E2E_SECRET = "e2e-secret-key-" + "k" * 33  # 48 characters, never used outside the tests
assert len(E2E_SECRET) == 48
DEMO_PASSWORD = "demo-password-2026"
STOP_TIMEOUT = 10.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


# ------------------------------------------------------------------------------------------------
# The server


@dataclass
class LiveServer:
    url: str
    app: Any
    tmp_path: Path

    def path(self, path: str) -> str:
        return self.url + path


def _stop_waitress(server: Any, thread: threading.Thread) -> None:
    """Close every socket from inside waitress's own loop, then join, bounded."""
    from waitress import wasyncore

    def close_everything() -> None:
        wasyncore.close_all(server._map, ignore_all=True)  # noqa: SLF001

    try:
        server.trigger.pull_trigger(close_everything)
    except OSError:
        pass  # the trigger is already closed: the loop has ended
    thread.join(STOP_TIMEOUT)
    server.task_dispatcher.shutdown(timeout=STOP_TIMEOUT)
    if thread.is_alive():
        # Last resort: close from here; the loop then fails out of select() and ends.
        wasyncore.close_all(server._map, ignore_all=True)  # noqa: SLF001
        thread.join(STOP_TIMEOUT)
    assert not thread.is_alive(), "the e2e server thread did not stop"


@pytest.fixture
def live_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    import waitress

    from pow_registry.app import create_app
    from pow_registry.demo import load_demo_data
    from pow_registry.migrations_runner import upgrade

    instance = tmp_path / "instance"
    instance.mkdir()
    for name in list(os.environ):
        if name.startswith("POW_REGISTRY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("POW_REGISTRY_INSTANCE_PATH", str(instance))
    from pow_registry import config

    config.ensure_instance_contact_keys(instance)  # as `init-db` does on a new instance
    db_url = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    upgrade(db_url)
    from support import fast_app_config

    app = create_app({
        "TESTING": False,  # the real thing: CSRF, secret-key check, error pages
        "SECRET_KEY": E2E_SECRET,
        **fast_app_config(db_url, tmp_path),
        "TWO_FACTOR_ROLES": ["admin", "staff"],  # the real thing: a second factor for them
    })
    assert app.config["WTF_CSRF_ENABLED"] is not False
    with app.app_context():
        from pow_registry import db

        load_demo_data(session=db.session(), audit_key=app.config["AUDIT_KEY_BYTES"],
                       passwords=app.extensions["pow_registry.passwords"],
                       access_key=app.config["ACCESS_CODE_KEY_BYTES"])

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4, ident="pow_registry-e2e",
                                    channel_timeout=30)
    url = f"http://127.0.0.1:{server.effective_port}"
    thread = threading.Thread(target=server.run, name="e2e-waitress", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as response:  # noqa: S310 - our own loopback URL
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield LiveServer(url=url, app=app, tmp_path=tmp_path)
    finally:
        _stop_waitress(server, thread)
        app.extensions["pow_registry.engine"].dispose()


# ------------------------------------------------------------------------------------------------
# The browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _skip_or_fail(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _skip_or_fail(f"the playwright package is not installed: {exc}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A factory of pages in fresh browser contexts (own cookies), all closed at teardown.

    It depends on live_server so the browser lets go of its connections before the server stops.
    """
    contexts: list[Any] = []

    def factory(**context_options: Any) -> Any:
        options = {"locale": "ru-RU", "base_url": live_server.url, **context_options}
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    before = {t.ident for t in threading.enumerate()}
    yield
    # waitress workers and the loop thread are joined at teardown; nothing of ours may linger.
    leftover = [t for t in threading.enumerate()
                if t.ident not in before and t.is_alive() and t.name.startswith(("e2e-", "waitress"))]
    assert not leftover, f"threads left running: {leftover}"

