"""The app factory: config → db → login → csrf/headers/limits → i18n → blueprints → cli."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
from flask import Flask

from pow_registry import auth, config, db, i18n, metrics, observability, security, worker
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
    for name in config.SERVER_KEYS:  # independent of SECRET_KEY once `init-db` wrote them down
        app.config[f"{name}_BYTES"] = config.server_key(app.config, name)
    data_keys, index_key = config.contact_keys(app.config)
    app.extensions["pow_registry.contact_crypto"] = ContactCrypto(data_keys, index_key)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    observability.init_app(app)  # first: the request id before anything can fail, static files before the app
    metrics.init_app(app)
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
