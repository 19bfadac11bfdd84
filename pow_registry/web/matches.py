"""The review queues: candidate matches ranked by score, side by side, confirmed or rejected.

Two blueprints on the same views: `matches` (/matches/) for staff, the pairs with an inquiry in
them (a family's data: staff only); `duplicates` (/duplicates/) for researchers, the same man
reported twice in the registry (theirs to judge and merge).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.validators import Length, Optional

from pow_registry import auth, db
from pow_registry.domain import given_names
from pow_registry.i18n import gettext as _
from pow_registry.i18n import lazy_gettext as _l
from pow_registry.models import MatchCandidate, MatchStatus
from pow_registry.services import matching, reviews
from pow_registry.services.errors import FieldErrors, NotFound, ServiceError
from pow_registry.web.forms import options
from pow_registry.web.helpers import apply_errors, flash_error, page_number, parse_int
from pow_registry.web.labels import label

bp = Blueprint("matches", __name__, url_prefix="/matches")
duplicates_bp = Blueprint("duplicates", __name__, url_prefix="/duplicates")

KIND_CHOICES = [
    ("inquiry-person", _l("Inquiry ↔ person")),
    ("inquiry-inquiry", _l("Inquiry ↔ inquiry (relatives)")),
    ("person-person", _l("Person ↔ person (duplicates)")),
    ("counterpart-person", _l("Counterpart list ↔ person")),
    ("counterpart-inquiry", _l("Counterpart list ↔ inquiry")),
]
# Which pairs each blueprint shows (the blueprint's role decides who sees it: web/__init__.py).
KINDS_OF = {"matches": ["inquiry-person", "inquiry-inquiry", "counterpart-person", "counterpart-inquiry"],
            "duplicates": ["person-person"]}
STATUS_CHOICES = [("candidate", _l("To review")), ("confirmed", _l("Confirmed")), ("rejected", _l("Rejected"))]

# The matcher's field names and levels, in the reader's language (the per-field detail stays as
# the matcher wrote it: it quotes the values it compared).
FIELD_LABELS = {
    "surname": _l("Surname"), "given name": _l("Given name"), "patronymic": _l("Patronymic"),
    "date of birth": _l("Date of birth"), "unit": _l("Unit"), "place": _l("Place"),
    "capture / contact": _l("Capture / last contact"), "service category": _l("Service category"),
    "call sign": _l("Call sign"),
}
LEVEL_LABELS = {
    "missing": _l("not given"), "exact": _l("same"), "transliteration": _l("same in another script"),
    "feminine form": _l("feminine form"), "genitive": _l("genitive case"), "case form": _l("another case"),
    "disagree": _l("differs"), "ru-uk equivalent": _l("Russian/Ukrainian form"),
    "English equivalent": _l("English form"), "equivalent form": _l("equivalent form"),
    "diminutive": _l("diminutive"), "ambiguous diminutive": _l("ambiguous diminutive"),
    "fuzzy": _l("similar spelling"), "year only": _l("year only"), "year and month": _l("year and month"),
    "day-month swapped": _l("day and month swapped"), "year off by one": _l("year off by one"),
    "agree": _l("same"), "same region": _l("same region"), "imprecise dates": _l("imprecise dates"),
    "contact after capture": _l("last contact after the capture"),
    "captured soon after last contact": _l("captured soon after the last contact"),
    "captured months after last contact": _l("captured months after the last contact"),
    "captured long after last contact": _l("captured long after the last contact"),
    "same capture date": _l("same capture date"), "capture dates within a month": _l("capture dates within a month"),
    "same last contact": _l("same last contact"), "last contacts within two months": _l("last contacts within two months"),
    "typo (1 edit)": _l("typo (one letter)"), "typo (one digit)": _l("typo (one digit)"),
    "five years or more apart": _l("five years or more apart"),
    "same month, other day": _l("same month, another day"), "same year, other month": _l("same year, another month"),
}
# What the matcher compared, per side: (label, attribute of the MatchRecord).
COMPARED = [
    (_l("Surname"), "surname"), (_l("Given name"), "given_name"), (_l("Patronymic"), "patronymic"),
    (_l("Date of birth"), "date_of_birth"), (_l("Unit"), "unit"), (_l("Place"), "place"),
    (_l("Capture / last contact date"), "event_date"), (_l("Service category"), "service_category"),
    (_l("Call sign"), "call_sign"),
]


class QueueForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter: it changes nothing

    kinds = SelectField(_l("Pairs"), choices=options(KIND_CHOICES), validators=[Optional()])
    status = SelectField(_l("State"), choices=options(STATUS_CHOICES), validators=[Optional()])
    inquiry = HiddenField()
    person = HiddenField()


class ReviewForm(FlaskForm):
    version = HiddenField()
    reason = TextAreaField(_l("Reason"), validators=[Length(max=matching.REASON_MAX)])


def _allowed_kinds() -> list[str]:
    return KINDS_OF[request.blueprint or ""]


def field_label(name: str) -> str:
    return str(FIELD_LABELS.get(name, name))


_FUZZY_LEVEL = re.compile(r"fuzzy \(Jaro-Winkler (\d\.\d+)\)")


def level_label(name: str) -> str:
    fuzzy = _FUZZY_LEVEL.fullmatch(name)
    if fuzzy:
        return _("similar spelling (Jaro-Winkler %(similarity)s)", similarity=fuzzy.group(1))
    return str(LEVEL_LABELS.get(name, name))


# How a surname was read, in the reader's words (the matcher's codes, joined by "+").
READINGS = {
    "genitive": _l("genitive case"), "feminine": _l("feminine form"), "feminine oblique": _l("feminine, another case"),
    "oblique": _l("another case"), "reading": _l("another reading"), "as written": _l("as written"),
}


def explained(detail: Any) -> Markup:
    """A field's detail or a note in the reader's language: the matcher's messages translated,
    what was compared shown as typed, spelling keys as code. A pair scored before explanations
    were translatable has only its English text, shown as it is."""
    if isinstance(detail, str):
        return Markup('<span lang="en">%s</span>') % detail if detail else Markup("")
    if detail and isinstance(detail[0], str):
        detail = [detail]  # one note
    return Markup("").join(_said(part) for part in detail)


def _said(part: Any) -> Markup:
    text, values = part
    message = escape(_(text))  # a translated message: escaped, then the values (escaped) put in
    return message % {name: _value(value) for name, value in values.items()} if values else message


def _value(value: Any) -> Any:
    if isinstance(value, dict) and "say" in value:
        return _said(value["say"])
    if isinstance(value, dict) and "ref" in value:
        kind, code = value["ref"]
        if kind == "class":
            return escape(_class_name(code))
        if kind == "category":
            return escape(label(code, "service_category"))
        if kind == "reading":
            return escape(", ".join(str(READINGS.get(r, r)) for r in code.split("+")))
        return Markup("<code>%s</code>") % code
    return escape(str(value))


def _class_name(class_id: str) -> str:
    """A given-name class as the reader writes the name (Евгений, Євген, Evgenii)."""
    try:
        cls = given_names.name_class(class_id)
    except KeyError:
        return class_id
    language = str(get_locale())
    if language == "uk":
        return cls.main_uk
    if language == "ru":
        return cls.main_ru
    return cls.latin[0] if cls.latin else class_id.capitalize()


def queue() -> str:
    allowed = _allowed_kinds()
    form = QueueForm(request.args)
    form.kinds.choices = options([(k, label) for k, label in KIND_CHOICES if k in allowed])
    kinds = form.kinds.data if form.kinds.data in allowed else allowed[0]
    form.kinds.data = kinds
    status = form.status.data if form.status.data in dict(STATUS_CHOICES) else "candidate"
    form.status.data = status
    flt = matching.QueueFilter(kinds=kinds, status=MatchStatus(status),
                               inquiry_id=parse_int(request.args.get("inquiry")),
                               person_id=parse_int(request.args.get("person")),
                               counterpart_list_id=parse_int(request.args.get("counterpart")))
    page, size = page_number(), current_app.config["PAGE_SIZE"]
    rows, total = matching.queue(db.session(), flt, page=page, page_size=size)
    args = {k: v for k, v in request.args.items() if k != "page"}
    # Records changed a moment ago whose candidates the worker has not worked out yet.
    waiting = matching.queued_count(db.session())
    record_waits = bool(waiting) and (
        (flt.inquiry_id is not None and matching.is_queued(db.session(), "inquiry", flt.inquiry_id))
        or (flt.person_id is not None and matching.is_queued(db.session(), "person", flt.person_id)))
    return render_template("matches/queue.html", form=form, rows=rows, total=total, page=page,
                           waiting=waiting, record_waits=record_waits,
                           pages=max(1, -(-total // size)), args=args, flt=flt,
                           field_label=field_label, level_label=level_label, explained=explained, likely_from=matching.LIKELY)


def _candidate(match_id: int) -> MatchCandidate:
    try:
        row = matching.get_candidate(db.session(), match_id)
    except NotFound:
        abort(404)
    if f"{row.left_kind}-{row.right_kind}" not in _allowed_kinds():
        abort(404)  # the other queue's pair
    return row


def _render(row: MatchCandidate, confirm_form: ReviewForm | None = None,
            reject_form: ReviewForm | None = None) -> str:
    view = matching.candidate_view(db.session(), row)
    return render_template(
        "matches/detail.html", v=view, row=row, compared=COMPARED,
        confirm_form=confirm_form or ReviewForm(version=row.version, prefix="confirm"),
        reject_form=reject_form or ReviewForm(version=row.version, prefix="reject"),
        may_review=row.status == MatchStatus.candidate, field_label=field_label, level_label=level_label, explained=explained, likely_from=matching.LIKELY,
    )


def detail(match_id: int) -> str:
    return _render(_candidate(match_id))


def _review(match_id: int, action: str) -> ResponseReturnValue:
    row = _candidate(match_id)
    form = ReviewForm(prefix=action)
    if not form.validate_on_submit():
        return _render(row, **{f"{action}_form": form}), 400  # type: ignore[arg-type]
    review: Any = reviews.confirm if action == "confirm" else reviews.reject
    try:
        review(session=db.session(), actor=auth.actor(), audit_key=auth.audit_key(), match_id=match_id,
               version=form.version.data, reason=form.reason.data or "")
    except ServiceError as exc:
        db.session().rollback()
        if isinstance(exc, NotFound):
            abort(404)
        if isinstance(exc, FieldErrors):
            apply_errors(form, exc)
        else:
            flash_error(exc)
        row = _candidate(match_id)
        return _render(row, **{f"{action}_form": form}), 409  # type: ignore[arg-type]
    flash(_("Confirmed: the records are linked.") if action == "confirm" else _("Rejected: this pair will not be proposed again unless one of the records changes."), "info")
    kinds = f"{row.left_kind}-{row.right_kind}"
    return redirect(url_for(".queue", kinds=kinds))


def confirm(match_id: int) -> ResponseReturnValue:
    return _review(match_id, "confirm")


def reject(match_id: int) -> ResponseReturnValue:
    return _review(match_id, "reject")


for _blueprint in (bp, duplicates_bp):
    _blueprint.add_url_rule("/", view_func=queue, methods=["GET"])
    _blueprint.add_url_rule("/<int:match_id>", view_func=detail, methods=["GET"])
    _blueprint.add_url_rule("/<int:match_id>/confirm", view_func=confirm, methods=["POST"])
    _blueprint.add_url_rule("/<int:match_id>/reject", view_func=reject, methods=["POST"])
