"""The translation catalogues: complete, consistent with the source, compiled, and used by the app.

After changing user-facing text, follow README.md ("Translations"): extract, update, translate,
compile. These tests say which step was forgotten.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "pow_registry" / "translations"
POT = TRANSLATIONS / "messages.pot"
LANGUAGES = ("ru", "uk", "en")
TRANSLATED = ("ru", "uk")  # English falls back to the msgid
# The keywords README.md's extract command adds to Babel's defaults (which include N_).
EXTRA_KEYWORDS = ("N_", "_l", "lazy_gettext")

# A %-format conversion: %(name)s, %(n)d, %s, %5.2f … and the escaped percent sign %%.
PLACEHOLDER = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsa%])")


def _read_po(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def _mo_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo"


def _messages(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]


def _key(message: Message) -> tuple[Any, str | None]:
    msgid = tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id  # read_mo gives lists
    return (msgid, message.context)


def _label(message: Message) -> str:
    return repr(message.id[0] if isinstance(message.id, tuple) else message.id)


def _placeholders(text: str) -> Counter[tuple[str | None, str]]:
    return Counter((m.group("name"), m.group("conv")) for m in PLACEHOLDER.finditer(text))


@pytest.fixture(scope="module")
def template() -> Catalog:
    return _read_po(POT)


@pytest.fixture(scope="module")
def catalogues() -> dict[str, Catalog]:
    return {lang: _read_po(_po_path(lang), locale=lang) for lang in LANGUAGES}


def test_catalogue_files_exist() -> None:
    assert POT.is_file()
    for lang in LANGUAGES:
        assert _po_path(lang).is_file(), f"{lang}: run pybabel init/update"
        assert _mo_path(lang).is_file(), f"{lang}: run pybabel compile"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_is_translated(lang: str, template: Catalog, catalogues: dict[str, Catalog]) -> None:
    catalog = catalogues[lang]
    assert not catalog.fuzzy, f"{lang}: the catalogue header is marked fuzzy; pybabel compile would skip it"
    assert catalog.num_plurals == 3, f"{lang}: Russian and Ukrainian have three plural forms"
    problems = []
    for msg in _messages(template):
        tr = catalog.get(msg.id, context=msg.context)
        if tr is None:
            problems.append(f"missing (run pybabel update): {_label(msg)}")
        elif tr.fuzzy:
            problems.append(f"fuzzy: {_label(msg)}")
        elif isinstance(msg.id, tuple):
            forms = tr.string if isinstance(tr.string, tuple) else (tr.string,)
            if len(forms) != catalog.num_plurals or not all(s.strip() for s in forms):
                problems.append(f"plural forms incomplete: {_label(msg)}")
        elif not (tr.string or "").strip():
            problems.append(f"untranslated: {_label(msg)}")
    assert not problems, f"{lang}:\n" + "\n".join(problems)


def test_english_catalogue_headers(catalogues: dict[str, Catalog]) -> None:
    en = catalogues["en"]
    assert not en.fuzzy
    assert en.num_plurals == 2
    assert en.plural_expr.replace(" ", "") in {"(n!=1)", "n!=1"}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_match(lang: str, catalogues: dict[str, Catalog]) -> None:
    problems = []
    for msg in _messages(catalogues[lang]):
        if isinstance(msg.id, tuple):
            singular, plural = _placeholders(msg.id[0]), _placeholders(msg.id[1])
            strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
            for form in filter(None, strings):
                # In ru/uk the "one" form also serves 21, 31, …: every form must carry the number.
                allowed = [plural] if lang in TRANSLATED else [singular, plural]
                if _placeholders(form) not in allowed:
                    problems.append(f"{_label(msg)}: {form!r}")
        elif msg.string and _placeholders(msg.string) != _placeholders(msg.id):
            problems.append(f"{_label(msg)}: {msg.string!r}")
    assert not problems, f"{lang}: placeholders differ from the msgid:\n" + "\n".join(problems)


def _compiled(catalog: Catalog) -> Catalog:
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return read_mo(buf)


def _mo_contents(catalog: Catalog) -> dict[tuple[Any, str | None], Any]:
    return {_key(m): tuple(m.string) if isinstance(m.string, (list, tuple)) else m.string
            for m in _messages(catalog)}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_mo_files_are_compiled_from_the_po_files(lang: str, catalogues: dict[str, Catalog]) -> None:
    expected = _compiled(catalogues[lang])
    with _mo_path(lang).open("rb") as f:
        committed = read_mo(f)
    hint = f"{lang}: messages.mo is out of date; run pybabel compile -d pow_registry/translations"
    assert _mo_contents(committed) == _mo_contents(expected), hint
    assert (committed.num_plurals, committed.plural_expr) == (expected.num_plurals, expected.plural_expr), hint


def _extract(tmp_path: Path) -> Catalog:
    """What `pybabel extract -F babel.cfg -k N_ -k _l -k lazy_gettext` finds now, via a temp .pot."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, filename=str(ROOT / "babel.cfg"))
    keywords = dict(DEFAULT_KEYWORDS)
    keywords.update({name: None for name in EXTRA_KEYWORDS})
    fresh = Catalog(charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        fresh.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    pot = tmp_path / "messages.pot"
    with pot.open("wb") as f:
        write_po(f, fresh)
    return _read_po(pot)


def test_pot_is_up_to_date_with_the_source(tmp_path: Path, template: Catalog) -> None:
    fresh = _extract(tmp_path)
    assert len(_messages(fresh)) > 100, "extraction found almost nothing: is babel.cfg right?"
    committed = {_key(m) for m in _messages(template)}
    missing = [m for m in _messages(fresh) if _key(m) not in committed]
    assert not missing, "messages.pot lacks these msgids; re-run pybabel extract (see README):\n" + "\n".join(
        f"{_label(m)} at {m.locations[0][0]}:{m.locations[0][1]}" for m in missing
    )


def test_pot_holds_every_kind_of_source(template: Catalog) -> None:
    """Service errors (N_), form labels (_l), enum labels and templates all reach the catalogue."""
    files = {loc[0].replace("\\", "/") for m in _messages(template) for loc in m.locations}
    for expected in ("pow_registry/services/errors.py", "pow_registry/web/forms.py",
                     "pow_registry/web/labels.py", "pow_registry/templates/login.html"):
        assert expected in files
    for msgid in ("Not found.", "Password", "Unverified", "Log in", "Too long (at most %(n)d characters)."):
        assert msgid in template


# --- the app uses them ------------------------------------------------------------------------

LOGIN_TEXT = {
    "ru": ("Войти", "Электронная почта", "Пароль"),
    "uk": ("Увійти", "Електронна пошта", "Пароль"),
    "en": ("Log in", "Email", "Password"),
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_login_page_follows_accept_language(lang: str, make_app: Callable[..., Any]) -> None:
    app = make_app()
    response = app.test_client().get("/login", headers={"Accept-Language": f"{lang},de;q=0.5"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    for text in LOGIN_TEXT[lang]:
        assert text in html, f"{text!r} not on the {lang} login page"
    for other, texts in LOGIN_TEXT.items():
        if other != lang:
            assert f">{texts[0]}</button>" not in html


def test_login_page_defaults_to_russian(make_app: Callable[..., Any]) -> None:
    html = make_app().test_client().get("/login", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<html lang="ru">' in html and ">Войти</button>" in html


def test_service_error_is_translated(make_app: Callable[..., Any]) -> None:
    """N_-marked messages are translated in the web layer."""
    from pow_registry.i18n import gettext

    app = make_app()
    for lang, expected in (("uk", "Не знайдено."), ("ru", "Не найдено."), ("en", "Not found.")):
        with app.test_request_context("/", headers={"Accept-Language": lang}):
            assert gettext("Not found.") == expected


def test_plural_forms_in_russian_and_ukrainian(make_app: Callable[..., Any]) -> None:
    from pow_registry.i18n import ngettext

    app = make_app()
    cases = {
        "ru": {1: "1 событие", 3: "3 события", 5: "5 событий", 11: "11 событий", 21: "21 событие", 22: "22 события"},
        "uk": {1: "1 подія", 3: "3 події", 5: "5 подій", 11: "11 подій", 21: "21 подія", 22: "22 події"},
        "en": {1: "1 event", 3: "3 events"},
    }
    for lang, expected in cases.items():
        with app.test_request_context("/", headers={"Accept-Language": lang}):
            for n, text in expected.items():
                assert ngettext("%(num)d event", "%(num)d events", n) == text


def test_language_choice_is_remembered_across_logins(
    app: Any, client: Any, make_user: Callable[..., Any], login: Callable[..., Any]
) -> None:
    user = make_user("researcher")
    russian = {"Accept-Language": "ru"}

    login(user)
    page = client.get("/registry/", headers=russian).get_data(as_text=True)
    assert '<html lang="ru">' in page and "Реестр" in page

    response = client.post("/language", data={"lang-language": "uk", "lang-next": "/registry/"}, headers=russian)
    assert response.status_code == 302 and response.headers["Location"].endswith("/registry/")
    page = client.get("/registry/", headers=russian).get_data(as_text=True)
    assert '<html lang="uk">' in page and "Реєстр" in page and ">Знайти</button>" in page

    assert client.post("/logout").status_code == 302
    page = client.get("/login", headers=russian).get_data(as_text=True)
    assert '<html lang="ru">' in page, "after logout the browser's language applies again"

    # Logging in again, even from another browser that asks for Russian, brings back Ukrainian.
    for browser in (client, app.test_client()):
        login(user, test_client=browser)
        page = browser.get("/registry/", headers=russian).get_data(as_text=True)
        assert '<html lang="uk">' in page and "Реєстр" in page
