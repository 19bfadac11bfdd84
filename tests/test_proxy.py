"""Behind a reverse proxy the app sees the real client, and only the proxy may say who that is.

The first tests check what `pow-registry serve` hands to waitress. The last one starts Debian's
real nginx (as an ordinary user: pid, logs and temp files in tmp_path, a free port) in front of
the real `pow-registry serve` (a subprocess, SQLite in tmp_path) and talks to both over TCP from
several loopback source addresses (Linux routes all of 127.0.0.0/8 to `lo`). It is skipped with
the reason when /usr/sbin/nginx is missing, except in CI (`CI=true`), where that is a failure.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import free_port, require_nginx, start_nginx, stop_processes, wait_for_port

from pow_registry import security

PROXY = "127.0.0.1"
STRONG = "Vq3-proxy-test-Kx9wPz7tN2mR8sL4jH6fD1bC5aE0gY"


# ---------------------------------------------------------------------------------------------
# What `serve` tells waitress


def _serve(app: Any, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, Any]:
    import waitress

    called: dict[str, Any] = {}
    monkeypatch.setattr(waitress, "serve", lambda served, **options: called.update(app=served, **options))
    result = app.test_cli_runner().invoke(args=["serve", *args])
    assert result.exit_code == 0, result.output
    return called


def test_serve_without_a_proxy_trusts_no_forwarded_header(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    called = _serve(make_app(), monkeypatch)
    assert "trusted_proxy" not in called and called["clear_untrusted_proxy_headers"] is True


def test_serve_hands_the_proxy_to_waitress_and_applies_nothing_twice(make_app: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(TRUSTED_PROXIES=2, TRUSTED_PROXY_ADDRESS="10.0.0.5")
    assert isinstance(app.wsgi_app, security.TrustedProxy)  # flask run, tests: the app's own middleware
    called = _serve(app, monkeypatch)
    assert (called["trusted_proxy"], called["trusted_proxy_count"]) == ("10.0.0.5", 2)
    assert called["trusted_proxy_headers"] == {"x-forwarded-for", "x-forwarded-proto"}
    assert called["clear_untrusted_proxy_headers"] is True
    assert not isinstance(app.wsgi_app, security.TrustedProxy)  # waitress does it; the app must not again


def test_serve_on_loopback_keeps_secure_cookies_behind_a_proxy(make_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented setup is nginx and the app on one machine: the app on 127.0.0.1, the clients on HTTPS."""
    alone = make_app(SESSION_COOKIE_SECURE=True)
    _serve(alone, monkeypatch, "--host", "127.0.0.1")
    assert alone.config["SESSION_COOKIE_SECURE"] is False  # local use: plain http
    proxied = make_app(SESSION_COOKIE_SECURE=True, TRUSTED_PROXIES=1)
    _serve(proxied, monkeypatch, "--host", "127.0.0.1")
    assert proxied.config["SESSION_COOKIE_SECURE"] is True


# ---------------------------------------------------------------------------------------------
# A real nginx in front of the real `pow-registry serve`


