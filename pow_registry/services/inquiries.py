"""Family inquiries, staff side: take, edit, triage, re-issue the access code, clear for the family.

An inquiry is a family's request to find a man (domain.md, "Inquiry"). It gets a reference that
is not a secret and an access code that is: the code is handed back once by the function that
made it (`IssuedInquiry.access_code`, `reissue_access_code`) and only its HMAC with the
access-code key is stored. Neither the code nor its digest ever reaches the audit log.

As in services/registry.py: all input is validated first (FieldErrors names each bad field and
nothing is written), a form's version is checked against the row (Conflict, never a silent
overwrite), one audit event per change, one commit. Only staff write; the one exception is
`create_inquiry` with no actor, which is the family's own form (the family blueprint).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import phonenumbers
from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from pow_registry import clock
from pow_registry.domain.names import mixed_script_words, name_skeleton
from pow_registry.domain.phones import InvalidPhone, PhoneNumber, parse_phone
from pow_registry.domain.references import (
    access_code_digest,
    new_access_code,
    new_reference,
    normalise_reference,
)
from pow_registry.domain.units import unit_number
from pow_registry.models import (
    AuditEvent,
    ClosedReason,
    Inquiry,
    InquiryChannel,
    InquiryPhone,
    InquiryStatus,
    Person,
    Role,
    ServiceCategory,
    User,
    utcnow,
)
from pow_registry.services import audit, contact_data, matching
from pow_registry.services.accounts import EMAIL_RE
from pow_registry.services.errors import N_, FieldErrors, Forbidden, Msg, NotFound

# One home for input parsing (services/parsing.py): the same rules for names, partial dates,
# choices and yes/no wherever they are typed.
from pow_registry.services.parsing import choice as _enum
from pow_registry.services.parsing import escape_like as _escape_like
from pow_registry.services.parsing import multiline as _multiline
from pow_registry.services.parsing import partial_date as _partial_date
from pow_registry.services.parsing import plain as _plain
from pow_registry.services.parsing import text as _text
from pow_registry.services.parsing import yes_no as _bool
from pow_registry.services.registry import MAX_PAGE_SIZE, NOTES_MAX
from pow_registry.services.transactions import check_version as _check_version
from pow_registry.services.transactions import drafts_of, insert_many
from pow_registry.services.transactions import unit_of_work as _unit_of_work

__all__ = [
    "DEFAULT_COUNTRY", "DERIVED_STATUSES", "FAMILY_MESSAGE_MAX", "INQUIRY_FIELDS", "LANGUAGES", "MAX_PHONES",
    "STATUS_TIERS", "InquiryDetail", "InquiryQuery", "IssuedInquiry", "NewInquiry", "change_status",
    "clear_for_family", "create_inquiries", "create_inquiry", "family_status_allowed", "get_inquiry",
    "inquiry_detail", "parse_family_clearance", "parse_inquiry", "parse_source_ref", "phone_regions", "phones_of", "reissue_access_code", "search_inquiries",
    "source_ref_taken", "update_inquiry",
]

# The fields a form or an import row may fill (no mass assignment: nothing else is read).
INQUIRY_NAME_FIELDS = {"surname": 200, "given_name": 200, "patronymic": 200}
INQUIRY_TEXT_FIELDS = {"unit": 300, "last_known_place": 300, "requester_name": 200,
                       "requester_relationship": 100}
INQUIRY_FIELDS = [
    *INQUIRY_NAME_FIELDS, "date_of_birth", "unit", "service_category", "last_contact_date",
    "last_known_place", "notes", "requester_name", "requester_relationship", "requester_email",
    "requester_country", "preferred_language", "consent_contact", "consent_share", "phones",
]
# What the audit log keeps of an inquiry in clear (never the access code's digest, never the
# family's contact data: of that only which field changed and a keyed digest, contact_data.py).
AUDIT_FIELDS = [f for f in INQUIRY_FIELDS if f not in contact_data.CONTACT_FIELDS]
LANGUAGES = ("ru", "uk", "en")
DEFAULT_COUNTRY = "RU"
MAX_PHONES = 10
FAMILY_MESSAGE_MAX = 2000
NOTE_MAX = 1000
# How far a search has come, as a family is told it; `closed` stands apart.
STATUS_TIERS = [InquiryStatus.received, InquiryStatus.searching, InquiryStatus.match_found,
                InquiryStatus.on_exchange_list, InquiryStatus.returned]
# Set by other services (matching review, exchange lists); by hand only with a note.
DERIVED_STATUSES = {InquiryStatus.match_found, InquiryStatus.on_exchange_list, InquiryStatus.returned}

_PHONE_SEPARATORS = re.compile(r"[,;\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def phone_regions() -> list[str]:
    """ISO 3166 alpha-2 regions phonenumbers can read numbers for (not the non-geographic 001)."""
    return sorted(r for r in phonenumbers.SUPPORTED_REGIONS if len(r) == 2 and r.isalpha())


_REGIONS = frozenset(phone_regions())


# ---------------------------------------------------------------------------------------------
# Input parsing


def _phone_pieces(value: Any) -> list[str]:
    """A list of numbers, or one text with a number per line (commas and semicolons too)."""
    if value is None:
        return []
    items = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
    return [p.strip() for item in items for p in _PHONE_SEPARATORS.split(item) if p.strip()]


def _phones(value: Any, country: str | None, errors: dict[str, str]) -> list[PhoneNumber]:
    pieces = _phone_pieces(value)
    if len(pieces) > MAX_PHONES:
        errors["phones"] = Msg(N_("At most %(n)d phone numbers."), n=MAX_PHONES)
        return []
    if country is None:  # the country is wrong: its own error says so, the numbers cannot be read
        return []
    parsed: list[PhoneNumber] = []
    bad: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(pieces, start=1):
        try:
            phone = parse_phone(raw, country)
        except InvalidPhone:
            bad.append(f"{number} ({raw[:40]})")
            continue
        if phone.e164 not in seen:
            seen.add(phone.e164)
            parsed.append(phone)
    if len(bad) == 1:
        errors["phones"] = Msg(N_("Number %(number)s is not a valid phone number for the chosen country."),
                               number=bad[0])
    elif bad:
        errors["phones"] = Msg(N_("These are not valid phone numbers for the chosen country: %(numbers)s."),
                               numbers="; ".join(bad))
    return parsed


def parse_inquiry(data: Mapping[str, Any], *, today: date | None = None,
                  require_requester: bool = True) -> dict[str, Any]:
    """Strings in (a form, an import row, the API), typed values out; FieldErrors for any problem.

    `phones` comes back as a list of `PhoneNumber` in the order given, without repeats.
    `require_requester` False: the family's contact data was erased, so an edit needs no name.
    """
    today = today or clock.today()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, limit in INQUIRY_NAME_FIELDS.items():
        values[name] = _plain(_text(data, name), limit, name, errors)
    if not values["surname"] and not values["given_name"]:
        errors["surname"] = N_("Give at least the surname or the given name of the man you are looking for.")
    for name, limit in INQUIRY_TEXT_FIELDS.items():
        values[name] = _plain(_text(data, name), limit, name, errors)
    if not values["requester_name"] and require_requester:
        errors["requester_name"] = N_("The name of the person asking is required.")
    values["date_of_birth"] = _partial_date(_text(data, "date_of_birth"), "date_of_birth", errors, today)
    values["last_contact_date"] = _partial_date(_text(data, "last_contact_date"), "last_contact_date", errors, today)
    values["service_category"] = _enum(ServiceCategory, _text(data, "service_category"), "service_category", errors)
    values["notes"] = _multiline(_text(data, "notes"))
    if len(values["notes"]) > NOTES_MAX:
        errors["notes"] = Msg(N_("Too long (at most %(n)d characters)."), n=NOTES_MAX)
    email = _plain(_text(data, "requester_email"), 254, "requester_email", errors)
    if email and not EMAIL_RE.match(email):
        errors["requester_email"] = N_("Enter a valid email address.")
    values["requester_email"] = email
    country: str | None = _text(data, "requester_country").strip().upper() or DEFAULT_COUNTRY
    if country not in _REGIONS:
        errors["requester_country"] = N_("Choose one of the listed countries.")
        country = None
    values["requester_country"] = country or DEFAULT_COUNTRY
    language = _text(data, "preferred_language").strip().lower() or LANGUAGES[0]
    if language not in LANGUAGES:
        errors["preferred_language"] = N_("Choose one of the listed values.")
    values["preferred_language"] = language
    values["consent_contact"] = _bool(data.get("consent_contact"), "consent_contact", errors)
    values["consent_share"] = _bool(data.get("consent_share"), "consent_share", errors)
    values["phones"] = _phones(data.get("phones"), country, errors)
    if errors:
        raise FieldErrors(errors)
    return values


def _apply(inquiry: Inquiry, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key != "phones":
            setattr(inquiry, key, value)
    inquiry.surname_key = name_skeleton(inquiry.surname)
    inquiry.given_name_key = name_skeleton(inquiry.given_name)
    inquiry.name_needs_review = bool(
        mixed_script_words(" ".join([inquiry.surname, inquiry.given_name, inquiry.patronymic]))
    )
    inquiry.birth_year = int(inquiry.date_of_birth[:4]) if inquiry.date_of_birth else None
    inquiry.unit_number = unit_number(inquiry.unit)


def _replace_phones(session: Session, inquiry_id: int, phones: list[PhoneNumber]) -> None:
    for old in session.exec(select(InquiryPhone).where(InquiryPhone.inquiry_id == inquiry_id)).all():
        session.delete(old)
    session.add_all(_phone_rows(session, inquiry_id, phones))


def phones_of(session: Session, inquiry_id: int) -> list[InquiryPhone]:
    return list(session.exec(select(InquiryPhone).where(InquiryPhone.inquiry_id == inquiry_id)
                             .order_by(col(InquiryPhone.position), col(InquiryPhone.id))).all())


def _snapshot(session: Session, inquiry: Inquiry, phones: Iterable[str]) -> dict[str, Any]:
    """What the audit log keeps: the fields in clear, the contact data as keyed digests."""
    return {**audit.snapshot(inquiry, AUDIT_FIELDS),
            **contact_data.contact_snapshot(contact_data.crypto_of(session), inquiry, phones)}


# ---------------------------------------------------------------------------------------------
# Loading with checks


def _require_staff(actor: User | None) -> User:
    if actor is None or not actor.has_role(Role.staff):
        raise Forbidden()
    return actor


def get_inquiry(session: Session, inquiry_id: int) -> Inquiry:
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise NotFound()
    return inquiry


def _lock_inquiry(session: Session, inquiry_id: int) -> Inquiry:
    """The row as stored now, locked until commit (PostgreSQL; SQLite serialises writers)."""
    inquiry = session.exec(
        select(Inquiry).where(Inquiry.id == inquiry_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if inquiry is None:
        raise NotFound()
    return inquiry


def source_ref_taken(session: Session, source_ref: str | None) -> bool:
    return bool(source_ref) and session.exec(
        select(Inquiry.id).where(Inquiry.source_ref == source_ref)
    ).first() is not None


def _free_reference(session: Session) -> str:
    """A new reference nobody has: 40 random bits, so a second try is already rare."""
    return _free_references(session, 1)[0]


def _free_references(session: Session, count: int) -> list[str]:
    """`count` new references nobody has and all different, looked up a few hundred at a time."""
    found: list[str] = []
    for _attempt in range(20):
        wanted = {new_reference() for _ in range(count - len(found))} - set(found)
        for start in range(0, len(wanted), 500):
            chunk = sorted(wanted)[start:start + 500]
            wanted -= set(session.exec(select(Inquiry.reference).where(col(Inquiry.reference).in_(chunk))).all())
        found.extend(sorted(wanted))
        if len(found) == count:
            return found
    raise RuntimeError("No free inquiry reference found in 20 tries.")  # pragma: no cover - 2**40 space


# ---------------------------------------------------------------------------------------------
# Creating, editing, the access code


@dataclass
class IssuedInquiry:
    """A new inquiry and its access code: the only time the code exists outside the family."""

    inquiry: Inquiry
    access_code: str


def _insert_inquiry(
    session: Session, *, actor: User | None, audit_key: bytes, access_key: bytes, values: dict[str, Any],
    channel: InquiryChannel, source_ref: str | None, reference: str | None = None,
    access_code: str | None = None,
) -> IssuedInquiry:
    """Write a parsed inquiry (the caller checked who may, and commits).

    `reference` and `access_code` are for the fixed, documented demo inquiry only; everything
    else gets fresh random ones.
    """
    code = access_code or new_access_code()
    inquiry = _new_inquiry(actor=actor, access_key=access_key, values=values, channel=channel,
                           source_ref=source_ref, reference=reference or _free_reference(session), code=code)
    session.add(inquiry)
    session.flush()
    _replace_phones(session, inquiry.id or 0, values["phones"])
    audit.record(session, key=audit_key, actor=actor, action="inquiry.create", entity_type="inquiry",
                 entity_id=inquiry.id, changes=_inquiry_created(session, inquiry, values["phones"]))
    return IssuedInquiry(inquiry, code)


# What a new inquiry is and what its audit event says: one builder each, for the one-by-one path
# and for `create_inquiries` (an import) alike.


def _new_inquiry(*, actor: User | None, access_key: bytes, values: dict[str, Any], channel: InquiryChannel,
                 source_ref: str | None, reference: str, code: str, make: Callable[..., Inquiry] = Inquiry) -> Inquiry:
    inquiry = make(
        reference=reference,
        access_code_digest=access_code_digest(code, access_key),
        channel=channel,
        source_ref=source_ref or None,
        status=InquiryStatus.searching if channel == InquiryChannel.staff else InquiryStatus.received,
        created_by_id=actor.id if actor else None,
    )
    _apply(inquiry, values)
    return inquiry


def _inquiry_created(session: Session, inquiry: Inquiry, phones: list[PhoneNumber]) -> dict[str, Any]:
    return audit.diff({}, {**_snapshot(session, inquiry, [p.e164 for p in phones]),
                           "reference": inquiry.reference, "channel": inquiry.channel.value,
                           "source_ref": inquiry.source_ref, "status": inquiry.status.value})


def _phone_rows(session: Session, inquiry_id: int, phones: list[PhoneNumber],
                make: Callable[..., InquiryPhone] = InquiryPhone) -> list[InquiryPhone]:
    crypto = contact_data.crypto_of(session)
    return [make(inquiry_id=inquiry_id, position=position, raw=phone.raw[:100], e164=phone.e164,
                         e164_index=crypto.blind_index(phone.e164), region=phone.region)
            for position, phone in enumerate(phones)]


def parse_source_ref(source_ref: str | None) -> str | None:
    """An imported inquiry's source_ref as stored (None: none given); FieldErrors if too long."""
    source_ref = (source_ref or "").strip() or None
    if source_ref is not None and len(source_ref) > 200:
        raise FieldErrors({"source_ref": Msg(N_("Too long (at most %(n)d characters)."), n=200)})
    return source_ref


