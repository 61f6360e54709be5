"""Benchmark: KPIs written as formulas.

1. Parsing, checking and planning a catalogue of 500 KPIs (formulas that reference each other,
   filter, divide and average), through the core's planner without data. Median of 21 runs.
2. A report of 50 custom KPIs (account x month) over the posts of bench/run.py (default 20
   million), socialkpi against the floor (one polars scan, one group-by at the output grain
   summing the columns the KPIs read), the same 50 KPIs hand-written in polars, and in DuckDB
   SQL. Every tool's result is checked against socialkpi's first.

    python bench/formulas.py [--posts 20000000] [--accounts 5000] [--rounds 3] [--tools ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import alternate, generate, import_libraries, peak_mb, print_medians  # noqa: E402

COUNTS = ["impressions", "reach", "likes", "comments", "shares", "saves", "clicks", "profile_visits"]
TYPES = ["video", "image", "carousel", "text"]


def report_kpis() -> list[tuple[str, str, dict[str, Any]]]:
    """50 KPIs: (name, formula, parameters the hand-written peers build them from)."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    pairs = [(a, b) for a in COUNTS for b in ("reach", "impressions") if a not in ("reach", "impressions")]
    for a, b in pairs:  # 12 ratios of sums
        out.append((f"{a}_per_{b}", f"{a} / {b}", {"kind": "ratio", "num": [a], "den": b}))
    for i, (a, b) in enumerate(zip(COUNTS[2:], COUNTS[3:])):  # 5 combined ratios
        out.append(
            (f"mix{i}", f"({a} + {b}) / impressions", {"kind": "ratio", "num": [a, b], "den": "impressions"})
        )
    for c in COUNTS:  # 8 sponsored sums
        out.append(
            (f"sponsored_{c}", f"sum({c} where sponsored)", {"kind": "filtered", "col": c, "type": None})
        )
    for t in TYPES:  # 8 sums by content type
        for c in ("likes", "reach"):
            out.append(
                (
                    f"{t}_{c}",
                    f"sum({c} where content_type == '{t}')",
                    {"kind": "filtered", "col": c, "type": t},
                )
            )
    for c in COUNTS[2:7]:  # 5 per-post rates
        out.append((f"pp_{c}", f"per_post({c} / reach)", {"kind": "per_post", "col": c}))
    for c in COUNTS[:4]:  # 4 means
        out.append((f"mean_{c}", f"mean({c})", {"kind": "mean", "col": c}))
    for t in TYPES:  # 4 counts
        out.append((f"n_{t}", f"count(where content_type == '{t}')", {"kind": "count", "type": t}))
    for c in ("likes", "comments", "shares", "saves"):  # 4 references to other KPIs
        out.append((f"{c}_share_of_eng", f"{c} / engagements", {"kind": "ref", "col": c}))
    assert len(out) == 50, len(out)
    return out


def catalogue(n: int = 500) -> list[tuple[str, str, str, str, str]]:
    """n formulas in ten families, each family's members referring to the one before."""
    rows = []
    for i in range(n):
        a, b = COUNTS[i % len(COUNTS)], COUNTS[(i * 3 + 1) % len(COUNTS)]
        t = TYPES[i % len(TYPES)]
        family = i % 10
        formula = [
            f"{a} / {b}",
            f"({a} + {b}) / impressions",
            f"sum({a} where content_type == '{t}') / sum(reach where content_type == '{t}')",
            f"per_post(({a} + {b}) / reach) * 100",
            f"coalesce(mean({a}), 0) - mean({b})",
            f"k{i - 5} * 2 + k{i - 4}" if i >= 5 else "count()",
            "eng / followers_at_post * 100",
            f"count(where sponsored and {a} > 10) / count()",
            f"sum(eng where not sponsored) / {b}",
            f"share({a})",
        ][family]
        rows.append((f"k{i}", formula, "custom", "number", ""))
    return rows


