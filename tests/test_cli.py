"""The command line (`socialkpi`, `python -m socialkpi`) through subprocess, on the sample and on a
real data set, including bad arguments. Numbers are checked against the DuckDB oracle or the
raw CSV, never against the engine."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import socialkpi as sk
from conftest import data_path
from oracle import oracle

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # the package under test, wherever the tests import it from
    env["PYTHONPATH"] = (
        str(Path(sk.__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    )
    return subprocess.run(
        [sys.executable, "-m", "socialkpi", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    posts, _ = sk.datasets.sample(n_accounts=20, n_posts=3_000, seed=5)
    path = tmp_path_factory.mktemp("cli") / "posts.parquet"
    posts.write_parquet(path)
    return path, posts


def test_help_lists_every_command() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("compute", "read", "report", "catalog", "explain", "demo"):
        assert command in out.stdout
    for command in ("compute", "read", "report", "catalog", "explain", "demo"):
        sub = run(command, "--help")
        assert sub.returncode == 0 and sub.stdout.startswith(f"usage: socialkpi {command}")
    assert "--kpis" in run("compute", "--help").stdout and "--preset" in run("read", "--help").stdout
    assert run("--version").stdout.strip() == f"socialkpi {sk.__version__}"


def test_compute_writes_csv_and_parquet_equal_to_the_oracle(
    sample: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    path, posts = sample
    kpis = ["posts", "reach", "engagement_rate"]
    expected = oracle(posts, None, kpis, ["platform"], "1q")
    for name in ("out.csv", "out.parquet"):
        out = run("compute", str(path), "--kpis", "posts,reach", "engagement_rate", "--by", "platform", "--every", "1q",
                  "-o", str(tmp_path / name))  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "wrote" in out.stderr
        got = (
            pl.read_csv(tmp_path / name, try_parse_dates=True)
            if name.endswith("csv")
            else pl.read_parquet(tmp_path / name)
        )
        got = got.sort("platform", "period_start")
        want = expected.sort("platform", "period_start")
        assert got["platform"].to_list() == want["platform"].to_list()
        assert got["posts"].to_list() == want["posts"].to_list()
        assert got["reach"].to_list() == want["reach"].to_list()
        for g, w in zip(got["engagement_rate"].to_list(), want["engagement_rate"].to_list()):
            assert (g is None and w is None) or g == pytest.approx(w, rel=1e-12)  # x has no reach


def test_compute_compares_with_the_period_before_and_windows(
    sample: tuple[Path, pl.DataFrame], tmp_path: Path
) -> None:
    path, posts = sample
    out = run("compute", str(path), "--kpis", "posts", "engagement_rate", "--every", "1mo", "--compare", "previous",
              "-o", str(tmp_path / "c.parquet"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = pl.read_parquet(tmp_path / "c.parquet").sort("period_start")
    monthly = oracle(posts, None, ["posts", "engagement_rate"], [], "1mo").sort("period_start")
    # every month of the sample has posts: the previous month is the previous row (before the
    # first month, a month without posts: 0 posts, no engagement rate)
    assert got["posts_prev"].to_list() == [0, *monthly["posts"].to_list()[:-1]]
    assert got["engagement_rate_prev"][0] is None
    rates = got["engagement_rate_prev"].to_list()[1:]
    assert rates == pytest.approx(monthly["engagement_rate"].to_list()[:-1], rel=1e-12)
    daily = run(
        "compute",
        str(path),
        "--kpis",
        "posts",
        "--every",
        "1d",
        "--window",
        "mtd",
        "-o",
        str(tmp_path / "w.csv"),
    )
    assert daily.returncode == 0, daily.stderr
    assert "window_start" in pl.read_csv(tmp_path / "w.csv").columns
    bad = run("compute", str(path), "--kpis", "posts", "--every", "1mo", "--compare", "yesterday")
    assert bad.returncode == 1 and "[unknown_compare]" in bad.stderr


def test_compute_takes_the_calendar(sample: tuple[Path, pl.DataFrame], tmp_path: Path) -> None:
    path, posts = sample
    out = run("compute", str(path), "--kpis", "posts", "--every", "1q", "--fiscal-year-start", "april",
              "--week-start", "sunday", "-o", str(tmp_path / "q.parquet"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = pl.read_parquet(tmp_path / "q.parquet")
    want = oracle(posts, None, ["posts"], [], "1q", fiscal_year_start=4)
    assert got.sort("period_start").to_dicts() == want.sort("period_start").to_dicts()
    bad = run("compute", str(path), "--kpis", "posts", "--every", "1w", "--week-start", "someday")
    assert bad.returncode == 1 and "[unknown_week_start]" in bad.stderr


def test_compute_adds_targets_from_a_file(sample: tuple[Path, pl.DataFrame], tmp_path: Path) -> None:
    path, posts = sample
    monthly = oracle(posts, None, ["posts"], [], "1mo").sort("period_start")
    targets = pl.DataFrame(
        {
            "kpi": "posts",
            "target": [10.0 * (i + 1) for i in range(monthly.height)],
            "period_start": monthly["period_start"],
        }
    )
    targets.write_csv(tmp_path / "goals.csv")
    out = run("compute", str(path), "--kpis", "posts", "--every", "1mo", "--targets", str(tmp_path / "goals.csv"),
              "-o", str(tmp_path / "t.parquet"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = pl.read_parquet(tmp_path / "t.parquet").sort("period_start")
    assert got.columns == ["period_start", "posts", "posts_target", "posts_attainment"]
    assert got["posts_target"].to_list() == targets["target"].to_list()
    want = [p / t for p, t in zip(monthly["posts"].to_list(), targets["target"].to_list())]
    assert got["posts_attainment"].to_list() == pytest.approx(want, rel=1e-12)
    # a target for a group the report lacks is a warning on stderr, not silence
    pl.DataFrame({"platform": ["myspace"], "kpi": "posts", "target": 1.0}).write_csv(tmp_path / "other.csv")
    warned = run("compute", str(path), "--kpis", "posts", "--by", "platform", "--every", "1mo",
                 "--targets", str(tmp_path / "other.csv"), "-o", str(tmp_path / "o.csv"))  # fmt: skip
    assert warned.returncode == 0, warned.stderr
    assert "warning: targets= sets targets for 1 group(s)" in warned.stderr and "myspace" in warned.stderr


def test_compute_prints_a_formatted_table(sample: tuple[Path, pl.DataFrame]) -> None:
    path, posts = sample
    out = run("compute", str(path), "--kpis", "engagement_rate", "reach", "--by", "platform")
    assert out.returncode == 0, out.stderr
    want = oracle(posts, None, ["engagement_rate", "reach"], ["platform"], None)
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["platform", "engagement_rate", "reach"]
    for platform, rate, reach in want.select("platform", "engagement_rate", "reach").rows():
        line = next(x for x in lines if x.startswith(platform + " "))
        shown = sk.display.MISSING if rate is None else f"{rate * 100:.2f}%"
        assert line.split() == [platform, shown, sk.display.MISSING if reach is None else f"{reach:,}"]
    assert "engagements = likes|reactions + comments + shares + saves" in out.stdout


def test_compute_with_a_formula_and_definitions(sample: tuple[Path, pl.DataFrame]) -> None:
    path, posts = sample
    out = run(
        "compute",
        str(path),
        "--formula",
        "likes_per_reach=likes / reach",
        "--by",
        "platform",
        "--max-rows",
        "3",
    )
    assert out.returncode == 0, out.stderr
    assert "(showing 3 of 6 rows)" in out.stdout
    bad = run("compute", str(path), "--formula", "oops", "--by", "platform")
    assert bad.returncode == 2 and "--formula takes NAME=FORMULA" in bad.stderr
    preset = run("compute", str(path), "--kpis", "engagement_rate_reach", "--definitions", "rivaliq")
    assert preset.returncode == 0, preset.stderr
    assert preset.stdout.splitlines()[1].strip() == "engagement · %"


def test_errors_print_the_code_and_exit_non_zero(sample: tuple[Path, pl.DataFrame], tmp_path: Path) -> None:
    path, _ = sample
    unknown = run("compute", str(path), "--kpis", "engagment_rate")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("socialkpi: error [unknown_kpi]:") and "Traceback" not in unknown.stderr
    missing = run("compute", str(tmp_path / "nope.parquet"), "--kpis", "posts")
    assert (
        missing.returncode == 1
        and "socialkpi: error [" in missing.stderr
        and "Traceback" not in missing.stderr
    )
    column = run("compute", str(path), "--kpis", "posts", "--by", "no_such_column")
    assert column.returncode == 1 and "[unknown_dimension]" in column.stderr
    for args, message in (
        (["compute", str(path), "--kpis"], "expected at least one argument"),
        (["compute", str(path)], "--kpis needs at least one KPI"),
        (["compute", str(path), "--kpis", "posts", "-o", str(tmp_path / "x.txt")], "write a table to one of"),
        (["compute", str(path), "--kpis", "posts", "--dedupe", "first"], "invalid choice"),
        (["demo", "--posts", "-5"], "must be 1 or more"),
        (["nonsense"], "invalid choice"),
        ([], "required: COMMAND"),
    ):
        out = run(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr and out.stderr.startswith("usage: socialkpi")
    unwritable = run("compute", str(path), "--kpis", "posts", "-o", str(tmp_path / "no" / "dir" / "x.csv"))
    assert unwritable.returncode == 1 and "socialkpi: error [" in unwritable.stderr


def test_read_a_real_export_to_a_canonical_table(tmp_path: Path) -> None:
    source = data_path("USvideos_2017v1.csv")
    raw = list(csv.DictReader(io.StringIO(source.read_text(encoding="utf-8"), newline="")))
    videos = {r["video_id"] for r in raw if r["video_id"].strip()}
    out = run("read", str(source), "--column", "video_id=post_id", "--column", "channel_title=account_id",
              "--column", "views=video_views", "--column", "comment_total=comments", "--column", "likes=likes",
              "--default", "platform=youtube", "--snapshot", "date", "--year", "2017",
              "-o", str(tmp_path / "videos.parquet"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("ReadReport(posts):")
    assert f"rows read {len(raw):,}" in first and f"rows kept {len(videos):,}" in first
    canonical = pl.read_parquet(tmp_path / "videos.parquet")
    assert canonical.height == len(videos)
    assert set(canonical["post_id"]) == videos and set(canonical["platform"]) == {"youtube"}
    counted = run(
        "compute", str(tmp_path / "videos.parquet"), "--kpis", "posts", "-o", str(tmp_path / "n.csv")
    )
    assert counted.returncode == 0, counted.stderr
    assert pl.read_csv(tmp_path / "n.csv")["posts"].to_list() == [len(videos)]
    bad = run("read", str(source), "--preset", "no_such_preset")
    assert bad.returncode == 1 and "[unknown_preset]" in bad.stderr
    assert run("read", str(source), "--table", "orders").returncode == 2


def test_catalog_and_explain() -> None:
    text = run("catalog")
    assert text.returncode == 0
    names = sk.catalog()["name"].to_list()
    listed = [line.split()[0] for line in text.stdout.splitlines()[1 : len(names) + 1]]
    assert listed == names
    rows = json.loads(run("catalog", "--format", "json").stdout)
    assert [r["name"] for r in rows] == names
    goal = run("catalog", "--goal", "traffic", "--format", "csv").stdout
    assert {r["goal"] for r in csv.DictReader(io.StringIO(goal))} == {"traffic"}
    assert run("catalog", "--goal", "fame").returncode == 2
    explained = run("explain", "engagement_rate")
    assert explained.returncode == 0 and "Formula: eng / reach" in explained.stdout
    unknown = run("explain", "engagment_rate")
    assert unknown.returncode == 1 and unknown.stderr.startswith("socialkpi: error [")


def test_demo_runs() -> None:
    out = run("demo", "--accounts", "12", "--posts", "2,000")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Sample: 2,000 posts from 12 accounts")
    assert "%" in out.stdout


def test_console_script_is_declared() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '[project.scripts]\nsocialkpi = "socialkpi.cli:main"' in text
    from socialkpi.cli import main

    assert main(["explain", "posts"]) == 0
    installed = shutil.which("socialkpi")
    if installed is not None:  # installed by `make build` / pip
        out = subprocess.run([installed, "--version"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith("socialkpi ")


def test_report_writes_html(sample: tuple[Path, pl.DataFrame], tmp_path: Path) -> None:
    path, posts = sample
    out = run("report", str(path), "--by", "platform", "--title", "<i>Q3</i>", "-o", str(tmp_path / "r.html"))
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<h1>&lt;i&gt;Q3&lt;/i&gt;</h1>" in page and "<script" not in page
    want = oracle(posts, None, ["posts"], [], "1mo").filter(pl.col("posts") > 0).sort("period_start")
    assert f'data-kpi="posts" data-value="{want["posts"][-1]}"' in page
    for args, message in (
        (["report", str(path), "-o", str(tmp_path / "r.pdf")], "the report is an .html or .xlsx file"),
        (["report", str(path), "--as-of", "June", "-o", str(tmp_path / "r.html")], "a day as YYYY-MM-DD"),
        (["report", str(path), "--top", "0"], "must be 1 or more"),
    ):
        bad = run(*args)
        assert bad.returncode == 2 and message in bad.stderr
    bad = run("report", str(path), "--compare", "yesterday", "-o", str(tmp_path / "r.html"))
    assert bad.returncode == 2 and "--compare" in bad.stderr
    yearly = run("report", str(path), "--compare", "last_year", "-o", str(tmp_path / "ly.html"))
    assert yearly.returncode == 0 and "vs a year before" in (tmp_path / "ly.html").read_text(encoding="utf-8")
    workbook = run("report", str(path), "-o", str(tmp_path / "r.xlsx"))
    assert workbook.returncode == 0 and (tmp_path / "r.xlsx").read_bytes()[:2] == b"PK"
    missing = run("report", str(path), "--by", "nope", "-o", str(tmp_path / "r.html"))
    assert missing.returncode == 1 and "socialkpi: error [" in missing.stderr


def test_report_takes_targets_and_a_range(sample: tuple[Path, pl.DataFrame], tmp_path: Path) -> None:
    import datetime as dt

    import fastexcel

    path, posts = sample
    # an empty platform cell: a target of the whole report; "myspace": a group the report lacks
    (tmp_path / "goals.csv").write_text("platform,kpi,target\n,posts,40\nmyspace,posts,1\n")
    out = run("report", str(path), "--targets", str(tmp_path / "goals.csv"), "--start", "2025-03-20",
              "--end", "2025-05-02", "-o", str(tmp_path / "r.xlsx"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "warning: targets= sets targets for 1 group(s)" in out.stderr and "myspace" in out.stderr
    overall = fastexcel.read_excel(str(tmp_path / "r.xlsx")).load_sheet("Overall by period").to_polars()
    # March to May, each whole
    want = oracle(posts, None, ["posts"], [], "1mo").filter(
        pl.col("period_start").is_between(dt.date(2025, 3, 1), dt.date(2025, 5, 1))
    ).sort("period_start")  # fmt: skip
    assert overall["period_start"].cast(pl.Date).to_list() == want["period_start"].to_list()
    assert overall["posts"].to_list() == want["posts"].to_list()
    assert overall["posts_target"].to_list() == [40.0] * want.height
    assert overall["posts_attainment"].to_list() == pytest.approx([p / 40 for p in want["posts"].to_list()])
    assert "--targets" in run("report", "--help").stdout