@dataclass
class NewInquiry:
    """An inquiry already parsed (parse_inquiry, parse_source_ref): what an import row becomes."""

    values: dict[str, Any]
    source_ref: str | None


@_unit_of_work
def create_inquiries(
    *, session: Session, actor: User, audit_key: bytes, access_key: bytes, items: list[NewInquiry],
    channel: InquiryChannel = InquiryChannel.imported,
) -> list[IssuedInquiry]:
    """Many new inquiries written in bulk (an import), each with a fresh reference and access code
    handed back (never stored; the inquiries as written, not objects of the session): the same rows and audit events, in the same order, as
    create_inquiry for each, in a few multi-row INSERTs instead of a flush per object. The
    caller looked the source refs up (the unique index still refuses one added meanwhile:
    IntegrityError) and commits.
    """
    _require_staff(actor)
    channel = InquiryChannel(channel)
    codes = [new_access_code() for _ in items]
    # Drafts, not table objects: the same builders, without the ORM's bookkeeping (insert_many).
    new_inquiry, new_phone = drafts_of(Inquiry), drafts_of(InquiryPhone)
    inquiries = [_new_inquiry(actor=actor, access_key=access_key, values=item.values, channel=channel,
                              source_ref=item.source_ref, reference=reference, code=code, make=new_inquiry)
                 for item, reference, code in zip(items, _free_references(session, len(items)), codes, strict=True)]
    ids = insert_many(session, Inquiry, [inquiry.model_dump(exclude={"id"}) for inquiry in inquiries])
    phones: list[InquiryPhone] = []
    events: list[audit.Pending] = []
    for inquiry, inquiry_id, item in zip(inquiries, ids, items, strict=True):
        inquiry.id = inquiry_id
        phones.extend(_phone_rows(session, inquiry_id, item.values["phones"], new_phone))
        events.append(audit.Pending("inquiry.create", "inquiry", inquiry_id,
                                    _inquiry_created(session, inquiry, item.values["phones"])))
    insert_many(session, InquiryPhone, [phone.model_dump(exclude={"id"}) for phone in phones])
    audit.record_many(session, key=audit_key, actor=actor, events=events)
    matching.note_changed(session, {("inquiry", inquiry_id) for inquiry_id in ids})
    return [IssuedInquiry(inquiry, code) for inquiry, code in zip(inquiries, codes, strict=True)]


