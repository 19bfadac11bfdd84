"""The audit log in words (issue 12, finding 5): what happened, to which record, and each change as
"Field: old → new" with the field's name and coded values in the reader's language. Contact data of
families is never shown, only which field changed (services/contact_data.redact_changes).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import url_for
from flask_login import current_user
from markupsafe import Markup, escape

from pow_registry.i18n import gettext as _
from pow_registry.i18n import lazy_gettext as _l
from pow_registry.models import Role
from pow_registry.web.helpers import utc_minute
from pow_registry.web.labels import label, status_basis, system_text

ACTION_LABELS: dict[str, Any] = {
    "auth.login": _l("Signed in"), "auth.login_failed": _l("Failed sign-in"), "auth.logout": _l("Signed out"),
    "user.create": _l("Account created"), "user.update": _l("Account changed"),
    "user.password_change": _l("Password changed"), "user.two_factor": _l("Two-factor sign-in turned on"), "user.api_token": _l("API token issued"),
    "person.create": _l("Person added"), "person.update": _l("Person edited"), "person.status": _l("Status changed"),
    "person.conflict": _l("Conflict noted"), "person.conflict_resolve": _l("Conflict resolved"),
    "person.merge": _l("Duplicates merged"), "person.merge_undo": _l("Merge undone"),
    "report.create": _l("Capture report added"), "report.update": _l("Capture report edited"),
    "evidence.create": _l("Evidence added"), "evidence.verify": _l("Evidence checked"),
    "import.captures": _l("Captures imported"), "import.inquiries": _l("Inquiries imported"),
    "inquiry.create": _l("Inquiry taken"), "inquiry.update": _l("Inquiry edited"),
    "inquiry.status": _l("Inquiry status changed"), "inquiry.family_clear": _l("Cleared for the family"),
    "inquiry.access_code": _l("Access code issued again"), "inquiry.link_person": _l("Inquiry linked to a person"),
    "inquiry.link_relative": _l("Relatives' inquiries linked"), "inquiry.assign": _l("Inquiry assigned"), "inquiry.contact_erase": _l("Contact data erased"),
    "match.confirm": _l("Match confirmed"), "match.reject": _l("Match rejected"),
    "office.create": _l("Office added"), "office.update": _l("Office changed"),
    "list.create": _l("List created"), "list.add": _l("Man added to a list"), "list.remove": _l("Man taken off a list"),
    "list.move": _l("Man moved on a list"), "list.freeze": _l("List frozen"), "list.export": _l("List downloaded"),
    "list.outcome": _l("Office's answer recorded"), "list.close": _l("List closed"),
    "counterpart.import": _l("Counterpart list imported"), "counterpart.apply": _l("Counterpart list applied"),
    "keys.rotate_contact_data": _l("Contact-data keys rotated"),
}

ENTITY_LABELS: dict[str, Any] = {
    "person": _l("Person"), "capture_report": _l("Capture report"), "evidence": _l("Evidence"),
    "inquiry": _l("Inquiry"), "match": _l("Match"), "exchange_list": _l("Exchange list"), "office": _l("Office"),
    "counterpart_list": _l("Counterpart list"), "user": _l("Account"), "import_batch": _l("Import"),
}

FIELD_LABELS: dict[str, Any] = {
    "surname": _l("Surname"), "given_name": _l("Given name"), "patronymic": _l("Patronymic"),
    "call_sign": _l("Call sign"), "appearance": _l("Appearance and distinguishing marks"),
    "father_name": _l("Father's name"), "mother_maiden_name": _l("Mother's maiden name"),
    "date_of_birth": _l("Date of birth"), "place_of_birth": _l("Place of birth"), "rank": _l("Rank"),
    "unit": _l("Unit"), "personal_number": _l("Personal number"), "home_region": _l("Home region"),
    "person_to_inform": _l("Person to inform"), "service_category": _l("Service category"), "health": _l("Health"),
    "notes": _l("Notes"), "claim": _l("Claim"), "capture_date": _l("Capture date"),
    "capture_place": _l("Capture place"), "reported_unit": _l("Reported unit"), "circumstances": _l("Circumstances"),
    "source_ref": _l("Source reference"), "url": _l("Link"), "kind": _l("Kind"), "publisher": _l("Publisher"),
    "published_at": _l("Published"), "source_reliability": _l("Source reliability"),
    "info_credibility": _l("Credibility"), "verification": _l("Verification"), "verification_note": _l("Note"),
    "verified_by_id": _l("Checked by"), "status": _l("Status"), "basis": _l("Basis"), "reason": _l("Reason"),
    "merged_person_id": _l("Duplicate record"), "moved_report_ids": _l("Reports moved"), "merge_id": _l("Merge"),
    "last_contact_date": _l("Last contact"), "last_known_place": _l("Last known place"),
    "requester_relationship": _l("Relationship"), "requester_country": _l("Country"),
    "preferred_language": _l("Language"), "consent_contact": _l("Consent to be contacted"),
    "consent_share": _l("Consent to share with the ombudsman"), "family_status": _l("What the family sees"),
    "family_message": _l("Message to the family"), "closed_reason": _l("Reason for closing"),
    "person_id": _l("Person"), "sought_group_id": _l("Relatives' group"), "match_id": _l("Match"),
    "score": _l("Score"), "name": _l("Name"), "country": _l("Country"), "language": _l("Language"),
    "contact": _l("Contact"), "columns": _l("Columns"), "is_active": _l("Active"), "title": _l("Title"),
    "office_id": _l("Office"), "number": _l("Number"), "state": _l("State"), "position": _l("Position"),
    "outcome": _l("Answer"), "outcome_date": _l("Date of the answer"), "outcome_note": _l("Note"),
    "entry": _l("Entry"), "email": _l("Email"), "display_name": _l("Name"), "roles": _l("Roles"),
    "is_active_user": _l("Active"), "filename": _l("File"), "file_size": _l("Size"), "rows": _l("Rows"),
    "rows_created": _l("Rows created"), "rows_skipped": _l("Rows skipped"), "erased": _l("Erased"), "by": _l("By"), "inquiries": _l("Inquiries"),
    "retention_days": _l("Retention (days)"), "assigned_to_id": _l("Looked after by"),
    "capture_report_id": _l("Capture report"), "pair": _l("Pair"),
    "reference": _l("Reference"), "family_cleared_at": _l("Cleared for the family"), "note": _l("Note"),
    "why": _l("Reason"), "phone_rows": _l("Phone numbers re-encrypted"), "two_factor": _l("Two-factor sign-in"),
    "access_code_issued_at": _l("Access code issued"), "archive_sha256": _l("Archived copy (SHA-256)"),
    "archive_filename": _l("Archived copy"), "channel": _l("Channel"), "categories": _l("Categories"),
}

# Codes some events carry as values, in words.
ERASED_FIELDS = {"requester_name": _l("name of the person asking"), "requester_email": _l("email address"),
                 "phones": _l("phone numbers")}
ERASED_BY = {"request": _l("at the family's request"), "retention": _l("the retention period was over")}
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?")

# What an event says about a family's contact data: which field changed, never a value.
CONTACT_CHANGE_LABELS = {
    "requester_name": _l("Name of the person asking changed"),
    "requester_email": _l("Email changed"),
    "phones": _l("Phone numbers changed"),
    "phones_as_typed": _l("Phone numbers as typed changed"),
}

# Fields whose values are codes, and the label group that names them.
VALUE_GROUPS = {
    "status": "status", "service_category": "service_category", "health": "health", "claim": "claim",
    "kind": "kind", "verification": "verification", "closed_reason": "closed_reason", "channel": "channel",
    "preferred_language": "language", "family_status": "inquiry_status", "outcome": "outcome",
    "state": "list_state", "roles": "role",
}
# The same field name means different things on different records ("kind" of evidence, of a list).
VALUE_GROUPS_BY_RECORD = {("exchange_list", "kind"): "list_kind", ("counterpart_list", "kind"): "counterpart_kind",
                          ("inquiry", "status"): "inquiry_status"}


def action_label(code: str) -> str:
    return str(ACTION_LABELS.get(code, code))


def entity_label(code: str) -> str:
    return str(ENTITY_LABELS.get(code, code))


def _value(field: str, value: Any, entity_type: str = "") -> Markup:
    if value is None or value == "" or value == []:
        return Markup("—")
    if isinstance(value, bool):
        return escape(_("yes") if value else _("no"))
    if isinstance(value, list):
        return Markup(", ").join(_value(field, item, entity_type) for item in value)
    group = VALUE_GROUPS_BY_RECORD.get((entity_type, field))
    if group is not None and isinstance(value, str):
        return escape(label(value, group))
    if field in VALUE_GROUPS and isinstance(value, str):
        return escape(label(value, VALUE_GROUPS[field]))
    if field == "erased" and isinstance(value, str):
        return escape(str(ERASED_FIELDS.get(value, value)))
    if field == "by" and isinstance(value, str):
        return escape(str(ERASED_BY.get(value, value)))
    if isinstance(value, str) and _MOMENT.fullmatch(value):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return escape(utc_minute(moment.astimezone(UTC) if moment.tzinfo is not None else moment))
    if field == "basis" and isinstance(value, str):
        return escape(status_basis(value))
    if field.endswith("_id") or field in ("merge_id", "entry", "number", "position"):
        return escape(f"#{value}" if isinstance(value, int) else value)
    if isinstance(value, dict):
        return Markup("<code>%s</code>") % json.dumps(value, ensure_ascii=False, sort_keys=True)
    return escape(system_text(str(value)) if field in ("reason", "why", "note") else str(value))


def change_lines(raw: str, entity_type: str = "") -> list[Markup]:
    """Each change as a line: "Field: old → new" (or "Field: value"); a family's contact field only
    as "Phone numbers changed", never its value."""
    from pow_registry.services.contact_data import redact_changes

    try:
        changes = json.loads(raw)
    except ValueError:
        return [escape(raw)]
    if not isinstance(changes, dict):
        return [escape(raw)]
    rest, contact = redact_changes(changes)
    lines = []
    for field in sorted(rest):
        value = rest[field]
        name = FIELD_LABELS.get(field)
        shown_name = escape(str(name)) if name is not None else Markup("<code>%s</code>") % field
        if isinstance(value, list) and len(value) == 2 and field not in ("moved_report_ids", "pair", "evidence"):
            lines.append(Markup("%s: %s → %s") % (shown_name, _value(field, value[0], entity_type),
                                                  _value(field, value[1], entity_type)))
        else:
            lines.append(Markup("%s: %s") % (shown_name, _value(field, value, entity_type)))
    lines.extend(escape(str(CONTACT_CHANGE_LABELS[name])) for name in contact)
    return lines


def record_link(entity_type: str, entity_id: int | None) -> Markup:
    """The record by its kind and number, linked only where the viewer may follow the link."""
    text = escape(f"{entity_label(entity_type)} #{entity_id}" if entity_id is not None else entity_label(entity_type))
    if entity_id is None or not getattr(current_user, "is_authenticated", False):
        return text
    link = _LINKS.get(entity_type)
    if link is None or not current_user.has_role(*link[1]):
        return text
    endpoint, _roles, argument = link
    values: dict[str, Any] = {argument: entity_id}
    return Markup('<a href="%s">%s</a>') % (url_for(endpoint, **values), text)


# Record type → (the page of such a record, the roles that may open it, its URL's argument).
_LINKS: dict[str, tuple[str, tuple[Role, ...], str]] = {
    "person": ("registry.person", (Role.researcher, Role.staff), "person_id"),
    "inquiry": ("inquiries.detail", (Role.staff,), "inquiry_id"),
    "exchange_list": ("lists.detail", (Role.staff,), "list_id"),
    "office": ("offices.edit", (Role.admin,), "office_id"),
    "user": ("admin.user_edit", (Role.admin,), "user_id"),
    "counterpart_list": ("counterpart.detail", (Role.staff,), "list_id"),
}
