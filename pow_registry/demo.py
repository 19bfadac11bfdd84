"""The clearly fictitious demo data set: invented surnames (Выдумкин = "made-up", Макетов =
"mock-up", Шаблонов = "template"...), links only under example.org, source refs DEMO-*.

Loading twice adds nothing: accounts are found by email, reports and inquiries by source_ref.

Family inquiries (source refs DEMO-INQ-*) come with the access-code key. Their access codes are
random and never shown, except one: the inquiry `INQ-DEM0-0001` has the FIXED, published demo
access code `DEM0-C0DE-2026-0001`, so anyone trying the demo can check a status on the family
page. Both are printed by `pow-registry demo-data`; a real inquiry never gets a chosen code.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from pow_registry.models import (
    CaptureReport,
    Evidence,
    Inquiry,
    InquiryChannel,
    OmbudsmanOffice,
    User,
)
from pow_registry.services import accounts, exchange, inquiries, matching, registry, two_factor
from pow_registry.services.accounts import PasswordPolicy, Passwords

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - printed to the newcomer on purpose, demo only
DEMO_ACCOUNTS = [
    ("admin@demo.invalid", ["admin"], "Demo Admin"),
    ("researcher@demo.invalid", ["researcher"], "Demo Researcher"),
    ("researcher2@demo.invalid", ["researcher"], "Second Demo Researcher"),
    ("staff@demo.invalid", ["staff"], "Demo Staff"),
]

# The demo accounts' two-factor secrets, published on purpose (demo only) and printed beside the
# logins: put one in an authenticator app, or compute the code (python -c "import pyotp;
# print(pyotp.TOTP('<secret>').now())").
DEMO_TOTP_SECRETS = {
    "admin@demo.invalid": "DEMOADMINDEMOADMINDEMOADMIN22222",
    "researcher@demo.invalid": "DEMORESEARCHERDEMORESEARCHER2222",
    "researcher2@demo.invalid": "DEMORESEARCHERTWODEMORESEARCHER2",
    "staff@demo.invalid": "DEMOSTAFFDEMOSTAFFDEMOSTAFF22222",
}

# (surname, given name, patronymic) in the script they "arrived" in.
DEMO_NAMES = [
    ("Выдумкин", "Виталий", "Евгеньевич"), ("Макетов", "Алексей", "Игоревич"),
    ("Шаблонов", "Николай", "Петрович"), ("Условнов", "Дмитрий", "Сергеевич"),
    ("Черновиков", "Артём", "Андреевич"), ("Образчиков", "Юрий", "Олегович"),
    ("Пробнов", "Сергей", "Викторович"), ("Эскизов", "Максим", "Денисович"),
    ("Набросков", "Илья", "Романович"), ("Заготовкин", "Егор", "Павлович"),
    ("Модельков", "Кирилл", "Александрович"), ("Примерный", "Иван", "Михайлович"),
    ("Вымыслов", "Григорий", "Ильич"), ("Фантазёров", "Павел", "Юрьевич"),
    ("Сочинялов", "Роман", "Геннадьевич"), ("Придумкин", "Андрей", "Васильевич"),
    ("Выдумкін", "Віталій", "Євгенович"), ("Шаблонов", "Олексій", "Миколайович"),
    ("Умовний", "Микола", "Степанович"), ("Чернетков", "Дмитро", "Іванович"),
    ("Maketov", "Aleksei", "Igorevich"), ("Probnov", "Sergey", ""),
    ("Eskizov", "Maxim", ""), ("Vymyslov", "Grigoriy", "Ilyich"),
    ("Uslovnov", "Dmitrii", "Sergeevich"), ("Zagotovkin", "Yegor", ""),
    ("Obraztsov-Demo", "Yurii", ""), ("Nabroskov", "Ilia", "Romanovich"),
    ("Сочинялов", "Роман", ""), ("Фантазеров", "Павел", "Юрьевич"),
]
# Men known only partly (issue 13): by a call sign, a given name and a unit, or what a video shows.
# Recorded without a surname; an exchange list will not take them until one is known.
DEMO_PARTIAL: list[tuple[str, dict[str, str]]] = [
    ("DEMO-P01", {"call_sign": "Макет", "unit": "в/ч 22222", "health": "wounded",
                  "appearance": "Вымышленное описание: рыжая борода, повязка на левой руке."}),
    ("DEMO-P02", {"given_name": "Виктор", "unit": "в/ч 12345", "rank": "рядовой"}),
    ("DEMO-P03", {"appearance": "Вымышленное описание: светлые волосы, шрам над правой бровью, "
                                "на видео с 01:20."}),
]
PLACES = ["Суджа", "Sudzha", "Суджа, Курская область", "Коренево", "Korenevo", "Глушково", "Малая Локня"]
UNITS = ["в/ч 12345", "ВЧ-54321", "military unit 11111", "в/ч 22222", ""]
RANKS = ["рядовой", "ефрейтор", "младший сержант", "private", ""]
CATEGORIES = ["conscript", "conscript", "contract", "mobilised", ""]
HEALTH = ["unknown", "unknown", "wounded", "seriously_wounded", "healthy"]
PUBLISHERS = ["Demo Channel One", "Demo News Agency", "Demo Volunteers Group", "Demo Ministry (fictitious)"]


# The one demo inquiry whose reference and access code are fixed and published (see above).
DEMO_INQUIRY_REFERENCE = "INQ-DEM0-0001"
DEMO_ACCESS_CODE = "DEM0-C0DE-2026-0001"  # noqa: S105 - published on purpose, demo only

# (source_ref, channel, taken by staff?, the sought man and the requester, triage)
DEMO_INQUIRIES: list[dict[str, Any]] = [
    {"source_ref": "DEMO-INQ-001", "channel": InquiryChannel.staff, "fixed": True,
     "data": {"surname": "Выдумкин", "given_name": "Виталий", "patronymic": "Евгеньевич",
              "date_of_birth": "2005", "unit": "в/ч 12345", "service_category": "conscript",
              "last_contact_date": "2024-08-05", "last_known_place": "Суджа",
              "requester_name": "Выдумкина Ольга Петровна", "requester_relationship": "мать",
              "phones": "+7 999 000-00-01\n8 999 000 00 02", "requester_email": "vydumkina@example.org",
              "requester_country": "RU", "preferred_language": "ru", "consent_contact": True,
              "consent_share": True, "notes": "Fictitious demo inquiry."},
     "family": ("searching", "Мы ищем вашего сына в списках. (Демонстрационное сообщение.)")},
    {"source_ref": "DEMO-INQ-002", "channel": InquiryChannel.family_form, "fixed": False,
     "data": {"surname": "Vydumkin", "given_name": "Vitalii", "date_of_birth": "2005-03",
              "requester_name": "Выдумкина Анна", "requester_relationship": "жена",
              "phones": "+7 701 000 0003", "requester_country": "KZ", "preferred_language": "ru",
              "consent_contact": True, "notes": "Fictitious demo inquiry."}},
    {"source_ref": "DEMO-INQ-003", "channel": InquiryChannel.staff, "fixed": False,
     "data": {"surname": "Макетов", "given_name": "Алексей", "patronymic": "Игоревич",
              "unit": "ВЧ-54321", "requester_name": "Макетова Ирина", "requester_relationship": "сестра",
              "phones": "+7 999 000 00 04", "preferred_language": "ru", "consent_contact": True,
              "notes": "Fictitious demo inquiry."}},
    {"source_ref": "DEMO-INQ-004", "channel": InquiryChannel.imported, "fixed": False,
     "data": {"surname": "Шаблонов", "given_name": "Олексій", "date_of_birth": "2003",
              "requester_name": "Шаблонова Марія", "requester_relationship": "мати",
              "phones": "+380 67 000 0005", "requester_country": "UA", "preferred_language": "uk",
              "notes": "Fictitious demo inquiry."}},
    {"source_ref": "DEMO-INQ-005", "channel": InquiryChannel.staff, "fixed": False,
     "data": {"surname": "Небывалов", "given_name": "Пётр", "requester_name": "Небывалова Вера",
              "requester_relationship": "мать", "phones": "+375 29 100 00 06", "requester_country": "BY",
              "preferred_language": "ru", "notes": "Fictitious demo inquiry."},
     "close": "withdrawn"},
]


@dataclass
class DemoSummary:
    persons: int = 0
    reports: int = 0
    evidence: int = 0
    inquiries: int = 0
    candidates: int = 0
    accounts: list[tuple[str, str]] = field(default_factory=list)
    # (reference, access code) of the demo inquiries whose code is published.
    family_access: list[tuple[str, str]] = field(default_factory=list)
    totp_secrets: dict[str, str] = field(default_factory=dict)  # account → two-factor secret


def _account(session: Session, audit_key: bytes, passwords: Passwords, email: str, roles: list[str], name: str) -> User:
    user = accounts.get_by_email(session, email)
    if user is None:
        user = accounts.create_user(session=session, actor=None, audit_key=audit_key, passwords=passwords,
                                    policy=PasswordPolicy(), email=email, password=DEMO_PASSWORD, roles=roles,
                                    display_name=name, preferred_language="ru")
    if not user.totp_secret and email in DEMO_TOTP_SECRETS:
        two_factor.enrol_with_secret(session, user, DEMO_TOTP_SECRETS[email])
        session.commit()
    return user


def _demo_inquiries(session: Session, *, audit_key: bytes, access_key: bytes, staff: User) -> None:
    for item in DEMO_INQUIRIES:
        if inquiries.source_ref_taken(session, item["source_ref"]):
            continue
        actor = staff if item["channel"] == InquiryChannel.staff else None
        if item["fixed"]:
            # The published demo identity (module docstring): written directly, as nothing else may.
            issued = inquiries._insert_inquiry(  # the one fixed demo code
                session, actor=actor, audit_key=audit_key, access_key=access_key,
                values=inquiries.parse_inquiry(item["data"]), channel=item["channel"],
                source_ref=item["source_ref"], reference=DEMO_INQUIRY_REFERENCE, access_code=DEMO_ACCESS_CODE)
            session.commit()
        else:
            issued = inquiries.create_inquiry(session=session, actor=actor, audit_key=audit_key,
                                              access_key=access_key, data=item["data"], channel=item["channel"],
                                              source_ref=item["source_ref"])
        inquiry = issued.inquiry
        if "family" in item:
            family_status, message = item["family"]
            inquiry = inquiries.clear_for_family(session=session, actor=staff, audit_key=audit_key,
                                                 inquiry_id=inquiry.id or 0, version=inquiry.version,
                                                 family_status=family_status, message=message)
        if "close" in item:
            inquiries.change_status(session=session, actor=staff, audit_key=audit_key, inquiry_id=inquiry.id or 0,
                                    version=inquiry.version, status="closed", closed_reason=item["close"],
                                    note="Demo: the family withdrew the inquiry.")


DEMO_OFFICE = {"name": "Fictitious Ombudsman Office (demo)", "country": "UA", "language": "uk",
               "contact": "office@example.org (fictitious)", "columns": ""}


def _demo_office(session: Session, *, audit_key: bytes, admin: User) -> None:
    """One fictitious ombudsman office, so staff can build an exchange list in the demo."""
    if session.exec(select(OmbudsmanOffice).where(OmbudsmanOffice.name == DEMO_OFFICE["name"])).first() is None:
        exchange.create_office(session=session, actor=admin, audit_key=audit_key, data=DEMO_OFFICE)


def load_demo_data(*, session: Session, audit_key: bytes, passwords: Passwords,
                   access_key: bytes | None = None) -> DemoSummary:
    """The demo accounts and registry; with `access_key` (the access-code key) also the demo
    family inquiries."""
    summary = DemoSummary()
    users = {email: _account(session, audit_key, passwords, email, roles, name) for email, roles, name in DEMO_ACCOUNTS}
    summary.accounts = [(email, ", ".join(roles)) for email, roles, _ in DEMO_ACCOUNTS]
    summary.totp_secrets = dict(DEMO_TOTP_SECRETS)
    researcher, checker = users["researcher@demo.invalid"], users["researcher2@demo.invalid"]
    rng = random.Random(2024)  # noqa: S311 - the same fictitious demo every time, not security
    for index, (surname, given, patronymic) in enumerate(DEMO_NAMES, start=1):
        ref = f"DEMO-{index:03d}"
        year = rng.choice([2003, 2004, 2005, 2005, 2006, 1999, 1987])
        dob = rng.choice([f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", str(year), f"{year}-{rng.randint(1, 12):02d}"])
        if session.exec(select(CaptureReport).where(CaptureReport.source_ref == ref)).first() is None:
            person = registry.create_person(
                session=session, actor=researcher, audit_key=audit_key,
                person={"surname": surname, "given_name": given, "patronymic": patronymic, "date_of_birth": dob,
                        "unit": rng.choice(UNITS), "rank": rng.choice(RANKS),
                        "service_category": rng.choice(CATEGORIES), "health": rng.choice(HEALTH),
                        "home_region": rng.choice(["Demo Oblast", "Примерная область", ""]),
                        "notes": "Fictitious demo record."},
                report={"source_ref": ref, "capture_date": f"2024-08-{rng.randint(6, 20):02d}",
                        "capture_place": rng.choice(PLACES), "circumstances": "Fictitious demo report."},
            )
            report = session.exec(select(CaptureReport).where(CaptureReport.person_id == person.id)).one()
            for n in range(1 + index % 3):
                evidence = registry.add_evidence(
                    session=session, actor=researcher, audit_key=audit_key, report_id=report.id or 0,
                    evidence={"url": f"https://example.org/demo/{ref.lower()}/{n + 1}",
                              "kind": rng.choice(["video", "photo", "post", "list"]),
                              "publisher": PUBLISHERS[(index + n) % len(PUBLISHERS)],
                              "published_at": "2024-08-21", "source_reliability": rng.choice("BCDF"),
                              "info_credibility": str(rng.choice([2, 3, 6])), "notes": "Fictitious."},
                )
                if (index + n) % 3 != 0:  # most, not all, checked by the second researcher
                    registry.verify_evidence(session=session, actor=checker, audit_key=audit_key,
                                             evidence_id=evidence.id or 0, version=evidence.version,
                                             decision="verified", note="Demo check.")
    for ref, known in DEMO_PARTIAL:
        if session.exec(select(CaptureReport).where(CaptureReport.source_ref == ref)).first() is None:
            person = registry.create_person(
                session=session, actor=researcher, audit_key=audit_key,
                person={**known, "notes": "Fictitious demo record: only partly identified."},
                report={"source_ref": ref, "capture_date": "2024-08-15", "capture_place": "Суджа",
                        "circumstances": "Fictitious demo report."},
            )
            report = session.exec(select(CaptureReport).where(CaptureReport.person_id == person.id)).one()
            registry.add_evidence(
                session=session, actor=researcher, audit_key=audit_key, report_id=report.id or 0,
                evidence={"url": f"https://example.org/demo/{ref.lower()}/1", "kind": "video",
                          "publisher": PUBLISHERS[0], "published_at": "2024-08-21", "source_reliability": "C",
                          "info_credibility": "3", "notes": "Fictitious."},
            )
    summary.reports = len(session.exec(select(CaptureReport.id).where(CaptureReport.source_ref.like("DEMO-%"))).all())  # type: ignore[union-attr]
    summary.persons = summary.reports
    summary.evidence = len(session.exec(select(Evidence.id).where(Evidence.url.like("https://example.org/demo/%"))).all())  # type: ignore[attr-defined]
    if access_key is not None:
        _demo_inquiries(session, audit_key=audit_key, access_key=access_key, staff=users["staff@demo.invalid"])
        summary.inquiries = len(session.exec(select(Inquiry.id).where(Inquiry.source_ref.like("DEMO-INQ-%"))).all())  # type: ignore[union-attr]
        if session.exec(select(Inquiry.id).where(Inquiry.reference == DEMO_INQUIRY_REFERENCE)).first() is not None:
            summary.family_access = [(DEMO_INQUIRY_REFERENCE, DEMO_ACCESS_CODE)]
    # Every record was matched as it was saved; now count the name frequencies on the whole
    # demo set and re-score with them (what `pow-registry match --all` does).
    _demo_office(session, audit_key=audit_key, admin=users["admin@demo.invalid"])
    matching.match_everything(session, everything=True)
    summary.candidates = sum(matching.candidate_counts(session).values())
    return summary
