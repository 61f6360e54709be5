"""A self-contained HTML report: headline KPIs, trends, a comparison, top and bottom posts,
contracts behind schedule, the funnel, and the definitions used.

The file needs no network when opened: its charts are SVG rendered here by vl-convert, its
style is inline, and it has no script. Every text from the data is escaped.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import os
from pathlib import Path
from typing import Any

import polars as pl

from socialkpi import _arguments, _targets, display, plot
from socialkpi.exceptions import QueryError, SchemaError, error, invalid_argument

__all__ = ["HEADLINE", "report"]

HEADLINE = [
    "posts",
    "reach",
    "impressions",
    "engagements",
    "engagement_rate",
    "followers",
    "follower_growth_rate",
    "clicks",
    "ctr",
    "referral_traffic",
    "leads",
    "conversions",
    "revenue",
    "cost",
    "roas",
    "delivery_rate",
]
"""The KPIs the report shows, those of them that the tables given allow."""

# goal presets leave out the members the tables do not allow; "leads" is also a KPI's name, and
# a KPI named explicitly is an error when its table is missing, so it is tried on its own terms
_PRESETS = ["awareness", "engagement", "traffic", "conversion", "content"]
_TRENDS = ["engagement_rate", "reach", "followers", "referral_traffic", "conversions", "revenue"]


# The suffix of the column ``sk.compute(..., compare=...)`` adds with the earlier period's value.
_EARLIER = {"previous": "_prev", "last_year": "_ly"}


def _compared_columns(result: Any) -> list[str]:
    """The columns ``compare=`` added after each KPI (the earlier value, the change, its rate)."""
    ends = ("_prev", "_change", "_change_rate", "_ly", "_ly_change", "_ly_change_rate")
    added = {f"{k}{end}" for k in result.formulas for end in ends}
    return [c for c in result.frame.columns if c in added]


def _svg(chart: Any) -> str:
    import vl_convert as vlc

    svg: str = vlc.vegalite_to_svg(chart.to_dict())
    return f'<figure class="sk-chart">{svg}</figure>'


def _change(now: Any, before: Any, unit: str) -> str:
    if now is None or before is None:
        return ""
    if unit in ("ratio", "percent"):
        diff = (now - before) * (100 if unit == "ratio" else 1)
        return f"{diff:+,.2f} pp"
    if before == 0:
        return ""
    return f"{(now / before - 1) * 100:+,.1f}%"


def _period(value: Any, every: str | None) -> str:
    if not isinstance(value, _dt.date):
        return "the whole range"
    if every == "1mo":
        return value.strftime("%b %Y")
    if every == "1q":
        return f"Q{(value.month - 1) // 3 + 1} {value.year}"
    if every == "1y":
        return str(value.year)
    if every == "1w":
        return f"week of {value.isoformat()}"
    return value.isoformat()


def report(
    posts: Any,
    accounts: Any = None,
    *,
    traffic: Any = None,
    conversions: Any = None,
    contracts: Any = None,
    by: str = "platform",
    every: str = "1mo",
    title: str = "Social media report",
    path: str | os.PathLike[str] = "report.html",
    tz: str = "UTC",
    as_of: _dt.date | None = None,
    definitions: Any = None,
    currency: str | None = None,
    top: int = 10,
    format: str | None = None,
    compare: str = "previous",
    targets: Any = None,
    start: str | _dt.date | None = None,
    end: str | _dt.date | None = None,
) -> Path:
    """Writes one self-contained HTML file (no network needed to open it), or an Excel
    workbook, and returns its path.

    Parameters
    ----------
    posts, accounts, traffic, conversions, contracts
        The tables, as for :func:`socialkpi.compute`.
    by
        The column the report compares and draws one line per value of (default ``platform``).
    every
        The period of the trends and of the headline's comparison with the previous period.
    title, path
        The report's title and the file written.
    tz, definitions
        As for :func:`socialkpi.compute`.
    as_of
        The day contracts are judged on (default: the last day of the posts' last period).
    currency
        The currency of money KPIs (default: the tables' ``currency`` column).
    top
        How many top and bottom posts are listed.
    format
        ``"html"`` or ``"xlsx"`` (default: ``"xlsx"`` for a path ending in ``.xlsx``, else
        ``"html"``). The workbook has one sheet per section, with percent, currency and
        thousands cell formats; every text is written as text, so a cell starting with ``=``,
        ``+``, ``-`` or ``@`` never becomes a formula.
    compare
        What the headline compares the last period with: ``"previous"`` (the period before)
        or ``"last_year"`` (the same period a year before), from the earlier period's states
        (``sk.compute(..., compare=...)``).
    targets
        A table of targets, in the forms :func:`socialkpi.compute` takes (``kpi``, ``target``,
        ``period_start`` or ``start``/``end`` or neither), for KPIs of :data:`HEADLINE`. Rows
        without the ``by`` column, or with it empty, are targets of the whole report: the
        headline shows each one's target and attainment for the last period. Rows with a
        ``by`` value are that group's: a table of the last period's targets by group follows
        the headline, and the trends draw them as dotted lines. The workbook's sheets carry
        the ``<kpi>_target`` and ``<kpi>_attainment`` columns.
    start, end
        The report's first and last day, as for :func:`socialkpi.compute`: the periods that
        overlap them are shown, each whole; the comparison of the groups and the top posts
        are over those whole periods' days.

    Notes
    -----
    The headline shows the last period's value of each KPI of :data:`HEADLINE` that the tables
    allow, with its change on the period before (or a year before); then the trends by ``by``, the comparison of
    the groups over the whole range (table and chart), the top and bottom posts by engagement
    rate (posts with reach), the contracts behind schedule (with ``contracts``), the funnel
    (with traffic or conversions), and an appendix of the definitions used, the rows dropped
    and the warnings.
    """
    import socialkpi as sk

    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise invalid_argument(f"top must be a whole number >= 1, not {top!r}")
    kind = format or ("xlsx" if Path(path).suffix.lower() == ".xlsx" else "html")
    if kind not in ("html", "xlsx"):
        raise invalid_argument(f"format={format!r} is not supported; use 'html' or 'xlsx'")
    if compare not in _EARLIER:
        raise invalid_argument(f"compare={compare!r} is not supported; use 'previous' or 'last_year'")
    overall_targets, group_targets = _split_targets(targets, by)
    tables = {"traffic": traffic, "conversions": conversions, "contracts": contracts}
    common: dict[str, Any] = {**tables, "tz": tz, "definitions": definitions}
    ranged: dict[str, Any] = {"start": start, "end": end}
    # which headline KPIs the tables allow: the goal presets leave out what they cannot compute
    overall = _available(sk, posts, accounts, every=every, compare=compare, **ranged, **common)
    if overall_targets is not None:
        overall = _targets.apply(
            overall, overall_targets, by=[], every=every, window=None, asked=set(HEADLINE)
        )
    kpis = [k for k in HEADLINE if k in overall.frame.columns]
    if not kpis:
        raise invalid_argument("the tables allow none of the report's KPIs")
    earlier = [f"{k}{_EARLIER[compare]}" for k in kpis]
    shown = [c for k in kpis for c in (k, f"{k}_target", f"{k}_attainment") if c in overall.frame.columns]
    frame = overall.frame.select("period_start", *shown, *earlier).sort("period_start")
    overall = dataclasses.replace(overall, frame=overall.frame.drop(_compared_columns(overall)))
    if "posts" in kpis and frame["posts"].fill_null(0).gt(0).any():
        # periods after the last post (contracts running on, late conversions) are no headline
        last_post = frame.filter(pl.col("posts") > 0)["period_start"].max()
        frame = frame.filter(pl.col("period_start") <= last_post)
    # a table without the `by` column cannot be split by it: its KPIs stay in the headline only
    split = {
        **common,
        **{name: None for name, t in tables.items() if t is not None and by not in _columns(t)},
    }
    # the whole range is the whole periods shown
    whole: dict[str, Any] = dict(zip(("start", "end"), _whole_periods(start, end, every)))
    groups = _available(sk, posts, accounts, by=[by], **whole, **split)
    groups = dataclasses.replace(
        groups, frame=groups.frame.select(by, *[k for k in HEADLINE if k in groups.frame.columns])
    )
    drawn = [k for k in _TRENDS if k in groups.frame.columns]
    # the KPIs the groups have targets for are computed with the trends, by group and period
    targeted = [] if group_targets is None else sorted(set(group_targets["kpi"].drop_nulls().to_list()))
    extra = [k for k in HEADLINE if k in targeted and k in groups.frame.columns and k not in drawn]
    trends = sk.compute_details(
        posts, accounts, kpis=[*drawn, *extra], by=[by], every=every, **ranged, **split
    )
    if group_targets is not None:
        trends = _targets.apply(trends, group_targets, by=[by], every=every, window=None, asked=set(HEADLINE))
    if "posts" in groups.frame.columns and frame.height:
        # one line per group that posted (traffic's other sources stay in the comparison)
        posted = groups.frame.filter(pl.col("posts") > 0)[by]
        trends = dataclasses.replace(
            trends,
            frame=trends.frame.filter(
                pl.col(by).is_in(posted.implode()) & (pl.col("period_start") <= frame["period_start"].max())
            ),
        )
    parts = _Parts(
        title=title,
        by=by,
        every=every,
        tz=tz,
        currency=currency or overall.currency,
        overall=overall,
        kpis=kpis,
        headline=frame.select("period_start", *shown),
        earlier=frame.select(earlier).rename(dict(zip(earlier, kpis))),
        compare=compare,
        groups=groups,
        trends=trends,
        posts=_top_posts(sk, posts, {**common, **whole}, top),
        contracts=_behind(sk, posts, contracts, tz, as_of, frame, every) if contracts is not None else None,
        funnel=traffic is not None or conversions is not None,
        targets=_group_targets(
            trends.frame, by, frame, [k for k in kpis if f"{k}_target" in trends.frame.columns]
        ),
    )
    out = Path(path)
    if kind == "xlsx":
        _write_xlsx(parts, out)
    else:
        out.write_text(_html(parts), encoding="utf-8")
    return out


@dataclasses.dataclass
class _Parts:
    """What the report shows, computed once for either format."""

    title: str
    by: str
    every: str
    tz: str
    currency: str | None
    overall: Any
    kpis: list[str]
    headline: pl.DataFrame
    # the earlier period's value of each headline KPI, row by row with `headline`
    earlier: pl.DataFrame
    compare: str
    groups: Any
    trends: Any
    posts: tuple[pl.DataFrame, pl.DataFrame, int] | None
    contracts: tuple[_dt.date | None, pl.DataFrame, pl.DataFrame] | None
    funnel: bool
    # the groups' targets of the last period: `by`, then each targeted KPI, its target and
    # attainment (None: no group targets)
    targets: pl.DataFrame | None


def _html(r: _Parts) -> str:
    e = html.escape
    frame, by = r.headline, r.by
    parts = [_HEAD.format(title=e(r.title)), f"<h1>{e(r.title)}</h1>"]
    if frame.height:
        first, last = frame["period_start"][0], frame["period_start"][-1]
        parts.append(
            f'<p class="sk-sub">{e(_period(first, r.every))} to {e(_period(last, r.every))} · by {e(by)} · '
            f"time zone {e(r.tz)} · generated {e(_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}</p>"
        )
    parts.append(_headline(frame, r.earlier, r.kpis, r.overall.units, r.every, r.currency, r.compare))
    if r.targets is not None and frame.height:
        label = _period(frame["period_start"][-1], r.every)
        parts.append(f"<h2>Targets by {e(by)}: {e(label)}</h2>")
        if r.targets.height:
            shown = _kpi_view(r.trends, r.targets)
            parts.append(f'<div class="sk-wide">{display.table(shown, currency=r.currency).to_html()}</div>')
        else:
            parts.append('<p class="sk-sub">No group has a target for this period.</p>')
    parts.append("<h2>Trends</h2>")
    for kpi in [k for k in _TRENDS if k in r.trends.frame.columns]:
        parts.append(_svg(plot.trend(r.trends, kpi, by=by, currency=r.currency)))
    parts.append(f"<h2>By {e(by)}, over the whole range</h2>")
    parts.append(f'<div class="sk-wide">{display.table(r.groups, currency=r.currency).to_html()}</div>')
    if "engagement_rate" in r.groups.frame.columns:
        parts.append(_svg(plot.compare(r.groups, "engagement_rate", by=by)))
    if r.posts is not None:
        best, worst, rated = r.posts
        parts.append(f"<h2>Top {len(best)} posts by engagement rate</h2>")
        parts.append(display.table(best).to_html())
        parts.append(f"<h2>Bottom {len(worst)} posts by engagement rate</h2>")
        parts.append(display.table(worst).to_html())
        parts.append(f'<p class="sk-sub">{e(f"Among {rated:,} posts with reach.")}</p>')
    if r.contracts is not None:
        day, status, behind = r.contracts
        parts.append(
            f"<h2>Contracts behind schedule on {e(str(day))}: {behind.height:,} of {status.height:,}</h2>"
        )
        if behind.height:
            parts.append(display.table(behind, max_rows=50).to_html())
            parts.append(_svg(plot.contracts(status, top=20)))
    stages = [s for s in plot.FUNNEL_STAGES if s in r.groups.frame.columns]
    if r.funnel and len(stages) >= 2:
        parts.append("<h2>Funnel</h2>")
        parts.append(_svg(plot.funnel(r.groups.frame.select(by, *stages), by=by)))
    parts.append(_appendix(r.overall, r.kpis))
    parts.append("</body></html>")
    return "".join(parts)


def _split_targets(targets: Any, by: str) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """The targets of the whole report (rows without a ``by`` value) and those of its groups."""
    if targets is None:
        return None, None
    _targets.argument(targets)
    table = _targets.read(targets)
    for needed in ("kpi", "target"):
        if needed not in table.columns:
            raise error(
                SchemaError,
                "missing_column",
                f"targets= lacks the column '{needed}'; a report's targets table has the columns kpi, "
                f"target, optionally {by!r} (empty: a target of the whole report), and period_start "
                "or start and end (or neither)",
            )
    if table.schema["kpi"] in (pl.String, pl.Categorical):
        named = table["kpi"].cast(pl.String).drop_nulls().unique().sort().to_list()
        unknown = [k for k in named if k not in HEADLINE]
        if unknown:
            raise error(
                QueryError,
                "target_not_requested",
                f"targets= names KPIs the report does not show: {unknown[:5]}; the report shows "
                f"{', '.join(HEADLINE)} (those the tables allow)",
            )
    if by not in table.columns:
        return table, None
    overall = table.filter(pl.col(by).is_null()).drop(by)
    groups = table.filter(pl.col(by).is_not_null())
    return (overall if overall.height else None), (groups if groups.height else None)


def _group_targets(
    trends: pl.DataFrame, by: str, headline: pl.DataFrame, kpis: list[str]
) -> pl.DataFrame | None:
    """The last headline period's row of each group with a target: ``by``, then each KPI,
    its target and its attainment."""
    if not kpis:
        return None
    columns = [c for k in kpis for c in (k, f"{k}_target", f"{k}_attainment")]
    if headline.height == 0:
        return pl.DataFrame(schema={by: trends.schema[by], **{c: trends.schema[c] for c in columns}})
    last = headline["period_start"][-1]
    aimed = pl.any_horizontal(pl.col(f"{k}_target").is_not_null() for k in kpis)
    return trends.filter((pl.col("period_start") == last) & aimed).select(by, *columns).sort(by)


def _kpi_view(result: Any, frame: pl.DataFrame) -> Any:
    """``frame`` shown with the units, goals and definitions of ``result``, without its notes."""
    from socialkpi._result import KpiResult

    return KpiResult(
        frame=frame,
        definitions=result.definitions,
        formulas=result.formulas,
        units=result.units,
        goals=result.goals,
        currency=result.currency,
    )


def _period_first(day: _dt.date, every: str) -> _dt.date:
    """The first day of the period of ``every`` holding ``day`` (ISO weeks, calendar years)."""
    if every == "1d":
        return day
    if every == "1w":
        return day - _dt.timedelta(days=day.weekday())
    if every == "1mo":
        return day.replace(day=1)
    if every == "1q":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if every == "1y":
        return day.replace(month=1, day=1)
    raise invalid_argument(f"every={every!r} is not a period of the report; use 1d, 1w, 1mo, 1q or 1y")


def _whole_periods(start: Any, end: Any, every: str) -> tuple[_dt.date | None, _dt.date | None]:
    """``start`` and ``end`` moved out to the edges of the periods holding them: the days of the
    periods the report shows (sk.compute keeps the periods overlapping a range whole)."""
    epoch = _dt.date(1970, 1, 1)
    first, last = _arguments.range_day("start", start), _arguments.range_day("end", end)
    lo = None if first is None else _period_first(epoch + _dt.timedelta(days=first), every)
    hi = None if last is None else _period_end(_period_first(epoch + _dt.timedelta(days=last), every), every)
    return lo, hi


def _available(sk: Any, posts: Any, accounts: Any, **options: Any) -> Any:
    """The goal presets' KPIs that the tables allow, with ``leads`` when they allow it."""
    try:
        return sk.compute_details(posts, accounts, kpis=[*_PRESETS, "leads"], **options)
    except sk.KpiError as exc:
        if getattr(exc, "code", "") != "missing_column":
            raise
    return sk.compute_details(posts, accounts, kpis=_PRESETS, **options)


def _columns(table: Any) -> set[str]:
    from socialkpi.formulas import _kinds

    return {name for name, _ in _kinds(table)}


def _headline(
    frame: pl.DataFrame,
    earlier: pl.DataFrame,
    kpis: list[str],
    units: dict[str, str],
    every: str,
    currency: str | None,
    compare: str,
) -> str:
    e = html.escape
    if frame.height == 0:
        return '<p class="sk-sub">No data in the range.</p>'
    last = frame.row(-1, named=True)
    # the earlier period's values, computed from its states (None where it has no data)
    before = earlier.row(-1, named=True)
    label = _period(last["period_start"], every)
    compared = " vs the period before" if compare == "previous" else " vs a year before"
    cards = []
    for k in kpis:
        unit = units.get(k, "number")
        value = last[k]
        change = _change(value, before[k] if before else None, unit)
        aimed = ""
        if f"{k}_target" in last:
            target, attained = last[f"{k}_target"], last[f"{k}_attainment"]
            said = (
                f"target {display.format_value(target, unit, currency)} · "
                f"{display.format_value(attained, 'ratio')} attained"
                if target is not None
                else "no target for this period"
            )
            aimed = (
                f'<div class="sk-card-target" data-target="{e(repr(target))}" '
                f'data-attainment="{e(repr(attained))}">{e(said)}</div>'
            )
        cards.append(
            f'<div class="sk-card" data-kpi="{e(k)}" data-value="{e(repr(value))}" data-earlier="{e(repr(before[k]))}">'
            f'<div class="sk-card-name">{e(plot.words(k))}</div>'
            f'<div class="sk-card-value">{e(display.format_value(value, unit, currency))}</div>'
            f'<div class="sk-card-change">{e(change or "")}</div>{aimed}</div>'
        )
    return f'<h2>Headline: {e(label)}{e(compared)}</h2><div class="sk-cards">{"".join(cards)}</div>'


def _top_posts(
    sk: Any, posts: Any, common: dict[str, Any], top: int
) -> tuple[pl.DataFrame, pl.DataFrame, int] | None:
    """The best and worst posts by engagement rate (posts with reach), and how many were rated."""
    keys = ["post_id", "account_id", "platform"]
    try:
        per_post = sk.compute(posts, kpis=["engagements", "reach", "engagement_rate"], by=keys, **common)
    except sk.KpiError:  # posts without post_id, platform or reach: no list of posts
        return None
    rated = per_post.filter(pl.col("engagement_rate").is_not_null() & (pl.col("reach") > 0))
    if rated.height == 0:
        return None
    # the k best and worst without sorting every post; ties go to the post with more reach
    best = rated.top_k(top, by=["engagement_rate", "reach"]).sort("engagement_rate", "reach", descending=True)
    worst = rated.bottom_k(top, by=["engagement_rate", "reach"], reverse=[False, True]).sort(
        "engagement_rate", "reach", descending=[False, True]
    )
    extra = _post_columns(posts, pl.concat([best["post_id"], worst["post_id"]]))
    return _with(best, extra), _with(worst, extra), rated.height


def _post_columns(posts: Any, ids: pl.Series) -> pl.DataFrame | None:
    """When the posts ``ids`` were published and their captions, from an in-memory posts frame."""
    frame = posts if isinstance(posts, pl.DataFrame) else None
    if frame is None and type(posts).__module__.startswith("pandas"):
        frame = pl.from_pandas(posts)
    if frame is None or "post_id" not in frame.columns:
        return None
    cols = [c for c in ("published_at", "caption", "text", "title") if c in frame.columns]
    if not cols:
        return None
    rows = frame.filter(pl.col("post_id").cast(pl.String).is_in(ids.cast(pl.String).implode()))
    return rows.select(pl.col("post_id").cast(ids.dtype), *cols).unique("post_id", keep="last")


def _with(rows: pl.DataFrame, extra: pl.DataFrame | None) -> pl.DataFrame:
    if extra is None:
        return rows
    joined = rows.join(extra, on="post_id", how="left")
    text = [c for c in ("caption", "text", "title") if c in joined.columns]
    return joined.with_columns(pl.col(c).cast(pl.String).str.slice(0, 120) for c in text)


def _behind(
    sk: Any, posts: Any, contracts: Any, tz: str, as_of: _dt.date | None, frame: pl.DataFrame, every: str
) -> tuple[_dt.date | None, pl.DataFrame, pl.DataFrame]:
    """The day judged on, every contract's status, and those behind schedule (most behind first)."""
    day = as_of
    if day is None and frame.height:
        day = _period_end(frame["period_start"][-1], every)
    status = sk.contract_status(posts, contracts, as_of=day, tz=tz)
    if "expected_by_now" not in status.columns:
        days = (pl.col("end") - pl.col("start")).dt.total_days() + 1
        elapsed = (days - pl.col("days_left")).clip(0, None)
        status = status.with_columns(
            (pl.col("posts_agreed") * pl.min_horizontal(elapsed, days) / days)
            .round(2)
            .alias("expected_by_now")
        )
    # contract_status's own rule when it gives one (on_track: no whole post behind)
    late = (
        pl.col("on_track").not_()
        if "on_track" in status.columns
        else pl.col("delivered") < pl.col("expected_by_now")
    )
    behind = (
        status.filter(late.fill_null(False))
        .with_columns((pl.col("expected_by_now") - pl.col("delivered")).alias("shortfall"))
        .sort("shortfall", descending=True)
    )
    return day, status, behind


def _period_end(start: _dt.date, every: str) -> _dt.date:
    if every == "1d":
        return start
    if every == "1w":
        return start + _dt.timedelta(days=6)
    months = {"1mo": 1, "1q": 3, "1y": 12}.get(every, 1)
    month = start.month - 1 + months
    return _dt.date(start.year + month // 12, month % 12 + 1, 1) - _dt.timedelta(days=1)


def _appendix(overall: Any, kpis: list[str]) -> str:
    e = html.escape
    builtin = display._catalogue()
    rows = []
    for k in kpis:
        formula = overall.formulas.get(k, "")
        meaning = overall.definitions.get(k) or (builtin[k][3] if k in builtin else "")
        rows.append(
            f"<tr><td>{e(k)}</td><td>{e(overall.units.get(k, ''))}</td><td><code>{e(formula)}</code></td>"
            f"<td>{e(meaning)}</td></tr>"
        )
    out = [
        "<h2>Appendix: definitions used</h2>",
        '<table class="sk-frame"><thead><tr><th>KPI</th><th>unit</th><th>formula</th><th>definition</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>",
    ]
    if overall.engagement_components:
        out.append(f"<p>engagements = {e(' + '.join(overall.engagement_components))}</p>")
    out.append("<h2>Appendix: rows read and dropped</h2>")
    read = ", ".join(f"{t}: {n:,}" for t, n in overall.rows_read.items())
    out.append(f"<p>Rows read: {e(read)}.</p>")
    if overall.rows_dropped:
        out.append(display._html_table(["table", "reason", "rows"], overall.rows_dropped))
    else:
        out.append("<p>No row was dropped.</p>")
    left_out = list(overall.warnings)
    if left_out:
        items = "".join(f"<li>{e(w)}</li>" for w in left_out)
        out.append(
            f'<details class="sk-notes"><summary>KPIs the tables did not allow ({len(left_out)})</summary><ul>{items}</ul></details>'
        )
    return "".join(out)


_HEAD = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>{title}</title><style>"
    "body{{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:1100px;"
    "padding:0 1em;color:#222}}"
    "h1{{margin-bottom:0.1em}} h2{{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:0.2em}}"
    ".sk-sub{{color:#666}}"
    ".sk-cards{{display:flex;flex-wrap:wrap;gap:0.8em}}"
    ".sk-card{{border:1px solid #ddd;border-radius:6px;padding:0.6em 0.9em;min-width:9em}}"
    ".sk-card-name{{color:#555;font-size:0.9em}} .sk-card-value{{font-size:1.5em;font-weight:600}}"
    ".sk-card-change{{color:#555;font-size:0.85em;min-height:1.2em}}"
    ".sk-card-target{{color:#555;font-size:0.85em}}"
    "table.sk-frame{{border-collapse:collapse;font-variant-numeric:tabular-nums}}"
    "table.sk-frame th,table.sk-frame td{{padding:0.25em 0.6em;border-bottom:1px solid #e5e5e5;text-align:left}}"
    ".sk-wide{{overflow-x:auto}} .sk-chart{{margin:1em 0}} .sk-chart svg{{max-width:100%;height:auto}}"
    "</style></head><body>"
)


_BAD_SHEET_CHARS = str.maketrans({c: " " for c in "[]:*?/\\"})


def _sheet_name(text: str) -> str:
    """A valid Excel sheet name: at most 31 characters, none of ``[]:*?/\\``."""
    return text.translate(_BAD_SHEET_CHARS)[:31]


def _number_format(unit: str | None, currency: str | None) -> str | None:
    if unit == "ratio":
        return "0.00%"
    if unit == "percent":
        return '0.00"%"'
    if unit == "money":
        return f'#,##0.00 "{currency.replace(chr(34), "")}"' if currency else "#,##0.00"
    if unit == "count":
        return "#,##0"
    if unit == "number":
        return "#,##0.00##"
    return None


def _write_frame(
    book: Any, name: str, frame: pl.DataFrame, units: dict[str, str], currency: str | None
) -> None:
    """One sheet: a bold header, then the frame; KPIs in their unit's cell format, text as text."""
    sheet = book.add_worksheet(_sheet_name(name))
    bold = book.add_format({"bold": True})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    formats = []
    for col, dtype in frame.schema.items():
        added = display.added_column(col, units)
        unit = units.get(col) or (added[1] if added else None)
        spec = _number_format(unit, currency) if dtype.is_numeric() else None
        if dtype == pl.Date:
            formats.append(day)
        elif isinstance(dtype, pl.Datetime):
            formats.append(stamp)
        else:
            formats.append(book.add_format({"num_format": spec}) if spec else None)
    for j, col in enumerate(frame.columns):
        sheet.write_string(0, j, col, bold)
        sheet.set_column(j, j, max(12, min(len(col) + 2, 40)))
    for i, row in enumerate(frame.iter_rows(), start=1):
        for j, value in enumerate(row):
            fmt = formats[j]
            if value is None:
                sheet.write_blank(i, j, None, fmt)
            elif isinstance(value, bool):
                sheet.write_boolean(i, j, value)
            elif isinstance(value, (int, float)):
                if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
                    sheet.write_string(i, j, str(value))
                else:
                    sheet.write_number(i, j, value, fmt)
            elif isinstance(value, (_dt.date, _dt.datetime)):
                if isinstance(value, _dt.datetime) and value.tzinfo is not None:
                    value = value.replace(tzinfo=None)
                sheet.write_datetime(i, j, value, fmt)
            else:  # text from the data: always a string cell, never a formula
                sheet.write_string(i, j, str(value))
    sheet.freeze_panes(1, 0)


def _write_xlsx(r: _Parts, path: Path) -> None:
    try:
        import xlsxwriter
    except ImportError as exc:
        raise ImportError("sk.report(format='xlsx') needs xlsxwriter: pip install 'socialkpi[view]'") from exc
    units = dict(r.overall.units)
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    book = xlsxwriter.Workbook(str(path), options)
    try:
        _write_frame(book, "Overall by period", r.headline, units, r.currency)
        if r.targets is not None:
            _write_frame(book, f"Targets by {r.by}", r.targets, units, r.currency)
        _write_frame(book, f"By {r.by}", r.groups.frame, units, r.currency)
        _write_frame(book, f"Trends by {r.by}", r.trends.frame, units, r.currency)
        if r.posts is not None:
            _write_frame(book, "Top posts", r.posts[0], units, r.currency)
            _write_frame(book, "Bottom posts", r.posts[1], units, r.currency)
        if r.contracts is not None:
            _write_frame(book, "Contracts behind", r.contracts[2], units, r.currency)
        builtin = display._catalogue()
        definitions = pl.DataFrame(
            {
                "kpi": r.kpis,
                "unit": [units.get(k, "") for k in r.kpis],
                "formula": [r.overall.formulas.get(k, "") for k in r.kpis],
                "definition": [
                    r.overall.definitions.get(k) or (builtin[k][3] if k in builtin else "") for k in r.kpis
                ],
            },
            schema={"kpi": pl.String, "unit": pl.String, "formula": pl.String, "definition": pl.String},
        )
        _write_frame(book, "Definitions", definitions, {}, None)
        dropped = pl.DataFrame(
            r.overall.rows_dropped,
            schema={"table": pl.String, "reason": pl.String, "rows": pl.Int64},
            orient="row",
        )
        _write_frame(book, "Rows dropped", dropped, {}, None)
    finally:
        book.close()
