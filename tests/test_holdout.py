"""Acceptance: the unedited exports in tests/data read cleanly through the public readers.

Expected values come from a plain-Python reading of the raw cells (the csv module and Decimal),
never from the engine.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import polars as pl
import pytest
import socialkpi as sk
from conftest import accounted, data_path
from polars.testing import assert_frame_equal

SCALE = {"": 0, "k": 3, "m": 6, "b": 9}


def is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def humanised(cell: str) -> int:
    """'475.8m' -> 475800000, '0.89k' -> 890, '29.0b' -> 29000000000."""
    m = re.fullmatch(r"([0-9.]+)([kmb]?)", cell.strip())
    assert m, cell
    value = Decimal(m[1]).scaleb(SCALE[m[2]])
    assert value == value.to_integral_value(), cell
    return int(value)


def raw_rows(name: str, encoding: str) -> list[dict[str, str]]:
    text = data_path(name).read_bytes().decode(encoding)
    return list(csv.DictReader(io.StringIO(text, newline="")))


def by_line(raw: bytes) -> str:
    """Each line as UTF-8 where it is valid, else as Windows-1252."""
    out = []
    for line in raw.splitlines(keepends=True):
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(line.decode("cp1252"))
    return "".join(out)


def mixed_rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(by_line(data_path(name).read_bytes()), newline="")))


# ---------------------------------------------------------------------------------------
# top_insta_influencers_data.csv: UTF-8 with a byte-order mark, 3.3k / 475.8m / 29.0b / 1.39%

INSTA = "top_insta_influencers_data.csv"


@pytest.fixture(scope="module")
def insta() -> pl.DataFrame:
    return sk.read_accounts(
        data_path(INSTA),
        columns={"channel_info": "account_id", "followers": "followers"},
        defaults={"date": dt.date(2022, 12, 31), "platform": "instagram"},
    )


def test_insta_reads_cleanly(insta):
    rep = accounted(insta)
    raw = raw_rows(INSTA, "utf-8-sig")
    assert rep.files[0].encoding == "utf-8-sig"
    assert rep.rows_read == len(raw) == 200
    assert rep.rows_dropped == [] and rep.cells_nulled == []
    assert rep.header_map == {"channel_info": "account_id", "followers": "followers"}
    assert insta.schema["followers"] == pl.Int64
    assert insta["account_id"].to_list() == [r["channel_info"] for r in raw]
    assert insta["followers"].to_list() == [humanised(r["followers"]) for r in raw]
    assert insta.row(0, named=True)["followers"] == 475_800_000  # cristiano, '475.8m'
    assert set(insta["date"]) == {dt.date(2022, 12, 31)} and set(insta["platform"]) == {"instagram"}
    # the other columns: numbers where every cell is one (humanised too), else text as written
    assert insta["rank"].to_list() == [int(r["rank"]) for r in raw]
    assert insta["total_likes"].to_list() == [humanised(r["total_likes"]) for r in raw]
    assert insta["country"].to_list() == [r["country"] or None for r in raw]


def test_insta_humanised_columns_parse(insta):
    raw = raw_rows(INSTA, "utf-8-sig")
    assert sk.parse_numbers(insta["posts"], counts=True).to_list() == [humanised(r["posts"]) for r in raw]
    assert sk.parse_numbers(insta["total_likes"], counts=True).to_list() == [
        humanised(r["total_likes"]) for r in raw
    ]
    rates = sk.parse_numbers(insta["60_day_eng_rate"]).to_list()
    cells = [r["60_day_eng_rate"] for r in raw]
    assert "NaN%" in cells  # a missing value
    assert rates == [None if c == "NaN%" else float(Decimal(c.rstrip("%")) / 100) for c in cells]
    assert rates[0] == 0.0139


def test_insta_followers_kpi(insta):
    raw = raw_rows(INSTA, "utf-8-sig")
    out = sk.compute(accounts=insta, kpis=["followers"], by=["platform"])
    assert out.rows() == [("instagram", sum(humanised(r["followers"]) for r in raw))]


# ---------------------------------------------------------------------------------------
# global_youtube_statistics_2023.csv: not UTF-8 (Windows-1252 bytes), 'nan' cells, 2.28E+11

YOUTUBE = "global_youtube_statistics_2023.csv"
YT_COLUMNS = {
    "Youtuber": "account_id",
    "subscribers": "followers",
    "video_views": "impressions",
    "video_views_for_the_last_30_days": "reach",
}


@pytest.fixture(scope="module")
def youtube() -> pl.DataFrame:
    return sk.read_accounts(
        data_path(YOUTUBE),
        columns=YT_COLUMNS,
        defaults={"date": "2023-07-31", "platform": "YouTube"},
    )


def test_youtube_statistics_read_cleanly(youtube):
    rep = accounted(youtube)
    with pytest.raises(UnicodeDecodeError):
        data_path(YOUTUBE).read_bytes().decode("utf-8")
    # most lines are Windows-1252, 40 are UTF-8 (holding U+FFFD where a name was lost before)
    lines = data_path(YOUTUBE).read_bytes().splitlines()
    utf8 = [n for n, line in enumerate(lines, 1) if not line.isascii() and is_utf8(line)]
    windows = [n for n, line in enumerate(lines, 1) if not is_utf8(line)]
    assert len(utf8) == 40 and len(windows) == 69
    raw = mixed_rows(YOUTUBE)
    assert rep.files[0].encoding == "utf-8+cp1252"
    (note,) = rep.warnings
    assert f"{len(windows)} line(s) are not UTF-8" in note and f"line {windows[0]}, {windows[1]}," in note
    assert rep.rows_read == len(raw) == 995
    assert rep.rows_dropped == []
    assert rep.cells_nulled == []  # 'nan' is a missing value, not a bad cell
    assert youtube["account_id"].to_list() == [r["Youtuber"].strip() for r in raw]
    assert youtube["followers"].to_list() == [int(r["subscribers"]) for r in raw]
    assert youtube["impressions"].to_list() == [int(Decimal(r["video_views"])) for r in raw]
    assert youtube.row(0, named=True)["impressions"] == 228_000_000_000  # T-Series, '2.28E+11'
    thirty = [r["video_views_for_the_last_30_days"] for r in raw]
    assert youtube["reach"].to_list() == [None if v == "nan" else int(Decimal(v)) for v in thirty]
    assert youtube["reach"].null_count() == thirty.count("nan") > 0
    assert set(youtube["date"]) == {dt.date(2023, 7, 31)} and set(youtube["platform"]) == {"youtube"}
    # another column of numbers, with 'nan' for missing ones
    assert youtube["country_rank"].to_list() == [
        None if r["country_rank"] == "nan" else int(r["country_rank"]) for r in raw
    ]


def test_youtube_followers_kpi(youtube):
    raw = mixed_rows(YOUTUBE)
    out = sk.compute(accounts=youtube, kpis=["followers"])
    assert out.item() == sum(int(r["subscribers"]) for r in raw)


# ---------------------------------------------------------------------------------------
# USvideos_2017v1.csv: one row per video per trending day ('13.09', day.month, 2017)

VIDEOS = "USvideos_2017v1.csv"
VIDEO_COLUMNS = {
    "video_id": "post_id",
    "channel_title": "account_id",
    "views": "video_views",
    "comment_total": "comments",
}
# `likes` is already a canonical name; it is named here too so that the tests below check the
# accounting even while test_videos_need_no_map_for_canonical_headers fails
VIDEO_COLUMNS_EXPLICIT = {**VIDEO_COLUMNS, "likes": "likes"}


def trending_day(cell: str) -> dt.date | None:
    m = re.fullmatch(r"(\d{1,2})\.(\d{1,2})", cell)
    if not m:
        return None
    try:
        return dt.date(2017, int(m[2]), int(m[1]))
    except ValueError:
        return None


def count(cell: str) -> int | None:
    return int(cell) if cell else None


@pytest.fixture(scope="module")
def video_oracle() -> dict[str, dict[str, str]]:
    """video_id -> the raw row of its latest trending day (the last such row on a tie; a day that
    does not read counts as earliest)."""
    latest: dict[str, tuple[tuple[bool, dt.date, int], dict[str, str]]] = {}
    for i, r in enumerate(raw_rows(VIDEOS, "utf-8")):
        if not r["video_id"].strip():
            continue
        day = trending_day(r["date"])
        key = (day is not None, day or dt.date.min, i)
        if r["video_id"] not in latest or key > latest[r["video_id"]][0]:
            latest[r["video_id"]] = (key, r)
    return {vid: r for vid, (_, r) in latest.items()}


@pytest.fixture(scope="module")
def videos() -> pl.DataFrame:
    return sk.read_posts(
        data_path(VIDEOS),
        columns=VIDEO_COLUMNS_EXPLICIT,
        defaults={"platform": "youtube"},
        snapshot="date",
        year=2017,
    )


def test_videos_keep_one_row_per_video(videos, video_oracle):
    rep = accounted(videos)
    raw = raw_rows(VIDEOS, "utf-8")
    blank_ids = sum(1 for r in raw if not r["video_id"].strip())
    distinct = len({r["video_id"] for r in raw if r["video_id"].strip()})
    assert rep.rows_read == len(raw) == 7998
    assert dict(rep.rows_dropped) == {
        "missing_key": blank_ids,
        "older_snapshot": len(raw) - blank_ids - distinct,
    }
    assert rep.rows_kept == distinct == len(video_oracle)
    assert videos["post_id"].n_unique() == videos.height
    # trending days that do not read as day.month are nulled and counted, with samples
    bad_days = [r["date"] for r in raw if trending_day(r["date"]) is None]
    assert bad_days  # '100', '24.09xcaeyJTx4Co', ...
    ((column, reason, cells, samples),) = rep.cells_nulled
    assert (column, reason, cells) == ("date", "unparseable", len(bad_days))
    assert samples and set(samples) <= set(bad_days)


def test_videos_keep_the_latest_trending_day(videos, video_oracle):
    got = {r["post_id"]: r for r in videos.iter_rows(named=True)}
    assert set(got) == set(video_oracle)
    for vid, r in video_oracle.items():
        row = got[vid]
        day = trending_day(r["date"])
        assert row["date"] == (dt.datetime.combine(day, dt.time()) if day else None), vid
        assert row["video_views"] == count(r["views"]), vid
        assert row["likes"] == count(r["likes"]), vid
        assert row["comments"] == count(r["comment_total"]), vid
        assert row["account_id"] == r["channel_title"], vid
        assert row["dislikes"] == count(r["dislikes"]), vid  # not a canonical column: a number
    assert set(videos["platform"]) == {"youtube"}


def test_videos_report_snapshots_that_went_down(videos, video_oracle):
    # Excel wrote the October trending days '01.10' as '1.1': read as day.month they fall in
    # January, before September, so a few videos keep an earlier snapshot with fewer views.
    # The reader cannot know; it keeps the latest snapshot as written and says so.
    warnings = sk.read_report(videos).warnings
    assert any("smaller lifetime count" in w for w in warnings)
    # and the file has no publish time: the read says what that costs
    assert any("maps no published_at" in w for w in warnings)


def test_videos_engagements(videos, video_oracle):
    likes = sum(count(r["likes"]) or 0 for r in video_oracle.values())
    comments = sum(count(r["comment_total"]) or 0 for r in video_oracle.values())
    res = sk.compute_details(videos, kpis=["posts", "likes", "engagements"], by=["platform"])
    assert res.frame.rows() == [("youtube", len(video_oracle), likes, likes + comments)]
    rep = sk.read_report(videos)
    assert res.reads["posts"] is rep
    read_drops = [(t, r, n) for t, r, n in res.rows_dropped if r.startswith("read: ")]
    assert read_drops == [("posts", f"read: {r}", n) for r, n in rep.rows_dropped]


def test_videos_need_no_map_for_canonical_headers(videos):
    # the natural call: map the headers that are not canonical names, leave `likes` alone. The
    # leftover headers `date` and `likes` are not an X or LinkedIn export (a tie between those
    # presets is no reason to refuse the file, and either would read the trending day as
    # published_at and clash with snapshot='date').
    natural = sk.read_posts(
        data_path(VIDEOS),
        columns=VIDEO_COLUMNS,
        defaults={"platform": "youtube"},
        snapshot="date",
        year=2017,
    )
    assert sk.read_report(natural).preset is None
    assert_frame_equal(natural, videos)