@_unit_of_work
def create_inquiry(
    *,
    session: Session,
    actor: User | None,
    audit_key: bytes,
    access_key: bytes,
    data: Mapping[str, Any],
    channel: InquiryChannel = InquiryChannel.staff,
    source_ref: str | None = None,
    commit: bool = True,
    source_ref_checked: bool = False,
) -> IssuedInquiry:
    """A new inquiry with a fresh reference and access code; the code is returned, never stored.

    `actor` None is the family's own form (or the system): allowed only for a channel other than
    `staff`. Staff-taken inquiries start as `searching`, the others as `received`.
    `source_ref_checked`: an import already looked up all its source refs at once.
    """
    channel = InquiryChannel(channel)
    if actor is None:
        if channel == InquiryChannel.staff:
            raise Forbidden()
    else:
        _require_staff(actor)
    values = parse_inquiry(data)
    source_ref = parse_source_ref(source_ref)
    if not source_ref_checked and source_ref_taken(session, source_ref):
        raise FieldErrors({"source_ref": N_("An inquiry with this source reference already exists.")})
    issued = _insert_inquiry(session, actor=actor, audit_key=audit_key, access_key=access_key, values=values,
                             channel=channel, source_ref=source_ref)
    if commit:
        session.commit()
    return issued


@_unit_of_work
def update_inquiry(
    *, session: Session, actor: User, audit_key: bytes, inquiry_id: int, version: int | str | None,
    data: Mapping[str, Any],
) -> Inquiry:
    """Staff correct what the family told them; the phone numbers are replaced as a whole."""
    _require_staff(actor)
    row = _lock_inquiry(session, inquiry_id)
    _check_version(row, version)
    values = parse_inquiry(data, require_requester=row.contact_erased_at is None)
    before = _snapshot(session, row, [p.e164 for p in phones_of(session, inquiry_id)])
    old_phones = [(p.raw, p.e164) for p in phones_of(session, inquiry_id)]
    _apply(row, values)
    if row.contact_erased_at is not None and (row.requester_name or row.requester_email or values["phones"]):
        row.contact_erased_at = None  # the family gave us a way to reach them again
    changes: dict[str, Any] = audit.diff(before, _snapshot(session, row, [p.e164 for p in values["phones"]]))
    phones_changed = old_phones != [(p.raw, p.e164) for p in values["phones"]]
    if phones_changed and "phones" not in changes:  # the same numbers, typed differently
        changes["phones_as_typed"] = contact_data.contact_changes(
            contact_data.crypto_of(session), "phone_as_typed", [raw for raw, _e164 in old_phones],
            [p.raw for p in values["phones"]])
    if changes or phones_changed:
        row.updated_at = utcnow()  # also bumps the version when only the numbers changed
        session.add(row)
        if phones_changed:
            _replace_phones(session, inquiry_id, values["phones"])
        audit.record(session, key=audit_key, actor=actor, action="inquiry.update", entity_type="inquiry",
                     entity_id=row.id, changes=changes)
        session.commit()
    return row


