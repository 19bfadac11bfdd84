"""HTML forms (Flask-WTF: CSRF on every one). They only carry strings; services validate."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from pow_registry.i18n import lazy_gettext as _l


def options(pairs: list[tuple[str, Any]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


SERVICE_CATEGORY_CHOICES = [
    ("", _l("— unknown —")), ("conscript", _l("Conscript")), ("contract", _l("Contract soldier")),
    ("mobilised", _l("Mobilised")), ("volunteer", _l("Volunteer")),
    ("pmc", _l("Private military company")), ("other", _l("Other")),
]
HEALTH_CHOICES = [
    ("unknown", _l("Unknown")), ("healthy", _l("No known injury")), ("wounded", _l("Wounded")),
    ("seriously_wounded", _l("Seriously wounded")), ("sick", _l("Sick")),
]
CLAIM_CHOICES = [("captured", _l("Captured")), ("killed", _l("Killed"))]
EVIDENCE_KIND_CHOICES = [
    ("video", _l("Video")), ("photo", _l("Photo")), ("post", _l("Social media post")),
    ("list", _l("List")), ("official_statement", _l("Official statement")),
    ("detaining_side_confirmation", _l("Confirmation by the detaining side")),
    ("icrc_confirmation", _l("Confirmation by the ICRC")), ("other", _l("Other")),
]
RELIABILITY_CHOICES = [
    ("A", _l("A — completely reliable")), ("B", _l("B — usually reliable")),
    ("C", _l("C — fairly reliable")), ("D", _l("D — not usually reliable")),
    ("E", _l("E — unreliable")), ("F", _l("F — reliability cannot be judged")),
]
CREDIBILITY_CHOICES = [
    ("1", _l("1 — confirmed by other sources")), ("2", _l("2 — probably true")),
    ("3", _l("3 — possibly true")), ("4", _l("4 — doubtful")),
    ("5", _l("5 — improbable")), ("6", _l("6 — truth cannot be judged")),
]
ROLE_CHOICES = [("researcher", _l("Researcher")), ("staff", _l("Staff")), ("admin", _l("Administrator"))]
MANUAL_STATUS_CHOICES = [
    ("derived", _l("Follow the evidence")), ("deceased", _l("Deceased")), ("disputed", _l("Disputed")),
    ("exchanged", _l("Exchanged")), ("released", _l("Released")),
]
STATUS_CHOICES = [
    ("", _l("Any status")), ("reported", _l("Reported")), ("probable", _l("Probable")),
    ("confirmed_captured", _l("Confirmed captured")), ("exchanged", _l("Exchanged")),
    ("released", _l("Released")), ("deceased", _l("Deceased")), ("disputed", _l("Disputed")),
]


# Family inquiries (staff side).
INQUIRY_STATUS_CHOICES = [
    ("received", _l("Received")), ("searching", _l("Searching")), ("match_found", _l("Match found")),
    ("on_exchange_list", _l("On an exchange list")), ("returned", _l("Returned")), ("closed", _l("Closed")),
]
INQUIRY_STATUS_FILTER_CHOICES = [("", _l("Any status")), *INQUIRY_STATUS_CHOICES]
CLOSED_REASON_CHOICES = [
    ("", _l("— not closed —")), ("withdrawn", _l("Withdrawn by the family")), ("duplicate", _l("Duplicate")),
    ("deceased", _l("Deceased")), ("found_elsewhere", _l("Found elsewhere")),
]
CHANNEL_CHOICES = [
    ("staff", _l("Taken by staff")), ("family_form", _l("Sent by the family online")), ("imported", _l("Imported")),
]
# Languages a family may be written to in (their names in their own language).
INQUIRY_LANGUAGE_CHOICES = [("ru", "Русский"), ("uk", "Українська"), ("en", "English")]
# Countries whose numbers families type most often come first; then every other one phonenumbers knows.
FIRST_COUNTRIES = ("RU", "UA", "BY", "KZ")


def country_choices() -> list[tuple[str, str]]:
    """(ISO code, "Name (CODE)") in the user's language, for reading phone numbers typed without +."""
    from babel import Locale, UnknownLocaleError
    from flask_babel import get_locale

    from pow_registry.services.inquiries import phone_regions

    try:
        names = Locale.parse(str(get_locale() or "en")).territories
    except (UnknownLocaleError, ValueError):
        names = Locale.parse("en").territories
    label = {code: f"{names.get(code, code)} ({code})" for code in phone_regions()}
    rest = sorted((c for c in label if c not in FIRST_COUNTRIES), key=lambda c: label[c].casefold())
    return [(code, label[code]) for code in (*FIRST_COUNTRIES, *rest) if code in label]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(FlaskForm):
    email = StringField(_l("Email"), validators=[InputRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=1024)])
    next = HiddenField()


