"""Benchmark: the same report on one machine (sk.compute), on Dask (socialkpi.dask, a
LocalCluster of two worker processes) and on Spark (socialkpi.spark, local[2]), beside each
engine's own hand-written report of the same KPIs.

The posts are bench/run.py's (default 20 million posts of 5,000 accounts over a year, one
Parquet file of 1-million-row groups, with the accounts' daily snapshots), kept under `--dir`
(default ~/.cache/socialkpi-bench, where bench/scale.py keeps them). The report: posts, reach,
engagements, two engagement rates and followers by account and month. Timed, over the same
file and the accounts:

- one machine: ``sk.compute`` of the file (the engine reads it);
- Dask, files: ``skd.compute`` of the file (one task per file, read by the engine there);
- Dask, split: ``skd.compute`` of the same posts as ``--split`` files (default 4), one task
  each: their states merge, and their post ids are checked against each other's;
- Dask, frame: ``skd.compute`` of ``dd.read_parquet(..., dtype_backend="pyarrow")`` (a plain
  scan: read by the engine from its file);
- Dask, rows: the same frame with every partition selected, which Dask reads to pandas;
- Dask, by hand: a Dask dataframe group-by to (account, day), the follower as-of join
  (``pandas.merge_asof``) and the monthly roll-up of that small table in pandas;
- Spark, frame: ``sks.compute`` of ``spark.read.parquet`` (a plain scan: read by the engine
  from its file);
- Spark, rows: the same frame with its columns selected, which Spark reads, each partition
  through ``mapInArrow``;
- Spark, files: ``sks.compute`` of the file (one Spark task per file, read by the engine there);
- Spark, split: ``sks.compute`` of the ``--split`` files (their post ids checked by a shuffle);
- Dask / Spark, re-synced: the ``--split`` files and a re-sync file of the first million
  posts of the first file again with newer metrics, ``dedupe="last"``: a million posts in two
  parts, whose rows are set aside and resolved in a second run, against one machine's
  ``sk.compute`` of the same files with ``dedupe="last"``;
- Spark, by hand: Spark SQL, a group-by to (account, day), the as-of join as a window over
  the days and snapshots, the monthly roll-up.

Each result is checked equal to the one-machine result (the socialkpi runs cell for cell, the
hand-written ones to a relative 1e-9). Cluster start-up is not timed; each engine is warmed
up on a one-million-post file first (and on it split, before the split runs). On a shared machine the load changes from minute to
minute, so each cluster run is timed right after a one-machine run and its ratio to that run
is reported (the median over the rounds), with the load average.

    python bench/cluster.py [--posts 20000000] [--rounds 2] [--split 4] [--skip dask spark] [--runs ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

KPIS = ["posts", "reach", "engagements", "engagement_rate", "engagement_rate_followers", "followers"]
KW: dict[str, Any] = {"kpis": KPIS, "by": ["account_id"], "every": "1mo"}
STALENESS = 7  # sk.compute's max_staleness default: followers-at-post at most 7 days old
POST_COLUMNS = ["account_id", "published_at", "reach", "likes", "reactions", "comments", "shares", "saves"]
RUNS = [
    "one", "dask-files", "dask-split", "dask-frame", "dask-rows", "dask-hand",
    "spark-frame", "spark-rows", "spark-files", "spark-split", "spark-hand",
    "dask-resync", "spark-resync",
]  # fmt: skip
RESYNCED = 1_000_000


def split(
    folder: Path, posts: str, n_posts: int, n_accounts: int, parts: int, name: str = "posts"
) -> list[str]:
    """The posts as `parts` files of consecutive rows (written once)."""
    import polars as pl

    size = -(-n_posts // parts)
    paths = [folder / f"{name}_{n_posts}_{n_accounts}_{k + 1}of{parts}.parquet" for k in range(parts)]
    for k, path in enumerate(paths):
        if not path.exists():
            pl.scan_parquet(posts).slice(k * size, size).sink_parquet(path, row_group_size=1_000_000)
    return [str(p) for p in paths]


def resync(folder: Path, first: str) -> str:
    """The first `RESYNCED` posts of `first` again with newer metrics (reach doubled, one more
    like), as a re-synced export (written once)."""
    import polars as pl

    path = folder / f"resync_{RESYNCED}_{Path(first).name}"
    if not path.exists():
        newer = pl.col("reach") * 2, pl.col("likes") + 1
        pl.scan_parquet(first).head(RESYNCED).with_columns(*newer).sink_parquet(path)
    return str(path)


def generate(folder: Path, n_posts: int, n_accounts: int) -> tuple[str, str, str]:
    """The posts (as bench/run.py writes them), the accounts, and a one-million-post file of
    the same accounts for the warm-up runs."""
    import polars as pl

    posts = folder / f"posts_{n_posts}_{n_accounts}.parquet"
    accounts = folder / f"accounts_{n_accounts}.parquet"
    if not posts.exists() or not accounts.exists():
        import socialkpi as sk

        folder.mkdir(parents=True, exist_ok=True)
        p, a = sk.datasets.sample(n_accounts=n_accounts, n_posts=n_posts, seed=42)
        p.write_parquet(posts, row_group_size=1_000_000)
        a.write_parquet(accounts)
        print(f"generated {n_posts:,} posts, {a.height:,} snapshots", flush=True)
    warm = folder / f"warmup_{n_posts}_{n_accounts}.parquet"
    if not warm.exists():
        pl.scan_parquet(posts).head(1_000_000).sink_parquet(warm)
    return str(posts), str(accounts), str(warm)


# ------------------------------------------------------------------ hand-written: Dask


def dask_by_hand(posts: str, accounts: str) -> Any:
    """The report as a Dask user writes it: the 20M posts reduced by a Dask group-by to one
    row per account and day (about 1.8M), then, on that small table, the followers at post
    (the account's last snapshot on or before the day, at most STALENESS days old; a day's
    posts share it) and the monthly roll-up in pandas."""
    import dask.dataframe as dd
    import pandas as pd
    import polars as pl

    p = dd.read_parquet(posts, columns=POST_COLUMNS, dtype_backend="pyarrow")
    like = p["likes"].fillna(p["reactions"])
    parts = [like, p["comments"], p["shares"], p["saves"]]
    none = parts[0].isna() & parts[1].isna() & parts[2].isna() & parts[3].isna()
    eng = (parts[0].fillna(0) + parts[1].fillna(0) + parts[2].fillna(0) + parts[3].fillna(0)).mask(none)
    both = ~eng.isna() & ~p["reach"].isna()
    p = p.assign(
        day=p["published_at"].dt.floor("D"),
        one=1,
        eng=eng,
        er_n=eng.where(both),
        er_d=p["reach"].where(both),
    )
    daily = (
        p.groupby(["account_id", "day"])
        .agg({"one": "sum", "reach": ["sum", "count"], "eng": ["sum", "count"], "er_n": "sum", "er_d": "sum"})
        .compute()
    )
    daily.columns = ["posts", "reach", "reach_n", "eng", "eng_n", "er_n", "er_d"]
    daily = daily.reset_index()
    daily["day"] = daily["day"].astype("datetime64[ns]")
    daily["account_id"] = daily["account_id"].astype(str)

    s = pd.read_parquet(accounts, columns=["account_id", "date", "followers"])
    s = s[s["followers"].notna()].copy()
    s["account_id"] = s["account_id"].astype(str)
    s["date"] = pd.to_datetime(s["date"]).astype("datetime64[ns]")
    s["followers"] = s["followers"].astype("float64")
    daily = pd.merge_asof(
        daily.sort_values("day"),
        s.sort_values("date").rename(columns={"followers": "fap"}),
        left_on="day",
        right_on="date",
        by="account_id",
        tolerance=pd.Timedelta(days=STALENESS),
    )
    has = daily["fap"].notna() & (daily["eng_n"] > 0)
    daily["erf_n"] = daily["eng"].where(has)
    daily["erf_d"] = (daily["eng_n"] * daily["fap"]).where(has)
    daily["period_start"] = daily["day"].dt.to_period("M").dt.start_time
    g = daily.groupby(["account_id", "period_start"])
    m = g[["posts", "reach", "reach_n", "eng", "eng_n", "er_n", "er_d", "erf_n", "erf_d"]].sum()
    out = pd.DataFrame(index=m.index)
    out["posts"] = m["posts"]
    out["reach"] = m["reach"].where(m["reach_n"] > 0)
    out["engagements"] = m["eng"].where(m["eng_n"] > 0)
    out["engagement_rate"] = m["er_n"] / m["er_d"].where(m["er_d"] != 0)
    out["engagement_rate_followers"] = m["erf_n"] / m["erf_d"].where(m["erf_d"] != 0)

    s["period_start"] = s["date"].dt.to_period("M").dt.start_time
    followers = s.sort_values("date").groupby(["account_id", "period_start"])["followers"].last()
    every = pd.read_parquet(accounts, columns=["account_id", "date"])
    every["account_id"] = every["account_id"].astype(str)
    every["period_start"] = pd.to_datetime(every["date"]).dt.to_period("M").dt.start_time
    rows = every[["account_id", "period_start"]].drop_duplicates().set_index(["account_id", "period_start"])
    rows["followers"] = followers
    out = out.join(rows, how="outer")
    no_posts = out["posts"].isna()
    for flow in ["posts", "reach", "engagements"]:
        out.loc[no_posts, flow] = 0
    frame = pl.from_pandas(out.reset_index())
    return frame.with_columns(pl.col("period_start").cast(pl.Date)).sort("account_id", "period_start")


# ------------------------------------------------------------------ hand-written: Spark


def spark_by_hand(spark: Any, posts: str, accounts: str) -> Any:
    """The report in Spark SQL: a group-by to one row per account and day, the followers at
    post by the as-of pattern of Spark (the days and the snapshots in one ordered window per
    account, the last snapshot so far, at most STALENESS days old), the monthly roll-up, and
    the accounts' months with their last snapshot."""
    import polars as pl

    spark.read.parquet(posts).createOrReplaceTempView("posts")
    spark.read.parquet(accounts).createOrReplaceTempView("accounts")
    eng = (
        "CASE WHEN coalesce(likes, reactions) IS NULL AND comments IS NULL AND shares IS NULL AND saves IS NULL "
        "THEN NULL ELSE coalesce(likes, reactions, 0) + coalesce(comments, 0) + coalesce(shares, 0) "
        "+ coalesce(saves, 0) END"
    )
    sql = f"""
    WITH p AS (
        SELECT account_id, CAST(published_at AS DATE) AS day, reach, {eng} AS eng FROM posts),
    d AS (
        SELECT account_id, day, count(*) AS posts, sum(reach) AS reach, sum(eng) AS eng, count(eng) AS eng_n,
               sum(CASE WHEN reach IS NOT NULL THEN eng END) AS er_n,
               sum(CASE WHEN eng IS NOT NULL THEN reach END) AS er_d
        FROM p GROUP BY account_id, day),
    s AS (SELECT account_id, date, followers FROM accounts WHERE followers IS NOT NULL),
    u AS (
        SELECT account_id, day AS at, 1 AS is_day, posts, reach, eng, eng_n, er_n, er_d,
               CAST(NULL AS BIGINT) AS followers, CAST(NULL AS DATE) AS date FROM d
        UNION ALL
        SELECT account_id, date AS at, 0 AS is_day, NULL, NULL, NULL, NULL, NULL, NULL, followers, date FROM s),
    w AS (
        SELECT *,
               last(followers, true) OVER (PARTITION BY account_id ORDER BY at, is_day
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS f,
               last(date, true) OVER (PARTITION BY account_id ORDER BY at, is_day
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS f_date
        FROM u),
    dj AS (
        SELECT account_id, at AS day, posts, reach, eng, eng_n, er_n, er_d,
               CASE WHEN datediff(at, f_date) <= {STALENESS} AND eng_n > 0 THEN f END AS fap
        FROM w WHERE is_day = 1),
    pk AS (
        SELECT account_id, trunc(day, 'MM') AS period_start, sum(posts) AS posts, sum(reach) AS reach,
               sum(eng) AS engagements,
               try_divide(CAST(sum(er_n) AS DOUBLE), sum(er_d)) AS engagement_rate,
               try_divide(CAST(sum(CASE WHEN fap IS NOT NULL THEN eng END) AS DOUBLE),
                          sum(CAST(eng_n AS DOUBLE) * fap)) AS engagement_rate_followers
        FROM dj GROUP BY account_id, trunc(day, 'MM')),
    am AS (
        SELECT account_id, trunc(date, 'MM') AS period_start, max_by(followers, date) AS followers
        FROM s GROUP BY account_id, trunc(date, 'MM')),
    ar AS (SELECT DISTINCT account_id, trunc(date, 'MM') AS period_start FROM accounts)
    SELECT account_id, period_start,
           coalesce(pk.posts, 0) AS posts,
           CASE WHEN pk.posts IS NULL THEN 0 ELSE pk.reach END AS reach,
           CASE WHEN pk.posts IS NULL THEN 0 ELSE pk.engagements END AS engagements,
           pk.engagement_rate, pk.engagement_rate_followers, am.followers
    FROM pk FULL JOIN ar USING (account_id, period_start) LEFT JOIN am USING (account_id, period_start)
    """
    frame = pl.from_arrow(spark.sql(sql).toArrow())
    return frame.sort("account_id", "period_start")