@_unit_of_work
def reissue_access_code(
    *, session: Session, actor: User, audit_key: bytes, access_key: bytes, inquiry_id: int, commit: bool = True,
) -> str:
    """A new access code for a family that lost theirs; the old one stops working at once."""
    _require_staff(actor)
    row = _lock_inquiry(session, inquiry_id)
    code = new_access_code()
    before = row.access_code_issued_at
    row.access_code_digest = access_code_digest(code, access_key)
    row.access_code_issued_at = utcnow()
    row.updated_at = row.access_code_issued_at
    session.add(row)
    audit.record(session, key=audit_key, actor=actor, action="inquiry.access_code", entity_type="inquiry",
                 entity_id=row.id, changes=audit.diff({"access_code_issued_at": before},
                                                      {"access_code_issued_at": row.access_code_issued_at}))
    if commit:
        session.commit()
    return code


# ---------------------------------------------------------------------------------------------
# Triage and what the family sees


def _note(note: str, name: str = "note", limit: int = NOTE_MAX) -> str:
    note = _multiline(note or "")
    if len(note) > limit:
        raise FieldErrors({name: Msg(N_("Too long (at most %(n)d characters)."), n=limit)})
    return note


@_unit_of_work
def change_status(
    *, session: Session, actor: User, audit_key: bytes, inquiry_id: int, version: int | str | None,
    status: InquiryStatus | str, closed_reason: ClosedReason | str | None = None, note: str = "",
) -> Inquiry:
    """Staff triage: take it up (received → searching), close it with a reason, reopen it.

    match_found, on_exchange_list and returned normally follow from a confirmed match or an
    exchange list; set by hand they need a note saying why. What the family sees does not change
    here: staff clear that separately (`clear_for_family`).
    """
    _require_staff(actor)
    row = _lock_inquiry(session, inquiry_id)
    _check_version(row, version)
    errors: dict[str, str] = {}
    try:
        new_status = InquiryStatus(status)
    except ValueError:
        raise FieldErrors({"status": N_("Choose one of the listed values.")}) from None
    reason: ClosedReason | None = None
    if new_status == InquiryStatus.closed:
        if not closed_reason:
            errors["closed_reason"] = N_("Say why the inquiry is closed.")
        else:
            try:
                reason = ClosedReason(closed_reason)
            except ValueError:
                errors["closed_reason"] = N_("Choose one of the listed values.")
    note = _note(note)
    if new_status in DERIVED_STATUSES and new_status != row.status and not note:
        errors["note"] = N_("This status normally follows from a confirmed match or an exchange list: say why you set it by hand.")
    if errors:
        raise FieldErrors(errors)
    if (new_status, reason) == (row.status, row.closed_reason):
        return row  # nothing changes
    before = {"status": row.status, "closed_reason": row.closed_reason}
    row.updated_at = utcnow()
    if new_status == InquiryStatus.closed:
        if row.status != InquiryStatus.closed:
            row.closed_at = row.updated_at  # the contact data's retention period counts from here
    else:
        row.closed_at = None
    row.status = new_status
    row.closed_reason = reason
    session.add(row)
    changes: dict[str, Any] = audit.diff(before, {"status": row.status, "closed_reason": row.closed_reason})
    if note:
        changes["note"] = note
    audit.record(session, key=audit_key, actor=actor, action="inquiry.status", entity_type="inquiry",
                 entity_id=row.id, changes=changes)
    session.commit()
    return row