class CodeForm(FlaskForm):
    code = StringField(_l("Code from the app, or a recovery code"), validators=[InputRequired(), Length(max=32)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True})


class EmptyForm(FlaskForm):
    """A POST with nothing but the CSRF token (logout, language)."""


class LanguageForm(FlaskForm):
    language = HiddenField(validators=[InputRequired()])
    next = HiddenField()


class PersonForm(FlaskForm):
    version = HiddenField()
    # No field is required by itself: one of those that identify him is (services.registry).
    surname = StringField(_l("Surname"), validators=[Length(max=200)])
    given_name = StringField(_l("Given name"), validators=[Length(max=200)])
    patronymic = StringField(_l("Patronymic / father's name"), validators=[Length(max=200)])
    call_sign = StringField(_l("Call sign"), validators=[Length(max=120)])
    appearance = TextAreaField(_l("Appearance and distinguishing marks (what a photo or video shows of him)"),
                               validators=[Length(max=2000)])
    date_of_birth = StringField(_l("Date of birth (YYYY-MM-DD, DD.MM.YYYY, YYYY-MM or YYYY)"), validators=[Length(max=20)])
    place_of_birth = StringField(_l("Place of birth"), validators=[Length(max=300)])
    rank = StringField(_l("Rank"), validators=[Length(max=100)])
    unit = StringField(_l("Unit"), validators=[Length(max=300)])
    personal_number = StringField(_l("Military personal number"), validators=[Length(max=50)])
    service_category = SelectField(_l("Service category"), choices=options(SERVICE_CATEGORY_CHOICES), validate_choice=False)
    home_region = StringField(_l("Home region"), validators=[Length(max=200)])
    health = SelectField(_l("Health"), choices=options(HEALTH_CHOICES), validate_choice=False)
    father_name = StringField(_l("Father's first name"), validators=[Length(max=200)])
    mother_maiden_name = StringField(_l("Mother's maiden name"), validators=[Length(max=200)])
    person_to_inform = TextAreaField(_l("Person to inform (name, address)"), validators=[Length(max=500)])
    notes = TextAreaField(_l("Notes"), validators=[Length(max=10000)])


class ReportForm(FlaskForm):
    version = HiddenField()
    claim = SelectField(_l("The report says he was"), choices=options(CLAIM_CHOICES), validate_choice=False)
    capture_date = StringField(_l("Capture date (may be approximate: YYYY-MM or YYYY)"), validators=[Length(max=20)])
    capture_place = StringField(_l("Capture place"), validators=[Length(max=300)])
    reported_unit = StringField(_l("Unit named in this report"), validators=[Length(max=300)])
    circumstances = TextAreaField(_l("Circumstances"), validators=[Length(max=10000)])
    source_ref = StringField(_l("Source reference (optional, unique)"), validators=[Length(max=200)])


class NewPersonForm(PersonForm):
    """A new person together with the report that made us aware of him."""

    report_claim = SelectField(_l("The report says he was"), choices=options(CLAIM_CHOICES), validate_choice=False)
    report_capture_date = StringField(_l("Capture date (may be approximate: YYYY-MM or YYYY)"), validators=[Length(max=20)])
    report_capture_place = StringField(_l("Capture place"), validators=[Length(max=300)])
    report_reported_unit = StringField(_l("Unit named in this report"), validators=[Length(max=300)])
    report_circumstances = TextAreaField(_l("Circumstances"), validators=[Length(max=10000)])
    report_source_ref = StringField(_l("Source reference (optional, unique)"), validators=[Length(max=200)])


