"""The ceiling for bench/load.py: the smallest Flask page, served by the same server with the same
settings as pow_registry, so that the app's figures read as a share of what the server allows."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "ok"