def family_status_allowed(inquiry_status: InquiryStatus, family_status: InquiryStatus) -> bool:
    """A family may be told a tier the search has reached, never more; `closed` only when it is."""
    if family_status == InquiryStatus.closed or inquiry_status == InquiryStatus.closed:
        return family_status == inquiry_status
    return STATUS_TIERS.index(family_status) <= STATUS_TIERS.index(inquiry_status)


def parse_family_clearance(inquiry_status: InquiryStatus, family_status: InquiryStatus | str,
                           message: str) -> tuple[InquiryStatus, str]:
    """The status and message a family would see, checked and cleaned exactly as they would be
    stored (a preview shows the same); FieldErrors when the family may not be told that."""
    errors: dict[str, str] = {}
    chosen: InquiryStatus | None = None
    try:
        chosen = InquiryStatus(family_status)
    except ValueError:
        errors["family_status"] = N_("Choose one of the listed values.")
    if chosen is not None and not family_status_allowed(inquiry_status, chosen):
        if chosen == InquiryStatus.closed:
            errors["family_status"] = N_("The family can be told this only when the inquiry is closed.")
        elif inquiry_status == InquiryStatus.closed:
            errors["family_status"] = N_("The inquiry is closed: the family can only be told that it is closed.")
        else:
            errors["family_status"] = N_("The family cannot be told more than the search has reached.")
    try:
        text = _note(message, "family_message", FAMILY_MESSAGE_MAX)
    except FieldErrors as exc:
        errors.update(exc.errors)
        text = ""
    if errors or chosen is None:
        raise FieldErrors(errors)
    return chosen, text