class EvidenceForm(FlaskForm):
    url = StringField(_l("Link (https://…)"), validators=[InputRequired(), Length(max=2000)])
    kind = SelectField(_l("Kind"), choices=options(EVIDENCE_KIND_CHOICES), validate_choice=False)
    publisher = StringField(_l("Published by"), validators=[Length(max=300)])
    published_at = StringField(_l("Published on (YYYY-MM-DD)"), validators=[Length(max=20)])
    source_reliability = SelectField(_l("Source reliability"), choices=options(RELIABILITY_CHOICES), default="F", validate_choice=False)
    info_credibility = SelectField(_l("Information credibility"), choices=options(CREDIBILITY_CHOICES), default="6", validate_choice=False)
    notes = TextAreaField(_l("Notes"), validators=[Length(max=10000)])
    archive = FileField(_l("Archived copy (optional: image, PDF, video, web archive, text)"))


class VerifyForm(FlaskForm):
    version = HiddenField()
    decision = SelectField(_l("Decision"), choices=options([("verified", _l("Verified")), ("rejected", _l("Rejected")), ("unverified", _l("Back to unverified"))]), validate_choice=False)
    note = StringField(_l("Note (required when rejecting)"), validators=[Length(max=1000)])


class StatusForm(FlaskForm):
    version = HiddenField()
    status = SelectField(_l("Status"), choices=options(MANUAL_STATUS_CHOICES), validate_choice=False)
    reason = StringField(_l("Reason"), validators=[Length(max=1000)])


class ConflictForm(FlaskForm):
    version = HiddenField()
    note = StringField(_l("How was it resolved?"), validators=[Length(max=1000)])


class MergeForm(FlaskForm):
    keep_version = HiddenField()
    merge_version = HiddenField()
    merge_id = StringField(_l("Number of the duplicate record to merge into this one"), validators=[InputRequired(), Length(max=12)])
    reason = StringField(_l("Why are these the same man?"), validators=[Length(max=1000)])


class MergeUndoForm(FlaskForm):
    reason = StringField(_l("Why undo this merge?"), validators=[InputRequired(), Length(max=1000)])
    confirm = BooleanField(_l("Yes, split them into two records again"), validators=[InputRequired()])


class ImportForm(FlaskForm):
    file = FileField(_l("Spreadsheet (.xlsx or .csv)"))
    dry_run = BooleanField(_l("Only check the file, write nothing"))
    submission = HiddenField()  # one-time token: a reload or a second click starts no second job (services/jobs.py)


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField(_l("Name, in any script"), validators=[Optional(), Length(max=200)])
    dob = StringField(_l("Date of birth"), validators=[Optional(), Length(max=20)])
    unit = StringField(_l("Unit"), validators=[Optional(), Length(max=100)])
    place = StringField(_l("Place"), validators=[Optional(), Length(max=100)])
    status = SelectField(_l("Status"), choices=options(STATUS_CHOICES), validate_choice=False)
    conflict = BooleanField(_l("Only records with a conflict"))


class UserForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[InputRequired(), Length(max=254)])
    display_name = StringField(_l("Name"), validators=[Length(max=200)])
    roles = MultiCheckboxField(_l("Roles"), choices=options(ROLE_CHOICES), validate_choice=False)
    password = PasswordField(_l("Initial password"), validators=[InputRequired(), Length(max=256)])


class UserEditForm(FlaskForm):
    version = HiddenField()
    display_name = StringField(_l("Name"), validators=[Length(max=200)])
    roles = MultiCheckboxField(_l("Roles"), choices=options(ROLE_CHOICES), validate_choice=False)
    is_active = BooleanField(_l("Active"))


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[InputRequired(), Length(max=1024)])
    new_password = PasswordField(_l("New password"), validators=[InputRequired(), Length(max=1024)])


class AdminPasswordForm(FlaskForm):
    new_password = PasswordField(_l("New password"), validators=[InputRequired(), Length(max=1024)])


