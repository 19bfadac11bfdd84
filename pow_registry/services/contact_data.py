"""A family's contact data: what the audit log keeps of it, erasure, retention, key rotation.

The requester's name, email and phone numbers are encrypted at rest (models.EncryptedText, keys
in the app config: domain/contact_crypto.py). The audit log never holds them: an event names the
contact fields that changed and gives a keyed digest of each new value (`contact_changes`), so
"phone changed" can be seen and two values told apart, and nothing can be read back. Erasure (on
a family's request, or `retention_run` after CONTACT_DATA_RETENTION_DAYS) empties those fields and
deletes the phone rows; the inquiry, the sought man's data and the family's status page stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from pow_registry import clock
from pow_registry.domain.contact_crypto import ContactCrypto
from pow_registry.domain.names import name_skeleton
from pow_registry.models import (
    Inquiry,
    InquiryPhone,
    Role,
    User,
    contact_crypto_of,
)
from pow_registry.services import audit
from pow_registry.services.errors import N_, FieldErrors, Forbidden, NotFound
from pow_registry.services.transactions import check_version, unit_of_work

__all__ = [
    "CONTACT_FIELDS", "DUPLICATE_WINDOW", "ErasedInquiry", "RotationReport", "contact_changes", "crypto_of",
    "erase_contact_data", "has_contact_data", "recent_same_inquiry", "redact_changes", "retention_due",
    "retention_run", "rotate_contact_data",
]

# The fields of an inquiry (and of its audit events) that are a family's contact data.
CONTACT_FIELDS = ("requester_name", "requester_email", "phones", "phones_as_typed")
REASON_MAX = 1000
# The same phone asking about the same man within this long is taken as the same inquiry sent again.
DUPLICATE_WINDOW = timedelta(days=1)


def crypto_of(session: Session) -> ContactCrypto:
    """The contact-data keys of the engine this session is bound to (db.make_engine)."""
    crypto = contact_crypto_of(session.get_bind().dialect)
    assert isinstance(crypto, ContactCrypto)
    return crypto


def contact_snapshot(crypto: ContactCrypto, inquiry: Inquiry, phones: Iterable[str]) -> dict[str, Any]:
    """Digests standing in for the contact values in an audit snapshot ("" for an empty value)."""
    return {
        "requester_name": crypto.digest("requester_name", inquiry.requester_name) if inquiry.requester_name else "",
        "requester_email": crypto.digest("requester_email", inquiry.requester_email) if inquiry.requester_email else "",
        "phones": [crypto.digest("phone", e164) for e164 in phones],
    }


def contact_changes(crypto: ContactCrypto, field_name: str, old: Sequence[str], new: Sequence[str]) -> list[Any]:
    """[old digests, new digests] for a list-valued contact field (phones as typed)."""
    return [[crypto.digest(field_name, v) for v in old], [crypto.digest(field_name, v) for v in new]]


def redact_changes(changes: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """An event's changes as anyone may see them: the contact fields taken out and only named.

    Events written before contact data was encrypted may still hold values; they are never shown
    (the chain covers them, so they cannot be rewritten without breaking it).
    """
    rest = {key: value for key, value in changes.items() if key not in CONTACT_FIELDS}
    return rest, [key for key in CONTACT_FIELDS if key in changes]


def has_contact_data(inquiry: Inquiry, phones: Sequence[InquiryPhone]) -> bool:
    return bool(inquiry.requester_name or inquiry.requester_email or phones)


# ---------------------------------------------------------------------------------------------
# Erasure


def _erase(session: Session, row: Inquiry, *, now: datetime) -> list[str]:
    """Empty the contact fields and delete the phone rows; the names of what held data."""
    phones = list(session.exec(select(InquiryPhone).where(InquiryPhone.inquiry_id == row.id)).all())
    erased = [name for name in ("requester_name", "requester_email") if getattr(row, name)]
    if phones:
        erased.append("phones")
    for phone in phones:
        session.delete(phone)
    row.requester_name = ""
    row.requester_email = ""
    row.contact_erased_at = now
    row.updated_at = now
    session.add(row)
    return erased


@unit_of_work
def erase_contact_data(
    *, session: Session, actor: User, audit_key: bytes, inquiry_id: int, version: int | str | None,
    reason: str, confirmed: bool,
) -> Inquiry:
    """Staff erase a family's contact data at its request: name, email and phone numbers go;
    the inquiry, the man it is about and the family's reference and code stay."""
    if not actor.has_role(Role.staff):
        raise Forbidden()
    row = session.exec(select(Inquiry).where(Inquiry.id == inquiry_id).with_for_update()
                       .execution_options(populate_existing=True)).first()
    if row is None:
        raise NotFound()
    check_version(row, version)
    errors: dict[str, str] = {}
    reason = " ".join((reason or "").split())
    if not reason:
        errors["reason"] = N_("Say why the contact data is erased (for example: the family asked on this date).")
    elif len(reason) > REASON_MAX:
        errors["reason"] = N_("Too long.")
    if not confirmed:
        errors["confirm"] = N_("Tick the box to confirm: erased contact data cannot be brought back.")
    if errors:
        raise FieldErrors(errors)
    erased = _erase(session, row, now=clock.now())
    audit.record(session, key=audit_key, actor=actor, action="inquiry.contact_erase", entity_type="inquiry",
                 entity_id=row.id, changes={"erased": erased, "reason": reason, "by": "request"})
    session.commit()
    return row


