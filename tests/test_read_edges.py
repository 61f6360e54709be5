"""Readers at the edges (issue 14): files that are no posts table, yes/no and number columns,
daily metric tables, mixed encodings, bad arguments and files, oversized Excel sheets.

Expected values are computed from the raw cells by plain Python (the csv module, sums written
out), never from the reader.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import polars as pl
import pytest
import socialkpi as sk
from conftest import accounted, data_path


def code_of(call) -> str:
    with pytest.raises(sk.KpiError) as info:
        call()
    return str(info.value.code)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ---------------------------------------------------------------------------------------
# 1. A file that maps none of post_id, published_at, account_id is no posts table

VIDEOS = "USvideos_2017v1.csv"


def test_trending_videos_without_a_map_are_not_posts():
    path = data_path(VIDEOS)
    with open(path, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
    assert "likes" in header and not {"post_id", "published_at", "account_id"} & set(header)
    with pytest.raises(sk.SchemaError) as info:
        sk.read_posts(path)
    err = info.value
    assert err.code == "missing_keys"
    message = str(err)
    assert "'likes' as likes" in message  # what it found
    # the presets that read 'likes' and another header each
    assert "closest presets are" in message
    assert all(p in message for p in ("x_posts", "youtube_studio", "linkedin_posts"))
    for column in ("post_id", "published_at", "account_id"):
        assert column in message


def test_mapping_some_keys_reads_with_a_warning_naming_the_rest(tmp_path):
    path = write(tmp_path / "p.csv", "post_id,likes\np1,3\np2,4\n")
    posts = sk.read_posts(path)
    rep = accounted(posts)
    assert posts["likes"].to_list() == [3, 4]
    (warning,) = rep.warnings
    assert "published_at" in warning and "account_id" in warning and "'post_id" not in warning
    with_defaults = sk.read_posts(path, defaults={"account_id": "acme", "published_at": "2026-01-05"})
    assert sk.read_report(with_defaults).warnings == []


def test_accounts_and_traffic_need_no_post_keys(tmp_path):
    path = write(tmp_path / "a.csv", "account_id,date,followers\nacme,2026-01-01,10\n")
    assert sk.read_report(sk.read_accounts(path)).warnings == []


# ---------------------------------------------------------------------------------------
# 2. Yes/no columns, and numbers in other columns

FACEBOOK = "dataset_Facebook.csv"


def test_paid_mapped_to_sponsored_reads_as_booleans():
    with open(data_path(FACEBOOK), encoding="utf-8-sig", newline="") as fh:
        cells = [r["Paid"] for r in csv.DictReader(fh, delimiter=";")]
    assert set(cells) == {"0", "1", ""}
    posts = sk.read_posts(
        data_path(FACEBOOK),
        columns={"Paid": "sponsored", "like": "likes"},
        defaults={"account_id": "page", "platform": "facebook"},
    )
    rep = accounted(posts)
    assert posts.schema["sponsored"] == pl.Boolean
    assert posts["sponsored"].to_list() == [{"0": False, "1": True, "": None}[c] for c in cells]
    assert rep.cells_nulled == []


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["0", "1", ""], [False, True, None]),
        (["true", "FALSE", "True"], [True, False, True]),
        (["yes", "No", "YES"], [True, False, True]),
        (["Y", "n", "y"], [True, False, True]),
        (["Sponsored", "Organic", "N/A"], [True, False, None]),
    ],
)
def test_yes_no_spellings(tmp_path, cells, expected):
    rows = "".join(f"p{i},{c}\n" for i, c in enumerate(cells))
    posts = sk.read_posts(write(tmp_path / "f.csv", "post_id,Paid\n" + rows), columns={"Paid": "sponsored"})
    assert posts["sponsored"].to_list() == expected


def test_a_yes_no_column_with_other_words(tmp_path):
    path = write(tmp_path / "f.csv", "post_id,Paid\np1,1\np2,maybe\n")
    posts = sk.read_posts(path, columns={"Paid": "sponsored"})
    assert posts["sponsored"].to_list() == [True, None]
    assert sk.read_report(posts).cells_nulled == [("sponsored", "unparseable", 1, ["maybe"])]
    never = write(tmp_path / "g.csv", "post_id,Paid\np1,spring sale\n")
    assert code_of(lambda: sk.read_posts(never, columns={"Paid": "sponsored"})) == "unparseable_flags"


def test_compute_takes_sponsored_as_0_1_integers():
    frame = pl.DataFrame(
        {
            "post_id": ["a", "b", "c", "d"],
            "account_id": ["x", "x", "y", "y"],
            "platform": ["instagram"] * 4,
            "published_at": [dt.datetime(2025, 10, 3)] * 4,
            "likes": [10, 20, 30, 40],
            "sponsored": [1, 0, 1, 1],
        }
    )
    kpis = [
        sk.KPI("paid_likes", "sum(likes where sponsored)"),
        sk.KPI("organic", "count(where not sponsored)"),
    ]
    got = sk.compute(frame, kpis=kpis, by=["account_id"]).sort("account_id")
    pdf = frame.to_pandas()
    expected = (
        pdf.assign(
            paid=pdf["likes"].where(pdf["sponsored"] == 1, 0), organic=(pdf["sponsored"] == 0).astype(int)
        )
        .groupby("account_id")[["paid", "organic"]]
        .sum()
    )
    assert got["paid_likes"].to_list() == expected["paid"].tolist() == [10, 70]
    assert got["organic"].to_list() == expected["organic"].tolist() == [1, 0]
    as_bool = frame.with_columns(pl.col("sponsored").cast(pl.Boolean))
    assert sk.compute(as_bool, kpis=kpis, by=["account_id"]).sort("account_id").equals(got)


def test_other_columns_become_numbers_when_every_cell_is_one(tmp_path):
    text = (
        "post_id,Watch time (hours),Rank,Zip,Tweet,Mixed,Rate,Trending date\n"
        "p1,600.1,1,00123,1827364512345678901,12,1.5%,13.09\n"
        "p2,212.3567,2,04500,1829999999999999999,n/a,,1.1\n"
        "p3,,3,10001,1830000000000000001,x,0.5%,14.09\n"
    )
    posts = sk.read_posts(write(tmp_path / "f.csv", text))
    assert posts.schema["Watch time (hours)"] == pl.Float64
    assert posts["Watch time (hours)"].to_list() == [600.1, 212.3567, None]
    assert posts.schema["Rank"] == pl.Int64 and posts["Rank"].to_list() == [1, 2, 3]
    assert posts["Rate"].to_list() == [0.015, None, 0.005]
    # identifiers stay text: leading zeros, and integers a float cannot hold exactly
    assert posts["Zip"].to_list() == ["00123", "04500", "10001"]
    assert posts["Tweet"].to_list() == ["1827364512345678901", "1829999999999999999", "1830000000000000001"]
    assert posts["Mixed"].to_list() == ["12", "n/a", "x"]
    assert posts["Trending date"].to_list() == ["13.09", "1.1", "14.09"]  # a date, not a number


# ---------------------------------------------------------------------------------------
# 3. Daily metric tables are not posts

X_DAILY = ["Post id", "Date", "Post text", "Impressions", "Likes", "Engagements", "Replies", "Reposts"]


def x_daily_rows(days: int) -> list[list[str]]:
    start = dt.date(2026, 3, 1)
    rows = []
    for d in range(days):
        day = start + dt.timedelta(days=d)
        # a tweet's metrics of that day: they fall as the tweet ages
        rows.append(
            [
                "1827364512345678901",
                day.strftime("%a, %b %d, %Y"),
                "Big news",
                str(1000 // (d + 1)),
                str(50 // (d + 1)),
                str(80 // (d + 1)),
                str(d % 3),
                str(d % 2),
            ]  # fmt: skip
        )
    return rows


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def test_x_daily_post_report_adds_the_days_up(tmp_path):
    rows = x_daily_rows(100)
    path = write(tmp_path / "account_analytics_content.csv", to_csv(X_DAILY, rows))
    posts = sk.read_posts(path, defaults={"account_id": "acme"})
    rep = accounted(posts)
    assert rep.preset == "x_posts" and rep.repeats == "daily"
    assert posts.height == 1
    assert rep.rows_dropped == [("summed_day", 99)]
    row = posts.row(0, named=True)
    assert row["impressions"] == sum(int(r[3]) for r in rows)
    assert row["likes"] == sum(int(r[4]) for r in rows)
    assert row["comments"] == sum(int(r[6]) for r in rows)
    assert row["shares"] == sum(int(r[7]) for r in rows)
    assert row["published_at"] == dt.datetime(2026, 3, 1)  # its first day of metrics
    assert rep.warnings == []
    out = sk.compute(posts, kpis=["posts", "likes"], by=["account_id"])
    assert out.rows() == [("acme", 1, sum(int(r[4]) for r in rows))]


def test_repeats_on_different_dates_warn_which_reading_was_assumed(tmp_path):
    text = "post_id,account_id,published_at,likes\np1,acme,2026-03-01,5\np1,acme,2026-03-02,3\np2,acme,2026-03-01,7\n"
    path = write(tmp_path / "daily.csv", text)
    assumed = sk.read_posts(path)
    rep = accounted(assumed)
    assert rep.repeats == "snapshots" and rep.rows_dropped == [("duplicate", 1)]
    assert assumed["likes"].to_list() == [3, 7]  # the last row of p1 kept
    (warning,) = rep.warnings
    assert "1 post(s) repeat on different dates" in warning and "daily=True" in warning
    summed = sk.read_posts(path, daily=True)
    rep = accounted(summed)
    assert rep.repeats == "daily" and rep.rows_dropped == [("summed_day", 1)] and rep.warnings == []
    assert summed["likes"].to_list() == [5 + 3, 7]
    assert summed["published_at"].to_list() == [dt.datetime(2026, 3, 1)] * 2
    said = sk.read_posts(path, daily=False)
    assert sk.read_report(said).warnings == [] and said["likes"].to_list() == [3, 7]


def test_daily_by_a_day_column(tmp_path):
    text = (
        "post_id,Day,likes,spend,caption\n"
        "p1,2026-03-02,3,1.5,second\n"
        "p1,2026-03-01,5,,first\n"
        "p2,2026-03-01,,,only\n"
        "p2,2026-03-03,,,later\n"
    )
    posts = sk.read_posts(write(tmp_path / "d.csv", text), daily="Day", defaults={"account_id": "a"})
    rep = accounted(posts)
    assert rep.rows_dropped == [("summed_day", 2)]
    got = {r["post_id"]: r for r in posts.iter_rows(named=True)}
    assert (got["p1"]["likes"], got["p1"]["spend"]) == (8, 1.5)
    assert (got["p2"]["likes"], got["p2"]["spend"]) == (None, None)  # no day has a value
    assert got["p1"]["caption"] == "second" and got["p2"]["caption"] == "later"  # the latest day's
    assert got["p1"]["Day"] == dt.datetime(2026, 3, 2) and got["p2"]["Day"] == dt.datetime(2026, 3, 3)
    assert got["p1"]["published_at"] == dt.datetime(2026, 3, 1)  # no column gives it: the first day
    assert not any("published_at" in w for w in rep.warnings)


def test_daily_without_any_date_still_warns_of_published_at(tmp_path):
    posts = sk.read_posts(write(tmp_path / "d.csv", "post_id,likes\np1,1\np1,2\n"), daily=True)
    rep = accounted(posts)
    assert posts["likes"].to_list() == [3] and rep.rows_dropped == [("summed_day", 1)]
    assert any("maps no published_at" in w for w in rep.warnings)


def test_daily_argument_errors(tmp_path):
    path = write(tmp_path / "d.csv", "post_id,Day,likes\np1,2026-03-02,3\n")
    assert code_of(lambda: sk.read_posts(path, daily="Day", snapshot="Day")) == "invalid_argument"
    assert code_of(lambda: sk.read_posts(path, daily="Dya")) == "missing_column"
    assert code_of(lambda: sk.read_posts(path, daily=3)) == "invalid_argument"


# ---------------------------------------------------------------------------------------
# 4. Encodings


def test_utf8_with_a_bom_and_one_windows_byte_keeps_its_header(tmp_path):
    body = "post_id,account_id,likes\np1,acme,1\np1,acme,2\np2,caf\xe9,3\n"
    raw = b"\xef\xbb\xbf" + body.encode("cp1252")
    path = tmp_path / "bom.csv"
    path.write_bytes(raw)
    posts = sk.read_posts(path)
    rep = accounted(posts)
    assert posts.columns[0] == "post_id"
    assert rep.rows_dropped == [("duplicate", 1)]  # the repeat of p1 was found
    assert posts["account_id"].to_list() == ["acme", "café"]
    assert rep.files[0].encoding == "utf-8+cp1252"
    assert any("mixes encodings" in w and "line 4" in w for w in rep.warnings)


def test_mixed_utf8_and_windows_lines_are_one_account(tmp_path):
    lines = [b"post_id,account_id,likes\n"]
    expected_lines = []
    for i in range(20):
        name = "Café Olé"
        windows = i in (3, 11)
        lines.append(f"p{i},{name},{i}\n".encode("cp1252" if windows else "utf-8"))
        if windows:
            expected_lines.append(i + 2)
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"".join(lines))
    posts = sk.read_posts(path)
    rep = accounted(posts)
    assert posts["account_id"].unique().to_list() == ["Café Olé"]
    (note,) = [w for w in rep.warnings if "mixes encodings" in w]
    assert "2 line(s)" in note and f"line {expected_lines[0]}, {expected_lines[1]}" in note


def test_windows_bytes_past_the_first_64_kib(tmp_path):
    rows = [f"p{i},acme,{i}\n" for i in range(8000)]
    raw = ("post_id,account_id,likes\n" + "".join(rows)).encode()
    assert len(raw) > 1 << 16
    path = tmp_path / "late.csv"
    path.write_bytes(raw + "p_last,caf\xe9,7\n".encode("cp1252") + b"p_end,\xff\xfe,8\n")
    posts = sk.read_posts(path)
    rep = accounted(posts)
    assert posts.height == 8002
    assert posts["account_id"].to_list()[-2:] == ["café", "ÿþ"]
    assert posts["likes"].sum() == sum(range(8000)) + 7 + 8
    assert rep.files[0].encoding == "cp1252"


# ---------------------------------------------------------------------------------------
# 5. Bad arguments and files are typed errors


def test_bad_arguments(tmp_path):
    path = write(tmp_path / "p.csv", "post_id,likes\np1,3\n")
    assert code_of(lambda: sk.read_posts(path, year=2**40)) == "invalid_argument"
    assert code_of(lambda: sk.read_posts(None)) == "invalid_argument"  # type: ignore[arg-type]
    assert code_of(lambda: sk.read_posts(5)) == "invalid_argument"  # type: ignore[arg-type]
    assert code_of(lambda: sk.read_posts([path, None])) == "invalid_argument"  # type: ignore[list-item]
    assert code_of(lambda: sk.read_posts(str(path) + "\x00")) == "invalid_argument"
    assert code_of(lambda: sk.read_posts(path, columns=["a"])) == "invalid_argument"  # type: ignore[arg-type]
    assert code_of(lambda: sk.read_posts(path, preset=5)) == "invalid_argument"  # type: ignore[arg-type]
    assert code_of(lambda: sk.read_posts(path, sheet=0)) == "invalid_argument"
    assert code_of(lambda: sk.parse_dates(["25.08"], year=2**40)) == "invalid_argument"


def test_a_folder_where_a_file_is_expected(tmp_path):
    (tmp_path / "posts.csv").mkdir()
    assert code_of(lambda: sk.read_posts(str(tmp_path / "*.csv"))) == "not_a_file"
    (tmp_path / "data.parquet").mkdir()
    for path in (tmp_path / "data.parquet", tmp_path / "*.parquet"):
        with pytest.raises(sk.KpiError) as info:
            sk.compute(str(path), kpis=["posts"])
        assert info.value.code in ("file_not_found", "unreadable_file")


def test_a_file_deleted_during_a_read(tmp_path, monkeypatch):
    gone = tmp_path / "gone.csv"
    write(gone, "post_id\np1\n")
    real_isfile = os.path.isfile

    def listed_then_deleted(p):
        # the folder listed the file, then it was deleted before it was opened
        ok = real_isfile(p)
        if ok and str(p) == str(gone):
            os.remove(p)
        return ok

    monkeypatch.setattr(os.path, "isfile", listed_then_deleted)
    assert code_of(lambda: sk.read_posts(tmp_path)) == "file_not_found"


def test_duplicate_and_odd_headers(tmp_path):
    path = write(tmp_path / "d.csv", "post_id,likes,likes,\ufeffnote,note\np1,1,2,a,b\n")
    posts = sk.read_posts(path, defaults={"account_id": "a"})
    assert posts["likes"].to_list() == [1]
    assert len(set(posts.columns)) == len(posts.columns)
    assert posts.row(0, named=True)["note"] == "a" and "note_2" in posts.columns


# ---------------------------------------------------------------------------------------
# Excel sheets whose cells span a huge grid are refused before they are read

SHEET = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{dim}"/>
<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>post_id</t></is></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>p1</t></is></c></row>
<row r="{last_row}"><c r="{last}" t="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>"""
WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"
 xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="Posts" sheetId="1" r:id="rId1"/></sheets></workbook>"""
RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
</Relationships>"""
ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>"""


def sparse_xlsx(path: Path, last: str, dim: str) -> Path:
    last_row = "".join(ch for ch in last if ch.isdigit())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", TYPES)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", RELS)
        z.writestr("xl/worksheets/sheet1.xml", SHEET.format(dim=dim, last=last, last_row=last_row))
    return path


def run_isolated(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize("dim", ["A1:XFD1048576", "A1:A2"])  # honest, and lying about its size
def test_a_sparse_sheet_spanning_the_whole_grid_is_refused(tmp_path, dim):
    pytest.importorskip("fastexcel")
    path = sparse_xlsx(tmp_path / "sparse.xlsx", "XFD1048576", dim)
    assert path.stat().st_size < 5_000
    done = run_isolated(
        f"""
        import socialkpi as sk
        try:
            sk.read_posts({str(path)!r})
        except sk.KpiError as e:
            print("code", e.code)
        print("alive")
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["code", "sheet_too_large", "alive"]


def test_a_small_sheet_reads(tmp_path):
    pytest.importorskip("fastexcel")
    path = sparse_xlsx(tmp_path / "small.xlsx", "B3", "A1:B3")
    posts = sk.read_posts(path, defaults={"account_id": "a"})
    assert posts["post_id"].to_list() == ["p1"]
    assert sk.readers.MAX_SHEET_CELLS == 25_000_000
