"""Human words for enum values and status bases, in the user's language."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pow_registry.i18n import gettext as _
from pow_registry.i18n import lazy_gettext as _l
from pow_registry.i18n import ngettext
from pow_registry.web import forms

STATUS_LABELS = dict(forms.STATUS_CHOICES)
LABELS: dict[str, dict[str, Any]] = {
    "status": STATUS_LABELS,
    "service_category": dict(forms.SERVICE_CATEGORY_CHOICES),
    "health": dict(forms.HEALTH_CHOICES),
    "claim": dict(forms.CLAIM_CHOICES),
    "kind": dict(forms.EVIDENCE_KIND_CHOICES),
    "verification": {"unverified": _l("Unverified"), "verified": _l("Verified"), "rejected": _l("Rejected")},
    "role": dict(forms.ROLE_CHOICES),
    "inquiry_status": dict(forms.INQUIRY_STATUS_CHOICES),
    "closed_reason": dict(forms.CLOSED_REASON_CHOICES),
    "channel": dict(forms.CHANNEL_CHOICES),
    "language": dict(forms.INQUIRY_LANGUAGE_CHOICES),
    "list_kind": dict(forms.LIST_KIND_CHOICES),
    "counterpart_kind": {"returned": _l("Those returned in an exchange"),
                         "held": _l("Those the other side says it holds")},
    "list_state": dict(forms.LIST_STATE_CHOICES),
    "outcome": dict(forms.OUTCOME_CHOICES),
    "category": dict(forms.CATEGORY_CHOICES),
}


def label(value: Any, group: str) -> str:
    if value is None or value == "":
        return "—"
    raw = getattr(value, "value", value)
    return str(LABELS.get(group, {}).get(raw, raw))


def status_basis(code: str, reason: str = "") -> str:
    """Why a person has the status he has, in words a researcher can check."""
    name, _sep, arg = (code or "").partition(":")
    if name == "no_verified_evidence":
        return _("No evidence has been verified yet.")
    if name == "one_verified_source":
        return _("Verified evidence from one source; a second, independent source would confirm it.")
    if name == "independent_sources":
        return _("Verified evidence from %(n)s independent sources.", n=arg)
    if name == "confirmation":
        return _("Verified confirmation: %(kind)s.", kind=label(arg, "kind"))
    if name == "manual":
        return _("Set by a researcher: %(reason)s", reason=reason)
    if name == "exchange_list":
        if arg in ("", "0"):
            return (_("Recorded from a counterpart list: %(reason)s", reason=system_text(reason)) if reason
                    else _("Recorded from a counterpart list"))
        return (_("Recorded from the answer to exchange list %(n)s: %(reason)s", n=arg, reason=system_text(reason))
                if reason else _("Recorded from the answer to exchange list %(n)s", n=arg))
    return system_text(code)


# Sentences the app itself wrote into records in English (before they were codes): shown in the
# reader's language wherever they appear.
_SYSTEM_TEXTS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"exchanged on (\d{4}-\d{2}-\d{2}) \(list (\d+)\)"),
     lambda m: _("exchanged on %(date)s (list %(n)s)", date=m[1], n=m[2])),
    (re.compile(r"every answer is in"), lambda m: _("every answer is in")),
]


def system_text(text: str) -> str:
    for pattern, words in _SYSTEM_TEXTS:
        text = pattern.sub(words, text)
    return text


# Health that puts a man first on an exchange list (domain.exchange.priority: "health:<value>").
_PRIORITY_HEALTH = {"seriously_wounded": _l("seriously wounded"), "sick": _l("sick")}


def priority_reason(code: str) -> str:
    """One reason for a man's place on an exchange list, in words ("age:21" → "age 21")."""
    name, _sep, arg = (code or "").partition(":")
    if name == "age" and arg:
        return _("age %(age)s", age=arg.replace("-", "–"))
    if name == "health" and arg:
        return str(_PRIORITY_HEALTH.get(arg) or label(arg, "health"))
    if name == "captivity_days" and arg.isdigit():
        return ngettext("%(num)d day in captivity", "%(num)d days in captivity", int(arg))
    if name == "days":
        return _("time in captivity")
    if name == "conscript":
        return _("conscript")
    if name == "with_inquiry":
        return _("a family is asking")
    return code


# --- a man by name, also when his name is not (all) known -------------------------------------

_APPEARANCE_SHOWN = 40  # characters of a description in a name line


def person_name(record: Any, ref: bool = False) -> str:
    """A man as lists and headings name him, in the reader's language: the names as entered when
    the surname is known («Выдумкин Виталий Евгеньевич», unchanged); else what is known with the
    gap said in words: «Виктор (в/ч 12345, фамилия неизвестна)», «Неизвестный (позывной «Сокол»)»,
    and for a man with no name at all his registry reference after it when `ref` (a page that shows
    no number beside the name). Never an empty cell or a dangling comma.

    `record`: a Person, an Inquiry, a counterpart entry, or a mapping with the same keys (a list's
    frozen row); fields a record does not have count as unknown."""
    def get(name: str) -> Any:
        value = record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)
        return value.strip() if isinstance(value, str) else value

    surname = get("surname") or ""
    names = " ".join(part for part in (get("given_name"), get("patronymic")) if part)
    if surname:
        return " ".join(part for part in (surname, names) if part)
    clues: list[str] = []
    call_sign = get("call_sign")
    if call_sign:
        clues.append(_("call sign “%(call_sign)s”", call_sign=call_sign))
    elif get("unit_number"):
        clues.append(_("military unit %(number)s", number=get("unit_number")))
    elif get("unit"):
        clues.append(str(get("unit")))
    if names:
        clues.append(_("surname unknown"))
        return _("%(names)s (%(details)s)", names=names, details=", ".join(clues))
    if not clues:
        appearance = " ".join((get("appearance") or "").split())
        if get("personal_number"):
            clues.append(_("personal number %(number)s", number=get("personal_number")))
        elif get("date_of_birth"):
            clues.append(_("born %(date)s", date=get("date_of_birth")))
        elif appearance:
            shown = appearance
            if len(appearance) > _APPEARANCE_SHOWN:  # cut at a word, not inside one
                cut = appearance[:_APPEARANCE_SHOWN + 1].rsplit(" ", 1)[0] or appearance[:_APPEARANCE_SHOWN]
                shown = cut.rstrip(" ,.;:—-") + "…"
            clues.append(_("looks: %(appearance)s", appearance=shown))
    text = (_("%(names)s (%(details)s)", names=_("Unknown man"), details=", ".join(clues)) if clues
            else _("Unknown man"))
    person_id = get("id")
    if ref and isinstance(person_id, int) and _is_person(record):
        text = _("%(name)s, %(reference)s", name=text, reference=f"P-{person_id:06d}")
    return text


def _is_person(record: Any) -> bool:
    from pow_registry.models import Person

    return isinstance(record, Person)