class Stack:
    def __init__(self, proxy_port: int, app_port: int) -> None:
        self.proxy_port = proxy_port
        self.app_port = app_port

    def request(self, method: str, path: str, *, source: str, port: int, headers: dict[str, str] | None = None,
                body: str | None = None) -> tuple[int, dict[str, str], list[str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=(source, 0))
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            cookies = response.headers.get_all("Set-Cookie") or []
            return response.status, dict(response.headers.items()), cookies, response.read().decode()
        finally:
            connection.close()

    def check_status(self, reference: str, code: str, *, source: str, port: int,
                     headers: dict[str, str] | None = None) -> int:
        """GET the form (its CSRF token and session cookie), then POST it, as a browser does."""
        status, _, cookies, page = self.request("GET", "/status", source=source, port=port)
        assert status == 200
        token = re.search(r'name="(?:[\w-]+-)?csrf_token" type="hidden" value="([^"]+)"', page)
        assert token and cookies
        from urllib.parse import urlencode

        body = urlencode({"csrf_token": token.group(1), "reference": reference, "access_code": code})
        sent = {"Content-Type": "application/x-www-form-urlencoded",
                "Cookie": "; ".join(c.split(";", 1)[0] for c in cookies),
                # Flask-WTF checks the Referer on HTTPS (which the proxy says this is).
                "Referer": f"https://127.0.0.1:{port}/status", **(headers or {})}
        return self.request("POST", "/status", source=source, port=port, headers=sent, body=body)[0]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Stack, str, str]]:
    require_nginx()
    script = shutil.which("pow-registry", path=str(Path(sys.executable).parent))
    assert script, "pow-registry is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if not k.startswith("POW_REGISTRY_")}
    env.update(POW_REGISTRY_INSTANCE_PATH=str(tmp_path / "instance"), POW_REGISTRY_SECRET_KEY=STRONG,
               POW_REGISTRY_DATABASE_URL=f"sqlite:///{tmp_path / 'app.sqlite3'}",
               POW_REGISTRY_TRUSTED_PROXIES="1", POW_REGISTRY_TRUSTED_PROXY_ADDRESS=PROXY,
               POW_REGISTRY_STATUS_FAILED_CHECKS_PER_ADDRESS="2 per hour",
               POW_REGISTRY_ORGANISATION_NAME="Фонд «Выдуманный»", POW_REGISTRY_ORGANISATION_CONTACT="https://example.org/")
    subprocess.run([script, "init-db"], env=env, check=True, capture_output=True, timeout=120)  # noqa: S603
    codes = tmp_path / "codes.csv"
    inquiries = tmp_path / "inquiries.csv"
    inquiries.write_text("source_ref,surname,given_name,requester_name,requester_phone\n"
                         "proxy-1,Выдумкин,Виталий,Небывалова Анна Петровна,+79991234567\n", encoding="utf-8")
    subprocess.run([script, "import", "inquiries", str(inquiries), "--codes", str(codes)],  # noqa: S603
                   env=env, check=True, capture_output=True, timeout=120)
    reference, code = codes.read_text(encoding="utf-8").splitlines()[1].split(",")[1:3]
    app_port, proxy_port = free_port(), free_port()
    app = subprocess.Popen([script, "serve", "--host", "127.0.0.1", "--port", str(app_port)],  # noqa: S603
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    nginx = start_nginx(tmp_path, proxy_port, [app_port])
    try:
        wait_for_port(app_port, app, "pow-registry serve")
        wait_for_port(proxy_port, nginx, "nginx")
        yield Stack(proxy_port, app_port), reference.strip(), code.strip()
    finally:
        stop_processes([nginx, app])


WRONG = "0000-0000-0000-0000"


def test_behind_a_real_nginx_the_app_sees_each_client(stack: tuple[Stack, str, str]) -> None:
    s, reference, code = stack
    via_proxy = s.proxy_port
    # HTTPS at the proxy: HSTS and Secure cookies (serve on 127.0.0.1 keeps them, there is a proxy).
    status, headers, cookies, _ = s.request("GET", "/status", source="127.0.0.2", port=via_proxy)
    assert status == 200 and "Strict-Transport-Security" in headers
    assert cookies and all("Secure" in cookie for cookie in cookies)
    # Each client behind the proxy has its own count of failures.
    assert [s.check_status(reference, WRONG, source="127.0.0.2", port=via_proxy) for _ in range(3)] == [
        403, 403, 429]
    assert s.check_status(reference, WRONG, source="127.0.0.3", port=via_proxy) == 403
    assert s.check_status(reference, code, source="127.0.0.3", port=via_proxy) == 200
    # The first client cannot dodge its count by claiming another address through the proxy.
    spoofed = {"X-Forwarded-For": "10.9.8.7"}
    assert s.check_status(reference, code, source="127.0.0.2", port=via_proxy, headers=spoofed) == 429


def test_forwarded_headers_straight_to_the_app_are_ignored(stack: tuple[Stack, str, str]) -> None:
    s, reference, code = stack
    direct = s.app_port
    spoof = {"X-Forwarded-For": "10.9.8.1", "X-Forwarded-Proto": "https"}
    status, headers, _, _ = s.request("GET", "/status", source="127.0.0.5", port=direct, headers=spoof)
    assert status == 200 and "Strict-Transport-Security" not in headers
    # Another claimed address on every try: still one client, 127.0.0.5.
    statuses = [s.check_status(reference, WRONG, source="127.0.0.5", port=direct,
                               headers={"X-Forwarded-For": f"10.9.8.{i}"}) for i in range(3)]
    assert statuses == [403, 403, 429]
    assert s.check_status(reference, code, source="127.0.0.6", port=direct) == 200
