"""Reading real exports into the canonical tables that :func:`socialkpi.compute` takes.

Files are opened here (encoding, separator, leading ``sep=`` and comment lines) and read by
Python polars as text; the core then maps the headers, parses every cell (humanised counts,
locale separators, percentages, dates in export formats) and accounts for every row.
Python polars reads CSV about twice as fast as the Rust crate the core is built on, and the
text columns cross into the core zero-copy, so the split costs nothing.
"""

from __future__ import annotations

import codecs
import glob
import html
import io
import os
import re
import sys
import weakref
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import polars as pl

from socialkpi import _core
from socialkpi._tables import _ArrowStream, _PolarsTable
from socialkpi.exceptions import InputError, KpiError, QueryError, error, invalid_argument

Source = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]

_TEXT = (".csv", ".tsv", ".txt")
_EXCEL = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
_PARQUET = (".parquet", ".pq")
_JSONL = (".jsonl", ".ndjson", ".json")

# Excel sheets are read whole into a grid of cells by the Excel reader (calamine): a sheet
# whose cells span more than this many (rows x columns, from its first used cell to its last) is
# refused before reading, as one that says its last cell is XFD1048576 would need 512 GB.
MAX_SHEET_CELLS = 25_000_000
# ... and a sheet's XML is scanned for its cells first: one that unpacks to more is refused.
MAX_SHEET_XML = 2 << 30


@dataclass(frozen=True)
class FileRead:
    """How one file was read."""

    path: str
    preset: str | None
    encoding: str
    rows_read: int
    header_map: dict[str, str]