@_unit_of_work
def clear_for_family(
    *, session: Session, actor: User, audit_key: bytes, inquiry_id: int, version: int | str | None,
    family_status: InquiryStatus | str, message: str,
) -> Inquiry:
    """Set what the family sees on its status page: a status tier and a plain-text message."""
    _require_staff(actor)
    row = _lock_inquiry(session, inquiry_id)
    _check_version(row, version)
    chosen, text = parse_family_clearance(row.status, family_status, message)
    before = {"family_status": row.family_status, "family_message": row.family_message,
              "family_cleared_at": row.family_cleared_at}
    row.family_status = chosen
    row.family_message = text
    row.family_cleared_at = utcnow()
    row.family_cleared_by_id = actor.id
    row.updated_at = row.family_cleared_at
    session.add(row)
    audit.record(session, key=audit_key, actor=actor, action="inquiry.family_clear", entity_type="inquiry",
                 entity_id=row.id, changes=audit.diff(before, {"family_status": row.family_status,
                                                               "family_message": row.family_message,
                                                               "family_cleared_at": row.family_cleared_at}))
    session.commit()
    return row


# ---------------------------------------------------------------------------------------------
# Search and the inquiry page


@dataclass
class InquiryQuery:
    text: str = ""  # a reference, a source reference, or names in any script
    status: str = ""
    phone: str = ""  # read with the default region below, compared in E.164
    country: str = DEFAULT_COUNTRY


