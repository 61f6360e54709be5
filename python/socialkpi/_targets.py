"""Targets: a table of goals joined onto a finished report (``targets=``; docs/time.md,
"Targets"). A flow's target set over other days than a report row's is pro-rated by days; a
ratio's or a snapshot's applies as it is. The report's values are never touched: targets
only add ``<kpi>_target`` and ``<kpi>_attainment`` after each KPI's columns."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import polars as pl

from socialkpi import _core
from socialkpi._result import KpiResult
from socialkpi.exceptions import InputError, QueryError, SchemaError, TargetWarning, error, invalid_argument

# The columns a targets table may have beside the report's ``by`` columns.
_KPI, _TARGET = "kpi", "target"
_PERIOD_START, _START, _END = "period_start", "start", "end"
# The columns ``compare=`` adds after a KPI's own (docs/time.md): targets go after them.
_COMPARED = ("_prev", "_change", "_change_rate", "_ly", "_ly_change", "_ly_change_rate")
# How many groups or KPIs a warning names.
_NAMED = 5
# The calendar length of each grain (a period runs from its start to the day before the
# next one, whatever day the week or the fiscal year starts on).
_GRAIN_LENGTH = {"1d": "1d", "1w": "1w", "1mo": "1mo", "1q": "3mo", "1y": "1y"}


def requested(names: Sequence[str]) -> set[str]:
    """The KPI names a call asks for, with goal presets expanded to their members."""
    presets = dict(_core.presets())
    out: set[str] = set()
    for name in names:
        out.update(presets.get(name, [name]))
    return out


def read(targets: Any) -> pl.DataFrame:
    """The targets table as a polars DataFrame, read like the package's other tables."""
    from socialkpi._tables import _ArrowTable, _LazyTable, _PolarsTable, as_table

    table = as_table(targets, "targets")
    if isinstance(table, list):
        frames = [_read_file(str(p)) for p in table]
        return pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]
    if isinstance(table, _PolarsTable):  # also pandas, converted column by column
        return table._df
    if isinstance(table, _LazyTable):
        return table._lf.collect()
    if isinstance(table, _ArrowTable):
        frame: pl.DataFrame = pl.DataFrame(table._table)
        return frame
    raise error(InputError, "unsupported_table", f"targets= got a {type(targets).__name__}")


def _read_file(path: str) -> pl.DataFrame:
    import glob

    files = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
    if not files:
        raise error(InputError, "file_not_found", f"targets: no file matches '{path}'")
    out = []
    for f in files:
        try:
            if f.lower().endswith(".parquet"):
                out.append(pl.read_parquet(f))
            elif f.lower().endswith(".csv"):
                out.append(pl.read_csv(f, try_parse_dates=True))
            else:
                raise error(InputError, "unsupported_file", f"targets: '{f}' is neither Parquet nor CSV")
        except FileNotFoundError as e:
            raise error(InputError, "file_not_found", f"targets: no file '{f}'") from e
        except (OSError, pl.exceptions.PolarsError) as e:
            raise error(InputError, "unreadable_file", f"targets: '{f}' cannot be read ({e})") from e
    return pl.concat(out, how="vertical_relaxed") if len(out) > 1 else out[0]


def _invalid(message: str) -> QueryError:
    return error(QueryError, "invalid_targets", message)


