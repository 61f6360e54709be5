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

from socialkpi.exceptions import InputError, KpiError, SchemaError, error


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
    def frame(self) -> pl.DataFrame:
        """The table as the engine reads it (a pandas table once converted)."""
        return self._df

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

    def __init__(self, lf: pl.LazyFrame, role: str) -> None:
        self._lf = lf
        self._role = role
        try:
            self._schema = lf.collect_schema()
        except Exception as e:  # the user's plan: any of its errors is the table's
            raise _unreadable(role, "its schema could not be resolved", e) from e
        self.columns = list(self._schema.names())
        self._df: pl.DataFrame | None = None

    def kinds(self) -> list[tuple[str, str]]:
        return [(n, _kind(t)) for n, t in self._schema.items()]

    def export(self, names: list[str]) -> list[Any]:
        try:
            if names:
                self._df = self._lf.select(names).collect(engine="streaming")
            else:
                self._df = pl.DataFrame(height=self._lf.select(pl.len()).collect().item())
        except Exception as e:  # the user's plan: any of its errors is the table's
            raise _unreadable(self._role, "collecting it failed", e) from e
        return [_crossable(self._df.get_column(n)).__arrow_c_stream__() for n in names]

    @property
    def height(self) -> int:
        return 0 if self._df is None else self._df.height


class _ArrowTable:
    """A pyarrow Table: columns are ChunkedArrays that speak the Arrow stream protocol."""

    def __init__(self, table: Any, role: str) -> None:
        self._table = table
        self.columns = [str(c) for c in table.column_names]
        _unique(self.columns, role)

    def kinds(self) -> list[tuple[str, str]]:
        schema = pl.DataFrame(self._table.schema.empty_table()).schema
        return [(n, _kind(t)) for n, t in schema.items()]

    def export(self, names: list[str]) -> list[Any]:
        return [self._table.column(n).__arrow_c_stream__() for n in names]

    @property
    def height(self) -> int:
        return int(self._table.num_rows)


class ColumnsRead:
    """A table (an empty one: a cluster's partition schema) that notes which columns the engine
    exports from it: the columns a request reads, so that a cluster reads and moves only those
    (socialkpi.spark, socialkpi.dask)."""

    def __init__(self, table: Any, role: str) -> None:
        self._table = as_table(table, role)
        self.columns: list[str] = self._table.columns
        self.read: list[str] = []

    def kinds(self) -> list[tuple[str, str]]:
        kinds: list[tuple[str, str]] = self._table.kinds()
        return kinds

    def export(self, names: list[str]) -> list[Any]:
        self.read.extend(n for n in names if n not in self.read)
        exported: list[Any] = self._table.export(names)
        return exported

    @property
    def height(self) -> int:
        return int(self._table.height)


class _PandasTable(_PolarsTable):
    """A pandas DataFrame, converted to polars column by column (missing markers, NaN, NaT and
    None, become nulls; datetimes are kept). A column that does not convert (an object column
    mixing numbers and text) is an error only when the request reads it."""

    def __init__(self, df: Any, role: str) -> None:
        from socialkpi.formulas import _text

        names = [str(c) for c in df.columns]
        for name in names:  # pandas holds any str; Arrow names are UTF-8
            _text(name, "column name", "invalid_column_name", SchemaError)
        _unique(names, role)
        renamed = df.rename(columns=str)
        try:
            frame = pl.from_pandas(renamed, include_index=False)
            self._bad: dict[str, str] = {}
        except Exception:  # one column or more does not convert: find which
            good, self._bad = [], {}
            for name in names:
                try:
                    good.append(pl.from_pandas(renamed[[name]], include_index=False).to_series())
                except Exception as e:
                    self._bad[name] = _mixed(name, role, renamed[name], e)
            frame = pl.DataFrame(good) if good else pl.DataFrame(height=len(renamed))
        super().__init__(frame)
        self.columns = names

    def kinds(self) -> list[tuple[str, str]]:
        known = dict(super().kinds())
        return [(n, known.get(n, "other")) for n in self.columns]

    def export(self, names: list[str]) -> list[Any]:
        for name in names:
            if name in self._bad:
                raise error(SchemaError, "mixed_types", self._bad[name])
        return super().export(names)


def _mixed(name: str, role: str, column: Any, cause: Exception) -> str:
    kinds = sorted({type(v).__name__ for v in column.dropna().tolist()})
    return (
        f"column '{name}' of {role} holds values of several types ({', '.join(kinds) or 'unknown'}) "
        f"that do not convert to one column type ({cause}); convert it first, e.g. "
        f"df['{name}'] = pd.to_numeric(df['{name}'], errors='coerce') for numbers or "
        f"df['{name}'].astype(str) for text"
    )


def _unique(names: list[str], role: str) -> None:
    """Two columns of one name: which one a KPI reads would be a guess."""
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise error(
            SchemaError,
            "duplicate_column",
            f"{role} has more than one column named {', '.join(repr(n) for n in repeated)}; "
            "rename or drop the repeats so that each column name is used once",
        )


def _unreadable(role: str, what: str, cause: Exception) -> KpiError:
    return error(
        InputError,
        "unreadable_table",
        f"the {role} LazyFrame could not be read: {what} ({type(cause).__name__}: {cause}); "
        "check it with .collect() before passing it",
    )


def _expand_path(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if os.path.isdir(text):
        for ext in ("parquet", "csv"):
            if glob.glob(os.path.join(text, f"*.{ext}")):
                return os.path.join(text, f"*.{ext}")
        raise error(InputError, "file_not_found", f"folder '{text}' holds no .parquet or .csv files")
    return text


def as_table(obj: Any, role: str) -> Any:
    """Wraps a user's table for the core: a path list, or an adapter with columns/export/height."""
    if obj is None:
        return None
    if isinstance(obj, ColumnsRead):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return [_expand_path(obj)]
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(p, (str, os.PathLike)) for p in obj):
        return [_expand_path(p) for p in obj]
    if isinstance(obj, pl.DataFrame):
        return _PolarsTable(obj)
    if isinstance(obj, pl.LazyFrame):
        return _LazyTable(obj, role)
    module = type(obj).__module__
    if module.startswith("pandas") and hasattr(obj, "columns"):
        return _PandasTable(obj, role)
    if module.startswith("pyarrow") and hasattr(obj, "column_names"):
        return _ArrowTable(obj, role)
    if hasattr(obj, "__arrow_c_stream__"):
        try:
            frame = pl.DataFrame(obj)
        except pl.exceptions.DuplicateError as e:
            raise error(
                SchemaError,
                "duplicate_column",
                f"{role} has repeated column names ({e}); rename them so each is used once",
            ) from e
        return _PolarsTable(frame)
    raise error(
        InputError,
        "unsupported_table",
        f"{role}= got a {type(obj).__name__}; pass a polars or pandas DataFrame, a polars LazyFrame, "
        "a pyarrow Table, an object with __arrow_c_stream__, or a path / glob of Parquet or CSV files",
    )


__all__ = ["as_table"]
