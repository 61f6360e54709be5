"""Readers: platform exports in their real header layouts and encodings, read into canonical tables.

Each test writes a small fixture file the way the platform exports it (byte-order marks, UTF-16
with a `sep=,` line, Windows-1252, comment lines, a Total row, yearless dates, `undefined` cells)
and checks the values read against numbers written by hand from the fixture.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
import socialkpi as sk
from conftest import accounted
from polars.testing import assert_frame_equal


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    encoding: str = "utf-8-sig",
    sep: str = ",",
    preamble: Sequence[str] = (),
    quoting: int = csv.QUOTE_MINIMAL,
) -> Path:
    buf = io.StringIO()
    for line in preamble:
        buf.write(line + "\r\n")
    writer = csv.writer(buf, delimiter=sep, lineterminator="\r\n", quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_records(path: Path, header: Sequence[str], records: Sequence[dict[str, str]], **kw) -> Path:
    return write_csv(path, header, [[r.get(h, "") for h in header] for r in records], **kw)


def rows_by(frame: pl.DataFrame, key: str = "post_id") -> dict[str, dict]:
    return {r[key]: r for r in frame.iter_rows(named=True)}


def file_of(rep: sk.ReadReport, name: str) -> sk.FileRead:
    (hit,) = [f for f in rep.files if Path(f.path).name == name]
    return hit


# ---------------------------------------------------------------------------------------
# Meta Business Suite: Facebook posts, two monthly exports whose columns moved

FB_JUL = ["Post ID", "Page ID", "Page name", "Title", "Description", "Duration (sec)", "Publish time",
          "Caption type", "Permalink", "Is crosspost", "Is share", "Post type", "Languages", "Custom labels",
          "Funded content status", "Data comment", "Date", "Impressions", "Reach",
          "Reactions, Comments and Shares", "Reactions", "Comments", "Shares", "Total clicks", "Link clicks",
          "Other Clicks", "Matched Audience Targeting Consumption (Photo Click)",
          "Negative feedback from users: Hide all", "Seconds viewed", "Average Seconds viewed",
          "3-second video views", "Estimated earnings (USD)", "Export date"]  # fmt: skip
# a month later: Views replaced Impressions, columns moved, one more column
FB_AUG = ["Post ID", "Page ID", "Page name", "Title", "Description", "Duration (sec)", "Publish time",
          "Caption type", "Permalink", "Is crosspost", "Is share", "Post type", "Languages", "Custom labels",
          "Funded content status", "Data comment", "Date", "Reach", "Views",
          "Reactions, Comments and Shares", "Comments", "Reactions", "Shares", "Link clicks", "Total clicks",
          "Other Clicks", "Matched Audience Targeting Consumption (Photo Click)",
          "Negative feedback from users: Hide all", "Seconds viewed", "Average Seconds viewed",
          "3-Second Video Views", "Estimated earnings (USD)", "Ad CPM (USD)", "Export date"]  # fmt: skip
FB_PAGE = {"Page ID": "104512345678901", "Page name": "Acme Coffee", "Date": "Lifetime", "Is crosspost": "No",
           "Is share": "No", "Caption type": "", "Languages": "en"}  # fmt: skip


def fb_post(n: int, time: str, kind: str, views: int, reach: int, reactions: int, comments: int, shares: int,
            clicks: int, video: str, exported: str, views_header: str) -> dict[str, str]:  # fmt: skip
    return {
        **FB_PAGE,
        "Post ID": f"104512345678901_122000{n}",
        "Title": f"Post {n}",
        "Description": f"New beans, new mugs ({n})",
        "Publish time": time,
        "Permalink": f"https://www.facebook.com/104512345678901/posts/122000{n}",
        "Post type": kind,
        views_header: str(views),
        "Reach": str(reach),
        "Reactions, Comments and Shares": str(reactions + comments + shares),
        "Reactions": str(reactions),
        "Comments": str(comments),
        "Shares": str(shares),
        "Total clicks": str(clicks),
        "3-second video views": video,
        "3-Second Video Views": video,
        "Export date": exported,
    }


def write_facebook_months(folder: Path) -> None:
    # Meta names exports by their date range: the August file sorts before the July one
    jul = [
        fb_post(1, "07/05/2026 09:00", "Photos", 1500, 1200, 80, 12, 5, 40, "", "2026-08-01", "Impressions"),
        fb_post(
            2, "07/28/2026 18:30", "Reels", 5000, 4200, 300, 25, 40, 150, "3100", "2026-08-01", "Impressions"
        ),
        fb_post(3, "07/12/2026 08:00", "Photos", 800, 700, 30, 2, 1, 12, "", "2026-08-01", "Impressions"),
    ]
    aug = [
        fb_post(1, "07/05/2026 09:00", "Photos", 1900, 1500, 95, 14, 6, 52, "", "2026-09-01", "Views"),
        # two people took their reaction back: the later snapshot is smaller
        fb_post(2, "07/28/2026 18:30", "Reels", 6100, 5000, 290, 31, 44, 170, "3900", "2026-09-01", "Views"),
        fb_post(4, "08/14/2026 12:15", "Links", 2500, 2000, 60, 9, 3, 210, "", "2026-09-01", "Views"),
    ]
    assert len(FB_JUL) == 33 and len(FB_AUG) == 34
    write_records(folder / "Jul-01-2026_Jul-31-2026_1234567890123456.csv", FB_JUL, jul)
    write_records(folder / "Aug-01-2026_Aug-31-2026_1234567890123456.csv", FB_AUG, aug)


JUL_FILE = "Jul-01-2026_Jul-31-2026_1234567890123456.csv"
AUG_FILE = "Aug-01-2026_Aug-31-2026_1234567890123456.csv"
FB = "104512345678901_122000"


@pytest.fixture
def facebook(tmp_path: Path) -> pl.DataFrame:
    write_facebook_months(tmp_path / "exports")
    return sk.read_posts(str(tmp_path / "exports" / "*.csv"), snapshot="Export date")


def test_meta_facebook_monthly_exports_keep_the_latest_snapshot(facebook):
    rep = accounted(facebook)
    assert rep.table == "posts"
    assert rep.preset == "meta_facebook_posts"
    assert [Path(f.path).name for f in rep.files] == [AUG_FILE, JUL_FILE]
    assert all(f.encoding == "utf-8-sig" and f.rows_read == 3 for f in rep.files)
    assert rep.rows_read == 6 and rep.rows_kept == 4
    assert rep.rows_dropped == [("older_snapshot", 2)]
    assert rep.cells_nulled == []
    # the later export wins although it was read first
    got = rows_by(facebook)
    assert sorted(got) == [FB + "1", FB + "2", FB + "3", FB + "4"]
    a, b, c, d = (got[FB + str(n)] for n in (1, 2, 3, 4))
    assert (a["impressions"], a["reach"], a["reactions"], a["comments"], a["shares"], a["clicks"]) == (
        1900, 1500, 95, 14, 6, 52,
    )  # fmt: skip
    assert (b["impressions"], b["reactions"], b["video_views"]) == (6100, 290, 3900)
    assert (c["impressions"], c["reach"], c["reactions"]) == (800, 700, 30)  # July only
    assert (d["impressions"], d["clicks"]) == (2500, 210)
    assert a["video_views"] is None  # a photo: blank cell
    assert a["published_at"] == dt.datetime(2026, 7, 5, 9, 0)
    assert d["published_at"] == dt.datetime(2026, 8, 14, 12, 15)
    assert {r["account_id"] for r in got.values()} == {"104512345678901"}
    assert {r["platform"] for r in got.values()} == {"facebook"}
    assert (a["content_type"], b["content_type"], d["content_type"]) == ("Photos", "Reels", "Links")
    # B's reactions went down between the snapshots: kept, and said
    assert len(rep.warnings) == 1


def test_meta_facebook_header_maps_and_extra_columns(facebook):
    rep = accounted(facebook)
    jul, aug = file_of(rep, JUL_FILE), file_of(rep, AUG_FILE)
    assert jul.preset == aug.preset == "meta_facebook_posts"
    assert jul.header_map["Impressions"] == "impressions"
    assert aug.header_map["Views"] == "impressions"
    assert jul.header_map["3-second video views"] == "video_views"
    assert aug.header_map["3-Second Video Views"] == "video_views"
    for h, c in [("Post ID", "post_id"), ("Page ID", "account_id"), ("Publish time", "published_at"),
                 ("Post type", "content_type"), ("Reach", "reach"), ("Reactions", "reactions"),
                 ("Comments", "comments"), ("Shares", "shares"), ("Total clicks", "clicks")]:  # fmt: skip
        assert jul.header_map[h] == aug.header_map[h] == c
        assert rep.header_map[h] == c
    schema = facebook.schema
    assert schema["reactions"] == pl.Int64 and schema["impressions"] == pl.Int64
    assert schema["published_at"] == pl.Datetime("us")
    # headers that map to nothing are kept as they were
    got = rows_by(facebook)
    a, c = got[FB + "1"], got[FB + "3"]
    assert a["Permalink"] == "https://www.facebook.com/104512345678901/posts/1220001"
    assert a["Description"] == "New beans, new mugs (1)"
    assert a["Page name"] == "Acme Coffee"
    assert a["Date"] == "Lifetime"
    assert a["Reactions, Comments and Shares"] == 115  # another column of numbers
    assert a["Link clicks"] is None
    assert "Ad CPM (USD)" in facebook.columns and c["Ad CPM (USD)"] is None  # August's column only
    assert a["Export date"] == dt.datetime(2026, 9, 1)


def test_without_snapshot_the_last_row_read_is_kept(tmp_path):
    write_facebook_months(tmp_path / "exports")
    posts = sk.read_posts(str(tmp_path / "exports" / "*.csv"))
    rep = accounted(posts)
    assert rep.rows_dropped == [("duplicate", 2)]
    assert rep.warnings == []
    got = rows_by(posts)
    assert got[FB + "1"]["impressions"] == 1500  # the July file is read last
    assert got[FB + "1"]["Export date"] == "2026-08-01"


# ---------------------------------------------------------------------------------------
# Meta Business Suite: Instagram posts

IG_OLD = ["Post ID", "Account ID", "Account username", "Account name", "Description", "Duration (sec)",
          "Publish time", "Permalink", "Post type", "Data comment", "Date", "Impressions", "Reach", "Likes",
          "Shares", "Follows", "Comments", "Saves", "Plays", "Profile visits", "Export date"]  # fmt: skip
IG_NEW = ["Post ID", "Account ID", "Account username", "Account name", "Description", "Duration (sec)",
          "Publish time", "Permalink", "Post type", "Data comment", "Date", "Views", "Reach", "Likes",
          "Comments", "Shares", "Saves", "Follows", "Export date", "Custom labels"]  # fmt: skip
IG_ACCOUNT = {"Account ID": "17841400000000001", "Account username": "acme.coffee", "Account name": "Acme Coffee",
              "Date": "Lifetime"}  # fmt: skip


def ig_post(n: int, time: str, kind: str, exported: str, headers: Sequence[str],
            values: Sequence[int | str]) -> dict[str, str]:  # fmt: skip
    return {
        **IG_ACCOUNT,
        "Post ID": f"1790000000000000{n}",
        "Description": f"Latte art #{n}",
        "Publish time": time,
        "Permalink": f"https://www.instagram.com/p/ABC{n}/",
        "Post type": kind,
        "Export date": exported,
        **{h: str(v) for h, v in zip(headers, values)},
    }


def write_instagram_months(folder: Path) -> None:
    old = (
        "Impressions",
        "Reach",
        "Likes",
        "Comments",
        "Shares",
        "Saves",
        "Follows",
        "Plays",
        "Profile visits",
    )
    new = ("Views", "Reach", "Likes", "Comments", "Shares", "Saves", "Follows", "Custom labels")
    jul = [
        ig_post(
            1, "07/03/2026 19:05", "IG reel", "2026-08-01", old, (4000, 3000, 310, 22, 15, 40, 6, 3500, 55)
        ),
        ig_post(2, "07/21/2026 12:00", "IG image", "2026-08-01", old, (900, 800, 75, 4, 1, 9, 0, "", 7)),
    ]
    aug = [
        ig_post(1, "07/03/2026 19:05", "IG reel", "2026-09-01", new, (5200, 3900, 402, 30, 19, 51, 8, "")),
        ig_post(
            3, "08/19/2026 08:30", "IG carousel", "2026-09-01", new, (1500, 1100, 120, 11, 6, 20, 2, "launch")
        ),
    ]
    write_records(folder / "Jul-01-2026_Jul-31-2026_17841400000000001.csv", IG_OLD, jul)
    write_records(folder / "Aug-01-2026_Aug-31-2026_17841400000000001.csv", IG_NEW, aug)


@pytest.fixture
def instagram(tmp_path: Path) -> pl.DataFrame:
    write_instagram_months(tmp_path / "instagram")
    return sk.read_posts(tmp_path / "instagram", snapshot="Export date")  # a folder


def test_meta_instagram_monthly_exports(instagram):
    rep = accounted(instagram)
    assert rep.preset == "meta_instagram_posts"
    assert all(f.encoding == "utf-8-sig" for f in rep.files)
    assert rep.rows_read == 4 and rep.rows_dropped == [("older_snapshot", 1)]
    got = rows_by(instagram)
    assert sorted(got) == ["17900000000000001", "17900000000000002", "17900000000000003"]
    one, two, three = got["17900000000000001"], got["17900000000000002"], got["17900000000000003"]
    assert (one["impressions"], one["reach"], one["likes"], one["comments"], one["shares"], one["saves"],
            one["follows"]) == (5200, 3900, 402, 30, 19, 51, 8)  # fmt: skip
    assert one["video_views"] is None  # the August export has no Plays column
    assert (two["impressions"], two["likes"], two["profile_visits"], two["video_views"]) == (900, 75, 7, None)
    assert three["published_at"] == dt.datetime(2026, 8, 19, 8, 30)
    assert three["content_type"] == "IG carousel"
    assert three["Custom labels"] == "launch" and two["Custom labels"] is None
    assert {r["account_id"] for r in got.values()} == {"17841400000000001"}
    assert {r["platform"] for r in got.values()} == {"instagram"}
    assert rep.header_map["Plays"] == "video_views"
    assert rep.header_map["Account ID"] == "account_id"
    assert "Account username" in instagram.columns  # not the account_id: Account ID comes first


# ---------------------------------------------------------------------------------------
# Facebook page series: UTF-16 with a byte-order mark and a `sep=,` line

FB_PAGE_SERIES = ["Date", "Facebook Page likes", "Facebook reach", "Facebook Page visits", "New likes"]
FB_PAGE_ROWS = [
    ["2026-08-01T00:00:00", "10250", "3400", "120", "15"],
    ["2026-08-02T00:00:00", "10262", "2980", "98", "12"],
    ["2026-08-03T00:00:00", "10270", "3105", "101", "8"],
]


def test_facebook_page_series_in_utf16_with_sep_line(tmp_path):
    path = write_csv(tmp_path / "page.csv", FB_PAGE_SERIES, FB_PAGE_ROWS, encoding="utf-16", preamble=["sep=,"],
                     quoting=csv.QUOTE_ALL)  # fmt: skip
    assert path.read_bytes()[:2] == b"\xff\xfe"
    acc = sk.read_accounts(path, defaults={"account_id": "104512345678901"})
    rep = accounted(acc)
    assert rep.table == "accounts"
    assert rep.preset == "facebook_page"
    assert rep.files[0].encoding == "utf-16"
    assert rep.rows_read == 3 and rep.rows_dropped == [] and rep.cells_nulled == []
    acc = acc.sort("date")
    assert acc.schema["date"] == pl.Date
    assert acc["date"].to_list() == [dt.date(2026, 8, 1), dt.date(2026, 8, 2), dt.date(2026, 8, 3)]
    assert acc["followers"].to_list() == [10250, 10262, 10270]
    assert acc["reach"].to_list() == [3400, 2980, 3105]
    assert acc["profile_visits"].to_list() == [120, 98, 101]
    assert acc["New likes"].to_list() == [15, 12, 8]
    assert set(acc["platform"]) == {"facebook"} and set(acc["account_id"]) == {"104512345678901"}
    named = sk.read_accounts(path, preset="facebook_page", defaults={"account_id": "104512345678901"})
    assert_frame_equal(named.sort("date"), acc)
    out = sk.compute(accounts=acc, kpis=["followers", "followers_start", "follower_growth"])
    assert out.row(0, named=True) == {"followers": 10270, "followers_start": 10250, "follower_growth": 20}


def test_the_same_page_day_read_twice(tmp_path):
    path = write_csv(
        tmp_path / "page.csv", FB_PAGE_SERIES, FB_PAGE_ROWS, encoding="utf-16", preamble=["sep=,"]
    )
    acc = sk.read_accounts([path, path], defaults={"account_id": "104512345678901"})
    rep = accounted(acc)
    assert rep.rows_read == 6 and rep.rows_kept == 3
    assert rep.rows_dropped == [("duplicate", 3)]


# ---------------------------------------------------------------------------------------
# TikTok Studio

TT_CONTENT = ["Video title", "Video link", "Post time", "Total likes", "Total comments", "Total shares",
              "Total views", "Total saves"]  # fmt: skip
TT_LINK = "https://www.tiktok.com/@acme/video/74012345678901234"
TT_ROWS = [
    ["Morning routine ☕", TT_LINK + "56", "Aug 25", "1.2K", "34", "undefined", "15.3K", "56"],
    ["Behind the scenes", TT_LINK + "57", "Aug 27", "980", "undefined", "12", "8,431", "undefined"],
    ["Launch day", TT_LINK + "58", "Sep 2", "2,045", "51", "7", "Processing", "3"],
]


def test_tiktok_content_with_yearless_dates_and_undefined_cells(tmp_path):
    path = write_csv(tmp_path / "Content.csv", TT_CONTENT, TT_ROWS, encoding="utf-8")
    posts = sk.read_posts(path, year=2026, defaults={"account_id": "acme"})
    rep = accounted(posts)
    assert rep.preset == "tiktok_content"
    assert rep.files[0].encoding == "utf-8"
    assert rep.rows_read == 3 and rep.rows_dropped == []
    # `undefined` is a missing value (null, not counted); `Processing` is not a number (counted)
    assert rep.cells_nulled == [("video_views", "unparseable", 1, ["Processing"])]
    assert posts["post_id"].to_list() == [TT_LINK + "56", TT_LINK + "57", TT_LINK + "58"]
    assert posts["published_at"].to_list() == [dt.datetime(2026, 8, 25), dt.datetime(2026, 8, 27),
                                               dt.datetime(2026, 9, 2)]  # fmt: skip
    assert posts["likes"].to_list() == [1200, 980, 2045]
    assert posts["comments"].to_list() == [34, None, 51]
    assert posts["shares"].to_list() == [None, 12, 7]
    assert posts["video_views"].to_list() == [15300, 8431, None]
    assert posts["saves"].to_list() == [56, None, 3]
    assert posts["Video title"].to_list() == ["Morning routine ☕", "Behind the scenes", "Launch day"]
    assert set(posts["platform"]) == {"tiktok"}
    assert set(posts["account_id"]) == {"acme"}  # defaults= adds the column the export lacks
    out = sk.compute(posts, kpis=["posts", "engagements"], by=["platform"])
    # eng = likes + comments + shares + saves, nulls as 0 when a row has any
    assert out.rows() == [("tiktok", 3, (1200 + 34 + 56) + (980 + 12) + (2045 + 51 + 7 + 3))]


def test_tiktok_yearless_dates_need_year(tmp_path):
    path = write_csv(tmp_path / "Content.csv", TT_CONTENT, TT_ROWS, encoding="utf-8")
    with pytest.raises(sk.KpiError) as info:
        sk.read_posts(path, defaults={"account_id": "acme"})
    assert info.value.code == "missing_year"


TT_FOLLOWERS = ["Date", "Followers", "Difference in followers from previous day"]
TT_FOLLOWER_ROWS = [["August 25", "1520", "12"], ["August 26", "1534", "14"], ["August 27", "1531", "-3"]]


def test_tiktok_follower_history(tmp_path):
    path = write_csv(tmp_path / "FollowerHistory.csv", TT_FOLLOWERS, TT_FOLLOWER_ROWS, encoding="utf-8")
    acc = sk.read_accounts(path, preset="tiktok_followers", year=2026, defaults={"account_id": "acme"})
    rep = accounted(acc)
    assert rep.preset == "tiktok_followers"
    assert acc["date"].to_list() == [dt.date(2026, 8, 25), dt.date(2026, 8, 26), dt.date(2026, 8, 27)]
    assert acc["followers"].to_list() == [1520, 1534, 1531]
    assert acc["Difference in followers from previous day"].to_list() == [12, 14, -3]
    assert set(acc["platform"]) == {"tiktok"}


def test_tiktok_follower_history_is_detected(tmp_path):
    # TikTok's FollowerHistory.csv: its third header is TikTok's own, so the file should be recognised
    # without preset= (and its rows get platform tiktok) rather than read as bare canonical columns
    path = write_csv(tmp_path / "FollowerHistory.csv", TT_FOLLOWERS, TT_FOLLOWER_ROWS, encoding="utf-8")
    acc = sk.read_accounts(path, year=2026, defaults={"account_id": "acme"})
    assert accounted(acc).preset == "tiktok_followers"
    assert set(acc["platform"]) == {"tiktok"}


def test_tiktok_studio_xlsx(tmp_path):
    xlsxwriter = pytest.importorskip("xlsxwriter")
    pytest.importorskip("fastexcel")
    path = tmp_path / "Content.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Content")
    sheet.write_row(0, 0, TT_CONTENT)
    sheet.write_row(1, 0, ["Morning routine", TT_LINK + "56", "Aug 25", 1200, 34, "undefined", 15300, 56])
    sheet.write_row(2, 0, ["Behind the scenes", TT_LINK + "57", "Aug 27", 980, 0, 12, 8431.0, "undefined"])
    book.close()
    posts = sk.read_posts(path, year=2026, defaults={"account_id": "acme"})
    rep = accounted(posts)
    assert rep.preset == "tiktok_content" and rep.files[0].encoding == "excel"
    assert rep.cells_nulled == []
    assert posts["likes"].to_list() == [1200, 980]
    assert posts["shares"].to_list() == [None, 12]
    assert posts["video_views"].to_list() == [15300, 8431]
    assert posts["saves"].to_list() == [56, None]
    assert posts["published_at"].to_list() == [dt.datetime(2026, 8, 25), dt.datetime(2026, 8, 27)]


# ---------------------------------------------------------------------------------------
# YouTube Studio: Advanced mode > Table data, with its Total row

YT = ["Content", "Video title", "Video publish time", "Duration", "Views", "Watch time (hours)", "Subscribers",
      "Impressions", "Impressions click-through rate (%)"]  # fmt: skip
YT_ROWS = [
    ["Total", "", "", "", "15234", "812.4567", "57", "120345", "5.12"],
    ["dQw4w9WgXcQ", "Acme launch, part 1", "Aug 25, 2026", "213", "10234", "600.1", "40", "80345", "5.6"],
    ["a1B2c3D4e5F", "How we roast", "Sep 1, 2026", "480", "5000", "212.3567", "17", "40000", "4.2"],
]


def test_youtube_studio_drops_the_total_row(tmp_path):
    path = write_csv(tmp_path / "Table data.csv", YT, YT_ROWS, encoding="utf-8")
    posts = sk.read_posts(path, defaults={"account_id": "UCacme"})
    rep = accounted(posts)
    assert rep.preset == "youtube_studio"
    assert rep.rows_read == 3 and rep.rows_kept == 2
    assert rep.rows_dropped == [("total_row", 1)]
    assert posts["post_id"].to_list() == ["dQw4w9WgXcQ", "a1B2c3D4e5F"]
    assert posts["video_views"].to_list() == [10234, 5000]
    assert posts["follows"].to_list() == [40, 17]
    assert posts["impressions"].to_list() == [80345, 40000]
    assert posts["published_at"].to_list() == [dt.datetime(2026, 8, 25), dt.datetime(2026, 9, 1)]
    assert posts["Watch time (hours)"].to_list() == [600.1, 212.3567]  # another column of numbers
    assert set(posts["platform"]) == {"youtube"}
    out = sk.compute(posts, kpis=["impressions"], by=["platform"])
    assert out.rows() == [("youtube", 80345 + 40000)]  # the Total row is not counted again


# ---------------------------------------------------------------------------------------
# X analytics

X = ["Post id", "Date", "Post text", "Post Link", "Impressions", "Likes", "Engagements", "Bookmarks", "Shares",
     "New follows", "Replies", "Reposts", "Profile visits", "Detail Expands", "URL Clicks", "Hashtag Clicks",
     "Permalink Clicks"]  # fmt: skip
X_ROWS = [
    ["1827364512345678901", "Tue, Aug 25, 2026", "Big news, everyone!", "https://x.com/acme/status/1827364512345678901",
     "12034", "210", "388", "14", "3", "5", "21", "33", "40", "60", "25", "2", "9"],
    ["1829999999999999999", "Wed, Sep 2, 2026", "Thread 🧵", "https://x.com/acme/status/1829999999999999999",
     "1,204", "18", "40", "1", "0", "0", "2", "4", "6", "8", "1", "0", "0"],
]  # fmt: skip


def test_x_analytics(tmp_path):
    path = write_csv(tmp_path / "account_analytics_content.csv", X, X_ROWS, encoding="utf-8")
    posts = sk.read_posts(path, defaults={"account_id": "acme"})
    rep = accounted(posts)
    assert rep.preset == "x_posts"
    got = rows_by(posts)
    a, b = got["1827364512345678901"], got["1829999999999999999"]  # ids stay text, exactly
    assert a["published_at"] == dt.datetime(2026, 8, 25) and b["published_at"] == dt.datetime(2026, 9, 2)
    assert (a["impressions"], a["likes"], a["saves"], a["comments"], a["shares"], a["follows"],
            a["profile_visits"], a["clicks"]) == (12034, 210, 14, 21, 33, 5, 40, 25)  # fmt: skip
    assert b["impressions"] == 1204
    assert rep.header_map["Reposts"] == "shares" and rep.header_map["Replies"] == "comments"
    assert a["Shares"] == 3  # X's own Shares column is not the reposts: kept under its name
    assert set(posts["platform"]) == {"x"}


# ---------------------------------------------------------------------------------------
# LinkedIn page: Shares became Reposts

LI_NEW = ["Post title", "Post link", "Post type", "Campaign name", "Posted by", "Created date",
          "Campaign start date", "Campaign end date", "Audience", "Impressions",
          "Views (excluding off-site video views)", "Off-site views", "Clicks", "Click through rate (CTR)",
          "Likes", "Comments", "Reposts", "Follows", "Engagement rate", "Content Type"]  # fmt: skip
LI_OLD = ["Update title", "Update link", "Update type", "Campaign name", "Posted by", "Created date",
          "Campaign start date", "Campaign end date", "Audience", "Impressions", "Clicks",
          "Click through rate (CTR)", "Likes", "Comments", "Shares", "Follows", "Engagement rate"]  # fmt: skip
LI_URL = "https://www.linkedin.com/feed/update/urn:li:activity:72345678901234567"


def test_linkedin_reposts_and_older_shares(tmp_path):
    new = write_records(tmp_path / "acme_content_2026.csv", LI_NEW, [
        {"Post title": "We are hiring", "Post link": LI_URL + "89", "Post type": "Organic", "Posted by": "Ana",
         "Created date": "08/25/2026", "Audience": "All followers", "Impressions": "2300", "Clicks": "120",
         "Click through rate (CTR)": "0.0522", "Likes": "64", "Comments": "7", "Reposts": "9", "Follows": "3",
         "Engagement rate": "0.0883", "Content Type": "Image"},
    ], encoding="utf-8")  # fmt: skip
    old = write_records(tmp_path / "acme_content_2024.csv", LI_OLD, [
        {"Update title": "Our new office", "Update link": LI_URL + "01", "Update type": "Organic",
         "Posted by": "Ben", "Created date": "03/14/2024", "Audience": "All followers", "Impressions": "1800",
         "Clicks": "75", "Click through rate (CTR)": "0.0417", "Likes": "41", "Comments": "4", "Shares": "6",
         "Follows": "1", "Engagement rate": "0.0700"},
    ], encoding="utf-8")  # fmt: skip
    posts = sk.read_posts([new, old], defaults={"account_id": "acme-linkedin"})
    rep = accounted(posts)
    assert [f.preset for f in rep.files] == ["linkedin_posts", "linkedin_posts"]
    assert file_of(rep, new.name).header_map["Reposts"] == "shares"
    assert file_of(rep, old.name).header_map["Shares"] == "shares"
    assert file_of(rep, old.name).header_map["Update link"] == "post_id"
    got = rows_by(posts)
    a, b = got[LI_URL + "89"], got[LI_URL + "01"]
    assert (a["shares"], a["likes"], a["comments"], a["clicks"], a["impressions"], a["follows"]) == (
        9, 64, 7, 120, 2300, 3,
    )  # fmt: skip
    assert (b["shares"], b["likes"], b["impressions"]) == (6, 41, 1800)
    assert a["published_at"] == dt.datetime(2026, 8, 25) and b["published_at"] == dt.datetime(2024, 3, 14)
    assert a["content_type"] == "Image"
    assert a["Engagement rate"] == 0.0883
    assert set(posts["platform"]) == {"linkedin"}


# ---------------------------------------------------------------------------------------
# Google Analytics 4: Traffic acquisition, with its comment block

GA4_PREAMBLE = [
    "# ----------------------------------------",
    "# Traffic acquisition: Session source / medium",
    "# Account: Acme",
    "# Property: acme.example",
    "# ----------------------------------------",
    "# ",
    "# All Users",
    "# Start date: 20260801",
    "# End date: 20260831",
]
GA4 = ["Session source / medium", "Date", "Users", "Sessions", "Engaged sessions",
       "Average engagement time per session", "Engagement rate", "Event count", "Key events", "Total revenue"]  # fmt: skip
GA4_ROWS = [
    ["google / organic", "20260801", "120", "150", "98", "52.3", "0.6533", "1200", "3", "45.5"],
    ["l.instagram.com / referral", "20260801", "40", "44", "20", "31.2", "0.4545", "300", "1", "0"],
    ["(direct) / (none)", "20260802", "80", "95", "60", "40.0", "0.6315", "700", "2", "19.99"],
    ["l.instagram.com / referral", "20260802", "35", "38", "18", "29.0", "0.4736", "250", "0", "0"],
]


def test_ga4_traffic_acquisition(tmp_path):
    path = write_csv(
        tmp_path / "Traffic_acquisition.csv", GA4, GA4_ROWS, encoding="utf-8", preamble=GA4_PREAMBLE
    )
    traffic = sk.read_traffic(path)
    rep = accounted(traffic)
    assert rep.table == "traffic" and rep.preset == "ga4_traffic"
    assert rep.rows_read == 4 and rep.rows_dropped == [] and rep.cells_nulled == []
    assert traffic.schema["date"] == pl.Date
    assert traffic["date"].to_list() == [dt.date(2026, 8, 1)] * 2 + [dt.date(2026, 8, 2)] * 2
    # "Session source / medium" is split into source and medium
    assert traffic["source"].to_list() == [r[0].split(" / ")[0] for r in GA4_ROWS]
    assert traffic["medium"].to_list() == [r[0].split(" / ")[1] for r in GA4_ROWS]
    assert traffic["sessions"].to_list() == [150, 44, 95, 38]
    assert traffic["users"].to_list() == [120, 40, 80, 35]
    assert traffic["conversions"].to_list() == [3, 1, 2, 0]
    assert traffic["revenue"].to_list() == [45.5, 0.0, 19.99, 0.0]
    assert traffic["Engagement rate"].to_list() == [0.6533, 0.4545, 0.6315, 0.4736]
    out = sk.compute(traffic=traffic, kpis=["website_traffic", "referral_traffic"])
    assert out.row(0, named=True) == {"website_traffic": 150 + 44 + 95 + 38, "referral_traffic": 44 + 38}


# ---------------------------------------------------------------------------------------
# Encodings, humanised numbers, other file types

LATIN1 = ["Post ID", "Page name", "Description", "Publish time", "Reach", "Reactions", "Comments", "Shares"]
LATIN1_ROWS = [
    ["104512345678901_1220011", "Café Müller", "Rückblick: 5 € Rabatt", "08/25/2026 10:30", "1200", "80", "12", "5"],
    ["104512345678901_1220012", "Café Müller", "Crème brûlée", "08/27/2026 16:00", "950", "41", "3", "0"],
]  # fmt: skip


@pytest.mark.parametrize("encoding", [None, "cp1252"])
def test_windows_1252_file(tmp_path, encoding):
    # a Meta export trimmed and saved again by Excel on Windows
    path = write_csv(tmp_path / "facebook_posts.csv", LATIN1, LATIN1_ROWS, encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    posts = sk.read_posts(path, encoding=encoding)
    rep = accounted(posts)
    assert rep.files[0].encoding == "cp1252"
    assert rep.preset == "meta_facebook_posts"
    assert posts["account_id"].to_list() == ["Café Müller", "Café Müller"]
    assert posts["Description"].to_list() == ["Rückblick: 5 € Rabatt", "Crème brûlée"]
    assert posts["reactions"].to_list() == [80, 41]


def test_windows_1252_past_the_first_block(tmp_path):
    # plain ASCII for the first 64 KiB, then one accented name: the file is still Windows-1252
    rows = [[str(i), f"creator{i:05d}", f"{i % 900 + 100}.{i % 10}k"] for i in range(4000)]
    rows.append(["4000", "Beyoncé", "1.2m"])
    path = write_csv(
        tmp_path / "creators.csv", ["rank", "channel_info", "followers"], rows, encoding="cp1252"
    )
    assert path.read_bytes().index("é".encode("cp1252")) > 1 << 16
    acc = sk.read_accounts(path, columns={"channel_info": "account_id"}, defaults={"date": "2026-08-31"})
    rep = accounted(acc)
    assert rep.files[0].encoding == "cp1252"
    assert rep.rows_read == 4001 and rep.cells_nulled == []
    assert acc["account_id"][-1] == "Beyoncé" and acc["followers"][-1] == 1_200_000
    assert acc["followers"][:3].to_list() == [100_000, 101_100, 102_200]


KAGGLE = ["rank", "channel_info", "influence_score", "posts", "followers", "avg_likes", "60_day_eng_rate",
          "new_post_avg_like", "total_likes", "country"]  # fmt: skip
KAGGLE_ROWS = [
    ["1", "cristiano", "92", "3.3k", "475.8m", "8.7m", "1.39%", "6.5m", "29.0b", "Spain"],
    ["2", "kyliejenner", "91", "6.9k", "366.2m", "8.3m", "1.62%", "5.9m", "57.4b", "United States"],
    ["3", "leomessi", "90", "0.89k", "357.3m", "6.8m", "1.24%", "4.4m", "6.0b", ""],
]


def test_kaggle_style_humanised_counts(tmp_path):
    path = write_csv(tmp_path / "top_insta.csv", KAGGLE, KAGGLE_ROWS)
    acc = sk.read_accounts(path, columns={"channel_info": "account_id"},
                           defaults={"date": dt.date(2023, 6, 30), "platform": "Instagram"})  # fmt: skip
    rep = accounted(acc)
    assert rep.preset is None
    assert rep.header_map == {"channel_info": "account_id", "followers": "followers"}
    assert acc.schema["followers"] == pl.Int64
    assert acc["followers"].to_list() == [475_800_000, 366_200_000, 357_300_000]
    assert acc["date"].to_list() == [dt.date(2023, 6, 30)] * 3
    assert acc["platform"].to_list() == ["instagram"] * 3
    # other columns are numbers where every cell reads as one (humanised too), else text
    assert acc["rank"].to_list() == [1, 2, 3]  # no byte-order mark in the header
    assert acc["posts"].to_list() == [3300, 6900, 890]
    assert acc["country"].to_list() == ["Spain", "United States", None]
    assert acc["60_day_eng_rate"].to_list() == [0.0139, 0.0162, 0.0124]
    assert acc["total_likes"].to_list() == [29_000_000_000, 57_400_000_000, 6_000_000_000]


ID_HEADER = [
    "ID Postingan",
    "Akun",
    "Tanggal",
    "Jenis",
    "Tayangan",
    "Suka",
    "Komentar",
    "Dibagikan",
    "Biaya (Rp)",
]
ID_ROWS = [
    ["p1", "tokokopi", "25 Agustus 2026", "Reels", "1,2 jt", "3,4 rb", "120", "45", "1.234,5"],
    ["p2", "tokokopi", "1 September 2026", "Foto", "12 ribu", "850", "1.234", "7", "12,5"],
    ["p3", "tokokopi", "3 Okt 2026", "Video", "950", "1,1 rb", "-", "0", "1.500"],
]
ID_COLUMNS = {"ID Postingan": "post_id", "Akun": "account_id", "Tanggal": "published_at", "Jenis": "content_type",
              "Tayangan": "video_views", "Suka": "likes", "Komentar": "comments", "Dibagikan": "shares",
              "Biaya (Rp)": "spend"}  # fmt: skip


def test_indonesian_export(tmp_path):
    path = write_csv(tmp_path / "ekspor.csv", ID_HEADER, ID_ROWS, sep=";", encoding="utf-8")
    posts = sk.read_posts(path, columns=ID_COLUMNS, defaults={"platform": "instagram"})
    rep = accounted(posts)
    assert rep.cells_nulled == []
    assert posts["published_at"].to_list() == [dt.datetime(2026, 8, 25), dt.datetime(2026, 9, 1),
                                               dt.datetime(2026, 10, 3)]  # fmt: skip
    assert posts["video_views"].to_list() == [1_200_000, 12_000, 950]
    assert posts["likes"].to_list() == [3400, 850, 1100]
    assert posts["comments"].to_list() == [120, 1234, None]  # a point between thousands; `-` is no value
    assert posts["shares"].to_list() == [45, 7, 0]
    assert posts.schema["spend"] == pl.Float64
    assert posts["spend"].to_list() == [1234.5, 12.5, 1500.0]  # decimal commas
    assert posts["content_type"].to_list() == ["Reels", "Foto", "Video"]


def test_parquet_with_typed_columns(tmp_path):
    frame = pl.DataFrame(
        {
            "post_id": ["a", "b"],
            "account_id": ["acme", "acme"],
            "platform": ["Instagram", "IG"],
            "published_at": [dt.datetime(2026, 8, 25, 12, 0), dt.datetime(2026, 1, 10, 9, 30)],
            "likes": [10, None],
            "comments": [1, 2],
            "reach": [100, 200],
            "notes": ["x", "y"],
        }
    ).with_columns(pl.col("published_at").dt.replace_time_zone("Europe/Berlin"))
    frame.write_parquet(tmp_path / "posts.parquet")
    posts = sk.read_posts(tmp_path / "posts.parquet")
    rep = accounted(posts)
    assert rep.preset is None and rep.files[0].encoding == "parquet"
    assert posts.schema["published_at"] == pl.Datetime("us")
    # times with a zone become naive UTC
    assert posts["published_at"].to_list() == [
        dt.datetime(2026, 8, 25, 10, 0),
        dt.datetime(2026, 1, 10, 8, 30),
    ]
    assert posts["platform"].to_list() == ["instagram", "instagram"]
    assert posts["likes"].to_list() == [10, None]
    assert posts["notes"].to_list() == ["x", "y"]


def test_json_lines_from_the_instagram_graph_api(tmp_path):
    media = [
        {"id": "17900000000000101", "username": "acme.coffee", "timestamp": "2026-08-25T10:00:00+0000",
         "media_product_type": "REELS", "like_count": 120, "comments_count": 8,
         "permalink": "https://www.instagram.com/reel/abc/"},
        {"id": "17900000000000102", "username": "acme.coffee", "timestamp": "2026-08-27T18:30:00+0000",
         "media_product_type": "FEED", "like_count": 45, "comments_count": 0,
         "permalink": "https://www.instagram.com/p/def/"},
    ]  # fmt: skip
    path = tmp_path / "media.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in media), encoding="utf-8")
    posts = sk.read_posts(path)
    rep = accounted(posts)
    assert rep.preset == "instagram_graph_posts"
    assert posts["post_id"].to_list() == ["17900000000000101", "17900000000000102"]
    assert posts["account_id"].to_list() == ["acme.coffee", "acme.coffee"]
    assert posts["published_at"].to_list() == [
        dt.datetime(2026, 8, 25, 10, 0),
        dt.datetime(2026, 8, 27, 18, 30),
    ]
    assert posts["likes"].to_list() == [120, 45]
    assert posts["comments"].to_list() == [8, 0]
    assert posts["content_type"].to_list() == ["REELS", "FEED"]
    assert posts["permalink"].to_list() == [m["permalink"] for m in media]
    assert set(posts["platform"]) == {"instagram"}


# ---------------------------------------------------------------------------------------
# Detection, defaults, accounting


def test_ambiguous_headers_name_the_presets(tmp_path):
    # a Meta post export trimmed to columns both the Facebook and the Instagram exports have
    path = write_csv(tmp_path / "posts.csv", ["Post ID", "Publish time", "Reach", "Comments"],
                     [["1", "08/25/2026 10:00", "100", "4"]])  # fmt: skip
    with pytest.raises(sk.SchemaError) as info:
        sk.read_posts(path)
    assert info.value.code == "ambiguous_preset"
    posts = sk.read_posts(path, preset="meta_instagram_posts", defaults={"account_id": "acme"})
    assert accounted(posts).preset == "meta_instagram_posts"
    assert posts.row(0, named=True)["platform"] == "instagram"


def test_defaults_add_columns_and_fill_nulls(tmp_path):
    path = write_csv(tmp_path / "posts.csv", ["post_id", "account_id", "published_at", "likes", "extra"], [
        ["a", "zen", "2026-08-25 10:00", "5", "x"],
        ["b", "", "2026-08-26 11:00", "7", "y"],
        ["", "zen", "2026-08-27 12:00", "9", "z"],  # no post id: dropped and counted
    ], encoding="utf-8")  # fmt: skip
    posts = sk.read_posts(path, defaults={"platform": "TikTok", "account_id": "acme", "spend": "0"})
    rep = accounted(posts)
    assert rep.preset is None
    assert rep.rows_read == 3 and rep.rows_dropped == [("missing_key", 1)]
    assert posts["post_id"].to_list() == ["a", "b"]
    assert posts["account_id"].to_list() == ["zen", "acme"]  # the blank cell is filled
    assert posts["platform"].to_list() == ["tiktok", "tiktok"]
    assert posts["spend"].to_list() == [0.0, 0.0]
    assert posts["extra"].to_list() == ["x", "y"]
    assert sk.read_report(posts.head(1)) is None  # a derived frame has no report


def test_engagements_by_platform_over_read_frames(facebook, instagram):
    cols = [
        "post_id",
        "account_id",
        "platform",
        "published_at",
        "likes",
        "reactions",
        "comments",
        "shares",
        "saves",
    ]
    both = pl.concat([f.select([c for c in cols if c in f.columns]) for f in (facebook, instagram)],
                     how="diagonal_relaxed")  # fmt: skip
    out = sk.compute(both, kpis=["posts", "engagements"], by=["platform"])
    # Facebook reports reactions where Instagram reports likes; Facebook has no saves
    fb = (95 + 14 + 6) + (290 + 31 + 44) + (30 + 2 + 1) + (60 + 9 + 3)
    ig = (402 + 30 + 19 + 51) + (75 + 4 + 1 + 9) + (120 + 11 + 6 + 20)
    assert out.rows() == [("facebook", 4, fb), ("instagram", 3, ig)]


def test_compute_details_reports_the_read(facebook):
    res = sk.compute_details(facebook, kpis=["engagements"], by=["platform"])
    assert res.reads["posts"] is sk.read_report(facebook)
    assert res.rows_dropped[0] == ("posts", "read: older_snapshot", 2)
    assert res.frame.rows() == [("facebook", (95 + 14 + 6) + (290 + 31 + 44) + (30 + 2 + 1) + (60 + 9 + 3))]


def test_reader_presets_table():
    presets = sk.reader_presets()
    assert presets.columns == ["preset", "table", "platform", "describes", "canonical", "headers"]
    shares = presets.filter(preset="linkedin_posts", canonical="shares")["headers"].to_list()
    assert shares == [["Reposts", "Shares"]]
    names = set(presets["preset"])
    for name in ["meta_facebook_posts", "meta_instagram_posts", "facebook_page", "tiktok_content",
                 "tiktok_followers", "youtube_studio", "x_posts", "linkedin_posts", "ga4_traffic"]:  # fmt: skip
        assert name in names
    assert set(presets.filter(preset="ga4_traffic")["table"]) == {"traffic"}


def two_small_files(tmp_path: Path) -> list[Path]:
    header = ["post_id", "account_id", "published_at", "likes"]
    return [
        write_csv(tmp_path / "a.csv", header, [["a", "acme", "2026-08-25", "1"]], encoding="utf-8"),
        write_csv(tmp_path / "b.csv", header, [["b", "acme", "2026-08-26", "2"]], encoding="utf-8"),
    ]


def test_no_progress_bar_off_a_terminal(tmp_path, capsys):
    posts = sk.read_posts(two_small_files(tmp_path))
    assert posts.height == 2
    assert capsys.readouterr().err == ""


def test_progress_bar_over_files(tmp_path, capsys):
    posts = sk.read_posts(two_small_files(tmp_path), progress=True)
    assert accounted(posts).rows_read == 2
    assert "reading posts" in capsys.readouterr().err
    sk.read_posts(two_small_files(tmp_path), progress=False)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------------------
# Bad input: typed errors with stable codes


def code_of(call) -> str:
    with pytest.raises(sk.KpiError) as info:
        call()
    return info.value.code


def test_binary_junk_is_not_a_table(tmp_path):
    path = tmp_path / "export.csv"  # a workbook saved under a .csv name
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256)) * 4)
    with pytest.raises(sk.InputError) as info:
        sk.read_posts(path)
    assert info.value.code == "not_a_table"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert code_of(lambda: sk.read_posts(empty)) == "not_a_table"


def test_headers_that_match_nothing(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["foo", "bar"], [["1", "2"]])
    with pytest.raises(sk.SchemaError) as info:
        sk.read_posts(path)
    assert info.value.code == "unknown_header"


def test_mapping_to_an_unknown_canonical(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["x", "post_id"], [["1", "a"]])
    with pytest.raises(sk.SchemaError) as info:
        sk.read_posts(path, columns={"x": "like"})
    assert info.value.code == "unknown_canonical"
    assert code_of(lambda: sk.read_accounts(path, defaults={"follower": 5})) == "unknown_canonical"


def test_a_date_column_that_never_parses(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["post_id", "published_at", "likes"],
                     [["a", "yesterday", "1"], ["b", "soon", "2"]])  # fmt: skip
    with pytest.raises(sk.SchemaError) as info:
        sk.read_posts(path)
    assert info.value.code == "unparseable_dates"


def test_unknown_presets(tmp_path):
    path = write_csv(tmp_path / "Content.csv", TT_CONTENT, TT_ROWS)
    assert code_of(lambda: sk.read_posts(path, preset="tiktok_studio", year=2026)) == "unknown_preset"
    assert code_of(lambda: sk.read_posts(path, preset="ga4_traffic", year=2026)) == "unknown_preset"


def test_files_that_do_not_exist(tmp_path):
    (tmp_path / "empty").mkdir()
    assert code_of(lambda: sk.read_posts(tmp_path / "nope.csv")) == "file_not_found"
    assert code_of(lambda: sk.read_posts(str(tmp_path / "*.xlsx"))) == "file_not_found"
    assert code_of(lambda: sk.read_posts(tmp_path / "empty")) == "file_not_found"
    with pytest.raises(sk.InputError):
        sk.read_posts([])


def test_headers_named_in_arguments_must_exist(tmp_path):
    path = write_csv(tmp_path / "Content.csv", TT_CONTENT, TT_ROWS)
    assert code_of(lambda: sk.read_posts(path, year=2026, snapshot="Export date")) == "missing_column"
    assert (
        code_of(lambda: sk.read_posts(path, year=2026, columns={"Total plays": "video_views"}))
        == "missing_column"
    )
    assert code_of(lambda: sk.read_posts(path, year=2026, encoding="klingon")) == "unknown_encoding"
