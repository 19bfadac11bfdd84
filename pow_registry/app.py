"""The app factory: config → db → login → csrf/headers/limits → i18n → blueprints → cli."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import openpyxl
from flask import Flask

from pow_registry import auth, config, db, i18n, security


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    instance_path = config.default_instance_path()
    app = Flask(__name__, instance_path=str(instance_path), instance_relative_config=True)
    app.config.from_mapping(config.defaults(instance_path))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_mapping(config.from_environment(app.config))
    if test_config:
        app.config.from_mapping(test_config)
    config.check_secret(app.config)
    if not openpyxl.DEFUSEDXML:
        raise config.ConfigError("defusedxml must be installed: spreadsheet imports parse untrusted XML.")
    secret = (app.config.get("SECRET_KEY") or "").encode()
    audit_key = app.config.get("AUDIT_KEY")
    app.config["AUDIT_KEY_BYTES"] = (
        audit_key.encode() if audit_key else hmac.new(secret, b"pow_registry audit chain", hashlib.sha256).digest()
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    auth.init_app(app)
    security.init_app(app)
    i18n.init_app(app)

    from pow_registry import web

    web.init_app(app)

    from pow_registry import cli

    cli.init_app(app)
    return app