def time_planning() -> tuple[float, int]:
    import socialkpi as sk
    from socialkpi import _core

    rows = catalogue()
    types = [(c, "number") for c in [*COUNTS, "reactions"]]
    types += [("account_id", "text"), ("platform", "text"), ("content_type", "text")]
    types += [("published_at", "time"), ("sponsored", "bool")]
    accounts = [("account_id", "text"), ("date", "time"), ("followers", "number")]
    names = [r[0] for r in rows]
    times = []
    n = 0
    for _ in range(21):
        t = time.perf_counter()
        n = _core.plan_kpis(names, rows, types, accounts)
        times.append(time.perf_counter() - t)
    assert sk is not None
    return statistics.median(times) * 1000, n


# ---- the report's tools --------------------------------------------------------------------


def run_socialkpi(posts: str) -> Any:
    import socialkpi as sk

    kpis = [sk.KPI(n, f) for n, f, _ in report_kpis()]
    return sk.compute(posts, kpis=kpis, by=["account_id"], every="1mo")


def run_floor(posts: str) -> Any:
    month = pl.col("published_at").dt.truncate("1mo").cast(pl.Date).alias("period_start")
    return (
        pl.scan_parquet(posts)
        .group_by("account_id", month)
        .agg(pl.len(), *[pl.col(c).sum() for c in [*COUNTS, "reactions"]])
        .collect(engine="streaming")
    )


def rule3(parts: list[pl.Expr]) -> pl.Expr:
    return (
        pl.when(pl.all_horizontal(p.is_null() for p in parts)).then(None).otherwise(pl.sum_horizontal(parts))
    )


def run_polars(posts: str) -> Any:
    c = pl.col
    eng = rule3([pl.coalesce("likes", "reactions"), c("comments"), c("shares"), c("saves")])

    def div(a: pl.Expr, b: pl.Expr) -> pl.Expr:
        return pl.when(b.is_null() | (b == 0)).then(None).otherwise(a / b)

    def flow(value: pl.Expr, rows: pl.Expr) -> pl.Expr:
        return pl.when(rows == 0).then(0).when(value.count() == 0).then(None).otherwise(value.sum())

    aggs: list[pl.Expr] = []
    for name, _, p in report_kpis():
        k = p["kind"]
        if k == "ratio":
            num = rule3([c(x) for x in p["num"]]) if len(p["num"]) > 1 else c(p["num"][0])
            both = num.is_not_null() & c(p["den"]).is_not_null()
            aggs.append(div(num.filter(both).sum(), c(p["den"]).filter(both).sum()).alias(name))
        elif k == "filtered":
            where = c("sponsored") if p["type"] is None else c("content_type") == p["type"]
            where = where.fill_null(False)
            value = c(p["col"]).filter(where)
            aggs.append(flow(value, where.sum()).alias(name))
        elif k == "per_post":
            value = div(c(p["col"]).cast(pl.Float64), c("reach").cast(pl.Float64))
            aggs.append(div(value.sum(), value.count()).alias(name))
        elif k == "mean":
            aggs.append(div(c(p["col"]).sum(), c(p["col"]).count()).alias(name))
        elif k == "count":
            aggs.append((c("content_type") == p["type"]).fill_null(False).sum().cast(pl.Int64).alias(name))
        else:
            both = c(p["col"]).is_not_null() & eng.is_not_null()
            aggs.append(div(c(p["col"]).filter(both).sum(), eng.filter(both).sum()).alias(name))
    month = c("published_at").dt.truncate("1mo").cast(pl.Date).alias("period_start")
    return (
        pl.scan_parquet(posts)
        .group_by("account_id", month)
        .agg(aggs)
        .sort("account_id", "period_start")
        .collect(engine="streaming")
    )


