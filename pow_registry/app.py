"""The app factory: config → db → login → csrf/headers/limits → i18n → blueprints → cli."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import openpyxl
from flask import Flask

from pow_registry import auth, config, db, i18n, security, worker
from pow_registry.domain.contact_crypto import ContactCrypto


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
    for name, label in (("AUDIT_KEY", b"pow_registry audit chain"), ("ACCESS_CODE_KEY", b"pow_registry access codes")):
        configured = app.config.get(name)
        app.config[f"{name}_BYTES"] = (
            configured.encode() if configured else hmac.new(secret, label, hashlib.sha256).digest()
        )
    data_keys, index_key = config.contact_keys(app.config)
    app.extensions["pow_registry.contact_crypto"] = ContactCrypto(data_keys, index_key)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    auth.init_app(app)
    security.init_app(app)
    i18n.init_app(app)
    worker.init_app(app)

    from pow_registry import web

    web.init_app(app)

    from pow_registry import cli

    cli.init_app(app)
    return app
