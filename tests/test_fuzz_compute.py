"""Arbitrary tables and arguments: `compute` returns or raises a KpiError, never another
exception, never a crash, and never a sum that wrapped around.

The hypothesis loop runs in a subprocess, so that a crash (a signal, an abort) is a failing
test with its output, not a dead pytest. It is derandomised (the same examples every run)
and kept to about 20 seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import socialkpi as sk

SCRIPT = textwrap.dedent(
    r'''
    import datetime as dt
    import math
    import sys
    import warnings

    import polars as pl
    from hypothesis import HealthCheck, given, settings, strategies as st

    import socialkpi as sk

    warnings.simplefilter("ignore")  # the fuzz asks about errors, not about warnings

    I64 = [0, 1, -1, 2**31, 2**62, 2**63 - 1, -(2**63), -(2**63) + 1]
    U64 = [0, 1, 2**63 - 1, 2**63, 2**64 - 1]
    FLOATS = [0.0, -0.0, 0.5, 1e308, -1e308, math.inf, -math.inf, math.nan, 2.0**63]
    # days since 1970 at the edges of the Date type and of the calendar socialkpi takes
    DAYS = [-(2**31), 2**31 - 1, -(2**30) - 1, 2**30 + 1, -(2**30), 2**30, 0, 20_000, -719_162, 2_932_896]
    MICROS = [-(2**63) + 1, 2**63 - 1, 0, 1_767_225_600_000_000, -62_135_596_800_000_000]
    COUNTS = ["likes", "comments", "shares", "saves", "reach", "impressions", "clicks", "reactions"]
    CANONICAL = ["post_id", "account_id", "platform", "published_at", "content_type", "spend",
                 "revenue", "conversions", "sponsored", "campaign", *COUNTS]
    KINDS = ["int64", "int32", "uint64", "uint32", "float64", "bool", "str", "date", "datetime",
             "datetime_tz", "null", "list"]
    # column names with odd characters (NUL and lone surrogates are other tests' business)
    ODD = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=6)


    def ints(pool, lo, hi):
        return st.one_of(st.none(), st.sampled_from(pool), st.integers(lo, hi))


    # Strategies draw plain Python values: hypothesis prints what it draws, and polars cannot
    # print every Date it holds. `table` builds the frame inside the test.
    def column(kind, n):
        size = dict(min_size=n, max_size=n)
        if kind == "int64":
            return st.lists(ints(I64, -1000, 10**6), **size)
        if kind == "int32":
            return st.lists(ints([0, 2**31 - 1, -(2**31)], -1000, 1000), **size)
        if kind == "uint64":
            return st.lists(ints(U64, 0, 10**6), **size)
        if kind == "uint32":
            return st.lists(ints([0, 2**32 - 1], 0, 1000), **size)
        if kind == "float64":
            return st.lists(st.one_of(st.none(), st.sampled_from(FLOATS), st.floats(-1e6, 1e6)), **size)
        if kind == "bool":
            return st.lists(st.one_of(st.none(), st.booleans()), **size)
        if kind == "str":
            words = st.one_of(st.none(), st.sampled_from(["a", "b", "1", "2026-01-05", "x y", ""]), ODD)
            return st.lists(words, **size)
        if kind == "date":
            return st.lists(ints(DAYS, -1000, 30_000), **size)
        if kind in ("datetime", "datetime_tz", "usual_time"):
            if kind == "usual_time":
                return st.lists(st.integers(1_600_000_000_000_000, 1_800_000_000_000_000), **size)
            return st.lists(ints(MICROS, 0, 2 * 10**15), **size)
        if kind == "list":
            return st.just([[i, None] for i in range(n)])
        if kind == "text_ids":
            return st.just([f"p{i}" for i in range(n)])
        if kind == "accounts":
            return st.lists(st.sampled_from(["a", "b"]), **size)
        return st.just([None] * n)


    TYPES = {"int64": pl.Int64, "int32": pl.Int32, "uint64": pl.UInt64, "uint32": pl.UInt32,
             "float64": pl.Float64, "bool": pl.Boolean, "str": pl.String, "text_ids": pl.String,
             "accounts": pl.String, "list": pl.List(pl.Int64), "null": pl.Null}


    def series(name, kind, values):
        if kind == "date":
            return pl.Series(name, values, dtype=pl.Int32).cast(pl.Date)
        if kind in ("datetime", "datetime_tz", "usual_time"):
            zone = "America/New_York" if kind == "datetime_tz" else None
            return pl.Series(name, values, dtype=pl.Int64).cast(pl.Datetime("us", zone))
        return pl.Series(name, values, dtype=TYPES[kind])


    def build(spec):
        return pl.DataFrame([series(*c) for c in spec]) if spec else pl.DataFrame()


    @st.composite
    def posts(draw):
        """A posts table as (name, kind, values) columns: mostly a usual one (ids, accounts,
        times, a few count columns of any integer or other type), with odd columns beside it or
        in place of its own."""
        n = draw(st.integers(0, 6))
        columns = {}
        kinds = {}
        if draw(st.integers(0, 4)) > 0:
            kinds["post_id"], kinds["account_id"] = "text_ids", "accounts"
            kinds["published_at"] = draw(st.sampled_from(["usual_time", "usual_time", "datetime", "date"]))
        for name in draw(st.lists(st.sampled_from(COUNTS), min_size=1, max_size=4, unique=True)):
            kinds[name] = draw(st.sampled_from(["int64", "int64", "int64", "uint64", "int32", "uint32",
                                                "bool", "float64", "null"]))
        for name in draw(st.lists(st.one_of(st.sampled_from(CANONICAL), ODD), max_size=3, unique=True)):
            kinds[name] = draw(st.sampled_from(KINDS))
        for name, kind in kinds.items():
            columns[name] = (name, kind, draw(column(kind, n)))
        return list(columns.values())


    BUILTINS = ["posts", "likes", "comments", "reach", "impressions", "engagements", "engagement_rate",
                "frequency", "ctr", "clicks", "avg_engagement_rate_per_post", "spend_nope", "cost",
                "revenue", "conversions", "engagement", "awareness"]
    FORMULAS = [sk.KPI("prod", "likes * comments"), sk.KPI("diff", "likes - comments"),
                sk.KPI("neg", "-likes"), sk.KPI("chain", "likes + comments + shares"),
                sk.KPI("big", "likes * 1000000000"), sk.KPI("mean_likes", "per_post(likes)"), sk.KPI("const", "2 * 3 + 1"),
                sk.KPI("wide", "1000000000000000 * 100000")]


    @st.composite
    def requests(draw):
        """A table and KPIs, mostly sums of the table's own count columns."""
        spec = draw(posts())
        own = [name for name, _, _ in spec if name in COUNTS]
        asked = st.one_of(st.sampled_from(BUILTINS), st.sampled_from(FORMULAS))
        if own:
            asked = st.one_of(st.sampled_from(own), st.sampled_from(own), asked)
        kpis = draw(st.lists(asked, min_size=1, max_size=4, unique_by=lambda k: k if isinstance(k, str) else k.name))
        return spec, kpis

    by = st.one_of(st.just([]), st.just(["account_id"]),
                   st.lists(st.one_of(st.sampled_from(CANONICAL), ODD), max_size=2))
    every = st.sampled_from([None, None, None, "1d", "1w", "1mo", "1q", "1y", "2d"])
    tz = st.sampled_from(["UTC"] * 6 + ["Europe/Berlin", "Asia/Kolkata", "America/New_York", "", "Not/AZone"])


    def present_sum(series):
        return sum(int(v) for v in series.to_list() if v is not None)


    def check(frame, table, by, every, asked):
        """Sums over integer columns equal the Python-int oracle; counts are never negative."""
        if by or every is not None or frame.height != 1:
            return
        for name in COUNTS:
            if name not in asked or name not in frame.columns or name not in table.columns:
                continue
            source = table.get_column(name)
            if not (source.dtype.is_integer() or source.dtype == pl.Boolean):
                continue
            got = frame.get_column(name)[0]
            if got is None:
                assert source.null_count() == source.len() and source.len() > 0, (name, source)
                continue
            want = present_sum(source.cast(pl.Int64, strict=False)) if source.dtype != pl.UInt64 else present_sum(source)
            assert got == want, f"{name}: got {got}, the oracle says {want}"
            assert got >= 0, f"{name}: a sum of counts came out negative ({got})"


    @settings(max_examples=int(sys.argv[1]), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(requests(), by, every, tz)
    def run(request, by, every, tz):
        spec, asked = request
        table = build(spec)
        names = [k if isinstance(k, str) else k.name for k in asked]
        try:
            frame = sk.compute(table, kpis=asked, by=by, every=every, tz=tz)
        except sk.KpiError as e:
            assert isinstance(e.code, str) and e.code, repr(e)
            assert e.code != "internal_error", f"{type(e).__name__}({e.code}): {e}"
            return
        check(frame, table, by, every, names)


    run()
    print("fuzz: ok")
    '''
)


def test_compute_returns_or_raises_a_kpi_error_on_arbitrary_tables(tmp_path: Path) -> None:
    script = tmp_path / "fuzz_compute.py"
    script.write_text(SCRIPT)
    # the child imports the socialkpi this test runs against (installed, or a built tree)
    env = {**os.environ, "PYTHONPATH": str(Path(sk.__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, str(script), "300"], capture_output=True, text=True, env=env, timeout=300
    )
    report = (
        f"exit code {done.returncode}\n--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}"
    )
    assert done.returncode == 0, report
    assert "fuzz: ok" in done.stdout, report
