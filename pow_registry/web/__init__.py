"""THE one list of blueprints and who may use them. Anything not listed is refused.

Every request passes `_enforce_access`: a public endpoint needs nothing, any other needs a
logged-in user with one of its blueprint's roles, narrowed further by `auth.roles_required`
on single endpoints (writes in the registry are for researchers only, for example).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.routing import IntegerConverter, Map

from pow_registry import metrics
from pow_registry.i18n import gettext as _
from pow_registry.models import Role
from pow_registry.services import two_factor

# Endpoints anyone may reach: logging in, the health check, choosing a language, static files.
# The family's pages (the `family` blueprint) are public too: no account, a reference and a code.
PUBLIC_ENDPOINTS = {"static", "public.index", "public.healthz", "auth.login", "auth.login_code", "auth.language",
                    "family.status", "family.inquire", "family.inquiry_sent",
                    "family.privacy"}

# blueprint name → roles that may use it (None: any logged-in user).
BLUEPRINT_ROLES: dict[str, set[Role] | None] = {
    "auth": None,
    "registry": {Role.researcher, Role.staff},
    "home": {Role.staff},
    "inquiries": {Role.staff},
    "matches": {Role.staff},
    "duplicates": {Role.researcher},
    "lists": {Role.staff},
    "counterpart": {Role.staff},
    "jobs": None,  # any account, and then only the job's owner or an admin (web/jobs.py)
    "offices": {Role.admin},
    "admin": {Role.admin},
    "family": set(),  # only the public endpoints above
}


def required_roles(endpoint: str) -> set[Role] | None:
    """The roles an endpoint needs; raises LookupError for an endpoint nobody listed."""
    blueprint = endpoint.rsplit(".", 1)[0] if "." in endpoint else ""
    if blueprint not in BLUEPRINT_ROLES:
        raise LookupError(endpoint)
    view = current_app.view_functions[endpoint]
    narrowed = getattr(view, "required_roles", None)
    return narrowed if narrowed is not None else BLUEPRINT_ROLES[blueprint]


def _enforce_access() -> Any:
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404 or 405 follows
    if endpoint in PUBLIC_ENDPOINTS:
        return None
    if endpoint == "admin.metrics" and metrics.token_allows():
        return None  # a Prometheus server with the operator's METRICS_TOKEN (it cannot sign in)
    try:
        roles = required_roles(endpoint)
    except LookupError:
        abort(403)
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    if getattr(current_user, "must_change_password", False) and endpoint not in FIRST_PASSWORD_ENDPOINTS:
        # An admin chose this password, so an admin knows it: nothing else until it is replaced.
        flash(_("Choose a password of your own before you go on: the one you were given is known to "
                "whoever created the account."), "info")
        return redirect(url_for("auth.password"))
    if (endpoint not in TWO_FACTOR_SETUP_ENDPOINTS and not two_factor.enrolled(current_user)
            and two_factor.required(current_user, current_app.config["TWO_FACTOR_ROLES"])):
        # Admins and whoever reads family data sign in with a second factor: set it up first.
        flash(_("Turn on two-factor sign-in before you go on: your role requires it."), "info")
        return redirect(url_for("auth.two_factor_setup"))
    if roles is not None and not current_user.has_role(*roles):
        abort(403)
    return None


# What an account whose password an admin chose may still do: replace it, sign out, pick a language.
FIRST_PASSWORD_ENDPOINTS = {"auth.password", "auth.logout", "auth.language", "static"}
# What an account that must turn on two-factor sign-in may still do.
TWO_FACTOR_SETUP_ENDPOINTS = {"auth.two_factor_setup", *FIRST_PASSWORD_ENDPOINTS}


class BoundedIntConverter(IntegerConverter):
    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def init_app(app: Flask) -> None:
    from pow_registry.web import (
        admin,
        auth_views,
        counterpart,
        exchange,
        family,
        home,
        inquiries,
        jobs,
        matches,
        public,
        registry,
    )

    # Ids in URLs fit the database's INTEGER: a longer number is a 404, not an overflow.
    app.url_map.converters["int"] = BoundedIntConverter
    for module in (public, auth_views, home, registry, inquiries, matches, exchange, counterpart, family, admin, jobs):
        app.register_blueprint(module.bp)
    app.register_blueprint(matches.duplicates_bp)
    app.register_blueprint(exchange.offices_bp)
    auth_views.init_app(app)
    app.before_request(_enforce_access)

    from pow_registry.web import helpers

    helpers.init_app(app)

    from pow_registry.web import errors

    errors.init_app(app)
