"""Tables and enums. Table classes do not validate on __init__: services validate input first."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import Column, Index, Text
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from pow_registry import clock


def utcnow() -> datetime:
    """Row timestamps: the one clock (see clock.py), kept under this name for the defaults."""
    return clock.now()


# The engine's dialect carries the contact-data cipher (db.make_engine sets it from the app's
# config): encryption at rest is a storage concern, like SQLite's pragmas, so every session on the
# app's engine reads and writes contact fields in clear while the database only ever holds tokens.
CONTACT_CRYPTO_ATTRIBUTE = "pow_registry_contact_crypto"


class ContactDataMissingKey(RuntimeError):
    """Contact data was read or written on an engine that has no contact-data keys."""


def contact_crypto_of(dialect: Any) -> Any:
    """The contact-data cipher an engine's dialect carries (db.make_engine), or an error."""
    crypto = getattr(dialect, CONTACT_CRYPTO_ATTRIBUTE, None)
    if crypto is None:
        raise ContactDataMissingKey("This database engine has no contact-data keys (CONTACT_DATA_KEYS).")
    return crypto


class EncryptedText(sa.types.TypeDecorator[str]):
    """A family's contact field: clear in Python, a Fernet token in the database (empty stays empty)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if not value:
            return value
        return str(contact_crypto_of(dialect).encrypt(value))

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if not value:
            return value
        return str(contact_crypto_of(dialect).decrypt(value))


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


class InquiryStatus(enum.StrEnum):
    received = "received"
    searching = "searching"
    match_found = "match_found"
    on_exchange_list = "on_exchange_list"
    returned = "returned"
    closed = "closed"


class ClosedReason(enum.StrEnum):
    withdrawn = "withdrawn"
    duplicate = "duplicate"
    deceased = "deceased"
    found_elsewhere = "found_elsewhere"


class InquiryChannel(enum.StrEnum):
    """How an inquiry reached us: taken by staff, sent by the family online, or imported."""

    staff = "staff"
    family_form = "family_form"
    imported = "imported"


class MatchStatus(enum.StrEnum):
    candidate = "candidate"
    confirmed = "confirmed"
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
    # Set when an admin chose the password (a new account, a reset): its owner replaces it first.
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Two-factor sign-in: the TOTP secret (encrypted like contact data), the last time step used
    # (a code works once), and the SHA-256 of each unused recovery code (JSON list).
    totp_secret: str = Field(default="", sa_column=Column("totp_secret_enc", EncryptedText, nullable=False,
                                                          default="", server_default=""))
    totp_last_step: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    recovery_codes: str = Field(default="", sa_column=Column(Text, nullable=False, default="", server_default=""))

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
    # A man is often only partly identified at first (domain.md): any name may be "" (unknown), as
    # long as something identifies him (services.registry.IDENTIFYING_FIELDS).
    surname: str = Field(default="", max_length=200)
    given_name: str = Field(default="", max_length=200)
    patronymic: str = Field(default="", max_length=200)
    # Derived, script-blind search keys (domain.names.name_skeleton).
    surname_key: str = Field(default="", max_length=200, index=True)
    given_name_key: str = Field(default="", max_length=200, index=True)
    patronymic_key: str = Field(default="", max_length=200)
    name_needs_review: bool = Field(default=False)  # mixed scripts inside a word
    # What he is called in a video or a post when his name is not known (позывной / позивний), as
    # entered without the quotes, and its script-blind key for search.
    call_sign: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})
    call_sign_key: str = Field(default="", max_length=100, index=True, sa_column_kwargs={"server_default": ""})
    # What a photo or video shows of him (face, scars, tattoos, what he wore): for a man nobody has
    # named yet, this and the evidence are what identify him.
    appearance: str = Field(default="", sa_column=Column(Text, nullable=False, default="", server_default=""))
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
    """One row, locked while appending, so concurrent writers chain in order.

    `mac` (keyed with the audit key) covers the last event's id and hash, the number of events
    and `broken_at_event_id`: cutting the log short and copying the new last hash here, or
    wiping every event, needs the key to go unseen. `broken_at_event_id` is set, once, when an
    append found the head not matching its MAC (changed without the key, or another key in
    use): the last event the head then named (0 for none). Nothing clears it.
    """

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_event_id: int | None = None
    last_hash: str = Field(default="", max_length=64)
    event_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    broken_at_event_id: int | None = None
    mac: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})


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


class Inquiry(Versioned, table=True):
    """A family's request to find someone: the sought man as the family knows him, the requester,
    and what the family has been cleared to see (domain.md: Inquiry)."""

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=20, sa_column_kwargs={"unique": True, "nullable": False})
    # HMAC of the access code with the access-code key (never the code itself); shown once.
    access_code_digest: str = Field(max_length=64)
    access_code_issued_at: datetime = Field(default_factory=utcnow)
    source_ref: str | None = Field(default=None, max_length=200, sa_column_kwargs={"unique": True})
    channel: InquiryChannel = Field(default=InquiryChannel.staff, sa_type=enum_type(InquiryChannel))
    # The sought man, as the family knows him.
    surname: str = Field(default="", max_length=200)
    given_name: str = Field(default="", max_length=200)
    patronymic: str = Field(default="", max_length=200)
    surname_key: str = Field(default="", max_length=200, index=True)
    given_name_key: str = Field(default="", max_length=200)
    name_needs_review: bool = Field(default=False)
    date_of_birth: str | None = Field(default=None, max_length=10)
    birth_year: int | None = Field(default=None)
    unit: str = Field(default="", max_length=300)
    unit_number: str | None = Field(default=None, max_length=5)
    service_category: ServiceCategory | None = Field(default=None, sa_type=enum_type(ServiceCategory))
    last_contact_date: str | None = Field(default=None, max_length=10)
    last_known_place: str = Field(default="", max_length=300)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The requester.
    # Name and email encrypted at rest (EncryptedText; the column names say so). The relationship
    # («мать») and the phone country stay clear: they identify nobody.
    requester_name: str = Field(default="", sa_column=Column("requester_name_enc", EncryptedText, nullable=False, default=""))
    requester_relationship: str = Field(default="", max_length=100)
    requester_email: str = Field(default="", sa_column=Column("requester_email_enc", EncryptedText, nullable=False, default=""))
    requester_country: str = Field(default="RU", max_length=2)  # default region for phone numbers
    preferred_language: str = Field(default="ru", max_length=5)
    consent_contact: bool = Field(default=False)
    consent_share: bool = Field(default=False)
    # Where the search stands (staff side).
    status: InquiryStatus = Field(default=InquiryStatus.received, index=True, sa_type=enum_type(InquiryStatus))
    closed_reason: ClosedReason | None = Field(default=None, sa_type=enum_type(ClosedReason))
    # When it was last closed (None while open): the retention period counts from here.
    closed_at: datetime | None = Field(default=None)
    # When the family's contact data was erased (on request or by retention), else None.
    contact_erased_at: datetime | None = Field(default=None)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    # The staff member who looks after this inquiry ("my inquiries" on the staff home page).
    assigned_to_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    # Inquiries about the same man (mother, wife, sister) share the id of the first of them.
    sought_group_id: int | None = Field(default=None, index=True)
    # What the family may see: only what staff cleared.
    family_status: InquiryStatus | None = Field(default=None, sa_type=enum_type(InquiryStatus))
    family_message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    family_cleared_at: datetime | None = None
    family_cleared_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    last_checked_at: datetime | None = None
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class InquiryPhone(SQLModel, table=True):
    """One of the requester's phone numbers: E.164 for use, the raw input kept as typed, both
    encrypted at rest; `e164_index` is the keyed blind index searches compare against."""

    __tablename__ = "inquiry_phone"

    id: int | None = Field(default=None, primary_key=True)
    inquiry_id: int = Field(foreign_key="inquiry.id", index=True)
    position: int = Field(default=0)
    raw: str = Field(sa_column=Column("raw_enc", EncryptedText, nullable=False))
    e164: str = Field(sa_column=Column("e164_enc", EncryptedText, nullable=False))
    e164_index: str = Field(max_length=64, index=True)
    region: str = Field(max_length=2)


class MatchCandidate(Versioned, table=True):
    """A pair the matcher proposed (inquiry ↔ person, person ↔ person, inquiry ↔ inquiry), its
    score and explanation, and the staff review. Oriented so that (left_kind, left_id) <
    (right_kind, right_id): an inquiry is always on the left of a person."""

    __tablename__ = "match_candidate"
    __table_args__ = (
        sa.UniqueConstraint("left_kind", "left_id", "right_kind", "right_id", name="uq_match_pair"),
        Index("ix_match_right", "right_kind", "right_id"),
        Index("ix_match_status_score", "status", "score"),
    )

    id: int | None = Field(default=None, primary_key=True)
    left_kind: str = Field(max_length=20)  # "inquiry", "person" or "counterpart"
    left_id: int
    right_kind: str = Field(max_length=20)
    right_id: int
    score: float
    weight: float
    explanation: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    status: MatchStatus = Field(default=MatchStatus.candidate, sa_type=enum_type(MatchStatus))
    # The records' match fingerprints when the pair was reviewed: a rejected pair comes back
    # only when one of them changes.
    left_fingerprint: str = Field(default="", max_length=64)
    right_fingerprint: str = Field(default="", max_length=64)
    review_reason: str = Field(default="", max_length=1000)
    reviewed_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    reviewed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class MatchRecordState(SQLModel, table=True):
    """What the matcher last saw of each record: its fingerprint, and the revision at which it
    changed, so every process can bring its in-memory index up to date cheaply."""

    __tablename__ = "match_record"

    kind: str = Field(max_length=10, primary_key=True)
    record_id: int = Field(primary_key=True)
    fingerprint: str = Field(default="", max_length=64)  # "" when the record left the index
    revision: int = Field(default=0, index=True)


class MatchPending(SQLModel, table=True):
    """A record written since the matcher last saw it, waiting for the worker to match it.

    The transaction that changes a person or an inquiry adds its row here (instead of matching
    inside the request, which needs the whole registry's index in memory); the worker matches it
    and removes the row. `token` changes each time the record is queued again, so a change made
    while the worker was matching is never removed with the older one."""

    __tablename__ = "match_pending"

    kind: str = Field(max_length=10, primary_key=True)
    record_id: int = Field(primary_key=True)
    token: str = Field(max_length=32)
    queued_at: datetime = Field(default_factory=utcnow)


class MatchState(SQLModel, table=True):
    """One row: the latest matcher revision, locked while matching so writers take turns."""

    __tablename__ = "match_state"

    id: int = Field(default=1, primary_key=True)
    # Changes when the row is recreated or the statistics are refreshed: every process rebuilds.
    epoch: str = Field(default="", max_length=32)
    revision: int = Field(default=0)
    # The name and unit frequencies and the prior scores use, frozen at the last full run
    # (`pow-registry match --all`) so that a pair's score does not depend on arrival order.
    statistics: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    prior: float = Field(default=-14.0)
    statistics_at: datetime | None = None


class ListKind(enum.StrEnum):
    exchange = "exchange"  # an exchange proposal
    verification = "verification"  # asks only for whereabouts and health


class ListState(enum.StrEnum):
    draft = "draft"
    frozen = "frozen"  # immutable, numbered, exported; answers still come back per person
    closed = "closed"  # every answer is in, or staff closed it


class Outcome(enum.StrEnum):
    acknowledged = "acknowledged"
    not_found = "not_found"
    exchanged = "exchanged"
    refused = "refused"


class OmbudsmanOffice(Versioned, table=True):
    """A recipient of exchange lists, and how it wants them."""

    __tablename__ = "ombudsman_office"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, sa_column_kwargs={"unique": True, "nullable": False})
    country: str = Field(default="", max_length=2)
    language: str = Field(default="ru", max_length=5)  # of the list: ru, uk or en
    contact: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    columns: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # column keys, comma-separated
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ExchangeList(Versioned, table=True):
    """A list of persons proposed for exchange (or a verification request) to one office."""

    __tablename__ = "exchange_list"

    id: int | None = Field(default=None, primary_key=True)
    office_id: int = Field(foreign_key="ombudsman_office.id", index=True)
    kind: ListKind = Field(default=ListKind.exchange, sa_type=enum_type(ListKind))
    state: ListState = Field(default=ListState.draft, index=True, sa_type=enum_type(ListState))
    number: int | None = Field(default=None, sa_column_kwargs={"unique": True})  # given at freezing
    title: str = Field(default="", max_length=200)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    frozen_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    frozen_at: datetime | None = None
    # The spreadsheet as first produced, kept: every later download is these bytes (a library
    # upgrade or a label fix must not change a list that was sent), checked against the hash.
    file_data: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    file_sha256: str | None = Field(default=None, max_length=64)
    file_size: int | None = None
    exported_at: datetime | None = None
    closed_at: datetime | None = None


class ExchangeListEntry(Versioned, table=True):
    """One person on a list: why he is there, where, and what came back."""

    __tablename__ = "exchange_list_entry"
    __table_args__ = (sa.UniqueConstraint("list_id", "person_id", name="uq_list_person"),)

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="exchange_list.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    position: int = Field(default=0)
    categories: str = Field(default="", max_length=200)  # comma-separated category codes
    priority: int = Field(default=0)
    priority_reasons: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    added_reason: str = Field(default="", max_length=1000)
    added_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    added_at: datetime = Field(default_factory=utcnow)
    removed_at: datetime | None = None  # removed from a draft: kept, with the reason
    removed_reason: str = Field(default="", max_length=1000)
    removed_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    # What was sent, frozen with the list (JSON): the file never changes when the person does.
    snapshot: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    outcome: Outcome | None = Field(default=None, sa_type=enum_type(Outcome))
    outcome_date: str | None = Field(default=None, max_length=10)
    outcome_note: str = Field(default="", max_length=2000)
    outcome_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    outcome_at: datetime | None = None


class CounterpartKind(enum.StrEnum):
    returned = "returned"  # those returned in an exchange
    held = "held"  # those the other side says it holds


class CounterpartList(SQLModel, table=True):
    """A list received from elsewhere, names as the other side wrote them (domain.md)."""

    __tablename__ = "counterpart_list"

    id: int | None = Field(default=None, primary_key=True)
    kind: CounterpartKind = Field(default=CounterpartKind.returned, sa_type=enum_type(CounterpartKind))
    title: str = Field(default="", max_length=200)
    source: str = Field(default="", max_length=500)  # who published or sent it
    received_on: str | None = Field(default=None, max_length=10)
    # For a list of those returned: the day of the exchange it reports.
    exchange_date: str | None = Field(default=None, max_length=10)
    filename: str = Field(default="", max_length=255)
    file_sha256: str = Field(default="", max_length=64, index=True)
    imported_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    imported_at: datetime = Field(default_factory=utcnow)


class CounterpartEntry(SQLModel, table=True):
    """One name on a counterpart list; matched like an inquiry, linked when staff confirm."""

    __tablename__ = "counterpart_entry"

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="counterpart_list.id", index=True)
    row_number: int
    surname: str = Field(default="", max_length=200)
    given_name: str = Field(default="", max_length=200)
    patronymic: str = Field(default="", max_length=200)
    date_of_birth: str | None = Field(default=None, max_length=10)
    unit: str = Field(default="", max_length=300)
    place: str = Field(default="", max_length=300)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)  # once confirmed
    inquiry_id: int | None = Field(default=None, foreign_key="inquiry.id", index=True)  # once confirmed
    applied_at: datetime | None = None  # its outcome was applied to the person / inquiries


class CodeDisplay(SQLModel, table=True):
    """One submission of a form that issues an access code (a new inquiry, a re-issued code),
    keyed by the form's one-time token: a reload, a Back-and-resend or a double click finds it
    and does nothing twice; the code waits here, sealed, to be shown once after the redirect."""

    __tablename__ = "code_display"

    id: int | None = Field(default=None, primary_key=True)
    token_digest: str = Field(max_length=64, sa_column_kwargs={"unique": True, "nullable": False})
    inquiry_id: int = Field(foreign_key="inquiry.id", index=True)
    kind: str = Field(max_length=20)  # "family_form", "staff_new", "reissue"
    sealed_code: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    shown_at: datetime | None = None


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"  # ran to the end: its outcome says what was written or which problems were found
    failed = "failed"  # could not run to the end (the worker stopped, an unexpected error): nothing written


class Job(SQLModel, table=True):
    """Long work off the request path (services/jobs.py): a page enqueues, a worker runs it, the
    page reads this row for progress and the outcome. The row, not the queue, is the truth: the
    queue only wakes a worker, and a job whose worker stopped is found here by its stale heartbeat.

    `payload` is the uploaded file, encrypted with the contact-data key (an inquiries file holds
    families' phone numbers) and erased when the job ends; `outcome` is the report as JSON with
    no contact data; `sealed_codes` are the new inquiries' access codes, sealed until downloaded once.
    """

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_owner_created", "owner_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    owner_id: int = Field(foreign_key="user_account.id")
    status: JobStatus = Field(default=JobStatus.queued, sa_type=enum_type(JobStatus), index=True)
    dry_run: bool = False
    filename: str = Field(default="", max_length=255)
    file_bytes: int = 0
    file_sha256: str = Field(default="", max_length=64)
    # HMAC of the form's one-time token: a reload or a second click finds this job instead of making one.
    submission_digest: str = Field(max_length=64, sa_column_kwargs={"unique": True, "nullable": False})
    payload: bytes | None = Field(default=None, sa_column=Column(sa.LargeBinary, nullable=True))
    # What the job works on besides the file, as JSON (a list's id, a counterpart list's details).
    params: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    phase: str = Field(default="", max_length=20)
    rows_done: int = 0
    rows_total: int = 0
    outcome: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    failure: str = Field(default="", max_length=40)
    sealed_codes: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    codes_count: int = 0
    codes_taken_at: datetime | None = None
    attempts: int = 0
    worker: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    finished_at: datetime | None = None
