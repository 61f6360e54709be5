"""Benchmark: what the view layer adds on top of the engine.

1. sk.report over a generated sample: its total time against the time spent inside the
   sk.compute / compute_details / contract_status calls it makes (the report must not be a
   second engine: formatting, charts and HTML should cost little next to the computes).
2. Trend charts of 10,000 points (1, 10 and 100 lines): building the altair chart, its spec,
   and rendering it to SVG and PNG through vl-convert (warm: the first render in a process
   also starts vl-convert's JavaScript runtime, about a second). Median of 5 runs.

    python bench/view.py [--posts 2000000] [--accounts 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import socialkpi as sk


def timed_engine() -> tuple[dict[str, Any], Any]:
    """Wraps the engine's entry points so that their time inside sk.report is summed."""
    spent = {"engine_s": 0.0, "depth": 0}
    originals = {name: getattr(sk, name) for name in ("compute", "compute_details", "contract_status")}

    def wrap(fn: Any) -> Any:
        def inner(*args: Any, **kwargs: Any) -> Any:
            # sk.compute calls compute_details: only the outermost call counts
            spent["depth"] += 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["depth"] -= 1
                if spent["depth"] == 0:
                    spent["engine_s"] += time.perf_counter() - t

        return inner

    for name, fn in originals.items():
        setattr(sk, name, wrap(fn))

    def restore() -> None:
        for name, fn in originals.items():
            setattr(sk, name, fn)

    return spent, restore


def bench_report(n_posts: int, n_accounts: int) -> None:
    posts, accounts = sk.datasets.sample(n_accounts=n_accounts, n_posts=n_posts, seed=1)
    traffic, conversions, contracts = sk.datasets.funnel(posts, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        spent, restore = timed_engine()
        try:
            t = time.perf_counter()
            sk.report(
                posts,
                accounts,
                traffic=traffic,
                conversions=conversions,
                contracts=contracts,
                path=Path(tmp) / "report.html",
            )
            total = time.perf_counter() - t
        finally:
            restore()
        size = (Path(tmp) / "report.html").stat().st_size
    engine = spent["engine_s"]
    print(
        f"sk.report over {n_posts:,} posts ({n_accounts:,} accounts, funnel tables, contracts): "
        f"{total:.2f} s, of which {engine:.2f} s in the engine's calls -> {total / engine:.2f}x "
        f"({size / 1e6:.1f} MB of HTML)"
    )


def bench_charts(lines: int) -> None:
    n = 10_000
    per_line = n // lines
    frame = pl.DataFrame(
        {
            "account_id": [f"a{i % lines:03d}" for i in range(n)],
            "period_start": [dt.date(2000, 1, 1) + dt.timedelta(days=i // lines) for i in range(n)],
            "engagement_rate": [((i * 37) % 101) / 1000 for i in range(n)],
        }
    )
    import vl_convert as vlc

    vlc.vegalite_to_svg(
        sk.plot.trend(frame.head(10), "engagement_rate", by="account_id").to_dict()
    )  # warm up
    runs: dict[str, list[float]] = {"chart + spec": [], "svg": [], "png": []}
    for _ in range(5):
        t = time.perf_counter()
        spec = sk.plot.trend(frame, "engagement_rate", by="account_id").to_dict()
        runs["chart + spec"].append(time.perf_counter() - t)
        t = time.perf_counter()
        vlc.vegalite_to_svg(spec)
        runs["svg"].append(time.perf_counter() - t)
        t = time.perf_counter()
        vlc.vegalite_to_png(spec)
        runs["png"].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"trend chart of {n:,} points ({lines} lines of {per_line:,}): chart + spec {med['chart + spec']:.3f} s, "
        f"SVG {med['svg']:.3f} s, PNG {med['png']:.3f} s (medians of 5)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2_000_000)
    parser.add_argument("--accounts", type=int, default=2_000)
    args = parser.parse_args()
    for lines in (1, 10, 100):
        bench_charts(lines)
    bench_report(args.posts, args.accounts)


if __name__ == "__main__":
    main()
