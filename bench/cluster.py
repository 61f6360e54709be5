"""Benchmark: the same report on one machine (sk.compute), on Dask (socialkpi.dask, a
LocalCluster of two worker processes) and on Spark (socialkpi.spark, local[2]).

Generates posts of many accounts over a year (sk.datasets.sample) as Parquet files, one per
part, and times, over the same files and the accounts table:

- one machine: ``sk.compute`` of the files (the engine reads them);
- Dask, files: ``skd.compute`` of the files (one task per file, read by the engine there);
- Dask, frame: ``skd.compute`` of ``dd.read_parquet`` (pandas partitions, Arrow-backed);
- Spark: ``sks.compute`` of ``spark.read.parquet`` (each partition through ``mapInArrow``).

Each cluster result is checked equal to the one-machine result. Cluster start-up is not
timed; each run is timed once after a warm-up run on the first file.

    python bench/cluster.py [--posts 5000000] [--accounts 1000] [--files 10]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
KPIS = ["posts", "reach", "engagements", "engagement_rate", "engagement_rate_followers", "followers"]


def generate(n_posts: int, n_accounts: int, n_files: int) -> tuple[Path, Path]:
    import socialkpi as sk

    folder = DATA / f"cluster_{n_posts}_{n_accounts}_{n_files}"
    accounts = folder / "accounts.parquet"
    if not accounts.exists():
        (folder / "posts").mkdir(parents=True, exist_ok=True)
        posts, snapshots = sk.datasets.sample(n_accounts=n_accounts, n_posts=n_posts, seed=42)
        rows = posts.height
        for i in range(n_files):
            part = posts.slice(i * rows // n_files, (i + 1) * rows // n_files - i * rows // n_files)
            part.write_parquet(folder / "posts" / f"part-{i:03d}.parquet", row_group_size=250_000)
        snapshots.write_parquet(accounts)
        del posts
        print(f"generated {rows:,} posts in {n_files} files, {snapshots.height:,} snapshots", flush=True)
    return folder / "posts", accounts


def timed(label: str, run, want=None):  # type: ignore[no-untyped-def]
    from polars.testing import assert_frame_equal

    t = time.perf_counter()
    out = run()
    seconds = time.perf_counter() - t
    if want is not None:
        assert_frame_equal(out, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    print(
        f"{label:<28} {seconds:7.2f} s" + ("   (equal to one machine)" if want is not None else ""),
        flush=True,
    )
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=5_000_000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--skip", nargs="*", default=[], choices=["dask", "spark"])
    args = parser.parse_args()
    warnings.simplefilter("ignore", FutureWarning)  # PySpark on pandas 3 (tests/test_scale.py)

    import polars as pl
    import socialkpi as sk

    posts, accounts = generate(args.posts, args.accounts, args.files)
    files = sorted(str(p) for p in posts.glob("*.parquet"))
    snapshots = pl.read_parquet(accounts)
    kw = {"kpis": KPIS, "by": ["account_id"], "every": "1mo"}
    print(f"{args.posts:,} posts, {args.accounts:,} accounts, {len(files)} files; {kw}", flush=True)
    sk.compute(files[0], snapshots, **kw)
    want, _ = timed("one machine (sk.compute)", lambda: sk.compute(files, snapshots, **kw))

    if "dask" not in args.skip:
        import dask.dataframe as dd
        from distributed import Client, LocalCluster
        from socialkpi import dask as skd

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
            with Client(c):
                skd.compute(files[:2], snapshots, **kw)
                timed("Dask, files", lambda: skd.compute(files, snapshots, **kw), want)
                ddf = dd.read_parquet(files, dtype_backend="pyarrow")
                timed("Dask, dd.read_parquet", lambda: skd.compute(ddf, snapshots, **kw), want)

    if "spark" not in args.skip:
        from pyspark.sql import SparkSession
        from socialkpi import spark as sks

        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "4g")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        sdf = spark.read.parquet(str(posts))
        sks.compute(spark.read.parquet(files[0]), snapshots, **kw)
        timed(
            f"Spark ({sdf.rdd.getNumPartitions()} partitions)",
            lambda: sks.compute(sdf, snapshots, **kw),
            want,
        )
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
