"""What a family sees of its own inquiry, given its reference and access code (no account).

Only what staff cleared reaches a family: the tier set in `Inquiry.family_status` (or `received`
while nothing was cleared), the date of the last check and the cleared message. Never a name,
evidence, a link, a person id, the internal status or another family's data (domain.md, "What a
family may see"; Geneva Convention III Art. 13).

A wrong reference, a malformed one and a wrong code get the same answer (None) for the same
work: one database look-up and exactly one HMAC comparison each time (security.md, "The family's
page"). Rate limits are the caller's job and come before this is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from pow_registry.domain.references import access_code_matches, normalise_reference
from pow_registry.models import (
    ExchangeList,
    ExchangeListEntry,
    Inquiry,
    InquiryStatus,
    ListKind,
    Outcome,
)

__all__ = ["FamilyView", "check_status"]

# Compared against when there is no real digest (unknown or malformed reference): a well-formed
# hex digest, so the comparison does the same work as a real one. No inquiry carries it, and a
# match against it is never a success anyway.
_DUMMY_DIGEST = "5" * 64
# Looked up in place of a malformed reference: never a real reference ("U" is not in the
# alphabet references are made of), so the database does the same work and finds nothing.
_NO_REFERENCE = "INQ-UUUU-UUUU"


@dataclass(frozen=True)
class FamilyView:
    """Everything a family may see of its inquiry, and nothing else."""

    reference: str
    status: InquiryStatus  # the tier staff cleared for the family; `received` until then
    last_checked: date | None
    message: str  # plain text, as staff cleared it: the page escapes it
    language: str  # the family's preferred language
    # With `on_exchange_list`: the day his name was sent; with `returned`: the day of the exchange.
    since: date | None = None


def check_status(session: Session, *, reference: str, code: str, key: bytes) -> FamilyView | None:
    """The family's view of the inquiry with this reference, if the access code is right.

    None for any failure (malformed or unknown reference, wrong or malformed code), after the
    same work in every case. Reads only: nothing is written.
    """
    normalised = normalise_reference(reference) if isinstance(reference, str) else None
    inquiry = session.exec(
        select(Inquiry).where(Inquiry.reference == (normalised or _NO_REFERENCE))
    ).first()
    if normalised is None:
        inquiry = None
    digest = inquiry.access_code_digest if inquiry is not None else _DUMMY_DIGEST
    # Exactly one HMAC and one constant-time comparison, found or not.
    matches = access_code_matches(code if isinstance(code, str) else "", digest, key)
    if inquiry is None or not matches:
        return None
    return view_of(session, inquiry)


def view_of(session: Session, inquiry: Inquiry, *, status: InquiryStatus | None = None,
            message: str | None = None) -> FamilyView:
    """What the family of `inquiry` reads: as cleared, or (for staff's preview) with the status
    and message staff are about to clear. The one source of the family's page and the preview."""
    if status is None:
        status = InquiryStatus(inquiry.family_status) if inquiry.family_status else InquiryStatus.received
    return FamilyView(
        reference=inquiry.reference,
        status=status,
        since=_since(session, inquiry.person_id, status),
        last_checked=inquiry.last_checked_at.date() if inquiry.last_checked_at else None,
        message=(inquiry.family_message or "") if message is None else message,
        language=inquiry.preferred_language,
    )


def _since(session: Session, person_id: int | None, status: InquiryStatus) -> date | None:
    """The date that goes with the tier shown (only once the code was right)."""
    if person_id is None or status not in (InquiryStatus.on_exchange_list, InquiryStatus.returned):
        return None
    query = (
        select(ExchangeList, ExchangeListEntry)
        .join(ExchangeListEntry, col(ExchangeListEntry.list_id) == col(ExchangeList.id))
        .where(ExchangeListEntry.person_id == person_id, ExchangeList.kind == ListKind.exchange,
               col(ExchangeList.frozen_at).is_not(None), col(ExchangeListEntry.removed_at).is_(None))
        .order_by(col(ExchangeList.frozen_at).desc())
    )
    for exchange_list, entry in session.exec(query):
        if status == InquiryStatus.returned:
            if entry.outcome == Outcome.exchanged and entry.outcome_date:
                return date.fromisoformat(entry.outcome_date)
        elif exchange_list.frozen_at is not None:
            return exchange_list.frozen_at.date()
    return None
