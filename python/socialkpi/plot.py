"""Charts of KPI frames: altair charts with axes in each KPI's unit and fixed platform colours.

>>> import socialkpi as sk
>>> posts, _ = sk.datasets.sample(n_accounts=20, n_posts=2_000, seed=1)
>>> monthly = sk.compute(posts, kpis=["engagement_rate"], by=["platform"], every="1mo")
>>> chart = sk.plot.trend(monthly, "engagement_rate", by="platform")
>>> chart.to_dict()["encoding"]["y"]["axis"]["format"]
'.1~%'

Each function returns an :class:`altair.Chart` (it shows in Jupyter); ``chart.save("x.png")``
or ``"x.svg"`` renders offline through vl-convert, with no network. The charts carry their
data inline (no row limit: a frame of 10,000 points is one chart). A platform has the same
colour in every chart (:data:`PLATFORM_COLOURS`). Needs the ``view`` extra:
``pip install socialkpi[view]``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from socialkpi import display
from socialkpi.exceptions import invalid_argument

__all__ = ["PLATFORM_COLOURS", "compare", "contracts", "funnel", "heatmap", "platform_colour", "trend"]

PLATFORM_COLOURS = {
    "instagram": "#C13584",
    "facebook": "#1877F2",
    "tiktok": "#00A19B",
    "youtube": "#E52D27",
    "linkedin": "#0B3D6B",
    "x": "#657786",
    "twitter": "#657786",
    "pinterest": "#8C1C2B",
    "snapchat": "#E5B700",
    "threads": "#333333",
}
"""Platform -> its colour in every chart (other platforms get one of :data:`OTHER_COLOURS`)."""

OTHER_COLOURS = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#9D755D", "#72B7B2", "#FF9DA6", "#BAB0AC"]

FUNNEL_STAGES = ["reach", "engagements", "clicks", "leads", "conversions"]
"""The funnel's stages, in order; :func:`funnel` shows those the frame has."""

_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_WIDTH, _HEIGHT = 600, 300
_MARKED_POINTS = 500  # above this, lines without a marker per point (10,000 markers render in 1-3 s)


def platform_colour(platform: str) -> str:
    """The colour of a platform in every chart: its own, else one picked by its name's hash."""
    key = str(platform).lower()
    if key in PLATFORM_COLOURS:
        return PLATFORM_COLOURS[key]
    return OTHER_COLOURS[zlib.crc32(key.encode()) % len(OTHER_COLOURS)]


def _altair() -> Any:
    try:
        import altair as alt
    except ImportError as exc:  # the view extra is not installed
        raise ImportError("sk.plot needs altair: pip install 'socialkpi[view]'") from exc
    return alt


def words(name: str) -> str:
    """A column name in words: ``engagement_rate`` -> ``Engagement rate``, ``ctr`` -> ``CTR``."""
    acronyms = {"ctr", "cpm", "cpc", "cpe", "cpa", "roas", "roi", "id"}
    parts = [p.upper() if p in acronyms else p for p in str(name).split("_") if p]
    text = " ".join(parts)
    return text[:1].upper() + text[1:] if text else str(name)


def _frame_and_units(data: Any, kpis: Iterable[Any]) -> tuple[pl.DataFrame, dict[str, str], str | None]:
    from socialkpi import KpiResult

    units: dict[str, str] = {}
    currency = None
    if isinstance(data, KpiResult):
        units.update(data.units)
        currency = data.currency
        data = data.frame
    rows = [k._row() for k in kpis]
    units.update(display.kpi_units([r[0] for r in rows], rows)[0])
    return display._as_polars(data), units, currency


def _unit(name: str, units: dict[str, str]) -> str:
    if name in units:
        return units[name]
    builtin = display._catalogue()
    return builtin[name][1] if name in builtin else "number"


