"""Translations (ru, uk, en): the user's stored choice, else the session's, else the browser's."""

from __future__ import annotations

from flask import Flask, current_app, request, session
from flask_babel import Babel, get_locale, gettext, lazy_gettext, ngettext
from flask_login import current_user

__all__ = ["gettext", "lazy_gettext", "ngettext", "init_app", "select_locale", "LANGUAGE_NAMES"]

LANGUAGE_NAMES = {"ru": "Русский", "uk": "Українська", "en": "English"}


def select_locale() -> str:
    """This device's choice first (the session: a choice on another device does not change this
    one), then the account's (what it chose last, anywhere), then the browser's."""
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return str(chosen)
    user = current_user
    if getattr(user, "is_authenticated", False) and getattr(user, "preferred_language", None) in languages:
        return str(user.preferred_language)
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories="translations")
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["get_locale"] = get_locale
