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
import io
import os
import sys
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import polars as pl

from socialkpi import _core
from socialkpi._tables import _ArrowStream, _PolarsTable
from socialkpi.exceptions import InputError, KpiError, QueryError

Source = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]

_TEXT = (".csv", ".tsv", ".txt")
_EXCEL = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
_PARQUET = (".parquet", ".pq")
_JSONL = (".jsonl", ".ndjson", ".json")


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
        Things kept but worth knowing (a latest snapshot smaller than an earlier one).
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


def _error(cls: type[KpiError], code: str, message: str) -> KpiError:
    err = cls(message)
    err.code = code
    return err


def _expand(source: Source) -> list[str]:
    items: Sequence[str | os.PathLike[str]]
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    paths: list[str] = []
    for item in items:
        text = os.fspath(item)
        if os.path.isdir(text):
            found = sorted(
                p
                for p in glob.glob(os.path.join(text, "*"))
                if p.lower().endswith(_TEXT + _EXCEL + _PARQUET + _JSONL)
            )
            if not found:
                raise _error(InputError, "file_not_found", f"folder '{text}' holds no export files")
            paths.extend(found)
        elif any(ch in text for ch in "*?["):
            found = sorted(glob.glob(text))
            if not found:
                raise _error(InputError, "file_not_found", f"no file matches '{text}'")
            paths.extend(found)
        elif os.path.exists(text):
            paths.append(text)
        else:
            raise _error(InputError, "file_not_found", f"file '{text}' does not exist")
    if not paths:
        raise _error(InputError, "file_not_found", "no files were given")
    return paths


def _whole(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _decode(path: str, head: bytes, encoding: str | None) -> tuple[str | None, str]:
    """(text, encoding) of a text file from its first block: text is None when the file is
    UTF-8 and polars can read it as it is; otherwise the whole file decoded."""
    if encoding is not None:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise _error(
                QueryError, "unknown_encoding", f"encoding={encoding!r} is not an encoding Python knows"
            ) from None
        if name in ("utf-8", "utf-8-sig"):
            return None, name
        return _whole(path).decode(encoding, errors="replace"), name
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _whole(path).decode("utf-16"), "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return None, "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the block's end
            return _decode_windows(_whole(path))
    return None, "utf-8"


def _decode_windows(raw: bytes) -> tuple[str, str]:
    """Bytes that are not UTF-8: the Windows code page, else Latin-1 (which reads any byte)."""
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


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


def _read_text(path: str, encoding: str | None) -> tuple[pl.DataFrame, str]:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if (
        b"\x00" in head
        and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        and encoding is None
    ):
        raise _error(InputError, "not_a_table", f"'{path}' is not a text table (it holds binary data)")
    text, used = _decode(path, head, encoding)
    sample = text[: 1 << 15] if text is not None else head.decode("utf-8", errors="replace")
    sep, skip = _layout(sample, path)
    source: Any = path if text is None else io.BytesIO(text.lstrip("\ufeff").encode("utf-8"))
    try:
        frame = pl.read_csv(
            source,
            separator=sep,
            skip_rows=skip,
            infer_schema=False,
            truncate_ragged_lines=True,
            encoding="utf8",
        )
    except pl.exceptions.ComputeError as exc:
        if text is None and "utf-8" in str(exc).lower():
            # invalid UTF-8 past the first block: read it as the Windows code page
            decoded, used = _decode_windows(_whole(path))
            source = io.BytesIO(decoded.encode("utf-8"))
            frame = pl.read_csv(
                source, separator=sep, skip_rows=skip, infer_schema=False, truncate_ragged_lines=True
            )
        else:
            raise _error(InputError, "not_a_table", f"'{path}' could not be read as a table: {exc}") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _error(InputError, "not_a_table", f"'{path}' could not be read as a table: {exc}") from None
    if frame.width == 0:
        raise _error(InputError, "not_a_table", f"'{path}' holds no table (no header line)")
    return frame, used


def _read_file(path: str, encoding: str | None, sheet: str | int | None = None) -> tuple[pl.DataFrame, str]:
    frame, used = _read_any(path, encoding, sheet)
    # a NUL in a header (a file read in the wrong encoding) cannot cross the Arrow C interface
    nul = {c: c.replace("\x00", "") or "column" for c in frame.columns if "\x00" in c}
    return (frame.rename(nul) if nul else frame), used


def _read_any(path: str, encoding: str | None, sheet: str | int | None) -> tuple[pl.DataFrame, str]:
    lower = path.lower()
    try:
        if lower.endswith(_PARQUET):
            return pl.read_parquet(path), "parquet"
        if lower.endswith(_EXCEL):
            # a sheet by name, or by position from 1 (default: the first)
            which: dict[str, Any] = (
                {"sheet_name": sheet} if isinstance(sheet, str) else {"sheet_id": sheet or 1}
            )
            return pl.read_excel(path, engine="calamine", infer_schema_length=0, **which), "excel"
        if lower.endswith(_JSONL):
            with open(path, "rb") as fh:
                array = fh.read(4096).lstrip().startswith(b"[")
            # a .json file may hold one array of records instead of one record per line
            reader = pl.read_json if array else pl.read_ndjson
            return reader(path, infer_schema_length=None), "utf-8"
    except ImportError as exc:
        raise _error(
            InputError,
            "missing_dependency",
            f"reading '{path}' needs {exc.name or 'fastexcel'}: pip install fastexcel",
        ) from None
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise _error(InputError, "not_a_table", f"'{path}' could not be read as a table: {exc}") from None
    except Exception as exc:  # fastexcel raises its own error types
        raise _error(InputError, "not_a_table", f"'{path}' could not be read as a table: {exc}") from None
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
) -> pl.DataFrame:
    paths = _expand(source)
    bar = _progress(len(paths), progress, f"reading {table}")
    frames: list[tuple[str, Any]] = []
    encodings: dict[str, str] = {}
    # freed pages kept over the read and handed back at its end (src/pages.rs)
    with _core._KeptPages():
        try:
            for path in paths:
                frame, used = _read_file(path, encoding, sheet)
                frames.append((path, _PolarsTable(frame)))
                encodings[path] = used
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
        warnings=list(details["warnings"]),
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
        more than once keeps its latest snapshot; without it the last row read is kept.
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
        ``unknown_encoding``, ``missing_dependency``. A cell that does not read is never an error:
        it becomes null and is counted.
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
) -> pl.DataFrame:
    return _read("posts", source, preset, columns, defaults, snapshot, year, encoding, progress, sheet)


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


read_posts.__doc__ = _DOC.format(what="post", table="posts", repeat="post_id")
read_accounts.__doc__ = _DOC.format(
    what="account (daily snapshot)", table="accounts", repeat="account and day"
)
read_traffic.__doc__ = _DOC.format(what="web-analytics", table="traffic", repeat="row")


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
