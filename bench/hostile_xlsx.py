#!/usr/bin/env python3
"""How fast, and in how little memory, are hostile tables refused? (issue 14)

Builds the attack files (the reported 0.5 MB .xlsx of empty rows that unpacks to 190 MB, the
same bomb padded to hide its packing ratio, a part that declares less than it holds, a million
empty cells in one row, rows padded to 1,000 columns, a huge shared strings table, one long
shared string in every cell, deep nesting, CSV files of blank lines and of one enormous line)
and a legitimate 10,000-row captures file (bench/import_captures.py's generator), then reads
each with ``pow_registry.domain.tabular.read_table`` in a child process of its own and prints
the seconds to the outcome, the child's resident memory (its peak, VmHWM, just before the call
with the file's bytes loaded, and at the end) and the outcome: the refusal's message, or the
rows read. The peak is a high-water mark, so a call that stays under the peak of loading the
file shows no growth; ``--trace`` adds the call's own allocations (tracemalloc, second pass).

    .venv/bin/python bench/hostile_xlsx.py                    # this checkout's reader
    .venv/bin/python bench/hostile_xlsx.py --code /work/main  # another checkout's (before)
    .venv/bin/python bench/hostile_xlsx.py --only bomb,csv-blank --timeout 300
    .venv/bin/python bench/hostile_xlsx.py --trace            # + a tracemalloc peak per file

``--code`` puts that checkout first on the child's sys.path, so the same files can be read by
the code before a change; a child that runs past ``--timeout`` seconds is stopped and reported
as such. Everything generated is fictitious and the temp dir is removed unless --keep is given.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET = "xl/worksheets/sheet1.xml"
SHEET_HEAD = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN_NS}"><sheetData>'.encode()
SHEET_TAIL = b"</sheetData></worksheet>"
HEADER = b'<row r="1"><c r="A1" t="inlineStr"><is><t>surname</t></is></c></row>'
SST_TYPE = ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')


# ------------------------------------------------------------------------------------------------
# Building the files


def workbook_parts() -> dict[str, bytes]:
    """The parts of a genuine one-sheet workbook written by openpyxl."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["surname"])
    buffer = io.BytesIO()
    wb.save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def deflate_repeated(head: bytes, unit: bytes, times: int, tail: bytes) -> tuple[bytes, int, int]:
    """Raw deflate of head + unit * times + tail, built without holding it: (packed, size, crc)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = unit * 100_000
    pieces, size, crc = [packer.compress(head)], len(head), zlib.crc32(head)
    for _ in range(times // 100_000):
        pieces.append(packer.compress(block))
        size, crc = size + len(block), zlib.crc32(block, crc)
    pieces += [packer.compress(tail), packer.flush()]
    return b"".join(pieces), size + len(tail), zlib.crc32(tail, crc)


def raw_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A deflated zip written by hand: (name, raw deflate data, declared size, crc) per part; the
    declared packed size is the data's length, padding included."""
    out, directory = io.BytesIO(), io.BytesIO()
    for name, data, size, crc in members:
        encoded = name.encode()
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 33, crc, len(data), size,
                              len(encoded), 0) + encoded + data)
        directory.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 33, crc, len(data),
                                    size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start = out.tell()
    out.write(directory.getvalue())
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members),
                          len(directory.getvalue()), start, 0))
    return out.getvalue()


def with_raw_sheet(parts: dict[str, bytes], packed: bytes, size: int, crc: int) -> bytes:
    members = [(name, zlib.compress(content)[2:-4], len(content), zlib.crc32(content))
               for name, content in parts.items() if name != SHEET]
    return raw_zip([*members, (SHEET, packed, size, crc)])


def xlsx(parts: dict[str, bytes], sheet: bytes | None = None, strings: bytes | None = None,
         **others: bytes) -> bytes:
    parts = dict(parts)
    if sheet is not None:
        parts[SHEET] = sheet
    if strings is not None:
        types = parts["[Content_Types].xml"].decode().replace("</Types>", SST_TYPE + "</Types>")
        parts["[Content_Types].xml"] = types.encode()
        parts["xl/sharedStrings.xml"] = strings
    parts.update({name.replace("__", "/"): content for name, content in others.items()})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


def sst(body: bytes) -> bytes:
    return f'<?xml version="1.0"?><sst xmlns="{MAIN_NS}">'.encode() + body + b"</sst>"


