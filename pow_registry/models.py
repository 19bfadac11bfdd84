"""Tables and enums. Table classes do not validate on __init__: services validate input first."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import Column, Index, Text
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def enum_type(enum_cls: type[enum.Enum]) -> sa.Enum:
    """Enums stored as short strings, not native types: adding a value is a plain migration."""
    return sa.Enum(enum_cls, native_enum=False, length=40, values_callable=lambda e: [m.value for m in e])


class Role(enum.StrEnum):
    admin = "admin"
    researcher = "researcher"
    staff = "staff"


class ServiceCategory(enum.StrEnum):
    conscript = "conscript"
    contract = "contract"
    mobilised = "mobilised"
    volunteer = "volunteer"
    pmc = "pmc"
    other = "other"


class Health(enum.StrEnum):
    unknown = "unknown"
    healthy = "healthy"
    wounded = "wounded"
    seriously_wounded = "seriously_wounded"
    sick = "sick"


class PersonStatus(enum.StrEnum):
    reported = "reported"
    probable = "probable"
    confirmed_captured = "confirmed_captured"
    exchanged = "exchanged"
    released = "released"
    deceased = "deceased"
    disputed = "disputed"


# Statuses a researcher sets by hand; the other three are derived from evidence.
MANUAL_STATUSES = {PersonStatus.exchanged, PersonStatus.released, PersonStatus.deceased, PersonStatus.disputed}


class ReportClaim(enum.StrEnum):
    captured = "captured"
    killed = "killed"


class EvidenceKind(enum.StrEnum):
    video = "video"
    photo = "photo"
    post = "post"
    list = "list"
    official_statement = "official_statement"
    detaining_side_confirmation = "detaining_side_confirmation"
    icrc_confirmation = "icrc_confirmation"
    other = "other"


# Evidence that by itself confirms a capture once verified (domain.md).
CONFIRMING_KINDS = {EvidenceKind.detaining_side_confirmation, EvidenceKind.icrc_confirmation}


class Verification(enum.StrEnum):
    unverified = "unverified"
    verified = "verified"
    rejected = "rejected"


class Versioned(SQLModel):
    """Optimistic locking: SQLAlchemy refuses an UPDATE whose version is stale."""

    version: int = Field(default=1, sa_column_kwargs={"nullable": False})

    @declared_attr  # type: ignore[misc, arg-type]  # SQLAlchemy types declared_attr for columns, not mapper args
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]  # the table class has it


class User(Versioned, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True, "nullable": False})
    display_name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=300)
    roles: str = Field(default="", max_length=100)  # comma-separated Role values, sorted
    is_active: bool = Field(default=True)
    # Rotated on logout, password change and deactivation: old cookies stop working.
    session_token: str = Field(max_length=64, index=True)
    api_token_hash: str | None = Field(default=None, max_length=64, index=True)
    preferred_language: str = Field(default="ru", max_length=5)
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None

    @property
    def role_set(self) -> set[Role]:
        return {Role(r) for r in self.roles.split(",") if r}

    def has_role(self, *roles: Role) -> bool:
        return bool(self.role_set.intersection(roles))

    def has_role_any_registry(self) -> bool:
        return self.has_role(Role.researcher, Role.staff)

    # flask-login's protocol. The id it keeps in the cookie includes the session token, so
    # rotating the token (logout, password change, deactivation) ends every copied session.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"


class Person(Versioned, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Names as entered, in the script they were entered in (NFC, format characters removed).
    surname: str = Field(max_length=200)
    given_name: str = Field(default="", max_length=200)
    patronymic: str = Field(default="", max_length=200)
    # Derived, script-blind search keys (domain.names.name_skeleton).
    surname_key: str = Field(default="", max_length=200, index=True)
    given_name_key: str = Field(default="", max_length=200, index=True)
    patronymic_key: str = Field(default="", max_length=200)
    name_needs_review: bool = Field(default=False)  # mixed scripts inside a word
    date_of_birth: str | None = Field(default=None, max_length=10)  # YYYY, YYYY-MM or YYYY-MM-DD
    birth_year: int | None = Field(default=None, index=True)
    place_of_birth: str = Field(default="", max_length=300)
    place_of_birth_key: str = Field(default="", max_length=300)  # script-blind, for search
    rank: str = Field(default="", max_length=100)
    unit: str = Field(default="", max_length=300)
    unit_number: str | None = Field(default=None, max_length=5, index=True)
    personal_number: str = Field(default="", max_length=50)
    father_name: str = Field(default="", max_length=200)
    mother_maiden_name: str = Field(default="", max_length=200)
    person_to_inform: str = Field(default="", max_length=500)
    service_category: ServiceCategory | None = Field(default=None, sa_type=enum_type(ServiceCategory))
    home_region: str = Field(default="", max_length=200)
    health: Health = Field(default=Health.unknown, sa_type=enum_type(Health))
    status: PersonStatus = Field(default=PersonStatus.reported, index=True, sa_type=enum_type(PersonStatus))
    # Why the status is what it is: a code the templates explain (see services.registry).
    status_basis: str = Field(default="no_verified_evidence", max_length=100)
    status_reason: str = Field(default="", max_length=1000)
    conflict: bool = Field(default=False, index=True)
    conflict_note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The conflicts a researcher last resolved: the same set is not raised again.
    conflict_resolved_signature: str = Field(default="", max_length=64)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    merged_into_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class CaptureReport(Versioned, table=True):
    __tablename__ = "capture_report"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    # Identifies an imported row so re-importing the same file adds nothing twice.
    source_ref: str | None = Field(default=None, max_length=200, sa_column_kwargs={"unique": True})
    claim: ReportClaim = Field(default=ReportClaim.captured, sa_type=enum_type(ReportClaim))
    capture_date: str | None = Field(default=None, max_length=10)
    capture_place: str = Field(default="", max_length=300)
    capture_place_key: str = Field(default="", max_length=300, index=True)
    reported_unit: str = Field(default="", max_length=300)
    circumstances: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class Evidence(Versioned, table=True):
    id: int | None = Field(default=None, primary_key=True)
    capture_report_id: int = Field(foreign_key="capture_report.id", index=True)
    url: str = Field(max_length=2000)
    kind: EvidenceKind = Field(default=EvidenceKind.other, sa_type=enum_type(EvidenceKind))
    publisher: str = Field(default="", max_length=300)
    published_at: str | None = Field(default=None, max_length=10)
    source_reliability: str = Field(default="F", max_length=1)  # Admiralty A–F
    info_credibility: int = Field(default=6)  # Admiralty 1–6
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    archive_sha256: str | None = Field(default=None, max_length=64, index=True)
    archive_filename: str | None = Field(default=None, max_length=255)
    archive_media_type: str | None = Field(default=None, max_length=100)
    archive_size: int | None = None
    archived_at: datetime | None = None
    verification: Verification = Field(default=Verification.unverified, index=True, sa_type=enum_type(Verification))
    verified_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    verified_at: datetime | None = None
    verification_note: str = Field(default="", max_length=1000)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class StatusChange(SQLModel, table=True):
    __tablename__ = "status_change"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    old_status: PersonStatus | None = Field(default=None, sa_type=enum_type(PersonStatus))
    new_status: PersonStatus = Field(sa_type=enum_type(PersonStatus))
    reason: str = Field(default="", max_length=1000)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)


class PersonMerge(SQLModel, table=True):
    """The same man reported twice: what moved where, so an admin can undo it."""

    __tablename__ = "person_merge"

    id: int | None = Field(default=None, primary_key=True)
    kept_person_id: int = Field(foreign_key="person.id", index=True)
    merged_person_id: int = Field(foreign_key="person.id", index=True)
    moved_report_ids: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reason: str = Field(default="", max_length=1000)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)
    undone_at: datetime | None = None
    undone_by_id: int | None = Field(default=None, foreign_key="user_account.id")


class AuditEvent(SQLModel, table=True):
    """Append-only; each event's HMAC covers the previous one's, so a gap or an edit shows."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    actor_email: str = Field(default="", max_length=254)
    action: str = Field(max_length=60, index=True)
    entity_type: str = Field(max_length=40)
    entity_id: int | None = None
    changes: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})


class AuditHead(SQLModel, table=True):
    """One row, locked while appending, so concurrent writers chain in order."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_event_id: int | None = None
    last_hash: str = Field(default="", max_length=64)


class ImportBatch(SQLModel, table=True):
    __tablename__ = "import_batch"
    __table_args__ = (Index("ix_import_kind_file", "kind", "file_sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    filename: str = Field(max_length=255)
    file_sha256: str = Field(max_length=64)
    rows_created: int = 0
    rows_skipped: int = 0
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)

    KINDS: ClassVar[tuple[str, ...]] = ("captures", "inquiries")