def _dates(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Column ``name`` as Dates: Dates, date-times (their date) or ISO text (YYYY-MM-DD);
    every value given."""
    dtype = frame.schema[name]
    column = pl.col(name)
    if dtype == pl.Date:
        pass
    elif dtype == pl.Null:
        column = column.cast(pl.Date)
    elif isinstance(dtype, pl.Datetime):
        column = column.dt.date()
    elif dtype == pl.String:
        try:
            frame = frame.with_columns(pl.col(name).str.to_date("%Y-%m-%d", strict=True))
        except pl.exceptions.PolarsError as e:
            raise _invalid(f"targets column '{name}' holds text that is not a date (YYYY-MM-DD): {e}") from e
    else:
        raise _invalid(f"targets column '{name}' holds {dtype}; use dates (datetime.date or 'YYYY-MM-DD')")
    frame = frame.with_columns(column.alias(name))
    if frame[name].null_count():
        raise _invalid(f"targets column '{name}' has empty cells; give every target its days")
    return frame


@dataclasses.dataclass(frozen=True)
class _Checked:
    table: pl.DataFrame  # by columns, kpi, target, and start/end (Dates) or period_start
    keys: list[str]  # the report's by columns the targets are set per
    form: str  # "none", "period_start" or "span"


def check(
    raw: pl.DataFrame, *, by: Sequence[str], every: str | None, window: str | None, asked: set[str]
) -> _Checked:
    """The targets table checked against the report's request; the error names what to fix."""
    columns = list(raw.columns)
    for needed in (_KPI, _TARGET):
        if needed not in columns:
            raise error(
                SchemaError,
                "missing_column",
                f"targets= lacks the column '{needed}'; a targets table has the columns kpi, target, "
                "any of the report's by columns, and period_start or start and end (or neither)",
            )
    allowed = {_KPI, _TARGET, _PERIOD_START, _START, _END, *by}
    extra = [c for c in columns if c not in allowed]
    if extra:
        raise _invalid(
            f"targets= has the columns {extra}, which are not by columns of the report "
            f"(by={list(by)}); targets are set per kpi and per any of the by columns, and for "
            "period_start or start/end"
        )
    keys = [c for c in by if c in columns]
    has_period = _PERIOD_START in columns
    has_span = (_START in columns, _END in columns)
    if has_span[0] != has_span[1]:
        raise _invalid("targets= has one of start and end; give both (the first and the last day, inclusive)")
    if has_period and has_span[0]:
        raise _invalid("targets= has both period_start and start/end; use one way of giving the days")
    form = "period_start" if has_period else "span" if has_span[0] else "none"
    if form != "none" and every is None:
        raise _invalid(
            "targets= gives days (period_start or start/end), but the report has no periods "
            "(every=None); pass every=, or targets without days"
        )
    if form == "period_start" and window is not None:
        raise _invalid(
            "with window=, give targets by start and end (a window is not one period of the "
            "report's grain); a monthly target pro-rated over the days of a month-to-date window, say"
        )

    kpi_type = raw.schema[_KPI]
    # (an all-null column is Null: empty cells, an error below unless the table has no rows)
    if not (kpi_type in (pl.String, pl.Null) or isinstance(kpi_type, (pl.Categorical, pl.Enum))):
        raise _invalid(f"targets column 'kpi' holds {kpi_type}; it names KPIs, as text")
    table = raw.with_columns(pl.col(_KPI).cast(pl.String))
    if table[_KPI].null_count():
        raise _invalid("targets column 'kpi' has empty cells; name the KPI of every target")
    target_type = table.schema[_TARGET]
    if not (target_type.is_numeric() or target_type.is_decimal() or target_type == pl.Null):
        raise error(
            SchemaError,
            "not_numeric",
            f"targets column 'target' holds {target_type}; targets are numbers (a missing one is null)",
        )
    # a NaN target is a missing one
    table = table.with_columns(pl.col(_TARGET).cast(pl.Float64).fill_nan(None))

    unknown = sorted(set(table[_KPI].unique().to_list()) - asked)
    if unknown:
        raise error(
            QueryError,
            "target_not_requested",
            f"targets= names KPIs the call does not ask for: {unknown[:_NAMED]}; add them to kpis= "
            "or drop their targets",
        )

    if form == "period_start":
        table = _dates(table, _PERIOD_START)
    elif form == "span":
        table = _dates(_dates(table, _START), _END)
        backwards = table.filter(pl.col(_START) > pl.col(_END))
        if backwards.height:
            row = backwards.row(0, named=True)
            raise _invalid(f"a target starts after it ends (start {row[_START]}, end {row[_END]})")
    _check_duplicates(table, keys, form)
    return _Checked(table.select(*keys, _KPI, _TARGET, *_period_columns(form)), keys, form)


def _period_columns(form: str) -> list[str]:
    return {"none": [], "period_start": [_PERIOD_START], "span": [_START, _END]}[form]


def _check_duplicates(table: pl.DataFrame, keys: list[str], form: str) -> None:
    cell = [*keys, _KPI]
    if form == "span":
        # two targets of one cell whose days overlap: sorted by start, one starts on or
        # before the previous one's end
        ordered = table.sort([*cell, _START], nulls_last=True).with_columns(
            pl.col(_END).shift(1).over(cell).alias("_previous_end")
        )
        clash = ordered.filter(pl.col(_START) <= pl.col("_previous_end"))
    else:
        clash = table.filter(pl.struct([*cell, *_period_columns(form)]).is_duplicated())
    if clash.height:
        row = {k: v for k, v in clash.row(0, named=True).items() if k != "_previous_end"}
        raise error(
            InputError,
            "duplicate_target",
            f"targets= gives more than one target for one KPI, group and day ({row}); keep one "
            "target per KPI, group and period, with days that do not overlap",
        )


def _row_spans(frame: pl.DataFrame, every: str | None, window: str | None) -> pl.DataFrame:
    """Each report row's first and last day (``_lo``, ``_hi``): its period, or with a window
    the window's days."""
    if every is None:
        return frame
    length = _GRAIN_LENGTH.get(every)
    if length is None:  # the core has checked every=; a grain this module does not know is a bug
        raise error(QueryError, "unknown_grain", f"targets: every={every!r} is not a grain targets know")
    # a window ends on its period's last day
    last = pl.col(_PERIOD_START).dt.offset_by(length).dt.offset_by("-1d").alias("_hi")
    first = pl.col("window_start" if window is not None else _PERIOD_START).alias("_lo")
    return frame.with_columns(first, last)


def _joined(rows: pl.DataFrame, table: pl.DataFrame, keys: list[str]) -> pl.LazyFrame:
    # lazy: the filters on the days that follow run inside the join, without the pairs
    if keys:
        return rows.lazy().join(table.lazy(), on=keys, how="inner", nulls_equal=True)
    return rows.lazy().join(table.lazy(), how="cross")


def _targets_of_rows(rows: pl.DataFrame, checked: _Checked, kinds: dict[str, str]) -> pl.DataFrame:
    """``_row``, ``_kpi``, ``_target``: each report row's target of each KPI (no row where
    the targets do not give one)."""
    # the targets' columns under names no report column has (a KPI may be named `target`)
    table = checked.table.rename(
        {_KPI: "_kpi", _TARGET: "_target", _PERIOD_START: "_period", _START: "_start", _END: "_end"},
        strict=False,
    ).with_columns(
        pl.col("_kpi").replace_strict(kinds, default="ratio", return_dtype=pl.String).alias("_kind")
    )
    spans = ["_lo", "_hi"] if "_lo" in rows.columns else []
    joined = _joined(rows.select("_row", *checked.keys, *spans), table, checked.keys)
    if checked.form == "none":
        return joined.select("_row", "_kpi", "_target").collect()
    if checked.form == "period_start":
        return joined.filter(pl.col("_period") == pl.col("_lo")).select("_row", "_kpi", "_target").collect()
    # flows: the targets' days inside the row, pro-rated; known only where targets cover
    # every day of the row (they do not overlap, so their days inside it add up to its own)
    flows = (
        joined.filter(
            (pl.col("_kind") == "flow")
            & (pl.col("_start") <= pl.col("_hi"))
            & (pl.col("_end") >= pl.col("_lo"))
        )
        .with_columns(
            (
                (pl.min_horizontal("_hi", "_end") - pl.max_horizontal("_lo", "_start")).dt.total_days() + 1
            ).alias("_overlap"),
            ((pl.col("_end") - pl.col("_start")).dt.total_days() + 1).alias("_days"),
        )
        .group_by("_row", "_kpi")
        .agg(
            (pl.col("_target") * pl.col("_overlap") / pl.col("_days")).sum().alias("_sum"),
            pl.col("_target").null_count().alias("_missing"),
            pl.col("_overlap").sum().alias("_covered"),
            ((pl.col("_hi") - pl.col("_lo")).dt.total_days() + 1).first().alias("_length"),
        )
        .select(
            "_row",
            "_kpi",
            pl.when((pl.col("_missing") == 0) & (pl.col("_covered") == pl.col("_length")))
            .then(pl.col("_sum"))
            .alias("_target"),
        )
    )
    # ratios and snapshots: the target in force on the row's last day
    levels = joined.filter(
        (pl.col("_kind") != "flow") & (pl.col("_start") <= pl.col("_hi")) & (pl.col("_hi") <= pl.col("_end"))
    ).select("_row", "_kpi", "_target")
    # collected apart: together, the shared join would be cached whole, before the filters
    return pl.concat([flows.collect(), levels.collect()])


def _warn_unmatched(
    frame: pl.DataFrame, checked: _Checked, in_report: list[str], asked_missing: list[str]
) -> None:
    if asked_missing:
        warnings.warn(
            f"targets= sets targets for KPIs the report does not have (preset members left out "
            f"for want of their table or column): {asked_missing[:_NAMED]}",
            TargetWarning,
            stacklevel=4,
        )
    if not checked.keys:
        return
    groups = checked.table.filter(pl.col(_KPI).is_in(in_report)).select(checked.keys).unique()
    present = frame.select(checked.keys).unique()
    missing = groups.join(present, on=checked.keys, how="anti", nulls_equal=True).sort(checked.keys)
    if missing.height:
        named = [dict(zip(checked.keys, r)) for r in missing.head(_NAMED).iter_rows()]
        warnings.warn(
            f"targets= sets targets for {missing.height} group(s) that have no row in the report: "
            f"{named}{' ...' if missing.height > _NAMED else ''}",
            TargetWarning,
            stacklevel=4,
        )


def _check_alignment(rows: pl.DataFrame, checked: _Checked, every: str | None) -> None:
    """A ``period_start`` inside a report period but not at its start is a mistake (a monthly
    target given to a weekly report, say): an error, not a target that never matches."""
    periods = rows.select("_lo", "_hi").unique().sort("_lo")
    starts = checked.table.select(pl.col(_PERIOD_START).alias("_day")).unique().sort("_day")
    found = starts.join_asof(periods, left_on="_day", right_on="_lo", strategy="backward").filter(
        (pl.col("_day") != pl.col("_lo")) & (pl.col("_day") <= pl.col("_hi"))
    )
    if found.height:
        row = found.row(0, named=True)
        raise _invalid(
            f"a target's period_start {row['_day']} is not the first day of a period of the report "
            f"(every={every!r}: the period from {row['_lo']} to {row['_hi']}); period_start gives "
            "targets of the report's own periods; give targets of other periods by start and end"
        )


def _placed(columns: list[str], kpis: list[str]) -> list[str]:
    """The report's columns with each KPI's target columns after its own (and after its
    compare columns)."""
    order = list(columns)
    for kpi in kpis:
        at = order.index(kpi) + 1
        while at < len(order) and order[at] in {kpi + s for s in _COMPARED}:
            at += 1
        order[at:at] = [f"{kpi}_target", f"{kpi}_attainment"]
    return order


def apply(
    result: KpiResult,
    targets: Any,
    *,
    by: Sequence[str],
    every: str | None,
    window: str | None,
    asked: set[str],
) -> KpiResult:
    """The result with ``<kpi>_target`` and ``<kpi>_attainment`` for each KPI the targets name."""
    checked = check(read(targets), by=by, every=every, window=window, asked=asked)
    frame: pl.DataFrame = result.frame
    checked = dataclasses.replace(checked, table=_keys_as_in(checked.table, frame, checked.keys))
    named = sorted(set(checked.table[_KPI].unique().to_list()))
    in_report = [k for k in result.formulas if k in named and k in frame.columns]
    left_out = [k for k in named if k not in in_report]
    for kpi in in_report:
        for added in (f"{kpi}_target", f"{kpi}_attainment"):
            if added in frame.columns:
                raise invalid_argument(
                    f"the report has a column '{added}', which targets= would add; rename the KPI"
                )
    rows = _row_spans(frame.with_row_index("_row"), every, window)
    if checked.form == "period_start":
        _check_alignment(rows, checked, every)
    _warn_unmatched(frame, checked, in_report, left_out)
    table = dataclasses.replace(checked, table=checked.table.filter(pl.col(_KPI).is_in(in_report)))
    found = _targets_of_rows(rows, table, result.kinds)
    wide = found.pivot(on="_kpi", index="_row", values="_target")
    targets_of = {
        k: pl.col(k).cast(pl.Float64) if k in wide.columns else pl.lit(None, pl.Float64) for k in in_report
    }
    wide = wide.select("_row", *(e.alias(f"{k}_target") for k, e in targets_of.items()))
    out = (
        frame.with_row_index("_row")
        .join(wide, on="_row", how="left", maintain_order="left")
        .drop("_row")
        .with_columns(
            pl.when(pl.col(f"{k}_target") != 0)
            .then(pl.col(k).cast(pl.Float64) / pl.col(f"{k}_target"))
            .alias(f"{k}_attainment")
            for k in in_report
        )
    )
    out = out.select(_placed(frame.columns, in_report))
    return dataclasses.replace(result, frame=out)


def as_output(result: KpiResult, output: str) -> KpiResult:
    """The result with its frame as ``output`` asks (``"polars"`` or ``"pandas"``)."""
    if output == "pandas":
        return dataclasses.replace(result, frame=result.frame.to_pandas())
    return result


def _keys_as_in(table: pl.DataFrame, frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The targets' by columns in the report's types (a group id read as a number from a CSV
    file, say, matches the report's text ids)."""
    try:
        return table.with_columns(pl.col(k).cast(frame.schema[k], strict=True) for k in keys)
    except pl.exceptions.PolarsError as e:
        raise _invalid(
            f"the targets' by columns {keys} do not convert to the report's types "
            f"({', '.join(f'{k}: {frame.schema[k]}' for k in keys)}): {e}"
        ) from e


def argument(targets: Any) -> None:
    """``targets=``: a table (checked when it is read) or None."""
    if isinstance(targets, (bool, int, float, dict)):
        raise invalid_argument(
            f"targets= got {type(targets).__name__}; pass a table with the columns kpi, target "
            "(and by columns, period_start or start/end): a polars or pandas DataFrame, a pyarrow "
            "Table or a path"
        )
