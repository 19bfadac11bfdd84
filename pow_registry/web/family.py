"""The family's pages, public and without an account: send an inquiry, check its status.

`/status` takes a reference and an access code by POST only (never in a URL, so never in a log
or a browser history), rate-limited per address (failures, and all checks) before any hashing
or database work, and answers a failure with one page whatever went wrong. `/inquire` lets a
family send an inquiry themselves; after a redirect its reference and access code are shown once
(Post/Redirect/Get with a one-time token: services/code_display.py). security.md, "The family's page".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, get_locale
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlmodel import Session
from werkzeug.wrappers import Response
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from pow_registry import auth, clock, db, security
from pow_registry.i18n import LANGUAGE_NAMES
from pow_registry.i18n import gettext as _
from pow_registry.i18n import lazy_gettext as _l
from pow_registry.models import InquiryChannel, InquiryStatus
from pow_registry.services import code_display, contact_data, family, inquiries
from pow_registry.services.errors import FieldErrors
from pow_registry.web.forms import SERVICE_CATEGORY_CHOICES, options
from pow_registry.web.helpers import apply_errors, code_shown_once, form_token, to_code_page

bp = Blueprint("family", __name__)

# What a family reads for each tier staff cleared: plain words, not the staff labels.
FAMILY_STATUS_TEXT = {
    InquiryStatus.received: _l("We have received your inquiry."),
    InquiryStatus.searching: _l("We are searching for him."),
    InquiryStatus.match_found: _l("We have found information about him. A case worker will contact you."),
    InquiryStatus.on_exchange_list: _l("His name has been submitted for an exchange."),
    InquiryStatus.returned: _l("He has been returned."),
    InquiryStatus.closed: _l("Your inquiry is closed."),
}

# What the tier means for the family and what happens next: the questions every mother asks.
FAMILY_NEXT_STEPS = {
    InquiryStatus.received: _l("A case worker will read it and start the search. You do not need to send it again."),
    InquiryStatus.searching: _l("We are comparing what you told us with videos, lists and statements about "
                                "prisoners. This can take weeks; we will write here when we learn something."),
    InquiryStatus.match_found: _l("A case worker has checked the information and will contact you in the way you "
                                  "chose. Please keep your phone on."),
    InquiryStatus.on_exchange_list: _l("His name is on a list we sent to an ombudsman office to ask for his "
                                       "exchange. Exchanges are negotiated between the two sides and can take a "
                                       "long time; we will write here when we receive an answer."),
    InquiryStatus.returned: _l("We have been told that he has returned. A case worker will contact you."),
    InquiryStatus.closed: _l("We are no longer searching on this inquiry. If you have new information, send a "
                             "new inquiry or contact us."),
}

# Longer than any reference or code however it is typed (spaces, hyphens); longer input is
# refused by the normalisers anyway, this only bounds what the limiter's key is made of.
_CODE_INPUT_MAX = 64

# Default regions for reading phone numbers written without "+": where families write from.
COUNTRY_CHOICES = [
    ("RU", _l("Russia")), ("UA", _l("Ukraine")), ("BY", _l("Belarus")), ("KZ", _l("Kazakhstan")),
    ("UZ", _l("Uzbekistan")), ("KG", _l("Kyrgyzstan")), ("TJ", _l("Tajikistan")), ("AM", _l("Armenia")),
    ("AZ", _l("Azerbaijan")), ("GE", _l("Georgia")), ("MD", _l("Moldova")),
]

# Attributes for typing a code on a phone: no autofill or autocorrect, capitals, no spellcheck.
_CODE_INPUT = {"autocomplete": "off", "autocapitalize": "characters", "autocorrect": "off",
               "spellcheck": "false", "inputmode": "text", "maxlength": str(_CODE_INPUT_MAX)}


class StatusForm(FlaskForm):
    """Reference and access code. No field validators: every failure is the one refusal page."""

    reference = StringField(_l("Reference (for example INQ-7KD2-9QXM)"), render_kw=_CODE_INPUT)
    access_code = StringField(_l("Access code"), render_kw=_CODE_INPUT)


class InquiryForm(FlaskForm):
    """The inquiry as a family sends it; the service checks every value again."""

    # The man the family is looking for.
    surname = StringField(_l("Surname"), validators=[Length(max=200)], render_kw={"autocomplete": "off"})
    given_name = StringField(_l("Given name"), validators=[Length(max=200)], render_kw={"autocomplete": "off"})
    patronymic = StringField(_l("Patronymic / father's name"), validators=[Length(max=200)],
                             render_kw={"autocomplete": "off"})
    date_of_birth = StringField(_l("Date of birth (DD.MM.YYYY, or only the year)"), validators=[Length(max=20)],
                                render_kw={"autocomplete": "off"})
    unit = StringField(_l("Military unit"), validators=[Length(max=300)], render_kw={"autocomplete": "off"})
    service_category = SelectField(_l("Service category"), choices=options(SERVICE_CATEGORY_CHOICES),
                                   validate_choice=False)
    last_contact_date = StringField(_l("Date of the last contact with him (DD.MM.YYYY)"),
                                    validators=[Length(max=20)],
                                    render_kw={"autocomplete": "off"})
    last_known_place = StringField(_l("Where he was last known to be"), validators=[Length(max=300)],
                                   render_kw={"autocomplete": "off"})
    notes = TextAreaField(_l("Anything else that may help us find him"), validators=[Length(max=10000)])
    # The person asking.
    requester_name = StringField(_l("Your name"), validators=[Length(max=200)], render_kw={"autocomplete": "name"})
    requester_relationship = StringField(_l("Who are you to him? (mother, wife, brother…)"),
                                         validators=[Length(max=100)])
    requester_country = SelectField(_l("Country of your phone numbers"), choices=options(COUNTRY_CHOICES),
                                    default="RU", validate_choice=False)
    phones = TextAreaField(_l("Your phone numbers, one per line"), validators=[Length(max=1000)],
                           render_kw={"autocomplete": "tel", "inputmode": "tel", "rows": "2"})
    requester_email = StringField(_l("Your email (if you have one)"), validators=[Length(max=254)],
                                  render_kw={"autocomplete": "email", "inputmode": "email", "type": "email"})
    preferred_language = SelectField(_l("Language we should use with you"),
                                     choices=options(list(LANGUAGE_NAMES.items())), validate_choice=False)
    consent_contact = BooleanField(
        _l("I agree to be contacted about this inquiry by phone or email."),
        validators=[DataRequired(message=_l("We can only help if we may contact you: please tick this box."))])
    consent_share = BooleanField(
        _l("I agree that his details may be shared with the ombudsman to ask for his exchange."))
    # One submission, one inquiry: the token of this copy of the form (services/code_display.py).
    submission = HiddenField()

    def validate_phones(self, field: TextAreaField) -> None:
        if not (field.data or "").strip() and not (self.requester_email.data or "").strip():
            raise ValidationError(_l("Give at least one phone number or an email, so that we can reach you."))


INQUIRY_FIELDS = ["surname", "given_name", "patronymic", "date_of_birth", "unit", "service_category",
                  "last_contact_date", "last_known_place", "notes", "requester_name", "requester_relationship",
                  "requester_country", "phones", "requester_email", "preferred_language"]


# ---------------------------------------------------------------------------------------------
# Who runs the site and what it keeps: on every family page, configurable per instance.


@dataclass(frozen=True)
class Organisation:
    name: str  # in the page's language when configured so; "" when not configured
    contact: str
    notice: list[str]  # this instance's own privacy notice, in paragraphs; [] for the standard one
    retention_days: int | None  # contact data erased this long after an inquiry is closed


def organisation() -> Organisation:
    config = current_app.config
    language = str(get_locale()).upper()
    notice = str(config.get(f"PRIVACY_NOTICE_{language}") or "").replace("\r\n", "\n").strip()
    retention = config.get("CONTACT_DATA_RETENTION_DAYS")
    return Organisation(
        name=str(config.get(f"ORGANISATION_NAME_{language}") or config.get("ORGANISATION_NAME") or "").strip(),
        contact=str(config.get("ORGANISATION_CONTACT") or "").strip(),
        notice=[p.strip() for p in notice.split("\n\n") if p.strip()],
        retention_days=int(retention) if retention else None,
    )


@bp.app_context_processor
def _family_context() -> dict[str, Any]:
    return {"organisation": organisation}


def _chosen_language() -> str | None:
    """The language a family picked with a switch button inside a form (the form is sent along,
    so nothing typed is lost); remembered for the next pages."""
    language = request.form.get("set_language", "")
    if language in current_app.config["LANGUAGES"]:
        session["lang"] = language
        return language
    return None


# ---------------------------------------------------------------------------------------------
# Rate limits: per address only, keyed on nothing but the address (no hashing of the code, no
# database), so a refusal is cheap. They protect the server's work; they never lock a family out:
# there is no limit per reference (references are printed in lists, so anyone could spend a
# family's count) and none overall (anyone with enough addresses could spend everyone's). At 80
# bits an access code cannot be guessed anyway: README, "Why wrong codes cannot find a code".


def _address_key() -> str:
    """The client as the login throttle counts it too (auth.remote_address: an IPv6 /64)."""
    return "address:" + auth.remote_address()


def _configured(name: str) -> Callable[[], str]:
    """The limit as configured when the request comes (tests and operators may change it)."""
    return lambda: str(current_app.config[name])


def _failed_check(response: Response) -> bool:
    """A status check that found nothing (a wrong code or an unknown reference: the one refusal)."""
    return response.status_code == 403


def _inquiry_sent(response: Response) -> bool:
    """An inquiry sent (or one already sent, shown again): the redirect to the page with its code."""
    return response.status_code == 303


def _limit(app: Flask, endpoint: str, limits: list[tuple[str, Callable[[Response], bool] | None]]) -> None:
    """Wrap a view in this app's limiter (Flask-Limiter, shared with the rest of the app): POSTs only, per
    address, and checked before the view runs, so before any hashing or database work.

    A limit with a condition counts only the responses that meet it (Flask-Limiter's
    `deduct_when`): a family's own successful checks never use up its address's budget for
    failures, while an address that has spent it is refused before any work.
    """
    limiter = security.limiter(app)
    view: Any = app.view_functions[endpoint]
    for config_key, counts in limits:
        view = limiter.limit(_configured(config_key), key_func=_address_key, methods=["POST"],
                             scope=f"{endpoint}:{config_key.lower()}", deduct_when=counts)(view)
    app.view_functions[endpoint] = view


def _init_limits(state: BlueprintSetupState) -> None:
    """Run when the blueprint is registered (recorded below the routes, so after them; the
    app's limiter exists by then: security.init_app runs before the blueprints)."""
    app = cast(Flask, state.app)
    _limit(app, "family.status", [("STATUS_FAILED_CHECKS_PER_ADDRESS", _failed_check),
                                  ("STATUS_CHECKS_PER_ADDRESS", None)])
    _limit(app, "family.inquire", [("INQUIRY_FORM_SENT_PER_ADDRESS", _inquiry_sent),
                                   ("INQUIRY_FORM_POSTS_PER_ADDRESS", None)])


# ---------------------------------------------------------------------------------------------
# Views


def _read_only_session() -> Session:
    """Checking a status only reads: on SQLite it then neither takes nor waits for the write lock."""
    return Session(db.engine().execution_options(**{db.READ_ONLY: True}), expire_on_commit=False)


@bp.route("/status", methods=["GET", "POST"])
def status() -> ResponseReturnValue:
    if request.method == "GET":
        # Whatever the query string says (?reference=…&code=…), a GET checks nothing.
        return render_template("family/status.html", form=StatusForm(formdata=None))
    form = StatusForm()
    if not form.validate():  # only the CSRF token can fail (the app-wide check refuses it first)
        abort(400)
    chosen = _chosen_language()
    if chosen and not request.form.get("recheck"):
        # The language switch on the form: the same form again, with what was typed, checked for nothing.
        with force_locale(chosen):
            return render_template("family/status.html", form=form)
    with _read_only_session() as read:
        view = family.check_status(read, reference=(form.reference.data or "")[:_CODE_INPUT_MAX],
                                   code=(form.access_code.data or "")[:_CODE_INPUT_MAX],
                                   key=current_app.config["ACCESS_CODE_KEY_BYTES"])
        read.rollback()
    if view is None:
        # One page for every failure, and nothing on it depends on what was typed: a fresh,
        # empty form (its CSRF token is the only part that changes from request to request).
        with force_locale(chosen or str(get_locale())):
            return render_template("family/status.html", form=StatusForm(formdata=None), refused=True), 403
    if not chosen and "lang" not in session and view.language in current_app.config["LANGUAGES"]:
        # Nobody chose a language on this device: answer in the one the family asked us to use.
        chosen = view.language
    with force_locale(chosen or str(get_locale())):
        return _result(view, form)


def answer_html(view: family.FamilyView) -> Markup:
    """The family's answer as the family reads it, in the family's language: staff's preview
    shows exactly this (issue 12: one source for the family's words)."""
    language = view.language if view.language in current_app.config["LANGUAGES"] else str(get_locale())
    with force_locale(language):
        return Markup(render_template("family/_answer.html", view=view, status_text=FAMILY_STATUS_TEXT,  # noqa: S704
                                      next_steps=FAMILY_NEXT_STEPS))


def _result(view: family.FamilyView, form: StatusForm) -> str:
    # The form travels with the page (hidden) so that its language switch shows the same answer
    # in another language; the page is never cached (Cache-Control: no-store on every page).
    return render_template("family/status_result.html", view=view, status_text=FAMILY_STATUS_TEXT,
                           next_steps=FAMILY_NEXT_STEPS, form=form)


@bp.route("/inquire", methods=["GET", "POST"])
def inquire() -> ResponseReturnValue:
    if request.method == "GET":
        form = InquiryForm(formdata=None)
        form.preferred_language.data = str(get_locale())
        form.submission.data = code_display.new_token()
        return render_template("family/inquire.html", form=form)
    form = InquiryForm()
    token = form_token(form)
    chosen = _chosen_language()
    if chosen:
        # The language switch inside the form: the form again with everything typed, nothing sent.
        with force_locale(chosen):
            return render_template("family/inquire.html", form=form)
    key = current_app.config["ACCESS_CODE_KEY_BYTES"]
    if code_display.find(db.session(), key=key, token=token) is not None:
        # Sent already (a reload, Back and send again, a double click): nothing is created twice.
        return to_code_page(token, "family.inquiry_sent")
    form_ok = form.validate()
    data = {name: getattr(form, name).data or "" for name in INQUIRY_FIELDS}
    data["consent_contact"] = "y" if form.consent_contact.data else ""
    data["consent_share"] = "y" if form.consent_share.data else ""

    def issue() -> tuple[int, str]:
        made = inquiries.create_inquiry(
            session=db.session(), actor=None, audit_key=current_app.config["AUDIT_KEY_BYTES"], access_key=key,
            data=data, channel=InquiryChannel.family_form, commit=False)
        return made.inquiry.id or 0, made.access_code

    try:
        if not form_ok:
            # Writes nothing: only so that the family sees every problem at once, not in turns.
            inquiries.parse_inquiry(data)
        elif _sent_already(data):
            # The same phone asked about the same man within a day: the earlier reference and code
            # still hold. Nothing is created, and the reference is not shown again (whoever holds
            # this phone number is not thereby the one who wrote it down).
            db.session().rollback()
            language = str(data.get("preferred_language") or "")
            with force_locale(session.get("lang") or (language if language in current_app.config["LANGUAGES"]
                                                       else str(get_locale()))):
                return render_template("family/inquiry_known.html")
        else:
            code_display.issue_once(db.session(), key=key, token=token, kind="family_form", issue=issue)
            return to_code_page(token, "family.inquiry_sent")
    except FieldErrors as exc:
        db.session().rollback()
        # One message per field: the form's own check already said what was wrong there.
        apply_errors(form, FieldErrors({name: message for name, message in exc.errors.items()
                                        if not getattr(getattr(form, name, None), "errors", None)}))
    else:
        flash(_("Please correct the errors below."), "error")
    return render_template("family/inquire.html", form=form)


def _sent_already(data: dict[str, Any]) -> bool:
    """This family sent this inquiry within the last day (its phone's blind index and the man's names)."""
    values = inquiries.parse_inquiry(data)
    return contact_data.recent_same_inquiry(
        db.session(), e164s=[phone.e164 for phone in values["phones"]],
        surname=values["surname"], given_name=values["given_name"]) is not None


@bp.get("/inquire/sent")
def inquiry_sent() -> ResponseReturnValue:
    shown = code_shown_once()
    if shown is None:
        return redirect(url_for("family.inquire"))
    return render_template("family/inquiry_sent.html", reference=shown.inquiry.reference, access_code=shown.code)


@bp.get("/privacy")
def privacy() -> ResponseReturnValue:
    return render_template("family/privacy.html")


def home() -> str:
    """The front door for someone without an account: a family's two doors, a discreet staff link."""
    return render_template("family/home.html")


def limited(retry_at: int | None) -> ResponseReturnValue:
    """The limit page of the family's side, in the family's language, saying when to try again
    (rounded up to whole minutes); `retry_at` is when the limit lifts (epoch seconds) if known."""
    minutes = None
    headers = {}
    if retry_at is not None:
        seconds = max(1, retry_at - clock.timestamp())
        minutes = -(-seconds // 60)
        headers["Retry-After"] = str(seconds)
    return render_template("family/limited.html", minutes=minutes), 429, headers


# Last, so that it runs after the routes above are added to the app.
bp.record_once(_init_limits)
