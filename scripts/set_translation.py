"""Set translations from the command line: set_translation.py LANG 'msgid' 'msgstr' [...pairs]."""

import sys

from babel.messages.pofile import read_po, write_po

lang, pairs = sys.argv[1], sys.argv[2:]
path = f"pow_registry/translations/{lang}/LC_MESSAGES/messages.po"
with open(path, "rb") as fh:
    catalog = read_po(fh)
for msgid, msgstr in zip(pairs[::2], pairs[1::2], strict=True):
    message = catalog.get(msgid)
    if message is None:
        sys.exit(f"no msgid {msgid!r} in {path}")
    message.string = msgstr
    message.flags.discard("fuzzy")
with open(path, "wb") as fh:
    write_po(fh, catalog, width=100)
