"""Evidence links: only plain web links to a named host, in the one form we store.

Jinja escaping does not stop a `javascript:` link, and browsers read `http:evil.com`,
backslashes and `user@host` differently from Python's parsers. So links are checked here,
strictly, before they are stored or rendered (security.md, architecture.md).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

__all__ = ["MAX_URL_LENGTH", "InvalidURL", "url_hostname", "validate_evidence_url"]

MAX_URL_LENGTH = 2000

_SCHEME = re.compile(r"(?P<scheme>https?)://", re.IGNORECASE)
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TOP_LABEL = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
_PORT = re.compile(r"[0-9]{1,5}")
# Never valid unencoded in a URL and the usual tools of markup injection.
_FORBIDDEN = frozenset('\\<>"`')


class InvalidURL(ValueError):
    """The link is not one we accept; the message can be shown to the user as is."""


def _check_characters(url: str) -> None:
    for char in url:
        if char in _FORBIDDEN:
            raise InvalidURL(f"The link must not contain {char!r}.")
        if char.isspace():
            raise InvalidURL("The link must not contain spaces or line breaks.")
        # Cc controls, Cf invisible/bidi characters, Cs lone surrogates, Co private use.
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co"}:
            raise InvalidURL("The link contains an invisible or control character.")


def _ascii_host(host: str) -> str:
    """Return the host in lower-case ASCII (IDN as punycode), or raise InvalidURL.

    Punycode is what we store and show: a Cyrillic «а» inside a familiar domain name is a
    classic lure, and the xn-- form gives it away.
    """
    if host.startswith("["):
        raise InvalidURL("Use the site's name, not an IP address.")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidURL("The site name in the link is not a valid domain name.") from None
    host = host.lower()
    labels = host.split(".")
    if len(labels) < 2:
        raise InvalidURL("The link needs a full site name, such as example.org.")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidURL("The site name in the link is not a valid domain name.")
    if all(label.isdigit() for label in labels):
        raise InvalidURL("Use the site's name, not an IP address.")
    if not _TOP_LABEL.fullmatch(labels[-1]):
        raise InvalidURL("The site name in the link does not end in a real domain.")
    for label in labels:
        if label.startswith("xn--"):
            try:
                label.encode("ascii").decode("idna")
            except UnicodeError:
                raise InvalidURL("The site name in the link is not a valid domain name.") from None
    return host


def validate_evidence_url(text: str) -> str:
    """Return the link as we store it (scheme and host lower-case), or raise InvalidURL.

    Accepts only `http://` and `https://` links to a named host with a dot in it, an
    optional port 1-65535, and anything after the host as entered. Refuses user names
    (`user@host`), backslashes, whitespace and invisible characters inside, and links longer
    than MAX_URL_LENGTH characters.
    """
    url = text.strip()
    if not url:
        raise InvalidURL("Enter a link.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURL(f"The link is longer than {MAX_URL_LENGTH} characters.")
    _check_characters(url)
    match = _SCHEME.match(url)
    if match is None:
        if _HAS_SCHEME.match(url) and not url.lower().startswith(("http:", "https:")):
            raise InvalidURL("Only http:// and https:// links are accepted.")
        raise InvalidURL("The link must start with http:// or https://.")
    scheme = match.group("scheme").lower()
    rest = url[match.end() :]
    split_at = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:split_at], rest[split_at:]
    if "@" in authority:
        raise InvalidURL("The link must not contain a user name or password before the site name.")
    if authority.startswith("["):  # an IPv6 literal; refused by _ascii_host below
        host, colon, port = authority, "", ""
    else:
        host, colon, port = authority.partition(":")
    if not host:
        raise InvalidURL("The link has no site name after the //.")
    if colon:
        if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
            raise InvalidURL("The port in the link must be a number from 1 to 65535.")
        port = str(int(port))
    ascii_host = _ascii_host(host)
    result = f"{scheme}://{ascii_host}{':' + port if colon else ''}{tail}"
    if len(result) > MAX_URL_LENGTH:
        raise InvalidURL(f"The link is longer than {MAX_URL_LENGTH} characters.")
    # Belt and braces: the standard parser must read the same scheme and host we checked.
    parsed = urlsplit(result)
    if parsed.scheme != scheme or parsed.hostname != ascii_host:
        raise InvalidURL("The link could not be read unambiguously.")
    return result


def url_hostname(url: str) -> str:
    """The lower-case ASCII host of an evidence link, for showing where a link goes.

    Raises InvalidURL for anything validate_evidence_url refuses.
    """
    parsed = urlsplit(validate_evidence_url(url))
    assert parsed.hostname is not None  # validate_evidence_url guarantees a host
    return parsed.hostname
