"""Benchmark: reading a CSV export whose counts are humanised (`1.2K`, `3,456`, `4.5m`).

Writes the same posts twice (default about 1 GB each): once with humanised counts, once with
the plain integers they stand for, then times, each in its own process and alternating:

- ``floor``: ``pl.read_csv`` of the plain file (what polars' own reader costs on clean data),
- ``socialkpi``: ``sk.read_posts`` of the humanised file (detect the header map, parse every
  cell, check repeats of ``post_id``, account for every row),
- ``polars``, ``duckdb``, ``pandas``: the humanised file read as text and its counts and
  timestamps parsed the way an analyst would write it in each,

and prints medians, peak memory and ratios against the floor and socialkpi. It checks first
that every reader of the humanised file gives the plain file's counts.

    python bench/read.py [--mb 1000] [--rounds 3] [--tools floor,socialkpi,polars,duckdb,pandas]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from run import alternate, medians  # bench/run.py, beside this script

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
COUNTS = ["impressions", "reach", "likes", "comments", "shares", "saves", "clicks"]
TOOLS = {
    "floor": "floor: pl.read_csv, plain integers",
    "socialkpi": "sk.read_posts, humanised counts",
    "polars": "hand-written polars, humanised counts",
    "duckdb": "DuckDB SQL, humanised counts",
    "pandas": "pandas, humanised counts",
}
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


def humanised_polars(human: str) -> object:
    """What a skilled analyst writes in polars for the humanised file: text in, then each count
    without its thousands separators, its number times its multiplier."""
    import polars as pl

    def count(c: str) -> pl.Expr:
        text = pl.col(c).str.replace_all(",", "", literal=True)
        last = text.str.slice(-1)
        times = (
            pl.when(last.is_in(["K", "k"])).then(1e3).when(last.is_in(["m", "M"])).then(1e6).otherwise(1.0)
        )
        number = pl.when(times > 1).then(text.str.head(-1)).otherwise(text).cast(pl.Float64)
        return (number * times).round(0).cast(pl.Int64).alias(c)

    return pl.read_csv(human, infer_schema=False).with_columns(
        *(count(c) for c in COUNTS), pl.col("published_at").str.to_datetime("%Y-%m-%d %H:%M:%S")
    )


def humanised_duckdb(human: str) -> object:
    import duckdb

    def count(c: str) -> str:
        t = f"replace({c}, ',', '')"
        times = f"CASE right({t}, 1) WHEN 'K' THEN 1e3 WHEN 'k' THEN 1e3 WHEN 'm' THEN 1e6 WHEN 'M' THEN 1e6 ELSE 1 END"
        return f"CAST(round(CAST(rtrim({t}, 'KkMm') AS DOUBLE) * {times}) AS BIGINT) AS {c}"

    sql = (
        f"SELECT post_id, account_id, platform, CAST(published_at AS TIMESTAMP) AS published_at, "
        f"{', '.join(count(c) for c in COUNTS)} FROM read_csv('{human}', all_varchar = true)"
    )
    return duckdb.sql(sql).pl()


def humanised_pandas(human: str) -> object:
    import numpy as np
    import pandas as pd

    df = pd.read_csv(human, dtype=str)
    for c in COUNTS:
        text = df[c].str.strip().str.replace(",", "", regex=False)
        times = np.where(
            text.str.endswith(("K", "k")), 1e3, np.where(text.str.endswith(("m", "M")), 1e6, 1.0)
        )
        df[c] = (pd.to_numeric(text.str.rstrip("KkMm")) * times).round().astype("Int64")
    df["published_at"] = pd.to_datetime(df["published_at"])
    return df


def run(tool: str, human: str, plain: str) -> object:
    import polars as pl
    import socialkpi as sk

    readers: dict[str, Callable[[], object]] = {
        "floor": lambda: pl.read_csv(plain),
        "socialkpi": lambda: sk.read_posts(human),
        "polars": lambda: humanised_polars(human),
        "duckdb": lambda: humanised_duckdb(human),
        "pandas": lambda: humanised_pandas(human),
    }
    return readers[tool]()


def worker(tool: str, human: str, plain: str) -> None:
    from run import import_libraries, peak_mb

    import_libraries(tool)  # (imports are not what is timed)

    t = time.perf_counter()
    frame = run(tool, human, plain)
    print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(frame), "peak_mb": peak_mb()}))  # type: ignore[arg-type]


def check(human: str, plain: str) -> str:
    """Every reader of the humanised file must give the plain file's counts."""
    import polars as pl
    import socialkpi as sk

    expected = pl.read_csv(plain).select(COUNTS)
    frames = {t: pl.DataFrame(run(t, human, plain)).select(COUNTS) for t in TOOLS if t != "floor"}
    for tool, frame in frames.items():
        for c in COUNTS:
            if frame[c].to_list() != expected[c].to_list():
                return f"DISAGREE: {tool} in {c}"
    report = sk.read_report(sk.read_posts(human))
    assert report is not None
    return f"{', '.join(frames)} agree with the plain file on {len(COUNTS)} count columns of {expected.height:,} rows (socialkpi: preset {report.preset}, dropped {report.rows_dropped})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, *args.data)
        return
    human, plain = generate(args.mb)
    print(f"reading a {Path(human).stat().st_size / 1e6:.0f} MB CSV export with humanised counts")
    print(check(human, plain), flush=True)
    tools = [t for t in args.tools.split(",") if t in TOOLS]
    results = alternate(tools, args.rounds, lambda tool: [__file__, "--worker", tool, "--data", human, plain])
    med = medians(results)
    print(f"\n{'tool':<44}{'median s':>10}{'x floor':>9}{'x socialkpi':>13}{'peak MB':>10}")
    for t in tools:
        if t in med:
            peak = max(x["peak_mb"] for x in results[t])
            vs_floor = f"{med[t] / med['floor']:.2f}" if "floor" in med else "-"
            vs_sk = f"{med[t] / med['socialkpi']:.2f}" if "socialkpi" in med else "-"
            print(f"{TOOLS[t]:<44}{med[t]:>10.2f}{vs_floor:>9}{vs_sk:>13}{peak:>10.0f}")


if __name__ == "__main__":
    main()
