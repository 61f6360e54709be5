"""sk.report: a self-contained HTML file, opened in headless Chromium without network. Headline
numbers are checked against sk.compute and the DuckDB oracle; data texts must stay text."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
import socialkpi as sk
from oracle import oracle

SCRIPT = "<script>alert(1)</script>"
# Chromium's own background calls (network time, its start page); anything else is the page's
CHROMIUM_OWN = ("http://clients2.google.com/time/", "https://www.google.com/async/")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []
        self.text: list[str] = []
        self.cards: dict[str, str] = {}
        self.earlier: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        for key in ("src", "href", "xlink:href", "action", "data"):
            if a.get(key):
                self.refs.append(str(a[key]))
        if a.get("data-kpi"):
            self.cards[str(a["data-kpi"])] = str(a.get("data-value"))
            self.earlier[str(a["data-kpi"])] = str(a.get("data-earlier"))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame, pl.DataFrame]:
    posts, accounts = sk.datasets.sample(n_accounts=24, n_posts=6_000, seed=11)
    posts = posts.with_columns(
        pl.when(pl.col("account_id") == "acct_00003").then(pl.lit(SCRIPT)).otherwise(pl.col("account_id")).alias("account_id"),
        pl.lit("=HYPERLINK(\"http://evil\")").alias("caption"),
    )  # fmt: skip
    accounts = accounts.with_columns(
        pl.when(pl.col("account_id") == "acct_00003").then(pl.lit(SCRIPT)).otherwise(pl.col("account_id")).alias("account_id")
    )  # fmt: skip
    traffic, conversions, contracts = sk.datasets.funnel(posts, n_contracts=40, seed=11)
    path = tmp_path_factory.mktemp("report") / "report.html"
    out = sk.report(
        posts,
        accounts,
        traffic=traffic,
        conversions=conversions,
        contracts=contracts,
        by="account_id",
        every="1mo",
        title="Acme <b>report</b>",
        path=path,
    )
    assert out == path
    return path, posts, accounts


def test_the_headline_compares_with_the_calendar_period_before(
    written: tuple[Path, pl.DataFrame, pl.DataFrame],
) -> None:
    path, posts, accounts = written
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    assert "vs the period before" in "".join(page.text)
    kpis = ["posts", "engagement_rate", "followers"]
    monthly = oracle(posts, accounts, kpis, [], "1mo").sort("period_start")
    last = monthly.filter(pl.col("posts") > 0)["period_start"][-1]
    month_before = (last.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    before = monthly.filter(pl.col("period_start") == month_before).row(0, named=True)
    for k in kpis:
        assert float(page.earlier[k]) == pytest.approx(before[k], rel=1e-12), k


def test_the_headline_compares_with_a_year_before(tmp_path: Path) -> None:
    posts, accounts = sk.datasets.sample(
        n_accounts=6, n_posts=3_000, start=dt.date(2024, 1, 1), days=730, seed=3
    )
    path = sk.report(posts, accounts, every="1q", path=tmp_path / "r.html", compare="last_year")
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    assert "vs a year before" in "".join(page.text)
    quarterly = oracle(posts, accounts, ["posts", "engagement_rate"], [], "1q").sort("period_start")
    last = quarterly["period_start"][-1]
    year_before = quarterly.filter(pl.col("period_start") == last.replace(year=last.year - 1)).row(
        0, named=True
    )
    assert float(page.earlier["posts"]) == year_before["posts"]
    assert float(page.earlier["engagement_rate"]) == pytest.approx(year_before["engagement_rate"], rel=1e-12)
    with pytest.raises(sk.ArgumentError):
        sk.report(posts, path=tmp_path / "x.html", compare="yesterday")


def test_page_is_self_contained_and_escaped(written: tuple[Path, pl.DataFrame, pl.DataFrame]) -> None:
    path, _, _ = written
    page = Page()
    source = path.read_text(encoding="utf-8")
    page.feed(source)
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert page.refs == [] and "url(" not in source and "@import" not in source
    text = "".join(page.text)
    assert SCRIPT in text  # the account name shows as text
    assert "Acme <b>report</b>" in text
    assert page.tags.count("svg") >= 3  # trends, comparison, contracts, funnel
    for section in ("Trends", "By account_id, over the whole range", "Top 10 posts by engagement rate",
                    "Bottom 10 posts by engagement rate", "Funnel", "Appendix: definitions used"):  # fmt: skip
        assert section in text, section
    assert "Contracts behind schedule on " in text


def test_headline_numbers_equal_compute_and_the_oracle(
    written: tuple[Path, pl.DataFrame, pl.DataFrame],
) -> None:
    path, posts, accounts = written
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    kpis = ["posts", "reach", "engagements", "engagement_rate", "followers"]
    assert set(kpis) <= set(page.cards)
    # the last month with posts
    monthly = oracle(posts, accounts, kpis, [], "1mo").sort("period_start")
    last = monthly.filter(pl.col("posts") > 0).row(-1, named=True)
    for k in kpis:
        shown = page.cards[k]
        assert float(shown) == pytest.approx(last[k], rel=1e-12), k
    computed = sk.compute(posts, accounts, kpis=kpis, every="1mo").filter(
        pl.col("period_start") == last["period_start"]
    )
    assert {k: float(page.cards[k]) for k in kpis} == {k: float(computed[k][0]) for k in kpis}


def test_report_arguments_are_checked(tmp_path: Path) -> None:
    posts, _ = sk.datasets.sample(n_accounts=4, n_posts=200, seed=1)
    with pytest.raises(sk.QueryError) as info:
        sk.report(posts, top=0, path=tmp_path / "r.html")
    assert info.value.code == "invalid_argument"
    with pytest.raises(sk.KpiError):
        sk.report(posts, by="no_such_column", path=tmp_path / "r.html")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("headless Chromium is not installed (make test installs Debian's chromium)")
    return found


def open_in_chromium(page: Path, out: Path) -> list[str]:
    """Opens ``page`` headless without network; returns the URLs it requested (netlog)."""
    netlog = out / f"{page.stem}.netlog.json"
    isolate = ["unshare", "-n"] if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0 else []  # fmt: skip
    args = [
        *isolate, chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-default-apps", "--disable-domain-reliability", f"--user-data-dir={out / 'profile'}",
        "--window-size=1200,2000", f"--screenshot={out / (page.stem + '.png')}", f"--log-net-log={netlog}",
        page.resolve().as_uri(),
    ]  # fmt: skip
    subprocess.run(args, capture_output=True, timeout=180, check=True)
    events = json.loads(netlog.read_text())["events"]
    urls = {str(e["params"]["url"]) for e in events if "url" in e.get("params", {})}
    return sorted(u for u in urls if not u.startswith(CHROMIUM_OWN) and not u.startswith("file:"))


def test_opens_in_chromium_without_network_requests(
    written: tuple[Path, pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    path, _, _ = written
    # the check catches a page that does request something
    canary = tmp_path / "canary.html"
    canary.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>')
    assert open_in_chromium(canary, tmp_path) == ["http://example.invalid/x.png"]
    assert open_in_chromium(path, tmp_path) == []
    shot = (tmp_path / "report.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 50_000


def test_excel_report_reopens_with_its_numbers(tmp_path: Path) -> None:
    import zipfile

    import fastexcel

    posts, accounts = sk.datasets.sample(n_accounts=12, n_posts=3_000, seed=4)
    risky = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)"]
    posts = posts.with_columns(
        pl.Series("caption", [risky[i % 4] for i in range(posts.height)]),
        pl.when(pl.col("account_id") == "acct_00001").then(pl.lit("=1+1")).otherwise(pl.col("account_id")).alias("account_id"),
    )  # fmt: skip
    _, _, contracts = sk.datasets.funnel(posts, n_contracts=20, seed=4)
    path = sk.report(posts, accounts, contracts=contracts, by="account_id", path=tmp_path / "report.xlsx")
    book = fastexcel.read_excel(str(path))
    assert book.sheet_names == ["Overall by period", "By account_id", "Trends by account_id", "Top posts",
                                "Bottom posts", "Contracts behind", "Definitions", "Rows dropped"]  # fmt: skip
    overall = book.load_sheet("Overall by period").to_polars()
    kpis = ["posts", "reach", "engagement_rate", "followers"]
    want = oracle(posts, accounts, kpis, [], "1mo").filter(pl.col("posts") > 0).sort("period_start")
    assert overall["posts"].to_list() == want["posts"].to_list()
    assert overall["engagement_rate"].to_list() == pytest.approx(want["engagement_rate"].to_list(), rel=1e-12)
    computed = sk.compute(posts, accounts, kpis=kpis, every="1mo").filter(pl.col("posts") > 0)
    assert overall["followers"].to_list() == computed["followers"].cast(pl.Float64).to_list()
    by_account = book.load_sheet("By account_id").to_polars()
    assert "=1+1" in by_account["account_id"].to_list()  # text, read back as written
    top = book.load_sheet("Top posts").to_polars()
    assert set(top["caption"].to_list()) <= set(risky)
    with zipfile.ZipFile(path) as z:
        sheets = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        styles = z.read("xl/styles.xml").decode()
    assert sheets and not any("<f>" in s or "<f " in s for s in sheets)  # no cell is a formula
    assert 'formatCode="0.00%"' in styles and 'formatCode="#,##0"' in styles
