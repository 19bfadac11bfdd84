"""The clearly fictitious demo data set: invented surnames (Выдумкин = "made-up", Макетов =
"mock-up", Шаблонов = "template"...), links only under example.org, source refs DEMO-*.

Loading twice adds nothing: accounts are found by email and reports by source_ref.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sqlmodel import Session, select

from pow_registry.models import CaptureReport, Evidence, User
from pow_registry.services import accounts, registry
from pow_registry.services.accounts import PasswordPolicy, Passwords

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - printed to the newcomer on purpose, demo only
DEMO_ACCOUNTS = [
    ("admin@demo.invalid", ["admin"], "Demo Admin"),
    ("researcher@demo.invalid", ["researcher"], "Demo Researcher"),
    ("researcher2@demo.invalid", ["researcher"], "Second Demo Researcher"),
    ("staff@demo.invalid", ["staff"], "Demo Staff"),
]

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
PLACES = ["Суджа", "Sudzha", "Суджа, Курская область", "Коренево", "Korenevo", "Глушково", "Малая Локня"]
UNITS = ["в/ч 12345", "ВЧ-54321", "military unit 11111", "в/ч 22222", ""]
RANKS = ["рядовой", "ефрейтор", "младший сержант", "private", ""]
CATEGORIES = ["conscript", "conscript", "contract", "mobilised", ""]
HEALTH = ["unknown", "unknown", "wounded", "seriously_wounded", "healthy"]
PUBLISHERS = ["Demo Channel One", "Demo News Agency", "Demo Volunteers Group", "Demo Ministry (fictitious)"]


@dataclass
class DemoSummary:
    persons: int = 0
    reports: int = 0
    evidence: int = 0
    accounts: list[tuple[str, str]] = field(default_factory=list)


def _account(session: Session, audit_key: bytes, passwords: Passwords, email: str, roles: list[str], name: str) -> User:
    user = accounts.get_by_email(session, email)
    if user is None:
        user = accounts.create_user(session=session, actor=None, audit_key=audit_key, passwords=passwords,
                                    policy=PasswordPolicy(), email=email, password=DEMO_PASSWORD, roles=roles,
                                    display_name=name, preferred_language="ru")
    return user


def load_demo_data(*, session: Session, audit_key: bytes, passwords: Passwords) -> DemoSummary:
    summary = DemoSummary()
    users = {email: _account(session, audit_key, passwords, email, roles, name) for email, roles, name in DEMO_ACCOUNTS}
    summary.accounts = [(email, ", ".join(roles)) for email, roles, _ in DEMO_ACCOUNTS]
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
    summary.reports = len(session.exec(select(CaptureReport.id).where(CaptureReport.source_ref.like("DEMO-%"))).all())  # type: ignore[union-attr]
    summary.persons = summary.reports
    summary.evidence = len(session.exec(select(Evidence.id).where(Evidence.url.like("https://example.org/demo/%"))).all())  # type: ignore[attr-defined]
    return summary