def search_inquiries(session: Session, query: InquiryQuery, *, page: int = 1,
                     page_size: int = 25) -> tuple[list[Inquiry], int]:
    """Newest first. A reference finds its inquiry; otherwise every word must match a name."""
    errors: dict[str, str] = {}
    conditions: list[Any] = []
    text = query.text.strip()
    if text:
        # A reference, a source reference or names: any of them may be meant (an eight-letter
        # surname can also read as a reference), so each is tried.
        alternatives: list[Any] = [col(Inquiry.source_ref) == text]
        reference = normalise_reference(text)
        if reference is not None:
            alternatives.append(col(Inquiry.reference) == reference)
        tokens = [key for key in (name_skeleton(t) for t in text.replace(",", " ").split()) if key]
        if tokens:
            alternatives.append(and_(*(
                or_(col(Inquiry.given_name_key) == key,
                    col(Inquiry.surname_key).like(_escape_like(key) + "%", escape="\\") if len(key) >= 3
                    else col(Inquiry.surname_key) == key)
                for key in tokens)))
        conditions.append(or_(*alternatives))
    if query.status:
        try:
            conditions.append(col(Inquiry.status) == InquiryStatus(query.status))
        except ValueError:
            errors["status"] = N_("Choose one of the listed values.")
    if query.phone.strip():
        country = query.country if query.country in _REGIONS else DEFAULT_COUNTRY
        try:
            e164 = parse_phone(query.phone, country).e164
        except InvalidPhone:
            errors["phone"] = N_("This is not a valid phone number.")
        else:
            # The numbers are encrypted: the search compares their keyed blind index.
            index = contact_data.crypto_of(session).blind_index(e164)
            conditions.append(col(Inquiry.id).in_(select(InquiryPhone.inquiry_id)
                                                  .where(InquiryPhone.e164_index == index)))
    if errors:
        raise FieldErrors(errors)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    base = select(Inquiry).where(and_(*conditions)) if conditions else select(Inquiry)
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    rows = session.exec(base.order_by(col(Inquiry.id).desc())
                        .offset((max(page, 1) - 1) * page_size).limit(page_size)).all()
    return list(rows), int(total)


@dataclass
class InquiryDetail:
    inquiry: Inquiry
    phones: list[InquiryPhone]
    person: Person | None
    relatives: list[Inquiry]  # other families asking about the same man
    audit_events: list[AuditEvent]
    users: dict[int, User] = field(default_factory=dict)


def inquiry_detail(session: Session, inquiry_id: int) -> InquiryDetail:
    inquiry = get_inquiry(session, inquiry_id)
    person = session.get(Person, inquiry.person_id) if inquiry.person_id is not None else None
    relatives: list[Inquiry] = []
    if inquiry.sought_group_id is not None:
        relatives = list(session.exec(select(Inquiry).where(Inquiry.sought_group_id == inquiry.sought_group_id,
                                                            Inquiry.id != inquiry_id)
                                      .order_by(col(Inquiry.id)).limit(100)).all())
    events = list(session.exec(select(AuditEvent).where(AuditEvent.entity_type == "inquiry",
                                                        AuditEvent.entity_id == inquiry_id)
                               .order_by(col(AuditEvent.id).desc()).limit(200)).all())
    user_ids = {inquiry.created_by_id, inquiry.family_cleared_by_id} - {None}
    users = {u.id: u for u in session.exec(select(User).where(col(User.id).in_(user_ids))).all()} if user_ids else {}
    return InquiryDetail(inquiry, phones_of(session, inquiry_id), person, relatives, events,
                         users)  # type: ignore[arg-type]
