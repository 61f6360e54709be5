"""Ctrl-C stops a long computation between batches of posts (subprocess: the signal must not
reach the test runner)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, signal, threading, time
    import polars as pl
    import socialkpi as sk

    posts, accounts = sk.datasets.sample(n_accounts=300, n_posts=1_500_000, seed=3)
    posts = pl.concat([posts] * 4).drop("post_id")   # 6M rows, read a million at a time
    kpis = ["engagement", "posts", "impressions", "reach", "frequency"]
    started = time.perf_counter()
    sk.compute(posts.head(1_000_000), accounts, kpis=kpis, by=["account_id", "content_type"], every="1d")
    one = time.perf_counter() - started
    threading.Timer(one / 2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    started = time.perf_counter()
    try:
        sk.compute(posts, accounts, kpis=kpis, by=["account_id", "content_type"], every="1d")
        print("finished", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted after {time.perf_counter() - started:.2f} s; a slice takes {one:.2f} s", flush=True)
    """
)


def test_ctrl_c_interrupts_a_long_run():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.stdout.startswith("interrupted"), done.stdout + done.stderr
    # one KeyboardInterrupt, inside the call, well before the six slices were through
    assert "Traceback" not in done.stderr, done.stderr
    after, per_slice = (float(part.split()[-2]) for part in done.stdout.split(";"))
    assert after < 4 * per_slice, done.stdout