@dataclass
class ErasedInquiry:
    inquiry_id: int
    reference: str
    closed_at: datetime | None


def retention_due(session: Session, *, days: int, now: datetime | None = None) -> list[Inquiry]:
    """Closed inquiries whose contact data is past the retention period and not yet erased."""
    now = now or clock.now()
    cutoff = now - timedelta(days=days)
    return list(session.exec(select(Inquiry).where(
        col(Inquiry.closed_at).is_not(None), col(Inquiry.closed_at) <= cutoff,
        col(Inquiry.contact_erased_at).is_(None),
    ).order_by(col(Inquiry.id))).all())


@unit_of_work
def retention_run(*, session: Session, audit_key: bytes, days: int, dry_run: bool = False) -> list[ErasedInquiry]:
    """Erase the contact data of every inquiry closed more than `days` days ago (one audit event
    each); with dry_run, only say which. Idempotent: an erased inquiry is not erased again."""
    now = clock.now()
    due = retention_due(session, days=days, now=now)
    done = [ErasedInquiry(row.id or 0, row.reference, row.closed_at) for row in due]
    if dry_run or not due:
        session.rollback()
        return done
    for row in due:
        erased = _erase(session, row, now=now)
        audit.record(session, key=audit_key, actor=None, action="inquiry.contact_erase", entity_type="inquiry",
                     entity_id=row.id, changes={"erased": erased, "by": "retention", "retention_days": days})
    session.commit()
    return done


# ---------------------------------------------------------------------------------------------
# Key rotation


@dataclass
class RotationReport:
    inquiries: int = 0
    phones: int = 0
    checked: int = 0
    ids: list[int] = field(default_factory=list)


_ROTATED_COLUMNS = (("inquiry", ("requester_name_enc", "requester_email_enc")),
                    ("inquiry_phone", ("raw_enc", "e164_enc")))


@unit_of_work
def rotate_contact_data(*, session: Session, audit_key: bytes, batch: int = 500) -> RotationReport:
    """Re-encrypt every contact field not yet under the first key (after an operator put a new
    key first in CONTACT_DATA_KEYS). Plain rows, not ORM objects (the version of an inquiry does
    not change: nothing a person would see changed). Running it again changes nothing."""
    crypto = crypto_of(session)
    report = RotationReport()
    conn = session.connection()
    for table, columns in _ROTATED_COLUMNS:
        last_id = 0
        while True:
            rows = conn.execute(text(
                f"SELECT id, {', '.join(columns)} FROM {table} WHERE id > :last ORDER BY id LIMIT :n"),  # noqa: S608 - fixed names
                {"last": last_id, "n": batch}).all()
            if not rows:
                break
            for row in rows:
                last_id = row.id
                report.checked += 1
                stale = {c: getattr(row, c) for c in columns if not crypto.is_current(getattr(row, c))}
                if not stale:
                    continue
                assignments = ", ".join(f"{c} = :{c}" for c in stale)
                conn.execute(text(f"UPDATE {table} SET {assignments} WHERE id = :id"),  # noqa: S608 - fixed names
                             {"id": row.id, **{c: crypto.rotate(v) for c, v in stale.items()}})
                if table == "inquiry":
                    report.inquiries += 1
                else:
                    report.phones += 1
    if report.inquiries or report.phones:
        audit.record(session, key=audit_key, actor=None, action="keys.rotate_contact_data", entity_type="inquiry",
                     entity_id=None, changes={"inquiries": report.inquiries, "phone_rows": report.phones})
    session.commit()
    return report


# ---------------------------------------------------------------------------------------------
# The same family sending the same inquiry again


def recent_same_inquiry(session: Session, *, e164s: Sequence[str], surname: str, given_name: str,
                        now: datetime | None = None) -> Inquiry | None:
    """An inquiry made in the last day from one of these phone numbers about a man of the same
    surname and given name (compared by their script-blind keys), if any."""
    if not e164s:
        return None
    crypto = crypto_of(session)
    now = now or clock.now()
    surname_key, given_key = name_skeleton(surname), name_skeleton(given_name)
    indexes = [crypto.blind_index(e164) for e164 in e164s]
    return session.exec(select(Inquiry).where(
        col(Inquiry.id).in_(select(InquiryPhone.inquiry_id).where(col(InquiryPhone.e164_index).in_(indexes))),
        col(Inquiry.surname_key) == surname_key, col(Inquiry.given_name_key) == given_key,
        col(Inquiry.created_at) >= now - DUPLICATE_WINDOW,
    ).order_by(col(Inquiry.id).desc())).first()
