"""Files the app writes for a person at the command line: exports and access codes.

They hold names of prisoners and families' data, so each is a **new** file that only its owner can
read (mode 0600), made with O_CREAT | O_EXCL | O_NOFOLLOW:

- nothing that is already at the path is used or overwritten: not a file (which would keep its
  own mode, 0644 say, with the new contents; and an earlier run's access codes are lost), not a
  folder, not a symbolic link, even a dangling one (O_EXCL refuses a link at the last component
  and O_NOFOLLOW says so again; a link planted in a shared folder cannot send the data elsewhere
  or overwrite the target). The person is asked for a new name instead, with the reason;
- the mode is set with fchmod on the open file, so it is 0600 whatever the umask.

Why refuse rather than write a temporary file beside it and rename it over the path: a rename
replaces whatever was there without asking, an earlier export or a codes file that is the only
copy of the codes; refusing keeps one rule for every file and says so. Folders named on the way
to the file are the person's choice and are followed as usual; only the file itself is checked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

__all__ = ["NewFileRefused", "new_private_file", "open_new_private"]

PRIVATE_MODE = 0o600
_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
          | getattr(os, "O_BINARY", 0))


class NewFileRefused(Exception):
    """The file could not be made; the message (English, for the command line) says why."""


def open_new_private(path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None,
                     newline: str | None = None) -> IO[Any]:
    """A new file at `path`, mode 0600, open for writing (`mode` "wb", or "w" with `encoding`).

    Raises NewFileRefused when anything already exists at `path` (a file, a folder, a link) or
    the file cannot be created (no such folder, no permission).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"a new private file is opened for writing only ('w' or 'wb'), not {mode!r}")
    try:
        descriptor = os.open(path, _FLAGS, PRIVATE_MODE)
    except FileExistsError:
        raise NewFileRefused(f"{os.fspath(path)} already exists: give the name of a new file (an existing file, "
                             "folder or link is never overwritten or followed).") from None
    except OSError as exc:
        raise NewFileRefused(f"{os.fspath(path)}: cannot create the file ({exc.strerror}).") from None
    try:
        os.fchmod(descriptor, PRIVATE_MODE)  # the umask may have taken bits away; it is exactly 0600
        return os.fdopen(descriptor, mode, encoding=encoding, newline=newline)
    except BaseException:
        os.close(descriptor)
        _remove(path)
        raise


@contextmanager
def new_private_file(path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None,
                     newline: str | None = None) -> Iterator[IO[Any]]:
    """`open_new_private` for a `with` block: closed at its end, and removed again if the block
    fails (an error, or the command giving up), so no half-written export is left behind."""
    handle = open_new_private(path, mode, encoding=encoding, newline=newline)
    try:
        with handle:
            yield handle
    except BaseException:
        _remove(path)
        raise


def _remove(path: str | os.PathLike[str]) -> None:
    """Remove the file this module just made (it was new: O_EXCL)."""
    with suppress(FileNotFoundError):
        os.unlink(path)
