"""Benchmark: reading a CSV export whose counts are humanised (`1.2K`, `3,456`, `4.5m`).

Writes the same posts twice (default about 1 GB each): once with humanised counts, once with
the plain integers they stand for, then times, each in its own process and alternating:

- ``polars``: ``pl.read_csv`` of the plain file (what polars' own reader costs on clean data),
- ``socialkpi``: ``sk.read_posts`` of the humanised file (detect the header map, parse every
  cell, account for every row),

and prints medians, peak memory and the ratio. It checks first that both give the same counts.

    python bench/read.py [--mb 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
COUNTS = ["impressions", "reach", "likes", "comments", "shares", "saves", "clicks"]
BYTES_PER_ROW = 73  # about, for the humanised file


def generate(mb: int) -> tuple[str, str]:
    import numpy as np
    import polars as pl

    rows = mb * 1_000_000 // BYTES_PER_ROW
    human, plain = DATA / f"read_human_{mb}mb.csv", DATA / f"read_plain_{mb}mb.csv"
    if human.exists() and plain.exists():
        return str(human), str(plain)
    DATA.mkdir(exist_ok=True)
    t = time.perf_counter()
    rng = np.random.default_rng(5)
    base = (
        pl.DataFrame(
            {
                "post_id": pl.int_range(rows, eager=True).cast(pl.String).str.zfill(10),
                "account_id": pl.Series(rng.integers(0, 5_000, rows)).cast(pl.String).str.zfill(5),
                "platform": pl.Series(rng.choice(["instagram", "facebook", "tiktok", "x"], rows)),
                "seconds": rng.integers(0, 365 * 86_400, rows),
            }
        )
        .with_columns(
            (pl.datetime(2026, 1, 1) + pl.duration(seconds=pl.col("seconds")))
            .dt.strftime("%Y-%m-%d %H:%M:%S")
            .alias("published_at")
        )
        .drop("seconds")
    )
    # lognormal counts, so that some are plain, most are thousands and a few are millions
    counts = {c: (rng.lognormal(6.5 - i * 0.5, 2.0, rows)).astype(np.int64) for i, c in enumerate(COUNTS)}
    values = pl.DataFrame(counts)

    def humanise(c: str) -> pl.Expr:
        v = pl.col(c)
        return (
            pl.when(v >= 1_000_000)
            .then((v / 100_000).round(0).cast(pl.Int64).cast(pl.String).str.replace(r"(\d)$", ".$1") + "m")
            .when(v >= 10_000)
            .then((v / 100).round(0).cast(pl.Int64).cast(pl.String).str.replace(r"(\d)$", ".$1") + "K")
            .when(v >= 1_000)
            .then((v // 1000).cast(pl.String) + "," + (v % 1000).cast(pl.String).str.zfill(3))
            .otherwise(v.cast(pl.String))
            .alias(c)
        )

    def exact(c: str) -> pl.Expr:  # the number each humanised cell stands for
        v = pl.col(c)
        return (
            pl.when(v >= 1_000_000)
            .then((v / 100_000).round(0).cast(pl.Int64) * 100_000)
            .when(v >= 10_000)
            .then((v / 100).round(0).cast(pl.Int64) * 100)
            .otherwise(v)
            .alias(c)
        )

    pl.concat([base, values.select(humanise(c) for c in COUNTS)], how="horizontal").write_csv(human)
    pl.concat([base, values.select(exact(c) for c in COUNTS)], how="horizontal").write_csv(plain)
    size = human.stat().st_size / 1e6
    print(f"generated {rows:,} rows ({size:.0f} MB humanised) in {time.perf_counter() - t:.0f} s", flush=True)
    return str(human), str(plain)


def run(tool: str, human: str, plain: str) -> object:
    import polars as pl
    import socialkpi as sk

    if tool == "polars":
        return pl.read_csv(plain)
    return sk.read_posts(human)


def worker(tool: str, human: str, plain: str) -> None:
    import polars  # noqa: F401  (imports are not what is timed)
    import socialkpi  # noqa: F401
    from run import peak_mb  # bench/run.py, beside this script

    t = time.perf_counter()
    frame = run(tool, human, plain)
    print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(frame), "peak_mb": peak_mb()}))  # type: ignore[arg-type]


def check(human: str, plain: str) -> str:
    import polars as pl
    import socialkpi as sk

    a, b = sk.read_posts(human), pl.read_csv(plain)
    for c in COUNTS:
        if a[c].to_list() != b[c].to_list():
            return f"DISAGREE in {c}"
    report = sk.read_report(a)
    assert report is not None
    return f"agree on {len(COUNTS)} count columns of {a.height:,} rows (preset {report.preset}, dropped {report.rows_dropped})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, *args.data)
        return
    human, plain = generate(args.mb)
    print(f"reading a {Path(human).stat().st_size / 1e6:.0f} MB CSV export with humanised counts")
    print(check(human, plain), flush=True)
    tools = ["polars", "socialkpi"]
    results: dict[str, list[dict[str, float]]] = {t: [] for t in tools}
    for r in range(args.rounds):
        for tool in tools if r % 2 == 0 else tools[::-1]:
            cmd = [sys.executable, __file__, "--worker", tool, "--data", human, plain]
            done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
            if done.returncode != 0:
                print(f"{tool} failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            results[tool].append(json.loads(done.stdout.strip().splitlines()[-1]))
    med = {t: statistics.median(x["seconds"] for x in v) for t, v in results.items() if v}
    print(f"\n{'tool':<34}{'median s':>10}{'x polars':>10}{'peak MB':>10}")
    names = {"polars": "pl.read_csv, plain integers", "socialkpi": "sk.read_posts, humanised counts"}
    for t in tools:
        if t in med:
            peak = max(x["peak_mb"] for x in results[t])
            ratio = f"{med[t] / med['polars']:.2f}" if "polars" in med else "-"
            print(f"{names[t]:<34}{med[t]:>10.2f}{ratio:>10}{peak:>10.0f}")


if __name__ == "__main__":
    main()