class InquiryForm(FlaskForm):
    """The sought man as the family knows him, and the requester (services.inquiries.INQUIRY_FIELDS)."""

    version = HiddenField()
    submission = HiddenField()  # a new inquiry's one-time token (services/code_display.py)
    surname = StringField(_l("Surname"), validators=[Length(max=200)])
    given_name = StringField(_l("Given name"), validators=[Length(max=200)])
    patronymic = StringField(_l("Patronymic / father's name"), validators=[Length(max=200)])
    date_of_birth = StringField(_l("Date of birth (YYYY-MM-DD, DD.MM.YYYY, YYYY-MM or YYYY)"), validators=[Length(max=20)])
    unit = StringField(_l("Unit"), validators=[Length(max=300)])
    service_category = SelectField(_l("Service category"), choices=options(SERVICE_CATEGORY_CHOICES), validate_choice=False)
    last_contact_date = StringField(_l("Last contact (date, may be approximate)"), validators=[Length(max=20)])
    last_known_place = StringField(_l("Last known place"), validators=[Length(max=300)])
    notes = TextAreaField(_l("Notes"), validators=[Length(max=10000)])
    requester_name = StringField(_l("Name of the person asking"), validators=[Length(max=200)])
    requester_relationship = StringField(_l("Relationship to him (mother, wife…)"), validators=[Length(max=100)])
    phones = TextAreaField(_l("Phone numbers, one number per line"), validators=[Length(max=1000)])
    requester_country = SelectField(_l("Country the numbers are from (for numbers typed without +)"), default="RU",
                                    validate_choice=False)
    requester_email = StringField(_l("Email"), validators=[Length(max=254)])
    preferred_language = SelectField(_l("Language to write to the family in"), choices=options(INQUIRY_LANGUAGE_CHOICES),
                                     default="ru", validate_choice=False)
    consent_contact = BooleanField(_l("The family agrees to be contacted"))
    consent_share = BooleanField(_l("The family agrees that the details are shared with the ombudsman"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requester_country.choices = options(country_choices())  # type: ignore[assignment]


class InquirySearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField(_l("Reference, source reference or name (any script)"), validators=[Optional(), Length(max=200)])
    status = SelectField(_l("Status"), choices=options(INQUIRY_STATUS_FILTER_CHOICES), validate_choice=False)
    phone = StringField(_l("Requester's phone"), validators=[Optional(), Length(max=40)])


class InquiryStatusForm(FlaskForm):
    version = HiddenField()
    status = SelectField(_l("Status"), choices=options(INQUIRY_STATUS_CHOICES), validate_choice=False)
    closed_reason = SelectField(_l("Reason for closing"), choices=options(CLOSED_REASON_CHOICES), validate_choice=False)
    note = StringField(_l("Note (required for match found, exchange list, returned)"), validators=[Length(max=1000)])


class FamilyClearForm(FlaskForm):
    version = HiddenField()
    family_status = SelectField(_l("Status the family sees"), choices=options(INQUIRY_STATUS_CHOICES), validate_choice=False)
    family_message = TextAreaField(_l("Message to the family (plain text)"), validators=[Length(max=2000)])


class EraseContactForm(FlaskForm):
    """Erase a family's contact data at its request: a reason and a confirmation."""

    version = HiddenField()
    reason = TextAreaField(_l("Why (for example: the family asked by phone on 3 March)"),
                           validators=[Length(max=1000)])
    confirm = BooleanField(_l("Yes: erase the name, phone numbers and email of the person asking; this cannot be undone"))


class AssignForm(FlaskForm):
    version = HiddenField()
    assignee = SelectField(_l("Looked after by"), validate_choice=False)


class ReissueCodeForm(FlaskForm):
    confirm = BooleanField(_l("Yes: the family's current access code stops working"))
    submission = HiddenField()  # one-time token: a reload issues no second code (services/code_display.py)


# Ombudsman offices (admins) and exchange lists (staff).
LIST_KIND_CHOICES = [
    ("exchange", _l("Exchange proposal")),
    ("verification", _l("Verification request (whereabouts and health only)")),
]
LIST_STATE_CHOICES = [("draft", _l("Draft")), ("frozen", _l("Frozen")), ("closed", _l("Closed"))]
OUTCOME_CHOICES = [
    ("acknowledged", _l("Acknowledged")), ("not_found", _l("Not found")), ("exchanged", _l("Exchanged")),
    ("refused", _l("Refused")),
]
# The categories negotiators use (domain.exchange.CATEGORIES), in the reader's language.
CATEGORY_CHOICES = [
    ("seriously_wounded_or_sick", _l("Seriously wounded or sick")), ("young", _l("Young (18–25)")),
    ("conscript", _l("Conscript")), ("long_captivity", _l("Long captivity")),
    ("with_inquiry", _l("Family inquiry on file")),
]


def office_column_choices() -> list[tuple[str, str]]:
    """The spreadsheet's columns in their order, labelled in the user's language (the labels
    come with the spreadsheet: ru, uk or en; English for any other language)."""
    from flask_babel import get_locale

    from pow_registry.domain import exchange_xlsx

    language = str(get_locale() or "en").split("_")[0]
    order = [*exchange_xlsx.DEFAULT_COLUMNS, *(c for c in exchange_xlsx.COLUMNS if c not in exchange_xlsx.DEFAULT_COLUMNS)]
    choices = []
    for key in order:
        labels = exchange_xlsx.COLUMNS.get(key)
        if labels is not None:
            choices.append((key, labels.get(language) or labels.get("en") or key))
    return choices


class OfficeForm(FlaskForm):
    version = HiddenField()
    name = StringField(_l("Name"), validators=[Length(max=200)])
    country = StringField(_l("Country (two-letter code, such as UA)"), validators=[Length(max=10)])
    language = SelectField(_l("Language of the lists sent to this office"), choices=options(INQUIRY_LANGUAGE_CHOICES),
                           default="ru", validate_choice=False)
    contact = TextAreaField(_l("Contact (address, email, phone, person)"), validators=[Length(max=2000)])
    columns = MultiCheckboxField(_l("Columns the office wants (none ticked: all of them)"), validate_choice=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.columns.choices = options(office_column_choices())  # type: ignore[assignment]


class OfficeActiveForm(FlaskForm):
    version = HiddenField()
    active = HiddenField()  # "1": take lists again, "0": no new lists


class ListForm(FlaskForm):
    office_id = SelectField(_l("Ombudsman office"), validate_choice=False)
    kind = SelectField(_l("Kind of list"), choices=options(LIST_KIND_CHOICES), default="exchange",
                       validate_choice=False)
    title = StringField(_l("Title (optional)"), validators=[Length(max=200)])
    notes = TextAreaField(_l("Notes (for staff; not sent)"), validators=[Length(max=10000)])


class ListAddForm(FlaskForm):
    person_id = StringField(_l("Registry number of the person"), validators=[Length(max=12)])
    reason = StringField(_l("Why add him?"), validators=[Length(max=1000)])
    proposal = HiddenField()  # "1" when sent from a row of the app's proposals


class ListAddProposedForm(FlaskForm):
    person_ids = HiddenField()  # the proposals shown, comma-separated


class EntryRemoveForm(FlaskForm):
    version = HiddenField()
    reason = StringField(_l("Why remove him?"), validators=[Length(max=1000)])


OUTCOME_CHOICES = [
    ("acknowledged", _l("Acknowledged")), ("not_found", _l("Not found")),
    ("exchanged", _l("Exchanged")), ("refused", _l("Refused")),
]


class EntryOutcomeForm(FlaskForm):
    version = HiddenField()
    outcome = SelectField(_l("Answer"), choices=options(OUTCOME_CHOICES))
    outcome_date = StringField(_l("Date (for an exchange)"), validators=[Length(max=20)])
    note = StringField(_l("Note"), validators=[Length(max=2000)])


class AnswersImportForm(FlaskForm):
    file = FileField(_l("The office's spreadsheet with its answers (.xlsx or .csv)"))
    dry_run = BooleanField(_l("Only check the file, write nothing"))
    submission = HiddenField()  # one-time token: a reload starts no second job (services/jobs.py)


class ExportForm(FlaskForm):
    """A list's spreadsheet: made in a job the first time, then the kept file (web/exchange.py)."""

    submission = HiddenField()  # one-time token: a reload starts no second job


class JobButtonForm(FlaskForm):
    """A button that starts a job without a file (re-matching everything, a list matched again)."""

    submission = HiddenField()  # one-time token: a reload starts no second job


class EntryMoveForm(FlaskForm):
    version = HiddenField()
    position = StringField(_l("New row number"), validators=[Length(max=12)])
    reason = StringField(_l("Why move him?"), validators=[Length(max=1000)])


class ListFreezeForm(FlaskForm):
    version = HiddenField()
    confirm = BooleanField(_l("Yes: freeze the list. It can never be changed afterwards."))