@dataclass(frozen=True)
class ReadReport:
    """The account of a read: every row read was kept or dropped for a reason.

    Attributes
    ----------
    table
        ``"posts"``, ``"accounts"`` or ``"traffic"``.
    files
        One :class:`FileRead` per file: its preset, encoding, rows and header map.
    rows_read, rows_kept
        Data rows in the files, and rows in the returned frame.
    rows_dropped
        ``(reason, rows)``: ``total_row`` (a summary row such as YouTube Studio's "Total"),
        ``description_row`` (the line of descriptions under a legacy Insights header),
        ``missing_key`` (no ``post_id``; for accounts no ``account_id`` or ``date``; for
        traffic no ``date``), ``older_snapshot`` (the same post or account day read again
        later, with ``snapshot=``), ``duplicate`` (the same without ``snapshot=``: the last
        row is kept). ``rows_read == rows_kept + sum of rows_dropped``.
    cells_nulled
        ``(column, reason, cells, samples)`` for cells that did not read as their column's
        kind of value and became null. Missing markers (``-``, ``N/A``, ``undefined``, ...)
        are nulls already and are not counted here.
    warnings
        Things kept but worth knowing: a latest snapshot smaller than an earlier one, a file
        that maps only some of ``post_id``, ``published_at``, ``account_id``, posts repeated
        on different dates read as snapshots by assumption, a file that mixes encodings.
    repeats
        How a post's repeated rows were read: ``"snapshots"`` (the latest kept),
        ``"daily"`` (the days added up, the rows counted as ``summed_day``), or None when no
        post repeated.
    header_map
        Header -> canonical column, over all files.
    """

    table: str
    files: list[FileRead] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    rows_dropped: list[tuple[str, int]] = field(default_factory=list)
    cells_nulled: list[tuple[str, str, int, list[str]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    repeats: str | None = None

    @property
    def header_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in self.files:
            out.update(f.header_map)
        return out

    @property
    def preset(self) -> str | None:
        """The preset used (``"a, b"`` when files used different ones)."""
        names = list(dict.fromkeys(f.preset for f in self.files if f.preset))
        return ", ".join(names) if names else None

    def __repr__(self) -> str:
        from socialkpi import display

        return display.read_report_repr(self)

    def _repr_html_(self) -> str:
        from socialkpi import display

        return display.read_report_html(self)


# frame -> its report, for as long as the frame lives (see read_report)
_REPORTS: dict[int, tuple[weakref.ref[pl.DataFrame], ReadReport]] = {}


def _remember(frame: pl.DataFrame, report: ReadReport) -> None:
    key = id(frame)
    _REPORTS[key] = (weakref.ref(frame, lambda _: _REPORTS.pop(key, None)), report)


def read_report(frame: Any) -> ReadReport | None:
    """The :class:`ReadReport` of a frame returned by a reader, or None for any other frame.

    The report stays with the very frame the reader returned; a frame derived from it
    (filtered, converted to pandas) has none. :func:`socialkpi.compute_details` finds it too
    and puts its drops in ``rows_dropped`` ahead of its own.
    """
    entry = _REPORTS.get(id(frame))
    if entry is None or entry[0]() is not frame:
        return None
    return entry[1]


def _source_items(source: Any) -> list[str]:
    """The paths of ``source`` as text; anything else is an ``invalid_argument``."""
    usage = "source= takes a path, pathlib.Path, glob, folder or a list of them"
    if isinstance(source, (str, os.PathLike)):
        items = [source]
    elif isinstance(source, Sequence) and not isinstance(source, (bytes, bytearray)):
        items = list(source)
    else:
        raise invalid_argument(f"{usage}, not {type(source).__name__}")
    texts: list[str] = []
    for item in items:
        text = os.fspath(item) if isinstance(item, (str, os.PathLike)) else None
        if not isinstance(text, str):
            raise invalid_argument(f"{usage}; {item!r} is a {type(item).__name__}")
        if "\x00" in text:
            raise invalid_argument(f"{usage}; {text!r} holds a NUL character, which no path can")
        texts.append(text)
    return texts


def _check_arguments(
    preset: Any,
    columns: Any,
    defaults: Any,
    snapshot: Any,
    daily: Any,
    year: Any,
    encoding: Any,
    sheet: Any,
    progress: Any,
) -> None:
    for name, value in (("preset", preset), ("snapshot", snapshot), ("encoding", encoding)):
        if value is not None and not isinstance(value, str):
            raise invalid_argument(f"{name}= takes a text or None, not {type(value).__name__}")
    for name, value in (("columns", columns), ("defaults", defaults)):
        if value is not None and not isinstance(value, Mapping):
            raise invalid_argument(f"{name}= takes a dict or None, not {type(value).__name__}")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 9999):
        raise invalid_argument(f"year= takes a year from 1000 to 9999, not {year!r}")
    if sheet is not None and (isinstance(sheet, bool) or not isinstance(sheet, (str, int))):
        raise invalid_argument(f"sheet= takes a sheet name or a position from 1, not {sheet!r}")
    if isinstance(sheet, int) and not 1 <= sheet <= 1 << 16:
        raise invalid_argument(f"sheet= takes a position from 1, not {sheet}")
    if daily is not None and not isinstance(daily, (bool, str)):
        raise invalid_argument(f"daily= takes True, False or the header of the metrics' day, not {daily!r}")
    if progress is not None and not isinstance(progress, bool):
        raise invalid_argument(f"progress= takes True, False or None, not {progress!r}")


def _expand(source: Source) -> list[str]:
    paths: list[str] = []
    for text in _source_items(source):
        if os.path.isdir(text):
            found = sorted(
                p
                for p in glob.glob(os.path.join(glob.escape(text), "*"))
                if p.lower().endswith(_TEXT + _EXCEL + _PARQUET + _JSONL) and os.path.isfile(p)
            )
            if not found:
                raise error(InputError, "file_not_found", f"folder '{text}' holds no export files")
            paths.extend(found)
        elif any(ch in text for ch in "*?["):
            matched = sorted(glob.glob(text))
            found = [p for p in matched if os.path.isfile(p)]
            if matched and not found:
                raise error(
                    InputError, "not_a_file", f"'{text}' matches only folders ({matched[0]}, ...), not files"
                )
            if not found:
                raise error(InputError, "file_not_found", f"no file matches '{text}'")
            paths.extend(found)
        elif os.path.exists(text):
            paths.append(text)
        else:
            raise error(InputError, "file_not_found", f"file '{text}' does not exist")
    if not paths:
        raise error(InputError, "file_not_found", "no files were given")
    return paths


def _whole(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _encoding_name(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise error(
            QueryError, "unknown_encoding", f"encoding={encoding!r} is not an encoding Python knows"
        ) from None


def _utf8_head(head: bytes) -> bool:
    """Whether a file's first block is UTF-8 (a character cut at the block's end is)."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4
    return True


def _windows(raw: bytes) -> tuple[str, str]:
    """Bytes that are not UTF-8: the Windows code page, else Latin-1 (which reads any byte)."""
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _decode_lines(raw: bytes, path: str) -> tuple[str, str, list[str]]:
    """(text, encoding, notes) of a file that is not all UTF-8, decoded line by line: UTF-8
    where a line is valid UTF-8, Windows-1252 (else Latin-1) where it is not. A file whose
    other lines hold UTF-8 text (or that starts with a UTF-8 byte-order mark) mixes encodings:
    the note names the lines read as Windows-1252. Work is linear in the file: each attempt
    decodes up to the next invalid byte."""
    bom = raw.startswith(codecs.BOM_UTF8)
    view = memoryview(raw)
    pos = 3 if bom else 0
    parts: list[str] = []
    windows_lines: list[int] = []
    windows_names: set[str] = set()
    line = 1  # the line number at `pos`
    utf8_text = False  # a UTF-8 line held a character outside ASCII
    while pos < len(raw):
        try:
            rest, _ = codecs.utf_8_decode(view[pos:], "strict", True)
        except UnicodeDecodeError as exc:
            bad = pos + exc.start
            start = raw.rfind(b"\n", pos, bad) + 1 or pos
            start = max(start, pos)
            end = raw.find(b"\n", bad)
            end = len(raw) if end < 0 else end + 1
            good, _ = codecs.utf_8_decode(view[pos:start], "strict", True)
            utf8_text = utf8_text or not good.isascii()
            line += raw.count(b"\n", pos, start)
            text, name = _windows(raw[start:end])
            parts += [good, text]
            windows_lines.append(line)
            windows_names.add(name)
            line += 1
            pos = end
            continue
        utf8_text = utf8_text or not rest.isascii()
        parts.append(rest)
        break
    notes: list[str] = []
    windows = "latin-1" if "latin-1" in windows_names else "cp1252"
    if not windows_lines:
        used = "utf-8-sig" if bom else "utf-8"
    elif utf8_text or bom:
        used = f"utf-8+{windows}"
        shown = ", ".join(str(n) for n in windows_lines[:5]) + (", ..." if len(windows_lines) > 5 else "")
        notes.append(
            f"'{path}' mixes encodings: {len(windows_lines)} line(s) are not UTF-8 and were read as "
            f"{'Windows-1252' if windows == 'cp1252' else 'Latin-1'} (line {shown}), the others as UTF-8; "
            "check the text of those rows"
        )
    else:
        used = windows
    return "".join(parts), used, notes


def _layout(head: str, path: str) -> tuple[str, int]:
    """(separator, lines to skip before the header): a `sep=;` line names the separator;
    comment lines (GA4's `# ...`) and blank lines before the header are skipped."""
    lines = head.lstrip("\ufeff").splitlines()
    skip = 0
    sep: str | None = None
    while skip < len(lines):
        line = lines[skip].strip().lstrip("\ufeff")
        if line.lower().startswith("sep=") and len(line) <= 6:
            sep = line[4:5] or ","
        elif not (line == "" or line.startswith("#")):
            break
        skip += 1
    if sep is None:
        header = lines[skip] if skip < len(lines) else ""
        if path.lower().endswith(".tsv"):
            sep = "\t"
        else:
            counts = {c: _count_outside_quotes(header, c) for c in (",", ";", "\t", "|")}
            sep = max(counts, key=lambda c: counts[c]) if any(counts.values()) else ","
    return sep, skip


def _count_outside_quotes(line: str, ch: str) -> int:
    n, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == ch and not quoted:
            n += 1
    return n


def _csv(path: str, source: Any, sep: str, skip: int) -> pl.DataFrame:
    """The table of a text file as text columns; a file that is no table is ``not_a_table``,
    invalid UTF-8 is polars' ComputeError (the caller decodes the file itself then)."""
    try:
        return pl.read_csv(
            source,
            separator=sep,
            skip_rows=skip,
            infer_schema=False,
            truncate_ragged_lines=True,
            encoding="utf8",
        )
    except pl.exceptions.ComputeError as exc:
        if "utf" in str(exc).lower():
            raise
        raise error(InputError, "not_a_table", f"'{path}' could not be read as a table: {exc}") from None
    except pl.exceptions.PolarsError as exc:
        raise error(InputError, "not_a_table", f"'{path}' could not be read as a table: {exc}") from None


def _read_text(path: str, encoding: str | None) -> tuple[pl.DataFrame, str, list[str]]:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in head and not utf16 and encoding is None:
        raise error(InputError, "not_a_table", f"'{path}' is not a text table (it holds binary data)")
    notes: list[str] = []
    # text: None while polars can read the file as it is (UTF-8, the fast path)
    text: str | None = None
    if encoding is not None:
        used = _encoding_name(encoding)
        if used not in ("utf-8", "utf-8-sig"):
            text = _whole(path).decode(encoding, errors="replace")
    elif utf16:
        try:
            text, used = _whole(path).decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise error(InputError, "not_a_table", f"'{path}' is not valid UTF-16: {exc}") from None
    elif _utf8_head(head):
        used = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    else:
        text, used, notes = _decode_lines(_whole(path), path)
    sample = text[: 1 << 15] if text is not None else head.decode("utf-8", errors="replace")
    sep, skip = _layout(sample, path)
    try:
        if text is not None:
            return _csv(path, io.BytesIO(text.lstrip("\ufeff").encode("utf-8")), sep, skip), used, notes
        return _csv(path, path, sep, skip), used, notes
    except pl.exceptions.ComputeError:
        pass
    # invalid UTF-8 past the first block
    raw = _whole(path)
    if encoding is not None:
        text, notes = (
            raw.decode("utf-8", errors="replace"),
            [f"'{path}' is not all UTF-8: bytes that are not were replaced"],
        )
    else:
        text, used, notes = _decode_lines(raw, path)
    try:
        return _csv(path, io.BytesIO(text.lstrip("\ufeff").encode("utf-8")), sep, skip), used, notes
    except pl.exceptions.ComputeError as exc:
        raise error(InputError, "not_a_table", f"'{path}' could not be read as a table: {exc}") from None


def _clean_headers(frame: pl.DataFrame) -> pl.DataFrame:
    """Headers as the core can take them: no byte-order mark, no NUL (a file read in the wrong
    encoding; a NUL cannot cross the Arrow C interface), and each name once."""
    names: list[str] = []
    seen: set[str] = set()
    for c in frame.columns:
        name = c.replace("\x00", "").replace("\ufeff", "") or "column"
        base, n = name, 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        names.append(name)
    return frame if names == frame.columns else frame.rename(dict(zip(frame.columns, names)))


def _read_file(
    path: str, encoding: str | None, sheet: str | int | None = None
) -> tuple[pl.DataFrame, str, list[str]]:
    try:
        frame, used, notes = _read_any(path, encoding, sheet)
    except FileNotFoundError:
        raise error(InputError, "file_not_found", f"file '{path}' does not exist (any more)") from None
    except IsADirectoryError:
        raise error(InputError, "not_a_file", f"'{path}' is a folder, not a file") from None
    except OSError as exc:
        raise error(InputError, "unreadable_file", f"'{path}' could not be read: {exc}") from None
    return _clean_headers(frame), used, notes


def _sheet_part(book: zipfile.ZipFile, sheet: str | int | None) -> str | None:
    """The zip member of an .xlsx sheet (by name, or position from 1), None when the workbook
    does not say (the Excel reader then reports it)."""

    def small(name: str) -> bytes:
        info = book.getinfo(name)
        if info.file_size > 64 << 20:
            raise error(InputError, "sheet_too_large", f"the workbook part '{name}' is over 64 MB")
        return book.read(name)

    try:
        workbook, rels = small("xl/workbook.xml"), small("xl/_rels/workbook.xml.rels")
    except KeyError:
        return None
    sheets = [
        (html.unescape(m[1].decode("utf-8", "replace")), m[2].decode())
        for m in re.finditer(rb'<(?:\w+:)?sheet\b[^>]*?\bname="([^"]*)"[^>]*?\br:id="([^"]*)"', workbook)
    ]
    if isinstance(sheet, str):
        rid = next((r for n, r in sheets if n == sheet), None)
    else:
        at = (sheet or 1) - 1
        rid = sheets[at][1] if at < len(sheets) else None
    if rid is None:
        return None
    for m in re.finditer(rb"<(?:\w+:)?Relationship\b[^>]*>", rels):
        tag = m[0]
        ident = re.search(rb'\bId="([^"]*)"', tag)
        target = re.search(rb'\bTarget="([^"]*)"', tag)
        if ident and target and ident[1].decode() == rid:
            t = target[1].decode()
            return t.lstrip("/") if t.startswith("/") else "xl/" + t
    return None


def _column_number(letters: bytes) -> int:
    n = 0
    for b in letters:
        n = n * 26 + (b - 64)
    return n


def _check_sheet_size(path: str, sheet: str | int | None) -> None:
    """Refuses an .xlsx sheet whose cells span more than MAX_SHEET_CELLS (or whose XML unpacks
    to more than MAX_SHEET_XML bytes), before the Excel reader allocates their grid: from the
    sheet's declared dimension, then from the cells it holds (streamed: a small file that
    unpacks to a large sheet costs no memory)."""
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, ValueError) as exc:
        raise error(InputError, "not_a_table", f"'{path}' is not an Excel workbook: {exc}") from None
    with book:
        part = _sheet_part(book, sheet)
        if part is None or part not in book.namelist():
            return

        def refuse(span: str) -> KpiError:
            return error(
                InputError,
                "sheet_too_large",
                f"the sheet of '{path}' {span}, more than the {MAX_SHEET_CELLS:,} cells socialkpi reads "
                "from one sheet (socialkpi.readers.MAX_SHEET_CELLS); delete the stray cells far from "
                "the table, or save the table as CSV",
            )

        if book.getinfo(part).file_size > MAX_SHEET_XML:
            raise refuse(f"unpacks to {book.getinfo(part).file_size:,} bytes of XML")
        # a cell's reference (`<c r="B7" ...>`, whatever its prefix or attribute order)
        cell = re.compile(rb'\sr="([A-Z]{1,3})([0-9]{1,7})"')
        dimension = re.compile(
            rb'<(?:\w+:)?dimension\b[^>]*?\bref="([A-Z]{1,3})([0-9]{1,7}):([A-Z]{1,3})([0-9]{1,7})"'
        )
        top, bottom, left, right = 1 << 30, 0, 1 << 30, 0
        with book.open(part) as fh:
            tail, first = b"", True
            while chunk := fh.read(1 << 20):
                block = tail + chunk
                if first:
                    first = False
                    dim = dimension.search(block)
                    if dim:
                        height = int(dim[4]) - int(dim[2]) + 1
                        width = _column_number(dim[3]) - _column_number(dim[1]) + 1
                        if height * width > MAX_SHEET_CELLS:
                            raise refuse(f"declares {height:,} rows x {width:,} columns ({dim[0].decode()})")
                # a tag cut at the chunk's end is read with the next chunk
                cut = block.rfind(b"<")
                whole, tail = (block[:cut], block[cut:]) if cut >= len(block) - 256 else (block, b"")
                found = cell.findall(whole)
                if not found:
                    continue
                rows = [int(r) for _, r in found]
                columns = [_column_number(c) for c in {c for c, _ in found}]
                top, bottom = min(top, min(rows)), max(bottom, max(rows))
                left, right = min(left, min(columns)), max(right, max(columns))
                if (bottom - top + 1) * (right - left + 1) > MAX_SHEET_CELLS:
                    raise refuse(f"spans {bottom - top + 1:,} rows x {right - left + 1:,} columns")


def _read_any(
    path: str, encoding: str | None, sheet: str | int | None
) -> tuple[pl.DataFrame, str, list[str]]:
    lower = path.lower()
    try:
        if lower.endswith(_PARQUET):
            return pl.read_parquet(path), "parquet", []
        if lower.endswith(_EXCEL):
            if lower.endswith((".xlsx", ".xlsm")):
                _check_sheet_size(path, sheet)
            # a sheet by name, or by position from 1 (default: the first)
            which: dict[str, Any] = (
                {"sheet_name": sheet} if isinstance(sheet, str) else {"sheet_id": sheet or 1}
            )
            return pl.read_excel(path, engine="calamine", infer_schema_length=0, **which), "excel", []
        if lower.endswith(_JSONL):
            with open(path, "rb") as fh:
                array = fh.read(4096).lstrip().startswith(b"[")
            # a .json file may hold one array of records instead of one record per line
            reader = pl.read_json if array else pl.read_ndjson
            return reader(path, infer_schema_length=None), "utf-8", []
    except ImportError as exc:
        raise error(
            InputError,
            "missing_dependency",
            f"reading '{path}' needs {exc.name or 'fastexcel'}: pip install fastexcel",
        ) from None
    except (KpiError, OSError):
        raise
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise error(InputError, "not_a_table", f"'{path}' could not be read as a table: {exc}") from None
    except Exception as exc:  # fastexcel raises its own error types
        raise error(InputError, "not_a_table", f"'{path}' could not be read as a table: {exc}") from None
    return _read_text(path, encoding)


def _progress(total: int, enabled: bool | None, desc: str) -> Any:
    if enabled is False or total < 2:
        return None
    if enabled is None and not (sys.stderr.isatty() or "ipykernel" in sys.modules):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="file")


def _read(
    table: Literal["posts", "accounts", "traffic"],
    source: Source,
    preset: str | None,
    columns: Mapping[str, str] | None,
    defaults: Mapping[str, Any] | None,
    snapshot: str | None,
    year: int | None,
    encoding: str | None,
    progress: bool | None,
    sheet: str | int | None = None,
    daily: bool | str | None = None,
) -> pl.DataFrame:
    _check_arguments(preset, columns, defaults, snapshot, daily, year, encoding, sheet, progress)
    paths = _expand(source)
    bar = _progress(len(paths), progress, f"reading {table}")
    frames: list[tuple[str, Any]] = []
    encodings: dict[str, str] = {}
    notes: list[str] = []
    # what a post's repeated rows are: unstated, snapshots (daily=False), daily (True or a header)
    repeats = "unstated" if daily is None else "daily" if daily is not False else "snapshots"
    # freed pages kept over the read and handed back at its end (crates/engine/src/pages.rs)
    with _core._KeptPages():
        try:
            for path in paths:
                frame, used, found = _read_file(path, encoding, sheet)
                frames.append((path, _PolarsTable(frame)))
                encodings[path] = used
                notes += found
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        capsule, details = _core.read_table(
            table,
            frames,
            preset=preset,
            columns=[(str(k), str(v)) for k, v in (columns or {}).items()],
            defaults=[(str(k), _default_text(v)) for k, v in (defaults or {}).items()],
            snapshot=snapshot,
            year=year,
            repeats=repeats,
            day=daily if isinstance(daily, str) else None,
        )
    out = pl.DataFrame(_ArrowStream(capsule))
    report = ReadReport(
        table=table,
        files=[
            FileRead(path=p, preset=pr, encoding=encodings.get(p, ""), rows_read=int(n), header_map=dict(hm))
            for p, pr, n, hm in details["files"]
        ],
        rows_read=int(details["rows_read"]),
        rows_kept=int(details["rows_kept"]),
        rows_dropped=[(str(r), int(n)) for r, n in details["rows_dropped"]],
        cells_nulled=[(str(c), str(r), int(n), list(s)) for c, r, n, s in details["cells_nulled"]],
        warnings=notes + list(details["warnings"]),
        repeats=details["repeats"],
    )
    _remember(out, report)
    return out


def _default_text(value: Any) -> str:
    import datetime as dt

    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


_DOC = """Reads {what} exports into the canonical ``{table}`` table that :func:`compute` takes.

    Parameters
    ----------
    source
        A path, ``pathlib.Path``, glob, folder or list of them: CSV / TSV (any separator,
        UTF-8 with or without a byte-order mark, UTF-16, Windows-1252 / Latin-1), Excel
        (``.xlsx``, the first sheet or ``sheet=``, needs ``fastexcel``), Parquet, JSON lines or
        a JSON array.
    preset
        A header map of a platform's export (see :func:`reader_presets`). ``None``: each
        file's headers are matched to the presets and the best one is used (reported in
        :func:`read_report`); a tie between presets is an error that lists them. Headers
        already named as canonical columns need no preset.
    columns
        ``{{file header: canonical column}}``, applied before any preset.
    defaults
        ``{{canonical column: value}}`` for columns a file lacks, or fills their nulls
        (``{{"platform": "youtube", "account_id": "acme"}}``); values are read like cells.
    snapshot
        The header of a column that says when each row was exported. The same {repeat} read
        more than once keeps its latest snapshot; without it the last row read is kept.{daily}
    year
        The year of dates written without one (``25.08``, ``Aug 25``); in a column that runs
        from December into January, the year of the January dates.
    encoding
        Force an encoding instead of detecting it.
    sheet
        The sheet of Excel files to read: a name, or a position from 1 (default: the first).
    progress
        A progress bar over files: ``None`` shows it for two or more files on a terminal or
        in a notebook, ``True`` always, ``False`` never.

    Returns
    -------
    polars.DataFrame
        Canonical columns (counts as Int64, or Float64 where values are fractional; amounts
        Float64; times as naive UTC Datetime; days as Date), then the file's other columns
        as they were. ``sk.read_report(frame)`` gives the row accounting.

    Raises
    ------
    KpiError
        ``not_a_table``, ``unknown_header``, ``ambiguous_preset``, ``unknown_preset``,
        ``unknown_canonical``, ``duplicate_mapping``, ``missing_column``,
        ``unparseable_dates``, ``missing_year``, ``unparseable_default``, ``file_not_found``,
        ``unknown_encoding``, ``missing_dependency``, ``missing_keys`` (posts: a file that maps
        none of ``post_id``, ``published_at``, ``account_id``), ``unparseable_flags``,
        ``not_a_file``, ``unreadable_file``, ``sheet_too_large`` (see ``MAX_SHEET_CELLS``),
        ``invalid_argument``. A cell that does not read is never an error: it becomes null and
        is counted.
    """


def read_posts(
    source: Source,
    *,
    preset: str | None = None,
    columns: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    snapshot: str | None = None,
    year: int | None = None,
    encoding: str | None = None,
    progress: bool | None = None,
    sheet: str | int | None = None,
    daily: bool | str | None = None,
) -> pl.DataFrame:
    return _read("posts", source, preset, columns, defaults, snapshot, year, encoding, progress, sheet, daily)


def read_accounts(
    source: Source,
    *,
    preset: str | None = None,
    columns: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    snapshot: str | None = None,
    year: int | None = None,
    encoding: str | None = None,
    progress: bool | None = None,
    sheet: str | int | None = None,
) -> pl.DataFrame:
    return _read("accounts", source, preset, columns, defaults, snapshot, year, encoding, progress, sheet)


def read_traffic(
    source: Source,
    *,
    preset: str | None = None,
    columns: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    snapshot: str | None = None,
    year: int | None = None,
    encoding: str | None = None,
    progress: bool | None = None,
    sheet: str | int | None = None,
) -> pl.DataFrame:
    return _read("traffic", source, preset, columns, defaults, snapshot, year, encoding, progress, sheet)


_DAILY = """
    daily
        What a post's repeated rows are. ``True``: daily metrics (one row per post and day), so
        counts and amounts add up per post, ``published_at`` is the earliest and the other
        columns keep the latest day's value; the header of the metrics' day
        (``daily="Date"``) says the same and sorts the days (and gives ``published_at`` when
        no column does). ``False``: lifetime snapshots (the latest kept, as ``snapshot=``).
        ``None``: the preset decides (X's post export is daily), else snapshots are assumed
        and a post repeated on different dates is warned about in :func:`read_report`."""
read_posts.__doc__ = _DOC.format(what="post", table="posts", repeat="post_id", daily=_DAILY)
read_accounts.__doc__ = _DOC.format(
    what="account (daily snapshot)", table="accounts", repeat="account and day", daily=""
)
read_traffic.__doc__ = _DOC.format(what="web-analytics", table="traffic", repeat="row", daily="")


def reader_presets() -> pl.DataFrame:
    """The header maps of platform exports: one row per preset and canonical column, with the
    headers that exports have used for it (the first one a file has is read).

    >>> import socialkpi as sk
    >>> sk.reader_presets().filter(preset="linkedin_posts", canonical="shares")["headers"].to_list()
    [['Reposts', 'Shares']]
    """
    return pl.DataFrame(
        _core.reader_presets(),
        schema={
            "preset": pl.String,
            "table": pl.String,
            "platform": pl.String,
            "describes": pl.String,
            "canonical": pl.String,
            "headers": pl.List(pl.String),
        },
        orient="row",
    )


def _parse(values: Any, kind: str, year: int | None = None, day_first: bool | None = None) -> pl.Series:
    _check_arguments(None, None, None, None, None, year, None, None, None)
    if day_first is not None and not isinstance(day_first, bool):
        raise invalid_argument(f"day_first= takes True, False or None, not {day_first!r}")
    # numbers and dates already typed pass through the core as they are; text is parsed
    series = values if isinstance(values, pl.Series) else pl.Series("values", list(values), strict=False)
    if series.dtype == pl.Object:
        series = pl.Series("values", [None if v is None else str(v) for v in series], dtype=pl.String)
    capsule, _bad, _samples = _core.parse_values(_PolarsTable(series.to_frame()), kind, year, day_first)
    return pl.DataFrame(_ArrowStream(capsule)).to_series()


def parse_numbers(values: Any, *, counts: bool = False) -> pl.Series:
    """Numbers as exports write them, parsed in the core: ``1,234``, ``1.2K``, ``475.8m``,
    ``3,4 rb``, ``1,2 jt``, ``12 ribu``, ``1.39%`` (0.0139), ``$1,234.50``, ``2.28E+11``;
    missing markers (``-``, ``N/A``, ``undefined``, ``NaN``) are null, as is text that is no
    number.

    ``counts=True`` reads a lone separator before three digits (``1.234``) as thousands and
    gives Int64 when every value is whole; otherwise the column's other cells decide the
    decimal mark (a point unless they show commas) and the result is Float64.

    >>> import socialkpi as sk
    >>> sk.parse_numbers(["3.3k", "475.8m", "3,4 rb", "1.39%", "N/A"]).to_list()
    [3300.0, 475800000.0, 3400.0, 0.0139, None]
    """
    return _parse(values, "count" if counts else "number")


def parse_dates(
    values: Any, *, year: int | None = None, day_first: bool | None = None, time: bool = False
) -> pl.Series:
    """Dates as exports write them, parsed in the core: ISO, ``25/08/2026``, ``08/25/2026``,
    ``25.08.2026``, ``20260825``, ``Tue, Aug 25, 2026``, ``25 Agustus 2026``; ``year`` completes
    yearless ones (``25.08``, ``Aug 25``). Numeric dates are read day first unless a value
    shows otherwise or ``day_first=False``. ``time=True`` gives naive UTC datetimes.

    >>> import socialkpi as sk
    >>> sk.parse_dates(["Tue, Aug 25, 2026", "25.08"], year=2026).to_list()
    [datetime.date(2026, 8, 25), datetime.date(2026, 8, 25)]
    """
    return _parse(values, "datetime" if time else "date", year, day_first)


__all__ = [
    "FileRead",
    "ReadReport",
    "parse_dates",
    "parse_numbers",
    "read_accounts",
    "read_posts",
    "read_report",
    "read_traffic",
    "reader_presets",
]
