"""Deny by default, proved by walking `app.url_map`: every endpoint × every kind of visitor.

One list in `pow_registry/web/__init__.py` says who may use what. These tests fail when an
endpoint is reachable without being listed, when a visitor without the role gets in, or when a
visitor with the role is turned away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Blueprint, Flask
from support import registry_rows

from pow_registry import web
from pow_registry.models import Role, User

VISITORS = ("researcher", "staff", "admin")


def unguarded_endpoints(app: Flask) -> list[str]:
    """Endpoints that are neither public nor covered by the access list."""
    missing = []
    with app.app_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint in web.PUBLIC_ENDPOINTS:
                continue
            try:
                web.required_roles(rule.endpoint)
            except LookupError:
                missing.append(rule.endpoint)
    return sorted(missing)


@dataclass
class World:
    users: dict[str, User]
    ids: dict[str, int]


@pytest.fixture
def world(app: Any, session: Any, audit_key: bytes, make_user: Any, make_person: Any) -> World:
    """Real rows for every kind of id a URL can carry."""
    users = {name: make_user(name, email=f"{name}@example.org") for name in VISITORS}
    author = make_user("researcher", email="author@example.org")
    target = make_user("staff", email="target@example.org")
    ids = registry_rows(app=app, session=session, audit_key=audit_key, author=author, make_person=make_person)
    return World(users=users, ids={**ids, "user_id": target.id})


def _url(app: Flask, rule: Any, ids: dict[str, int]) -> str:
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        if arg == "filename":
            values[arg] = "app.css"
        elif arg in ids:
            values[arg] = ids[arg]
        else:
            pytest.fail(f"test_web_access does not know a real id for <{arg}> in {rule.rule}: add one to `world`")
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _method(rule: Any) -> str:
    return "GET" if "GET" in rule.methods else "POST"


def _routes(app: Flask, ids: dict[str, int]) -> list[tuple[str, str, str]]:
    return [(rule.endpoint, _method(rule), _url(app, rule, ids)) for rule in app.url_map.iter_rules()]


def _roles(app: Flask, endpoint: str) -> set[Role] | None:
    with app.app_context():
        return web.required_roles(endpoint)


def test_every_endpoint_is_public_or_listed(app: Flask) -> None:
    assert unguarded_endpoints(app) == []
    # The public list is short and names only real endpoints.
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert web.PUBLIC_ENDPOINTS <= endpoints
    assert web.PUBLIC_ENDPOINTS == {"static", "public.index", "public.healthz", "auth.login", "auth.login_code",
                                    "auth.language", "family.status", "family.inquire", "family.inquiry_sent",
                                    "family.privacy"}


def test_no_public_endpoint_changes_data_on_get(app: Flask) -> None:
    """The only public POSTs are logging in (and its second step), choosing a language, and the
    family's two pages."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in web.PUBLIC_ENDPOINTS and "POST" in rule.methods:
            assert rule.endpoint in {"auth.login", "auth.login_code", "auth.language", "family.status",
                                     "family.inquire"}


def test_anonymous_is_sent_to_login_everywhere_but_the_public_endpoints(app: Flask, world: World) -> None:
    problems = []
    for endpoint, method, url in _routes(app, world.ids):
        response = app.test_client().open(url, method=method)
        if endpoint in web.PUBLIC_ENDPOINTS:
            if response.status_code in (401, 403) or response.status_code >= 500:
                problems.append(f"{method} {url}: public but answered {response.status_code}")
            continue
        location = response.headers.get("Location", "")
        if not (response.status_code == 401 or (response.status_code == 302 and location.startswith("/login"))):
            problems.append(f"{method} {url}: anonymous got {response.status_code} {location}")
    assert problems == []


def test_role_matrix(app: Flask, world: World, login: Any) -> None:
    """With the role: in (no 401/403, no 5xx). Logged in without it: 403."""
    problems = []
    denied_somewhere = set()
    routes = _routes(app, world.ids)
    for name in VISITORS:
        user = world.users[name]
        for endpoint, method, url in routes:
            if endpoint in web.PUBLIC_ENDPOINTS:
                continue
            roles = _roles(app, endpoint)
            allowed = roles is None or user.has_role(*roles)
            client = app.test_client()  # a fresh client each time: some POSTs log out or change state
            login(user, test_client=client)
            response = client.open(url, method=method)
            got = response.status_code
            if allowed and (got in (401, 403) or got >= 500):
                problems.append(f"{name}: {method} {url} answered {got}, but the role may use it")
            if not allowed:
                denied_somewhere.add(endpoint)
                if got != 403:
                    problems.append(f"{name}: {method} {url} answered {got}, expected 403")
    assert problems == []
    # Every endpoint that needs a role was tried by somebody lacking it.
    needs_role = {e for e, _m, _u in routes if e not in web.PUBLIC_ENDPOINTS and _roles(app, e) is not None}
    assert needs_role <= denied_somewhere


