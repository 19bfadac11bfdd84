"""Evidence links: plain http(s) links to a named host, nothing a browser reads differently."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pow_registry.domain.urls import InvalidURL, url_hostname, validate_evidence_url


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("https://example.org/video/1", "https://example.org/video/1"),
        ("http://example.org", "http://example.org"),
        ("  https://example.org/a?b=c#d \n", "https://example.org/a?b=c#d"),
        ("HTTPS://Example.ORG/Path/Kept", "https://example.org/Path/Kept"),
        ("https://t.me/some_channel/1234", "https://t.me/some_channel/1234"),
        ("https://www.example.com:8443/x", "https://www.example.com:8443/x"),
        ("https://example.com:1/", "https://example.com:1/"),
        ("https://example.com:65535/", "https://example.com:65535/"),
        ("https://example.com:0443/", "https://example.com:443/"),
        ("https://example.com/@someone", "https://example.com/@someone"),  # @ in the path is fine
        ("https://example.com?q=a@b", "https://example.com?q=a@b"),
        ("https://example.com/путь?q=имя", "https://example.com/путь?q=имя"),
        ("https://пример.рф/новости", "https://xn--e1afmkfd.xn--p1ai/новости"),
        ("https://ПРИМЕР.РФ", "https://xn--e1afmkfd.xn--p1ai"),
        ("https://xn--e1afmkfd.xn--p1ai/", "https://xn--e1afmkfd.xn--p1ai/"),
        ("https://sub-domain.example.co.uk/x", "https://sub-domain.example.co.uk/x"),
        ("https://example。com/", "https://example.com/"),  # ideographic full stop
    ],
)
def test_accepts_and_normalises(text: str, stored: str) -> None:
    assert validate_evidence_url(text) == stored


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter a link"),
        ("   ", "Enter a link"),
        ("javascript:alert(1)", "Only http:// and https://"),
        ("JavaScript://example.com/%0aalert(1)", "Only http:// and https://"),
        ("data:text/html,<b>x</b>", "must not contain '<'"),
        ("data:text/html;base64,PGI+", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("ftp://example.com/file", "Only http:// and https://"),
        ("vbscript:msgbox", "Only http:// and https://"),
        ("http:evil.com", "must start with http:// or https://"),
        ("https:/evil.com", "must start with http:// or https://"),
        ("//evil.com", "must start with http:// or https://"),
        ("evil.com/video", "must start with http:// or https://"),
        ("https://user@evil.com/", "user name or password"),
        ("https://user:pass@evil.com/", "user name or password"),
        ("https://example.com@evil.com/", "user name or password"),
        ("https://example.com\\@evil.com/", "must not contain '\\\\'"),
        ("https:\\\\evil.com", "must not contain '\\\\'"),
        ("https://exa mple.com/", "spaces or line breaks"),
        ("https://example.com/a b", "spaces or line breaks"),
        ("https://example.com/\ta", "spaces or line breaks"),
        ("https://exam\nple.com/", "spaces or line breaks"),
        ("https://example.com/\x00", "invisible or control"),
        ("https://example.com/\u202egpj.exe", "invisible or control"),
        ("https://exa\u200bmple.com/", "invisible or control"),
        ('https://example.com/"onmouseover="x', "must not contain '\"'"),
        ("https:///example.com", "no site name"),
        ("https://", "no site name"),
        ("https://:443/", "no site name"),
        ("https://localhost/", "full site name"),
        ("https://intranet:8080/", "full site name"),
        ("https://127.0.0.1/", "not an IP address"),
        ("https://10.0.0.1:8080/x", "not an IP address"),
        ("https://[::1]/", "not an IP address"),
        ("https://[2001:db8::1]:443/", "not an IP address"),
        ("https://example.123/", "real domain"),
        ("https://example.c/", "real domain"),
        ("https://example.com./", "not a valid domain name"),
        ("https://.example.com/", "not a valid domain name"),
        ("https://exa..mple.com/", "not a valid domain name"),
        ("https://-example.com/", "not a valid domain name"),
        ("https://example-.com/", "not a valid domain name"),
        ("https://exa_mple.com/", "not a valid domain name"),
        ("https://exa%2emple.com/", "not a valid domain name"),
        ("https://" + "a" * 64 + ".com/", "not a valid domain name"),
        ("https://xn--zz-.example.com/", "not a valid domain name"),
        ("https://xn--ls8h-99999.com/", "not a valid domain name"),
        ("https://example.com:0/", "port"),
        ("https://example.com:65536/", "port"),
        ("https://example.com:99999999/", "port"),
        ("https://example.com:/", "port"),
        ("https://example.com:http/", "port"),
        ("https://example.com:-1/", "port"),
        ("https://example.com/" + "a" * 2000, "longer than 2000"),
    ],
)
def test_refuses_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(InvalidURL) as info:
        validate_evidence_url(text)
    assert message in str(info.value)


def test_invalid_url_is_a_value_error() -> None:
    assert issubclass(InvalidURL, ValueError)


def test_exactly_the_maximum_length_is_accepted() -> None:
    prefix = "https://example.com/"
    url = prefix + "a" * (2000 - len(prefix))
    assert validate_evidence_url(url) == url


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Example.ORG:8443/x", "example.org"),
        ("https://пример.рф/", "xn--e1afmkfd.xn--p1ai"),
        ("http://t.me/x", "t.me"),
    ],
)
def test_url_hostname(url: str, host: str) -> None:
    assert url_hostname(url) == host


def test_url_hostname_refuses_what_validation_refuses() -> None:
    with pytest.raises(InvalidURL):
        url_hostname("javascript:alert(1)")


# --- properties --------------------------------------------------------------------------

_prefixes = st.sampled_from(
    [
        "",
        "http://",
        "https://",
        "HTTPS://",
        "javascript:",
        "JaVaScRiPt:",
        "data:",
        "file://",
        "http:",
        "//",
        "https:\\\\",
        " https://",
        "\x00https://",
        "https://a.b@",
        "https://example.com",
    ]
)
_rests = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="abc.-:/@?#[]%\\0123456789 \tаб", max_size=40),
)


@given(_prefixes, _rests)
def test_never_returns_anything_but_a_web_link(prefix: str, rest: str) -> None:
    try:
        url = validate_evidence_url(prefix + rest)
    except InvalidURL:
        return
    parts = urlsplit(url)
    assert parts.scheme in {"http", "https"}
    assert url.startswith(("http://", "https://"))
    assert parts.hostname is not None and "." in parts.hostname
    assert parts.hostname.isascii() and parts.username is None and parts.password is None
    assert not any(char.isspace() or char == "\\" for char in url)
    assert len(url) <= 2000
    assert url_hostname(url) == parts.hostname
    # What we store is already in its stored form.
    assert validate_evidence_url(url) == url
