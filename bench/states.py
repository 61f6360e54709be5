"""Benchmark: what merging, rolling up and finalizing partial states costs beside making them.

Splits the benchmark's posts (bench/run.py generates them: 20 million posts of 5,000 accounts
over a year, in row groups of 1 million) into parts of 1 million posts, makes each part's daily
states by account (`sk.partial`, the accounts table whole beside each part), then times:

- merge: `sk.merge` of all the parts' states;
- finalize: the merged states by account and month (`finalize(every="1mo")`);
- rollup: the daily states by account finalized by platform and month.

and prints each as a share of the time the parts' states took. Parts are the posts' row groups
in file order (`--split rows`, posts of every day in each part) or by time (`--split time`, each
part a contiguous stretch of days, as files written per day or month are).

With `--copies N` the parts are files (written once under bench/data) of N times the posts,
each copy with ids of its own: `--parts 20 --copies 5` makes 100 parts of 1 million posts, read
from their files, never all in memory at once. Split by time, the copies' posts are put
together and cut into stretches of days again; split by rows, each copy of a part is a part
(each of them then shares every day with the others, the merge's hardest case). States
made in one process share one copy of the accounts' blocks, so only the posts' states grow
with the parts.

    python bench/states.py [--posts 20000000] [--parts 20] [--split time|rows] [--rounds 3] [--copies 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import generate  # noqa: E402

KPIS = [
    "posts", "reach", "impressions", "engagements", "engagement_rate", "engagement_rate_followers",
    "avg_engagement_rate_per_post", "followers", "followers_start", "follower_growth_rate", "ctr",
]  # fmt: skip


def part_files(posts_path: str, n_parts: int, split: str, copies: int) -> list[str]:
    """The posts' parts as files, each `copies` times with ids of its own (written once)."""
    import polars as pl

    folder = HERE / "data" / f"parts_{Path(posts_path).stem}_{split}_{n_parts}x{copies}"
    paths = [str(folder / f"part_{k:03d}_{c}.parquet") for c in range(copies) for k in range(n_parts)]
    if all(Path(p).exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    posts = pl.read_parquet(posts_path)
    if split == "time":
        posts = posts.sort("published_at")
    size = posts.height // n_parts
    for k in range(n_parts):
        part = posts.slice(k * size, size)
        copied = [part.with_columns(pl.col("post_id") + f"-{c}") if c else part for c in range(copies)]
        if split == "time":
            # the copies' posts of these days together, cut again into stretches of days
            together = pl.concat(copied).sort("published_at")
            copied = [together.slice(c * size, size) for c in range(copies)]
        for c, rows in enumerate(copied):
            rows.write_parquet(folder / f"part_{k:03d}_{c}.parquet")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=20_000_000)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--split", choices=["time", "rows"], default="time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=0, help="parts as files, each N times")
    args = parser.parse_args()

    import polars as pl
    import socialkpi as sk

    posts_path, accounts_path = generate(args.posts, args.accounts)
    accounts = pl.read_parquet(accounts_path)
    size = args.posts // args.parts
    parts: list[Any]
    if args.copies:
        parts = part_files(posts_path, args.parts, args.split, args.copies)
    else:
        posts = pl.read_parquet(posts_path)
        if args.split == "time":
            posts = posts.sort("published_at")
        parts = [posts.slice(k * size, size) for k in range(args.parts)]
    kw = {"kpis": KPIS, "by": ["account_id", "platform"], "every": "1d", "tz": "UTC"}

    made, merged_s, finalize_s, rollup_s = [], [], [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        states = [sk.partial(p, accounts, **kw) for p in parts]
        made.append(time.perf_counter() - t)
        t = time.perf_counter()
        merged = sk.merge(states)
        merged_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        monthly = merged.finalize(by=["account_id"], every="1mo")
        finalize_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        rolled = merged.finalize(by=["platform"], every="1mo")
        rollup_s.append(time.perf_counter() - t)
        del states
    made_m = statistics.median(made)
    print(f"{len(parts)} parts of {size:,} posts ({args.split} split), daily states by account and platform")
    print(f"  making the parts' states: {made_m:.2f} s (median of {args.rounds})")
    for name, times in [
        ("merge", merged_s),
        ("finalize by account x month", finalize_s),
        ("rollup to platform x month", rollup_s),
    ]:
        m = statistics.median(times)
        print(f"  {name}: {m:.2f} s = {100 * m / made_m:.1f}% of making the states")
    blocks, ids = merged._native.sizes()
    print(f"  merged states: {blocks}, {ids:,} post ids; results {monthly.shape}, {rolled.shape}")
    peak = next(
        line.split()[1] for line in Path("/proc/self/status").read_text().splitlines() if "VmHWM" in line
    )
    print(f"  peak memory {int(peak) / 1e6:.1f} GB")


if __name__ == "__main__":
    main()
