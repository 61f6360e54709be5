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

    python bench/states.py [--posts 20000000] [--parts 20] [--split time|rows] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import generate  # noqa: E402

KPIS = [
    "posts", "reach", "impressions", "engagements", "engagement_rate", "engagement_rate_followers",
    "avg_engagement_rate_per_post", "followers", "followers_start", "follower_growth_rate", "ctr",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=20_000_000)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--split", choices=["time", "rows"], default="time")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import polars as pl
    import socialkpi as sk

    posts_path, accounts_path = generate(args.posts, args.accounts)
    posts = pl.read_parquet(posts_path)
    accounts = pl.read_parquet(accounts_path)
    if args.split == "time":
        posts = posts.sort("published_at")
    size = posts.height // args.parts
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
    print(f"{args.parts} parts of {size:,} posts ({args.split} split), daily states by account and platform")
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


if __name__ == "__main__":
    main()