# ------------------------------------------------------------------ harness


def agree(got: Any, want: Any) -> str:
    """The largest relative difference of a hand-written report from socialkpi's, or why they
    disagree (shapes, keys, nulls)."""
    import polars as pl

    got = got.sort("account_id", "period_start")
    want = want.sort("account_id", "period_start")
    if got.shape != want.shape:
        raise AssertionError(f"shapes differ: {got.shape} vs socialkpi's {want.shape}")
    for key in ["account_id", "period_start"]:
        if not (got[key].cast(pl.String) == want[key].cast(pl.String)).all():
            raise AssertionError(f"the {key} column differs from socialkpi's")
    worst = 0.0
    for k in KPIS:
        x, y = got[k].cast(pl.Float64), want[k].cast(pl.Float64)
        if not (x.is_null() == y.is_null()).all():
            raise AssertionError(f"nulls differ from socialkpi's in {k}")
        d = ((x - y).abs() / y.abs().clip(lower_bound=1e-12)).max()
        worst = max(worst, float(d or 0.0))  # type: ignore[arg-type]
    if worst > 1e-9:
        raise AssertionError(f"differs from socialkpi's by up to {worst:.1e} (relative)")
    return f"agrees with socialkpi (max relative difference {worst:.0e})"


def timed(
    label: str,
    rounds: int,
    run: Callable[[], Any],
    check: Callable[[Any], str] | None,
    beside: Callable[[], Any] | None = None,
) -> tuple[float, float | None]:
    """The median time of `rounds` runs and, with `beside` (the one-machine run), the median
    ratio to it, each round timing `beside` just before the run: on a shared machine the load
    changes from minute to minute, and a ratio of runs made together is the fairer one."""
    times, ratios = [], []
    note = ""
    for _ in range(rounds):
        other = None
        if beside is not None:
            t = time.perf_counter()
            beside()
            other = time.perf_counter() - t
        load = os.getloadavg()[0]
        t = time.perf_counter()
        out = run()
        seconds = time.perf_counter() - t
        times.append(seconds)
        if check is not None:
            note = check(out)
        pair = ""
        if other is not None:
            ratios.append(seconds / other)
            pair = f", one machine just before {other:.2f} s: x{seconds / other:.2f}"
        print(f"  {label:<28} {seconds:7.2f} s   (load average {load:.1f}{pair})", flush=True)
    median = statistics.median(times)
    ratio = statistics.median(ratios) if ratios else None
    print(f"{label:<30} median {median:7.2f} s   {note}", flush=True)
    return median, ratio


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=20_000_000)
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--split", type=int, default=4, help="files of the split runs")
    parser.add_argument("--dir", type=Path, default=Path.home() / ".cache" / "socialkpi-bench")
    parser.add_argument("--skip", nargs="*", default=[], choices=["dask", "spark"])
    parser.add_argument("--runs", nargs="*", default=RUNS, choices=RUNS)
    args = parser.parse_args()
    runs = [r for r in args.runs if r.split("-")[0] not in args.skip]
    warnings.simplefilter("ignore", FutureWarning)  # PySpark on pandas 3 (tests/test_scale.py)

    import polars as pl
    import socialkpi as sk
    from polars.testing import assert_frame_equal

    posts, accounts, warm = generate(args.dir, args.posts, args.accounts)
    parts = (
        split(args.dir, posts, args.posts, args.accounts, args.split)
        if any("split" in r or "resync" in r for r in runs)
        else []
    )
    resynced = [*parts, resync(args.dir, parts[0])] if any("resync" in r for r in runs) else []
    # the warm-up runs go the way the timed ones do: the split runs' merge and repeat check too
    warm_parts = (
        split(args.dir, warm, 1_000_000, args.accounts, args.split, name="warmup")
        if any("split" in r or "resync" in r for r in runs)
        else []
    )
    snapshots = pl.read_parquet(accounts)
    print(f"{args.posts:,} posts, {args.accounts:,} accounts; {KW}; {os.cpu_count()} cores", flush=True)
    sk.compute(warm, snapshots, **KW)
    want = sk.compute(posts, snapshots, **KW)
    medians: dict[str, tuple[float, float | None]] = {}

    def one() -> Any:
        return sk.compute(posts, snapshots, **KW, progress=False)

    def same(out: Any) -> str:
        assert_frame_equal(out, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
        return "equal to one machine"

    def by_hand(out: Any) -> str:
        return agree(out, want)

    last = {**KW, "dedupe": "last"}
    want_resynced = sk.compute(resynced, snapshots, **last) if resynced else None

    def one_resynced() -> Any:
        return sk.compute(resynced, snapshots, **last, progress=False)

    def same_resynced(out: Any) -> str:
        assert_frame_equal(out, want_resynced, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
        return "equal to one machine (dedupe='last')"

    if "one" in runs:
        medians["one machine"] = timed("one machine", args.rounds, one, same)

    if any(r.startswith("dask") for r in runs):
        import dask.dataframe as dd
        from distributed import Client, LocalCluster
        from socialkpi import dask as skd

        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c,
            Client(c),
        ):
            skd.compute(warm, snapshots, **KW)
            if warm_parts:
                skd.compute(warm_parts, snapshots, **KW)
            if "dask-files" in runs:
                medians["Dask, files"] = timed(
                    "Dask, files", args.rounds, lambda: skd.compute(posts, snapshots, **KW), same, one
                )
            if "dask-split" in runs:
                medians["Dask, split"] = timed(
                    "Dask, split", args.rounds, lambda: skd.compute(parts, snapshots, **KW), same, one
                )
            if "dask-frame" in runs:
                ddf = dd.read_parquet(posts, dtype_backend="pyarrow")
                print(f"  (dd.read_parquet: {ddf.npartitions} partitions)", flush=True)
                medians["Dask, frame"] = timed(
                    "Dask, frame", args.rounds, lambda: skd.compute(ddf, snapshots, **KW), same, one
                )
            if "dask-rows" in runs:
                scan = dd.read_parquet(posts, dtype_backend="pyarrow")
                rows = scan.partitions[list(range(scan.npartitions))]
                medians["Dask, rows"] = timed(
                    "Dask, rows", args.rounds, lambda: skd.compute(rows, snapshots, **KW), same, one
                )
            if "dask-resync" in runs:
                medians["Dask, re-synced"] = timed(
                    "Dask, re-synced",
                    args.rounds,
                    lambda: skd.compute(resynced, snapshots, **last),
                    same_resynced,
                    one_resynced,
                )
            if "dask-hand" in runs:
                dask_by_hand(warm, accounts)
                medians["Dask, by hand"] = timed(
                    "Dask, by hand", args.rounds, lambda: dask_by_hand(posts, accounts), by_hand, one
                )

    if any(r.startswith("spark") for r in runs):
        from pyspark.sql import SparkSession
        from socialkpi import spark as sks

        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "6g")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        sks.compute(spark.read.parquet(warm), snapshots, **KW)
        if warm_parts:
            sks.compute(warm_parts, snapshots, **KW)
        if "spark-frame" in runs:
            sdf = spark.read.parquet(posts)
            print(f"  (spark.read.parquet: {sdf.rdd.getNumPartitions()} partitions)", flush=True)
            medians["Spark, frame"] = timed(
                "Spark, frame", args.rounds, lambda: sks.compute(sdf, snapshots, **KW), same, one
            )
        if "spark-rows" in runs:
            scan = spark.read.parquet(posts)
            selected = scan.select(*scan.columns)
            medians["Spark, rows"] = timed(
                "Spark, rows", args.rounds, lambda: sks.compute(selected, snapshots, **KW), same, one
            )
        if "spark-files" in runs:
            medians["Spark, files"] = timed(
                "Spark, files", args.rounds, lambda: sks.compute(posts, snapshots, **KW), same, one
            )
        if "spark-split" in runs:
            medians["Spark, split"] = timed(
                "Spark, split", args.rounds, lambda: sks.compute(parts, snapshots, **KW), same, one
            )
        if "spark-resync" in runs:
            medians["Spark, re-synced"] = timed(
                "Spark, re-synced",
                args.rounds,
                lambda: sks.compute(resynced, snapshots, **last),
                same_resynced,
                one_resynced,
            )
        if "spark-hand" in runs:
            spark_by_hand(spark, warm, accounts)
            medians["Spark, by hand"] = timed(
                "Spark, by hand", args.rounds, lambda: spark_by_hand(spark, posts, accounts), by_hand, one
            )
        spark.stop()

    print(f"\n{'run':<18}{'median s':>10}{'x one machine (run beside it)':>32}")
    for label, (seconds, ratio) in medians.items():
        print(f"{label:<18}{seconds:>10.2f}{'-' if ratio is None else f'{ratio:.2f}':>32}")


if __name__ == "__main__":
    sys.exit(main())