def test_expected_roles_of_the_parts(app: Flask) -> None:
    """What the README promises: writes for researchers, reading for staff too, admin apart."""
    assert _roles(app, "registry.persons") == {Role.researcher, Role.staff}
    assert _roles(app, "registry.person") == {Role.researcher, Role.staff}
    for endpoint in ("registry.person_new", "registry.person_edit", "registry.report_new", "registry.report_edit",
                     "registry.evidence_new", "registry.evidence_verify", "registry.person_status",
                     "registry.person_conflict", "registry.person_merge", "registry.import_captures"):
        assert _roles(app, endpoint) == {Role.researcher}, endpoint
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("admin.", "offices.")):
            assert _roles(app, rule.endpoint) == {Role.admin}, rule.endpoint
        if rule.endpoint.startswith("lists."):  # exchange lists: staff only, not even researchers
            assert _roles(app, rule.endpoint) == {Role.staff}, rule.endpoint
    assert any(r.endpoint == "offices.edit" for r in app.url_map.iter_rules())
    assert any(r.endpoint == "lists.download" for r in app.url_map.iter_rules())
    assert _roles(app, "inquiries.import_inquiries") == {Role.staff}
    for endpoint in ("jobs.index", "jobs.detail", "jobs.progress", "jobs.codes"):  # then the job's owner or an admin
        assert _roles(app, endpoint) is None, endpoint
    assert _roles(app, "auth.logout") is None
    assert _roles(app, "auth.password") is None


def test_staff_reads_but_cannot_write(app: Flask, world: World, login: Any, session: Any) -> None:
    from sqlmodel import func, select

    from pow_registry.models import Person

    def persons() -> int:
        count = session.exec(select(func.count()).select_from(Person)).one()
        session.commit()  # end the read: SQLite transactions here begin IMMEDIATE
        return count

    client = app.test_client()
    login(world.users["staff"], test_client=client)
    assert client.get(f"/registry/persons/{world.ids['person_id']}").status_code == 200
    before = persons()
    response = client.post("/registry/persons/new", data={"surname": "Макетов"})
    assert response.status_code == 403
    assert persons() == before


def _app_with_unlisted_parts(make_app: Any) -> Flask:
    app = make_app()
    extra = Blueprint("extra", __name__)

    @extra.get("/extra/secret")
    def secret() -> str:
        return "the unlisted page"

    app.register_blueprint(extra)

    def bare() -> str:
        return "a bare endpoint"

    app.add_url_rule("/bare", "bare", bare)
    return app


def test_an_unlisted_blueprint_is_refused(make_app: Any, make_user: Any, login: Any) -> None:
    app = _app_with_unlisted_parts(make_app)
    # The url_map walk notices it...
    assert unguarded_endpoints(app) == ["bare", "extra.secret"]
    # ...and it is refused at run time, to everyone.
    for url in ("/extra/secret", "/bare"):
        response = app.test_client().get(url)
        assert response.status_code in (302, 401, 403)
        assert b"the unlisted page" not in response.data and b"a bare endpoint" not in response.data
    admin = make_user("admin", "researcher", "staff")
    client = app.test_client()
    login(admin, test_client=client)
    for url in ("/extra/secret", "/bare"):
        response = client.get(url)
        assert response.status_code == 403, url


def test_an_endpoint_added_to_a_listed_blueprint_inherits_its_roles(make_app: Any, make_user: Any,
                                                                     login: Any) -> None:
    """A new admin page needs admin without anyone remembering to say so."""
    from pow_registry.web import admin as admin_views

    app = make_app()
    app.add_url_rule("/admin/extra", "admin.extra", lambda: "admin only")
    assert unguarded_endpoints(app) == []
    assert admin_views.bp.name == "admin"
    researcher = make_user("researcher", "staff")
    client = app.test_client()
    login(researcher, test_client=client)
    assert client.get("/admin/extra").status_code == 403
    assert app.test_client().get("/admin/extra").status_code == 302
