"""Turning the caller's tables into something the core can read without copying.

Each adapter exposes ``columns`` (names), ``export(names)`` (one Arrow C stream capsule per
column, exported only for the columns the plan reads) and then ``height``. Files are handed to
the core as paths, which it scans itself with projection pushdown.
"""

from __future__ import annotations

import glob
import os
from typing import Any

import polars as pl

from socialkpi.exceptions import KpiError


class _ArrowStream:
    """Holds the core's result capsule so that polars can import it (Arrow PyCapsule protocol)."""

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._capsule


def _kind(dtype: Any) -> str:
    """What a column holds, as formulas care: number, bool, text, time or other."""
    if dtype.is_numeric() or dtype.is_decimal() or dtype == pl.Null:
        return "number"  # an all-null column reads as numbers that were never reported
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.String, pl.Categorical, pl.Enum) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "text"
    if dtype.is_temporal():
        return "time"
    return "other"


class _PolarsTable:
    """A polars DataFrame: each needed column crosses zero-copy as its own Arrow stream."""

    def __init__(self, df: pl.DataFrame) -> None:
        self._df = df
        self.columns = list(df.columns)

    def kinds(self) -> list[tuple[str, str]]:
        return [(n, _kind(t)) for n, t in self._df.schema.items()]

    def export(self, names: list[str]) -> list[Any]:
        return [_crossable(self._df.get_column(n)).__arrow_c_stream__() for n in names]

    @property
    def height(self) -> int:
        return self._df.height


_WIDE_INTS = tuple(t for t in (getattr(pl, "Int128", None), getattr(pl, "UInt128", None)) if t is not None)


def _crossable(column: pl.Series) -> pl.Series:
    """Decimals (BigQuery, DuckDB exports) and 128-bit integers as Float64: the core reads
    numbers as Int64 or Float64 and is built without those types. Other columns cross as
    they are, zero-copy."""
    if column.dtype.is_decimal() or column.dtype in _WIDE_INTS:
        return column.cast(pl.Float64)
    return column


class _LazyTable:
    """A polars LazyFrame: only the needed columns are collected (streaming engine)."""

    def __init__(self, lf: pl.LazyFrame) -> None:
        self._lf = lf
        self._schema = lf.collect_schema()
        self.columns = list(self._schema.names())
        self._df: pl.DataFrame | None = None

    def kinds(self) -> list[tuple[str, str]]:
        return [(n, _kind(t)) for n, t in self._schema.items()]

    def export(self, names: list[str]) -> list[Any]:
        if names:
            self._df = self._lf.select(names).collect(engine="streaming")
        else:
            self._df = pl.DataFrame(height=self._lf.select(pl.len()).collect().item())
        return [_crossable(self._df.get_column(n)).__arrow_c_stream__() for n in names]

    @property
    def height(self) -> int:
        return 0 if self._df is None else self._df.height


class _ArrowTable:
    """A pyarrow Table: columns are ChunkedArrays that speak the Arrow stream protocol."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.columns = [str(c) for c in table.column_names]

    def kinds(self) -> list[tuple[str, str]]:
        schema = pl.DataFrame(self._table.schema.empty_table()).schema
        return [(n, _kind(t)) for n, t in schema.items()]

    def export(self, names: list[str]) -> list[Any]:
        return [self._table.column(n).__arrow_c_stream__() for n in names]

    @property
    def height(self) -> int:
        return int(self._table.num_rows)


def _pandas_table(df: Any) -> _PolarsTable:
    # pandas -> polars converts missing markers (NaN, NaT, None) to nulls and keeps datetimes.
    from socialkpi.formulas import _text

    for name in df.columns:  # pandas holds any str; Arrow names are UTF-8
        _text(str(name), "column name", "invalid_column_name", "SchemaError")
    renamed = df.rename(columns=str)
    return _PolarsTable(pl.from_pandas(renamed, include_index=False))


def _expand_path(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if os.path.isdir(text):
        for ext in ("parquet", "csv"):
            if glob.glob(os.path.join(text, f"*.{ext}")):
                return os.path.join(text, f"*.{ext}")
        raise _input_error("file_not_found", f"folder '{text}' holds no .parquet or .csv files")
    return text


def _input_error(code: str, message: str) -> KpiError:
    from socialkpi.exceptions import InputError

    err = InputError(message)
    err.code = code
    return err


def as_table(obj: Any, role: str) -> Any:
    """Wraps a user's table for the core: a path list, or an adapter with columns/export/height."""
    if obj is None:
        return None
    if isinstance(obj, (str, os.PathLike)):
        return [_expand_path(obj)]
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(p, (str, os.PathLike)) for p in obj):
        return [_expand_path(p) for p in obj]
    if isinstance(obj, pl.DataFrame):
        return _PolarsTable(obj)
    if isinstance(obj, pl.LazyFrame):
        return _LazyTable(obj)
    module = type(obj).__module__
    if module.startswith("pandas") and hasattr(obj, "columns"):
        return _pandas_table(obj)
    if module.startswith("pyarrow") and hasattr(obj, "column_names"):
        return _ArrowTable(obj)
    if hasattr(obj, "__arrow_c_stream__"):
        return _PolarsTable(pl.DataFrame(obj))
    raise _input_error(
        "unsupported_table",
        f"{role}= got a {type(obj).__name__}; pass a polars or pandas DataFrame, a polars LazyFrame, "
        "a pyarrow Table, an object with __arrow_c_stream__, or a path / glob of Parquet or CSV files",
    )


__all__ = ["as_table"]
