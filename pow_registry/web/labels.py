"""Human words for enum values and status bases, in the user's language."""

from __future__ import annotations

from typing import Any

from pow_registry.i18n import gettext as _
from pow_registry.i18n import lazy_gettext as _l
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
    # How a status reads to the family on its status page (never more than staff cleared).
    "family_status": {
        "received": _l("Your inquiry has been received."),
        "searching": _l("We are searching for him."),
        "match_found": _l("We have found a record that matches your inquiry. We will contact you."),
        "on_exchange_list": _l("He is on a list proposed for exchange."),
        "returned": _l("He has returned."),
        "closed": _l("Your inquiry is closed."),
    },
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
    return code