def _axis_format(unit: str) -> dict[str, Any]:
    """Axis labels in the KPI's unit (d3-format; a percent KPI's values are percents already)."""
    if unit == "ratio":
        return {"format": ".1~%"}
    if unit == "percent":
        return {"labelExpr": "format(datum.value, ',.2~f') + '%'"}
    if unit == "count":
        return {"format": ",~s"}
    if unit == "money":
        return {"format": ",.2~f"}
    return {"format": ",.4~g"}


def _title(name: str, unit: str, currency: str | None) -> str:
    if unit == "money" and currency:
        return f"{words(name)} ({currency})"
    return words(name)


def _need(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise invalid_argument(
            f"{what} needs the column(s) {', '.join(missing)}; the frame has {', '.join(frame.columns)}"
        )


def _by(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else [str(b) for b in by]


def _group_label(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Adds ``group``: the ``by`` values as one text (``acme · instagram``)."""
    if not by:
        return frame.with_columns(pl.lit("all").alias("group"))
    parts = [pl.col(c).cast(pl.String).fill_null(display.MISSING) for c in by]
    return frame.with_columns(pl.concat_str(parts, separator=" · ").alias("group"))


def _one_row_per(frame: pl.DataFrame, keys: list[str], what: str, hint: str) -> None:
    if frame.height and frame.select(keys).is_duplicated().any():
        raise invalid_argument(
            f"{what} takes one row per {' and '.join(keys)}; this frame has several: {hint}"
        )


def _colour(alt: Any, field: str, values: Iterable[Any], by: list[str], title: str) -> Any:
    """A colour encoding; by platform alone, each platform in its fixed colour."""
    domain = sorted({str(v) for v in values})
    if by == ["platform"]:
        scale = alt.Scale(domain=domain, range=[platform_colour(v) for v in domain])
    else:
        scale = alt.Scale(
            domain=domain, range=[OTHER_COLOURS[i % len(OTHER_COLOURS)] for i in range(len(domain))]
        )
    return alt.Color(f"{field}:N", scale=scale, title=title)


def _room(alt: Any, values: Iterable[Any]) -> Any:
    """A bar axis from 0 with a third more room on the right for the bars' labels."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return alt.Undefined
    low, high = min(0.0, *present), max(0.0, *present)
    return alt.Scale(domain=[low, high + (high - low) / 3 or 1.0], nice=False)


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows for the chart's inline data (dates as ISO text, read as UTC by the chart)."""
    out = frame.with_columns(
        [
            pl.col(c).dt.strftime("%Y-%m-%d")
            if t == pl.Date
            else pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%S")
            if isinstance(t, pl.Datetime)
            else pl.col(c).cast(pl.String)
            for c, t in frame.schema.items()
            if t.is_temporal()
        ]
    )
    return out.to_dicts()


def _labels(values: Iterable[Any], unit: str, currency: str | None) -> list[str]:
    return [display.format_value(v, unit, currency) for v in values]


def _change(value: float | None, points: bool) -> str:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return display.MISSING
    return f"{value:+,.2f} pp" if points else f"{value:+,.1f}%"


def _data(frame: pl.DataFrame) -> dict[str, Any]:
    """The chart's inline data. A plain dict: altair validates an ``alt.Data`` value by value,
    which costs a second for 10,000 rows."""
    return {"values": _records(frame)}


def trend(
    frame: Any,
    kpi: str,
    by: str | Sequence[str] | None = None,
    *,
    title: str | None = None,
    currency: str | None = None,
    kpis: Iterable[Any] = (),
) -> Any:
    """A KPI over periods, one line per group, the axis in the KPI's unit.

    Parameters
    ----------
    frame
        A frame of :func:`socialkpi.compute` with ``every=`` (a ``period_start`` column), or
        its :class:`~socialkpi.KpiResult`.
    kpi
        The KPI column drawn.
    by
        The group columns (one line each); platforms keep their colours.
    title, currency
        The chart's title (default: the KPI in words, by the groups); the currency of money.
    kpis
        Custom :class:`~socialkpi.KPI` objects whose units apply.

    Notes
    -----
    The tooltip gives each value and its change on the group's previous period (percentage
    points for ratios, a relative change otherwise); a ``{kpi}_prev`` column, which
    ``sk.compute(..., compare="previous")`` adds, is drawn as a dashed line of the same colour,
    and the change is taken on it (the calendar period before, even where a period is missing).
    A ``{kpi}_target`` column (``sk.compute(..., targets=...)``) is drawn as a dotted line of
    the same colour with open diamonds at its points.
    """
    alt = _altair()
    df, units, cur = _frame_and_units(frame, kpis)
    currency = currency or cur
    groups = _by(by)
    _need(df, ["period_start", kpi, *groups], "trend")
    _one_row_per(df, [*groups, "period_start"], "trend", "pass the other group columns in by=")
    unit = _unit(kpi, units)
    before = f"{kpi}_prev" if f"{kpi}_prev" in df.columns else None
    target = f"{kpi}_target" if f"{kpi}_target" in df.columns else None
    kept = [*groups, "period_start", kpi, *([before] if before else []), *([target] if target else [])]
    df = _group_label(df.select(kept), groups).sort("group", "period_start")
    # the frame's own previous-period column when it has one, else the group's row before
    previous = pl.col(before) if before else pl.col(kpi).shift(1).over("group")
    points = unit in ("ratio", "percent")
    if points:  # the change of a rate in percentage points
        change = (pl.col(kpi) - previous) * (100.0 if unit == "ratio" else 1.0)
    else:
        change = (pl.col(kpi) / previous - 1) * 100
    changes = df.select(change.alias("change"))["change"].to_list()
    df = df.with_columns(
        pl.Series("value", _labels(df[kpi], unit, currency), dtype=pl.String),
        pl.Series("change", [_change(c, points) for c in changes], dtype=pl.String),
        pl.col("period_start").cast(pl.String).alias("period"),
    )
    name = _title(kpi, unit, currency)
    encoding = {
        # a UTC scale rather than a timeUnit: the same days everywhere, and no per-row transform
        "x": alt.X("period_start:T", scale=alt.Scale(type="utc"), title="Period start"),
        "y": alt.Y(f"{kpi}:Q", title=name, axis=alt.Axis(**_axis_format(unit))),
        "tooltip": [
            alt.Tooltip("group:N", title=" · ".join(words(b) for b in groups) or "Group"),
            alt.Tooltip("period:N", title="Period start"),
            alt.Tooltip("value:N", title=name),
            alt.Tooltip("change:N", title="Change on previous period"),
        ],
    }
    if groups:
        encoding["color"] = _colour(alt, "group", df["group"], groups, " · ".join(words(b) for b in groups))
    heading = title or (
        f"{words(kpi)} by {' and '.join(words(b).lower() for b in groups)}" if groups else words(kpi)
    )
    data = _data(df)
    lines = alt.Chart(data, width=_WIDTH, height=_HEIGHT).mark_line(point=df.height <= _MARKED_POINTS)
    if before is None and target is None:
        return lines.encode(**encoding).properties(title=heading)
    layers = [lines.encode(**encoding)]
    for column, dash, label in ((before, [4, 3], "Previous period"), (target, [1, 3], "Target")):
        if column is None:
            continue
        other = {**encoding, "y": alt.Y(f"{column}:Q")}
        other["tooltip"] = [*encoding["tooltip"][:2], alt.Tooltip(f"{column}:Q", title=label)]
        # a target's points are open diamonds: a target of one period is a point, not a line
        marks = alt.OverlayMarkDef(shape="diamond", filled=False, size=50) if column == target else False
        layers.append(alt.Chart(data).mark_line(strokeDash=dash, point=marks).encode(**other))
    return alt.layer(*layers, title=heading)


def compare(
    frame: Any,
    kpi: str,
    by: str | Sequence[str],
    *,
    title: str | None = None,
    currency: str | None = None,
    kpis: Iterable[Any] = (),
) -> Any:
    """Groups side by side, sorted from the highest value of ``kpi``: one bar per group.

    ``frame`` has one row per group (compute without ``every=``, or filter one period);
    groups without a value (null) are left out and counted in the subtitle.
    """
    alt = _altair()
    df, units, cur = _frame_and_units(frame, kpis)
    currency = currency or cur
    groups = _by(by)
    if not groups:
        raise invalid_argument("compare needs by=: the columns whose groups are compared")
    _need(df, [kpi, *groups], "compare")
    _one_row_per(df, groups, "compare", "compute without every= or filter one period first")
    unit = _unit(kpi, units)
    df = _group_label(df.select([*groups, kpi]), groups)
    missing = df[kpi].null_count()
    df = df.filter(pl.col(kpi).is_not_null()).sort(kpi, descending=True)
    df = df.with_columns(pl.Series("value", _labels(df[kpi], unit, currency), dtype=pl.String))
    name = _title(kpi, unit, currency)
    group_title = " · ".join(words(b) for b in groups)
    order = df["group"].to_list()
    colour = (
        _colour(alt, "group", order, groups, group_title)
        if groups == ["platform"]
        else alt.value(OTHER_COLOURS[0])
    )
    subtitle = (
        f"{missing} {'group' if missing == 1 else 'groups'} without a value not shown" if missing else ""
    )
    heading = alt.TitleParams(title or f"{words(kpi)} by {group_title.lower()}", subtitle=subtitle)
    base = alt.Chart(_data(df), width=_WIDTH)
    y = alt.Y("group:N", sort=order, title=group_title)
    bars = base.mark_bar().encode(
        x=alt.X(f"{kpi}:Q", title=name, axis=alt.Axis(**_axis_format(unit)), scale=_room(alt, df[kpi])),
        y=y,
        color=colour,
        tooltip=[alt.Tooltip("group:N", title=group_title), alt.Tooltip("value:N", title=name)],
    )
    labels = base.mark_text(align="left", dx=3).encode(x=alt.X(f"{kpi}:Q"), y=y, text="value:N")
    return alt.layer(bars, labels, title=heading)


def funnel(frame: Any, by: str | Sequence[str] | None = None, *, title: str | None = None) -> Any:
    """Reach -> engagements -> clicks -> leads -> conversions, for the stages the frame has.

    Each bar is labelled with its count and its share of the stage before it; with ``by``,
    the groups' bars stand side by side in each stage. One row per group.
    """
    alt = _altair()
    df, _, _ = _frame_and_units(frame, ())
    groups = _by(by)
    stages = [s for s in FUNNEL_STAGES if s in df.columns]
    if len(stages) < 2:
        raise invalid_argument(
            f"funnel needs two or more of the columns {', '.join(FUNNEL_STAGES)}; the frame has {', '.join(df.columns)}"
        )
    _need(df, groups, "funnel")
    if groups:
        _one_row_per(df, groups, "funnel", "compute without every= or filter one period first")
    elif df.height != 1:
        raise invalid_argument("funnel without by= takes a frame of one row (compute without by= and every=)")
    df = _group_label(df.select([*groups, *stages]), groups)
    rows = []
    for row in df.iter_rows(named=True):
        before = None
        for i, stage in enumerate(stages):
            value = row[stage]
            label = display.format_value(value, "count")
            if before is not None:
                share = None if value is None or not before else value / before
                label += f" ({display.format_value(share, 'ratio')} of {stages[i - 1]})"
            rows.append(
                {"group": row["group"], "stage": words(stage), "order": i, "value": value, "label": label}
            )
            before = value
    encoding: dict[str, Any] = {
        "y": alt.Y("stage:N", sort=[words(s) for s in stages], title="Stage"),
        "x": alt.X(
            "value:Q",
            title="Count",
            axis=alt.Axis(**_axis_format("count")),
            scale=_room(alt, [r["value"] for r in rows]),
        ),
        "tooltip": [
            alt.Tooltip("group:N", title="Group"),
            alt.Tooltip("stage:N", title="Stage"),
            alt.Tooltip("label:N", title="Count"),
        ],
    }
    group_title = " · ".join(words(b) for b in groups)
    if groups:
        encoding["yOffset"] = alt.YOffset("group:N")
        encoding["color"] = _colour(alt, "group", df["group"], groups, group_title)
    else:
        encoding["color"] = alt.value(OTHER_COLOURS[0])
    heading = title or ("Funnel by " + group_title.lower() if groups else "Funnel")
    base = alt.Chart({"values": rows}, width=_WIDTH)
    bars = base.mark_bar().encode(**encoding)
    text_enc = {k: v for k, v in encoding.items() if k in ("x", "y", "yOffset")}
    labels = base.mark_text(align="left", dx=3, fontSize=10).encode(text="label:N", **text_enc)
    return alt.layer(bars, labels, title=heading)


def contracts(status: Any, *, top: int = 30, title: str | None = None) -> Any:
    """Delivered posts against those expected by now, per contract, the furthest behind first.

    ``status`` is :func:`socialkpi.contract_status`'s frame. Expected by now is its
    ``expected_by_now`` column when it has one, else the agreed posts times the share of the
    contract's days elapsed (from ``start``, ``end`` and ``days_left``). A bar is red when the
    contract is behind (``on_track`` false when the frame has it, else fewer posts delivered
    than expected), grey when it has no schedule (open-ended), and a black tick marks what was
    expected; the ``top`` contracts with the largest shortfall are shown.
    """
    alt = _altair()
    df = display._as_polars(status)
    _need(df, ["account_id", "posts_agreed", "delivered"], "contracts")
    if "expected_by_now" not in df.columns:
        _need(df, ["start", "end", "days_left"], "contracts (without expected_by_now)")
        days = (pl.col("end") - pl.col("start")).dt.total_days() + 1
        elapsed = (days - pl.col("days_left")).clip(0, None)
        share = pl.when(days > 0).then(pl.min_horizontal(elapsed, days) / days).otherwise(None)
        df = df.with_columns((pl.col("posts_agreed") * share).alias("expected_by_now"))
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise invalid_argument(f"top must be a whole number >= 1, not {top!r}")
    label = [pl.col("account_id").cast(pl.String)]
    if "campaign" in df.columns:
        label.append(pl.col("campaign").cast(pl.String).fill_null(display.MISSING))
    if "start" in df.columns:
        label.append(pl.col("start").cast(pl.String))
    df = df.with_columns(
        pl.concat_str(label, separator=" · ").alias("contract"),
        (pl.col("expected_by_now") - pl.col("delivered")).alias("shortfall"),
    )
    if "on_track" in df.columns:  # contract_status's own rule (whole posts behind)
        on_track = pl.col("on_track").cast(pl.Boolean)
    else:
        on_track = pl.col("delivered") >= pl.col("expected_by_now")
    df = df.with_columns(
        pl.when(on_track.is_null())
        .then(pl.lit("No schedule"))  # open-ended contracts
        .when(on_track)
        .then(pl.lit("On track"))
        .otherwise(pl.lit("Behind schedule"))
        .alias("status_")
    )
    df = df.sort("shortfall", descending=True, nulls_last=True).head(top)
    df = df.with_columns(pl.col("expected_by_now").round(2))
    order = df["contract"].to_list()
    base = alt.Chart(
        _data(df.select("contract", "posts_agreed", "delivered", "expected_by_now", "status_")),
        width=_WIDTH,
    )
    heading = alt.TitleParams(
        title or "Contracts: posts delivered and expected by now",
        subtitle=f"{df.height} contracts, the furthest behind first",
    )
    y = alt.Y("contract:N", sort=order, title="Contract")
    tooltip = [
        alt.Tooltip("contract:N", title="Contract"),
        alt.Tooltip("delivered:Q", title="Delivered", format=",.0f"),
        alt.Tooltip("expected_by_now:Q", title="Expected by now", format=",.1f"),
        alt.Tooltip("posts_agreed:Q", title="Agreed", format=",.1f"),
    ]
    agreed = base.mark_bar(color="#DDDDDD").encode(
        x=alt.X("posts_agreed:Q", title="Posts"), y=y, tooltip=tooltip
    )
    delivered = base.mark_bar(height={"band": 0.6}).encode(
        x="delivered:Q",
        y=y,
        color=alt.Color(
            "status_:N",
            title="Status",
            scale=alt.Scale(
                domain=["Behind schedule", "On track", "No schedule"], range=["#D62728", "#2CA02C", "#999999"]
            ),
        ),
        tooltip=tooltip,
    )
    expected = base.mark_tick(color="black", thickness=2).encode(x="expected_by_now:Q", y=y, tooltip=tooltip)
    return alt.layer(agreed, delivered, expected, title=heading)


def heatmap(
    posts: Any,
    kpi: str = "engagement_rate",
    *,
    accounts: Any = None,
    tz: str = "UTC",
    definitions: Any = None,
    title: str | None = None,
) -> Any:
    """A KPI by the weekday and hour posts were published: when posting works best.

    ``posts`` is a posts table as for :func:`socialkpi.compute` (a polars or pandas frame or
    LazyFrame); each cell's value is ``sk.compute(kpi)`` over the posts published in that
    weekday and hour, in the time zone ``tz`` (so a ratio is a ratio of sums, never a mean of
    ratios). ``accounts`` and ``definitions`` are passed on to :func:`socialkpi.compute`.
    """
    import socialkpi as sk

    alt = _altair()
    if isinstance(posts, pl.LazyFrame):
        posts = posts.collect()
    df = display._as_polars(posts)
    _need(df, ["published_at"], "heatmap")
    when = pl.col("published_at")
    if df.schema["published_at"] == pl.String:
        when = when.str.to_datetime()
    kind = df.select(when).schema["published_at"]
    if not isinstance(kind, pl.Datetime):
        raise invalid_argument(f"heatmap needs published_at as date and time, not {kind}")
    local = (when.dt.replace_time_zone("UTC") if kind.time_zone is None else when).dt.convert_time_zone(tz)
    df = df.with_columns(local.dt.weekday().alias("weekday"), local.dt.hour().alias("hour"))
    wanted = ["posts", kpi] if kpi != "posts" else ["posts"]
    result = sk.compute_details(
        df, accounts, kpis=wanted, by=["weekday", "hour"], tz=tz, definitions=definitions
    )
    unit = result.units.get(kpi, _unit(kpi, {}))
    out = result.frame.with_columns(
        pl.col("weekday").replace_strict(dict(enumerate(_WEEKDAYS, start=1)), return_dtype=pl.String)
    )
    out = out.with_columns(pl.Series("value", _labels(out[kpi], unit, result.currency), dtype=pl.String))
    name = _title(kpi, unit, result.currency)
    chart = (
        alt.Chart(
            _data(out.select("weekday", "hour", kpi, "posts", "value")),
            title=title or f"{words(kpi)} by weekday and hour ({tz})",
            width=_WIDTH,
            height=220,
        )
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title=f"Hour of day ({tz})", sort=list(range(24))),
            y=alt.Y("weekday:N", title="Day of week", sort=_WEEKDAYS),
            color=alt.Color(
                f"{kpi}:Q",
                title=name,
                legend=alt.Legend(**_axis_format(unit)),
                scale=alt.Scale(scheme="blues"),
            ),
            tooltip=[
                alt.Tooltip("weekday:N", title="Day of week"),
                alt.Tooltip("hour:O", title="Hour"),
                alt.Tooltip("value:N", title=name),
                alt.Tooltip("posts:Q", title="Posts", format=","),
            ],
        )
    )
    return chart
