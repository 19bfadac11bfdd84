"""Human words for enum values and status bases, in the user's language."""

from __future__ import annotations

import re
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
