"""Reviewing a candidate pair: staff confirm or reject it, and what a confirmation sets off
(an inquiry linked to its man, two families' inquiries joined, a name on a counterpart list
applied). Built on services.matching (the pairs) and services.counterpart (the lists); neither
of those imports this module.
"""

from __future__ import annotations

from sqlmodel import Session, select

from pow_registry.models import (
    Inquiry,
    InquiryStatus,
    MatchCandidate,
    MatchStatus,
    Role,
    User,
    utcnow,
)
from pow_registry.services import audit, counterpart
from pow_registry.services.errors import N_, FieldErrors, Forbidden, NotFound
from pow_registry.services.matching import COUNTERPART, REASON_MAX, fingerprint, load_records
from pow_registry.services.transactions import check_version

__all__ = ["confirm", "reject"]


def _may_review(actor: User, row: MatchCandidate) -> None:
    # Pairs with an inquiry are case work (staff); duplicate persons are the researchers' call.
    needed = Role.researcher if row.left_kind == row.right_kind == "person" else Role.staff
    if not actor.has_role(needed):
        raise Forbidden()


def _reviewable(session: Session, actor: User, match_id: int, version: int | str | None, reason: str,
                *, reason_required: bool) -> tuple[MatchCandidate, str]:
    row = session.exec(
        select(MatchCandidate).where(MatchCandidate.id == match_id).execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise NotFound()
    _may_review(actor, row)
    check_version(row, version)
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if reason_required and not reason:
        errors["reason"] = N_("Say why.")
    if len(reason) > REASON_MAX:
        errors["reason"] = N_("Too long.")
    if row.status != MatchStatus.candidate:
        errors["status"] = N_("This pair has already been reviewed.")
    if errors:
        raise FieldErrors(errors)
    return row, reason


def _group_of(session: Session, inquiry: Inquiry) -> list[Inquiry]:
    if inquiry.sought_group_id is None:
        return [inquiry]
    return list(session.exec(select(Inquiry).where(Inquiry.sought_group_id == inquiry.sought_group_id)))


_BEFORE_MATCH = {InquiryStatus.received, InquiryStatus.searching}


def _link_to_person(session: Session, *, actor: User, audit_key: bytes, inquiry: Inquiry, person_id: int,
                    via: int) -> None:
    before = audit.snapshot(inquiry, ["person_id", "status"])
    inquiry.person_id = person_id
    if inquiry.status in _BEFORE_MATCH:
        inquiry.status = InquiryStatus.match_found
    inquiry.updated_at = utcnow()
    session.add(inquiry)
    audit.record(session, key=audit_key, actor=actor, action="inquiry.link_person", entity_type="inquiry",
                 entity_id=inquiry.id, changes={**audit.diff(before, audit.snapshot(inquiry, ["person_id", "status"])),
                                                "match_id": via})


def confirm(*, session: Session, actor: User, audit_key: bytes, match_id: int, version: int | str | None,
            reason: str = "") -> MatchCandidate:
    """The pair is the same man. Inquiry ↔ person links the inquiry (and its relatives' inquiries)
    to the person and moves them to `match_found`; inquiry ↔ inquiry puts both families'
    inquiries about one sought man together; person ↔ person records that they are one man (the
    merge itself is the researcher's separate step)."""
    try:
        row, reason = _reviewable(session, actor, match_id, version, reason, reason_required=False)
        now = utcnow()
        row.status, row.review_reason, row.reviewed_by_id, row.reviewed_at = MatchStatus.confirmed, reason, actor.id, now
        session.add(row)
        if row.left_kind == COUNTERPART:
            counterpart.apply_confirmed(session, actor=actor, audit_key=audit_key, candidate=row)
        elif row.left_kind == "inquiry":
            inquiry = session.get(Inquiry, row.left_id)
            if inquiry is None:
                raise NotFound()
            if row.right_kind == "person":
                if inquiry.person_id is not None and inquiry.person_id != row.right_id:
                    raise FieldErrors({"status": N_("This inquiry is already linked to another person.")})
                for member in _group_of(session, inquiry):
                    if member.person_id is None:
                        _link_to_person(session, actor=actor, audit_key=audit_key, inquiry=member,
                                        person_id=row.right_id, via=match_id)
            else:
                other = session.get(Inquiry, row.right_id)
                if other is None:
                    raise NotFound()
                _join_groups(session, actor=actor, audit_key=audit_key, a=inquiry, b=other, via=match_id)
        _commit_reviewed(session, audit_key=audit_key, actor=actor, row=row, action="match.confirm", reason=reason)
    except BaseException:
        session.rollback()
        raise
    return row


def _join_groups(session: Session, *, actor: User, audit_key: bytes, a: Inquiry, b: Inquiry, via: int) -> None:
    members = {m.id: m for m in (*_group_of(session, a), *_group_of(session, b))}
    group_id = min(i for i in members if i is not None)
    people = {m.person_id for m in members.values() if m.person_id is not None}
    if len(people) > 1:
        raise FieldErrors({"status": N_("These inquiries are already linked to different persons.")})
    person_id = next(iter(people), None)
    for member in members.values():
        if member.sought_group_id != group_id:
            before = member.sought_group_id
            member.sought_group_id = group_id
            member.updated_at = utcnow()
            session.add(member)
            audit.record(session, key=audit_key, actor=actor, action="inquiry.link_relative", entity_type="inquiry",
                         entity_id=member.id, changes={"sought_group_id": [before, group_id], "match_id": via})
        if person_id is not None and member.person_id is None:
            _link_to_person(session, actor=actor, audit_key=audit_key, inquiry=member, person_id=person_id, via=via)


def reject(*, session: Session, actor: User, audit_key: bytes, match_id: int, version: int | str | None,
           reason: str) -> MatchCandidate:
    """Not the same man. The pair is not proposed again unless one of the records changes."""
    try:
        row, reason = _reviewable(session, actor, match_id, version, reason, reason_required=True)
        current = load_records(session, [(row.left_kind, row.left_id), (row.right_kind, row.right_id)])
        row.left_fingerprint = fingerprint(current.get((row.left_kind, row.left_id)))
        row.right_fingerprint = fingerprint(current.get((row.right_kind, row.right_id)))
        row.status, row.review_reason, row.reviewed_by_id, row.reviewed_at = MatchStatus.rejected, reason, actor.id, utcnow()
        session.add(row)
        _commit_reviewed(session, audit_key=audit_key, actor=actor, row=row, action="match.reject", reason=reason)
    except BaseException:
        session.rollback()
        raise
    return row


def _commit_reviewed(session: Session, *, audit_key: bytes, actor: User, row: MatchCandidate, action: str,
                     reason: str) -> None:
    audit.record(session, key=audit_key, actor=actor, action=action, entity_type="match",
                 entity_id=row.id, changes={"pair": _pair_text(row), "score": row.score, "reason": reason})
    session.commit()


def _pair_text(row: MatchCandidate) -> str:
    return f"{row.left_kind} {row.left_id} ↔ {row.right_kind} {row.right_id}"


# --- export ----------------------------------------------------------------------------------
