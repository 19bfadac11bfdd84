"""Content-addressed store for archived evidence copies (under instance/evidence/).

Files are named by their SHA-256, so the same upload is stored once and a copy can be checked
against the hash recorded at upload. The media type comes from the file's own bytes, never from
what the browser claimed, and only types we expect from archived posts and videos are kept.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pow_registry.services.errors import N_, FieldErrors

# (magic prefix, offset, media type, extension)
_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"GIF87a", 0, "image/gif", ".gif"),
    (b"GIF89a", 0, "image/gif", ".gif"),
    (b"%PDF-", 0, "application/pdf", ".pdf"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm", ".webm"),
    (b"WARC/1.", 0, "application/warc", ".warc"),
]


def sniff_media_type(data: bytes) -> tuple[str, str] | None:
    for magic, offset, media_type, ext in _SIGNATURES:
        if data[offset:offset + len(magic)] == magic:
            return media_type, ext
    if data[8:12] == b"WEBP" and data[:4] == b"RIFF":
        return "image/webp", ".webp"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return ("video/quicktime", ".mov") if brand == b"qt  " else ("video/mp4", ".mp4")
    if data[:4] == b"PK\x03\x04":
        return ("application/wacz", ".wacz") if _is_wacz(data) else None
    head = data[:512].lstrip().lower()
    if head.startswith(b"<!doctype html") or head.startswith(b"<html"):
        return "text/html", ".html"
    # SVG and other XML can carry script: kept, but never served as what they are (download_as).
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        return "image/svg+xml", ".svg"
    if head.startswith(b"<?xml"):
        return "application/xml", ".xml"
    if _is_mhtml(data[:8192].lower()):
        return "multipart/related", ".mhtml"
    try:
        data[:65536].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if b"\x00" in data[:65536]:
        return None
    return "text/plain", ".txt"


def _is_wacz(data: bytes) -> bool:
    """A web archive collection: a zip with a datapackage.json (only its directory is read)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "datapackage.json" in archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return False


def _is_mhtml(head: bytes) -> bool:
    """A page saved by a browser as one file: MIME headers, then a multipart/related body."""
    headers = head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return b"mime-version:" in headers and b"multipart/related" in headers


# What a download may be served as: types no browser or desktop runs when opened, each with the
# extension it is saved under. Anything else (HTML, SVG, XML, text the sniffer could not place)
# is served as application/octet-stream under a name ending in .bin.
DOWNLOADABLE: dict[str, str] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "application/warc": ".warc",
    "application/wacz": ".wacz",
    "multipart/related": ".mhtml",
}
_CONTENT_TYPES = {"text/plain": "text/plain; charset=utf-8"}
_NAME_CHARACTERS = "-_ "


def download_as(data: bytes, filename: str | None, fallback: str) -> tuple[str, str]:
    """The name and Content-Type to serve an archived copy under: (name, content type).

    The type comes from the bytes, never from the uploader's name: an allowed type is saved with
    its own extension (`photo.jpg.exe` holding a JPEG becomes `photo.jpg`); anything else keeps
    its name for recognition and gets `.bin` after it (`run.hta` becomes `run.hta.bin`), so
    opening the download runs nothing.
    """
    sniffed = sniff_media_type(data)
    name = "".join(c for c in Path(filename or "").name if c.isalnum() or c in _NAME_CHARACTERS or c == ".")
    name = name.strip(". ")[:150]
    if sniffed is not None and sniffed[0] in DOWNLOADABLE:
        media_type, ext = sniffed[0], DOWNLOADABLE[sniffed[0]]
        stem = name.split(".", 1)[0].strip() or fallback
        return stem + ext, _CONTENT_TYPES.get(media_type, media_type)
    return (name or fallback) + ".bin", "application/octet-stream"


@dataclass
class StoredFile:
    sha256: str
    media_type: str
    size: int
    filename: str


class EvidenceStore:
    def __init__(self, root: str | Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def save(self, data: bytes, filename: str) -> StoredFile:
        if not data:
            raise FieldErrors({"archive": N_("The archived copy is empty.")})
        if len(data) > self.max_bytes:
            raise FieldErrors({"archive": N_("The archived copy is too large.")})
        sniffed = sniff_media_type(data)
        if sniffed is None:
            raise FieldErrors({"archive": N_("This kind of file is not accepted as an archived copy (images, PDF, video, web archives and text are).")})
        media_type, ext = sniffed
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        safe_name = "".join(c for c in Path(filename).name if c.isalnum() or c in "._- ")[:200] or ("evidence" + ext)
        return StoredFile(sha256=digest, media_type=media_type, size=len(data), filename=safe_name)

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()