def build_bomb(parts: dict[str, bytes]) -> bytes:
    packed, size, crc = deflate_repeated(SHEET_HEAD + HEADER, b"<row/>", 31_600_000, SHEET_TAIL)
    return with_raw_sheet(parts, packed, size, crc)


def build_padded_bomb(parts: dict[str, bytes]) -> bytes:
    packed, size, crc = deflate_repeated(SHEET_HEAD + HEADER, b"<row/>", 31_600_000, SHEET_TAIL)
    return with_raw_sheet(parts, packed + b"\0" * (size // 95 - len(packed)), size, crc)


def build_liar(parts: dict[str, bytes]) -> bytes:
    packed, _size, crc = deflate_repeated(SHEET_HEAD + HEADER, b"<row/>", 31_600_000, SHEET_TAIL)
    return with_raw_sheet(parts, packed, 2_000, crc)


def build_wide_row(parts: dict[str, bytes]) -> bytes:
    return xlsx(parts, SHEET_HEAD + HEADER + b'<row r="2">' + b"<c/>" * 1_000_000 + b"</row>" + SHEET_TAIL)


def build_padded_rows(parts: dict[str, bytes]) -> bytes:
    rows = b"".join(b'<row r="%d"><c r="ALL%d"/></row>' % (n, n) for n in range(2, 4_502))
    return xlsx(parts, SHEET_HEAD + HEADER + rows + SHEET_TAIL)


def build_huge_sst(parts: dict[str, bytes]) -> bytes:
    sheet = SHEET_HEAD + b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + SHEET_TAIL
    return xlsx(parts, sheet, strings=sst(b"<si><t>surname</t></si>" + b"<si><t>x</t></si>" * 3_000_000))


def build_one_string_everywhere(parts: dict[str, bytes]) -> bytes:
    # 10,000 characters stored once (ending in a space, so every cell's strip() copies it),
    # shown in 20,000 cells: 200 million characters in memory.
    rows = b"".join(b'<row r="%d"><c r="A%d" t="s"><v>1</v></c></row>' % (n, n) for n in range(2, 20_002))
    sheet = SHEET_HEAD + b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + rows + SHEET_TAIL
    return xlsx(parts, sheet, strings=sst(b"<si><t>notes</t></si><si><t xml:space=\"preserve\">"
                                          + b"x" * 9_999 + b" </t></si>"))


def build_deep(parts: dict[str, bytes]) -> bytes:
    styles = parts["xl/styles.xml"].replace(b"<fonts", b"<x>" * 200_000 + b"</x>" * 200_000 + b"<fonts", 1)
    return xlsx(parts, **{"xl__styles.xml": styles})


def build_csv_blank(_parts: dict[str, bytes]) -> bytes:
    return b"surname\n" + b"\n" * 19_999_000


def build_csv_one_line(_parts: dict[str, bytes]) -> bytes:
    return b"surname\n" + b"," * 19_999_000


def build_legit(rows: int, fmt: str) -> Callable[[dict[str, bytes]], bytes]:
    def build(_parts: dict[str, bytes]) -> bytes:
        sys.path.insert(0, str(ROOT))
        from bench.import_captures import write_file

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"captures.{fmt}"
            write_file(path, rows, fmt)
            return path.read_bytes()

    return build


CASES: list[tuple[str, str, Callable[[dict[str, bytes]], bytes], str]] = [
    ("bomb", "the reported .xlsx: 190 MB of empty rows", build_bomb, "xlsx"),
    ("padded-bomb", "the same, packed size padded to 95:1", build_padded_bomb, "xlsx"),
    ("liar", "the same, declaring 2,000 bytes", build_liar, "xlsx"),
    ("wide-row", "1,000,000 empty cells in one row", build_wide_row, "xlsx"),
    ("padded-rows", "4,500 rows, each one cell in column ALL", build_padded_rows, "xlsx"),
    ("huge-sst", "3,000,000 shared strings", build_huge_sst, "xlsx"),
    ("one-string", "a 10,000-character shared string in 20,000 cells", build_one_string_everywhere, "xlsx"),
    ("deep", "styles nested 200,000 deep", build_deep, "xlsx"),
    ("csv-blank", "CSV: 20 MB of blank lines", build_csv_blank, "csv"),
    ("csv-line", "CSV: one line of 20,000,000 commas", build_csv_one_line, "csv"),
    ("legit-10k", "legitimate captures .xlsx, 10,000 rows", build_legit(10_000, "xlsx"), "xlsx"),
    ("legit-10k-csv", "legitimate captures .csv, 10,000 rows", build_legit(10_000, "csv"), "csv"),
]


def unpacked_size(data: bytes, fmt: str) -> int:
    if fmt != "xlsx":
        return len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sum(info.file_size for info in archive.infolist())


# ------------------------------------------------------------------------------------------------
# Reading, in a child process per file


def peak_rss_kb() -> int:
    """The process's peak resident memory in kB: VmHWM where /proc has it (Linux keeps
    ``ru_maxrss`` across fork and exec, so a child would report this script's own peak),
    else ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(path: Path, code: str, trace: bool) -> None:
    if code:
        sys.path.insert(0, code)
    from pow_registry.domain import tabular

    data = path.read_bytes()
    if trace:
        import tracemalloc

        tracemalloc.start()
    rss_start = peak_rss_kb()
    started = time.perf_counter()
    try:
        table = tabular.read_table(data, path.name)
        outcome = f"read: {len(table.rows):,} rows"
    except tabular.TableError as exc:
        outcome = "refused: " + str(exc)
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "rss_start_kb": rss_start,
              "rss_peak_kb": peak_rss_kb(),
              "outcome": outcome, "module": tabular.__file__}
    if trace:
        result["traced_peak"] = tracemalloc.get_traced_memory()[1]
    print(json.dumps(result))


def run(path: Path, code: str, timeout: float, trace: bool) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", str(path), "--code", code]
    if trace:
        command.append("--trace")
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603 - this script, our arguments
    except subprocess.TimeoutExpired:
        return {"timeout": time.perf_counter() - started}
    if done.returncode != 0:
        return {"crashed": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _mb(kb: object) -> str:
    return f"{int(kb) / 1024:,.0f}"  # type: ignore[call-overload]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", default="", help="a checkout whose pow_registry the children import (default: this one)")
    parser.add_argument("--only", default="", help="comma-separated case names: " + ", ".join(c[0] for c in CASES))
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a child is stopped (default 600)")
    parser.add_argument("--trace", action="store_true", help="also measure a tracemalloc peak (a second, slower pass)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the files")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.code, args.trace)
        return

    wanted = set(filter(None, args.only.split(",")))
    cases = [case for case in CASES if not wanted or case[0] in wanted]
    folder = Path(tempfile.mkdtemp(prefix="hostile-"))
    random.seed(14)
    try:
        parts = workbook_parts()
        print(f"reader: {args.code or ROOT} · timeout {args.timeout:.0f} s · {time.strftime('%Y-%m-%d %H:%M')}")
        header = f"{'case':<14} {'file':>10} {'unpacks to':>13} {'seconds':>8} {'RSS MB':>12}  outcome"
        print(header)
        print("-" * len(header))
        for name, title, build, fmt in cases:
            data = build(parts)
            path = folder / f"{name}.{fmt}"
            path.write_bytes(data)
            result = run(path, args.code, args.timeout, trace=False)
            size = f"{len(data):,}"
            unpacked = f"{unpacked_size(data, fmt):,}"
            if "timeout" in result:
                line = f"{'> ' + format(args.timeout, '.0f'):>8} {'':>12}  stopped after the timeout"
            elif "crashed" in result:
                line = f"{'':>8} {'':>12}  crashed: {result['crashed']}"
            else:
                rss = f"{_mb(result['rss_start_kb'])} → {_mb(result['rss_peak_kb'])}"
                outcome = str(result["outcome"])
                line = (f"{result['seconds']:>8.2f} {rss:>12}  "
                        f"{outcome[:110]}{'…' if len(outcome) > 110 else ''}")
            print(f"{name:<14} {size:>10} {unpacked:>13} {line}")
            print(f"{'':<14} ({title}; read by {result.get('module', '?')})")
            if args.trace and "seconds" in result:
                traced = run(path, args.code, args.timeout * 5, trace=True)
                if "traced_peak" in traced:
                    print(f"{'':<14} tracemalloc peak during the call: "
                          f"{int(traced['traced_peak']) / 1e6:,.1f} MB")  # type: ignore[call-overload]
    finally:
        if args.keep:
            print(f"files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
