"""A staff member's day on one page (issue 12, "A home page for staff"): my inquiries, how many
inquiries stand at each status, and what waits on staff, oldest first: new inquiries, candidate
matches to review, inquiries whose family still reads less (or more) than the search has reached,
lists whose answers are due. A fixed number of queries, whatever the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from pow_registry.models import (
    ExchangeList,
    Inquiry,
    InquiryStatus,
    ListState,
    MatchCandidate,
    MatchStatus,
    OmbudsmanOffice,
    Role,
    User,
)
from pow_registry.services import audit
from pow_registry.services.errors import N_, FieldErrors, Forbidden, NotFound
from pow_registry.services.transactions import check_version

# How far the search has come, in the order a family learns it (closed apart: it ends any tier).
TIER_ORDER = [InquiryStatus.received, InquiryStatus.searching, InquiryStatus.match_found,
              InquiryStatus.on_exchange_list, InquiryStatus.returned]
SHOWN = 10  # items per waiting list on the page; the counts say how many there are


@dataclass
class Waiting:
    """One kind of work waiting on staff: how many, and the oldest few."""

    total: int = 0
    oldest: Sequence[Any] = field(default_factory=list)


@dataclass
class StaffHome:
    mine: list[Inquiry]
    by_status: dict[InquiryStatus, int]
    new_inquiries: Waiting
    matches_to_review: Waiting  # MatchCandidate rows (inquiry ↔ person), oldest first
    family_lags: Waiting  # inquiries whose family view is not where the search is
    answers_due: Waiting  # frozen exchange lists still waiting for answers, oldest freeze first
    offices: dict[int, str]


def _tier(status: InquiryStatus | None) -> int:
    return TIER_ORDER.index(status) if status in TIER_ORDER else -1


def family_lags(inquiry: Inquiry) -> bool:
    """The family reads something other than where the search stands (e.g. returned, but the
    family still reads "match found"), so someone should clear what the family sees."""
    if inquiry.status == InquiryStatus.closed:
        return inquiry.family_status != InquiryStatus.closed
    seen = inquiry.family_status or InquiryStatus.received
    return _tier(seen) != _tier(inquiry.status) and inquiry.status != InquiryStatus.received


# `family_lags` as a query (each status is its own tier, and "received" is what an uncleared
# inquiry reads): the search moved past "received" and the family does not read that status.
FAMILY_LAGS = (col(Inquiry.status) != InquiryStatus.received) & (
    col(Inquiry.family_status).is_(None) | (col(Inquiry.family_status) != col(Inquiry.status)))


def _waiting(session: Session, query: Any, *order: Any) -> Waiting:
    """How many rows `query` finds, and the oldest SHOWN of them."""
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    return Waiting(int(total), list(session.exec(query.order_by(*order).limit(SHOWN))))


def staff_home(session: Session, user: User) -> StaffHome:
    open_inquiries = col(Inquiry.status) != InquiryStatus.closed
    mine = list(session.exec(select(Inquiry).where(Inquiry.assigned_to_id == user.id, open_inquiries)
                             .order_by(col(Inquiry.created_at), col(Inquiry.id))))
    by_status = {status: 0 for status in InquiryStatus}
    for status, count in session.exec(select(Inquiry.status, func.count()).group_by(Inquiry.status)):
        by_status[InquiryStatus(status)] = int(count)
    oldest_inquiry = (col(Inquiry.created_at), col(Inquiry.id))
    new_inquiries = _waiting(session, select(Inquiry).where(Inquiry.status == InquiryStatus.received),
                             *oldest_inquiry)
    matches = _waiting(session, select(MatchCandidate).where(
        MatchCandidate.status == MatchStatus.candidate, MatchCandidate.left_kind == "inquiry",
        MatchCandidate.right_kind == "person"), col(MatchCandidate.created_at), col(MatchCandidate.id))
    lags = _waiting(session, select(Inquiry).where(FAMILY_LAGS), col(Inquiry.updated_at), col(Inquiry.id))
    answers_due = _waiting(session, select(ExchangeList).where(ExchangeList.state == ListState.frozen),
                           col(ExchangeList.frozen_at), col(ExchangeList.id))
    due = answers_due.oldest
    office_ids = {row.office_id for row in due}
    offices = {o.id or 0: o.name for o in session.exec(select(OmbudsmanOffice).where(
        col(OmbudsmanOffice.id).in_(office_ids)))} if office_ids else {}
    return StaffHome(mine=mine, by_status=by_status, new_inquiries=new_inquiries, matches_to_review=matches,
                     family_lags=lags, answers_due=answers_due, offices=offices)


def staff_members(session: Session) -> list[User]:
    """Who an inquiry can be assigned to: active staff accounts, by name."""
    users = session.exec(select(User).where(col(User.is_active).is_(True))).all()
    return sorted((u for u in users if u.has_role(Role.staff)), key=lambda u: (u.display_name or u.email).lower())


def assign_inquiry(*, session: Session, actor: User, audit_key: bytes, inquiry_id: int,
                   version: int | str | None, assignee_id: int | None) -> Inquiry:
    """Give an inquiry to a staff member (or to nobody); audited."""
    if not actor.has_role(Role.staff):
        raise Forbidden()
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise NotFound()
    check_version(inquiry, version)
    if assignee_id is not None:
        assignee = session.get(User, assignee_id)
        if assignee is None or not assignee.is_active or not assignee.has_role(Role.staff):
            raise FieldErrors({"assignee": N_("Choose a member of staff.")})
    before = inquiry.assigned_to_id
    if before == assignee_id:
        return inquiry
    inquiry.assigned_to_id = assignee_id
    session.add(inquiry)
    audit.record(session, key=audit_key, actor=actor, action="inquiry.assign", entity_type="inquiry",
                 entity_id=inquiry.id, changes={"assigned_to_id": [before, assignee_id]})
    session.commit()
    return inquiry