def run_duckdb(posts: str) -> Any:
    import duckdb

    eng_parts = ["coalesce(likes, reactions)", "comments", "shares", "saves"]

    def r3(parts: list[str]) -> str:
        nulls = " and ".join(f"{x} is null" for x in parts)
        return f"(case when {nulls} then null else {' + '.join(f'coalesce({x}, 0)' for x in parts)} end)"

    def div(a: str, b: str) -> str:
        return f"(case when ({b}) is null or ({b}) = 0 then null else ({a}) / ({b}) end)"

    eng = r3(eng_parts)
    cols = []
    for name, _, p in report_kpis():
        k = p["kind"]
        if k == "ratio":
            num = r3(p["num"]) if len(p["num"]) > 1 else p["num"][0]
            den = p["den"]
            both = f"{num} is not null and {den} is not null"
            cols.append(f"{div(f'sum({num}) filter ({both})', f'sum({den}) filter ({both})')} as {name}")
        elif k == "filtered":
            where = "sponsored" if p["type"] is None else f"content_type = '{p['type']}'"
            col = p["col"]
            cols.append(
                f"case when count(*) filter ({where}) = 0 then 0 when count({col}) filter ({where}) = 0 then null "
                f"else sum({col}) filter ({where}) end as {name}"
            )
        elif k == "per_post":
            value = div(f"{p['col']}::double", "reach::double")
            cols.append(f"{div(f'sum({value})', f'count({value})')} as {name}")
        elif k == "mean":
            col = p["col"]
            cols.append(f"{div(f'sum({col})', f'count({col})')} as {name}")
        elif k == "count":
            cols.append(f"count(*) filter (content_type = '{p['type']}') as {name}")
        else:
            col = p["col"]
            both = f"{col} is not null and {eng} is not null"
            cols.append(f"{div(f'sum({col}) filter ({both})', f'sum({eng}) filter ({both})')} as {name}")
    sql = (
        f"select account_id, date_trunc('month', published_at)::date as period_start, {', '.join(cols)} "
        f"from read_parquet('{posts}') group by all order by account_id, period_start"
    )
    return duckdb.sql(sql).pl()


TOOLS = {"floor": run_floor, "socialkpi": run_socialkpi, "polars": run_polars, "duckdb": run_duckdb}


def agreement(posts: str, tools: list[str]) -> str:
    reference = run_socialkpi(posts)
    worst = 0.0
    for tool in tools:
        if tool in ("floor", "socialkpi"):
            continue
        other = TOOLS[tool](posts)
        if other.shape != reference.shape:
            return f"DISAGREE: {tool} shape {other.shape} vs {reference.shape}"
        for name, _, _ in report_kpis():
            x, y = reference[name].cast(pl.Float64), other[name].cast(pl.Float64)
            if not (x.is_null() == y.is_null()).all():
                return f"DISAGREE: {tool} nulls differ in {name}"
            d = ((x - y).abs() / y.abs().clip(lower_bound=1e-12)).max()
            worst = max(worst, float(d or 0.0))  # type: ignore[arg-type]
    return f"agree (max relative difference {worst:.1e})"


def worker(tool: str, posts: str) -> None:
    import_libraries(tool)
    t = time.perf_counter()
    frame = TOOLS[tool](posts)
    print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(frame), "peak_mb": peak_mb()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=20_000_000)
    ap.add_argument("--accounts", type=int, default=5_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tools", default="floor,socialkpi,polars,duckdb")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.data)
        return
    ms, n = time_planning()
    print(f"parse, check and plan a catalogue of 500 formula KPIs: {ms:.1f} ms (median of 21; {n} KPIs)")
    posts, _ = generate(args.posts, args.accounts)
    tools = args.tools.split(",")
    print(f"\nsocialkpi: account x month report of 50 custom KPIs over {args.posts:,} posts")
    print(agreement(posts, tools), flush=True)
    results = alternate(tools, args.rounds, lambda tool: [__file__, "--worker", tool, "--data", posts])
    print_medians(tools, results)


if __name__ == "__main__":
    main()
