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


def staff_home(session: Session, user: User) -> StaffHome:
    open_inquiries = col(Inquiry.status) != InquiryStatus.closed
    mine = list(session.exec(select(Inquiry).where(Inquiry.assigned_to_id == user.id, open_inquiries)
                             .order_by(col(Inquiry.created_at), col(Inquiry.id))))
    by_status = {status: 0 for status in InquiryStatus}
    for status, count in session.exec(select(Inquiry.status, func.count()).group_by(Inquiry.status)):
        by_status[InquiryStatus(status)] = int(count)

    new_query = select(Inquiry).where(Inquiry.status == InquiryStatus.received)
    new_inquiries = Waiting(by_status[InquiryStatus.received],
                            list(session.exec(new_query.order_by(col(Inquiry.created_at), col(Inquiry.id)).limit(SHOWN))))

    pairs = select(MatchCandidate).where(MatchCandidate.status == MatchStatus.candidate,
                                         MatchCandidate.left_kind == "inquiry", MatchCandidate.right_kind == "person")
    pair_total = session.exec(select(func.count()).select_from(pairs.subquery())).one()
    matches = Waiting(int(pair_total), list(session.exec(pairs.order_by(col(MatchCandidate.created_at),
                                                                        col(MatchCandidate.id)).limit(SHOWN))))

    # The family's view can only lag where staff moved the search on: a status past "received",
    # or a closed inquiry the family still reads as open.
    candidates = session.exec(select(Inquiry).where(
        (col(Inquiry.status) != InquiryStatus.received) | (col(Inquiry.family_status).is_not(None)))
        .order_by(col(Inquiry.updated_at), col(Inquiry.id)))
    lagging = [inquiry for inquiry in candidates if family_lags(inquiry)]
    lags = Waiting(len(lagging), lagging[:SHOWN])

    due_query = select(ExchangeList).where(ExchangeList.state == ListState.frozen)
    due = list(session.exec(due_query.order_by(col(ExchangeList.frozen_at), col(ExchangeList.id))))
    answers_due = Waiting(len(due), list(due[:SHOWN]))
    office_ids = {row.office_id for row in due[:SHOWN]}
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
