//! The canonical columns of each table a reader makes, and the header maps of platform exports
//! (presets) that name them. Headers are compared without case and with runs of spaces as one.
//!
//! Each preset lists, per canonical column, the headers that exports have used for it, in order
//! of preference: the first one a file has is read, so `Reposts` and the older `Shares` of
//! LinkedIn both land in `shares`.

use super::values::DayOrder;

/// The tables a reader makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Posts,
    Accounts,
    Traffic,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Posts => "posts",
            Kind::Accounts => "accounts",
            Kind::Traffic => "traffic",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "posts" => Some(Kind::Posts),
            "accounts" => Some(Kind::Accounts),
            "traffic" => Some(Kind::Traffic),
            _ => None,
        }
    }

    /// The canonical columns of the table and how their values are read.
    pub fn columns(self) -> &'static [(&'static str, Value)] {
        use Value::*;
        match self {
            Kind::Posts => &[
                ("post_id", Key),
                ("account_id", Key),
                ("platform", Platform),
                ("published_at", Timestamp),
                ("impressions", Count),
                ("reach", Count),
                ("likes", Count),
                ("reactions", Count),
                ("comments", Count),
                ("shares", Count),
                ("saves", Count),
                ("clicks", Count),
                ("video_views", Count),
                ("profile_visits", Count),
                ("follows", Count),
                ("spend", Money),
                ("conversions", Count),
                ("revenue", Money),
                ("content_type", Text),
                ("campaign", Text),
                ("sponsored", Flag),
                ("currency", Text),
            ],
            Kind::Accounts => &[
                ("account_id", Key),
                ("platform", Platform),
                ("date", Date),
                ("followers", Count),
                ("profile_visits", Count),
                ("reach", Count),
                ("impressions", Count),
                ("mentions", Count),
                ("leads", Count),
                ("website_clicks", Count),
            ],
            Kind::Traffic => &[
                ("date", Date),
                ("source", Text),
                ("medium", Text),
                ("campaign", Text),
                ("sessions", Count),
                ("users", Count),
                ("leads", Count),
                ("conversions", Count),
                ("revenue", Money),
            ],
        }
    }

    /// Columns a row cannot do without: a row whose value is missing is dropped and counted.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Posts => &["post_id"],
            Kind::Accounts => &["account_id", "date"],
            Kind::Traffic => &["date"],
        }
    }

    /// Columns a table needs to mean what it says; a file that maps none of them is no such
    /// table (a file whose only canonical header is `likes` is not posts), one that maps some
    /// is read with a warning naming the rest.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Kind::Posts => &["post_id", "published_at", "account_id"],
            // (a snapshot is an account's on a day)
            Kind::Accounts => &["account_id", "date"],
            Kind::Traffic => &[],
        }
    }

    /// Columns that identify one row's subject: repeats keep the latest snapshot.
    pub fn identity(self) -> &'static [&'static str] {
        match self {
            Kind::Posts => &["post_id", "platform"],
            Kind::Accounts => &["account_id", "platform", "date"],
            Kind::Traffic => &[],
        }
    }
}

/// How a canonical column's cells are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// An identifier: text, trimmed.
    Key,
    /// A platform name, matched through the source table (`Twitter` -> `x`).
    Platform,
    /// A dimension: text, trimmed.
    Text,
    /// A count: humanised numbers, integers where every value is whole.
    Count,
    /// An amount of money or another decimal number.
    Money,
    /// A datetime (naive UTC; offsets written in the text are applied).
    Timestamp,
    /// A calendar day.
    Date,
    /// Yes or no (`0/1`, `true/false`, `yes/no`, `Y/N`): Boolean.
    Flag,
}

/// What a post's repeated rows in an export are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Each row holds the post's lifetime totals as of its export: the latest one counts.
    Lifetime,
    /// One row per post and day of metrics, under this header: the days add up.
    Daily(&'static str),
}

/// A named header map of one platform's export.
pub struct Preset {
    pub name: &'static str,
    pub kind: Kind,
    /// What the export is, in words (for `sk.reader_presets()` and error messages).
    pub describes: &'static str,
    /// The platform of every row, unless the file or `defaults` say otherwise.
    pub platform: Option<&'static str>,
    /// How numeric dates of this export read when no cell tells (`04/05/2026`).
    pub day_order: DayOrder,
    /// Whether a post repeated in the export is a later snapshot or another day's metrics.
    pub rows: Rows,
    /// Headers that mark the export without being read (they count when detecting it).
    pub marks: &'static [&'static str],
    /// (canonical column, headers used for it, most preferred first).
    pub columns: &'static [(&'static str, &'static [&'static str])],
}

use DayOrder::{DayFirst, MonthFirst};

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "meta_facebook_posts",
        kind: Kind::Posts,
        describes: "Meta Business Suite, Facebook posts (Insights > Content > Export)",
        platform: Some("facebook"),
        day_order: MonthFirst,
        rows: Rows::Lifetime,
        marks: &[
            "Is crosspost",
            "Is share",
            "Reactions, Comments and Shares",
            "Page name",
        ],
        columns: &[
            ("post_id", &["Post ID"]),
            ("account_id", &["Page ID", "Page name"]),
            ("published_at", &["Publish time"]),
            ("content_type", &["Post type"]),
            ("impressions", &["Impressions", "Views"]),
            ("reach", &["Reach"]),
            ("reactions", &["Reactions"]),
            ("comments", &["Comments"]),
            ("shares", &["Shares"]),
            ("clicks", &["Total clicks", "Link clicks"]),
            ("video_views", &["3-second video views", "3-Second Video Views"]),
        ],
    },
    Preset {
        name: "meta_instagram_posts",
        kind: Kind::Posts,
        describes: "Meta Business Suite, Instagram posts (Insights > Content > Export)",
        platform: Some("instagram"),
        day_order: MonthFirst,
        rows: Rows::Lifetime,
        marks: &["Account username", "Account name"],
        columns: &[
            ("post_id", &["Post ID"]),
            ("account_id", &["Account ID", "Account username"]),
            ("published_at", &["Publish time"]),
            ("content_type", &["Post type"]),
            ("impressions", &["Impressions", "Views"]),
            ("reach", &["Reach"]),
            ("likes", &["Likes"]),
            ("comments", &["Comments"]),
            ("shares", &["Shares"]),
            ("saves", &["Saves"]),
            ("follows", &["Follows"]),
            ("profile_visits", &["Profile visits"]),
            ("video_views", &["Plays"]),
        ],
    },
    Preset {
        name: "facebook_insights_posts",
        kind: Kind::Posts,
        describes: "legacy Facebook Insights post export (\"Lifetime Post Total Reach\", ...)",
        platform: Some("facebook"),
        day_order: MonthFirst,
        rows: Rows::Lifetime,
        marks: &[
            "Lifetime Engaged Users",
            "Lifetime Post Consumers",
            "Post Message",
            "Permalink",
        ],
        columns: &[
            ("post_id", &["Post ID"]),
            ("published_at", &["Posted"]),
            ("content_type", &["Type"]),
            ("sponsored", &["Paid"]),
            ("reach", &["Lifetime Post Total Reach"]),
            ("impressions", &["Lifetime Post Total Impressions"]),
            ("clicks", &["Lifetime Post Consumptions"]),
            (
                "likes",
                &["Lifetime Talking About This (Post) by action type - like", "like"],
            ),
            (
                "comments",
                &["Lifetime Talking About This (Post) by action type - comment", "comment"],
            ),
            (
                "shares",
                &["Lifetime Talking About This (Post) by action type - share", "share"],
            ),
            ("video_views", &["Lifetime Post Total Video Views"]),
        ],
    },
    Preset {
        name: "facebook_page",
        kind: Kind::Accounts,
        describes: "Facebook page series (legacy Insights page export, Meta Business Suite results)",
        platform: Some("facebook"),
        day_order: MonthFirst,
        rows: Rows::Lifetime,
        marks: &["Daily New Likes", "Daily Unlikes", "Daily Page Engaged Users"],
        columns: &[
            ("date", &["Date"]),
            (
                "followers",
                &[
                    "Lifetime Total Likes",
                    "Facebook Page likes",
                    "Page likes",
                    "Facebook followers",
                ],
            ),
            ("reach", &["Daily Total Reach", "Facebook reach", "Reach"]),
            ("impressions", &["Daily Total Impressions"]),
            (
                "profile_visits",
                &["Daily Page Views", "Facebook Page visits", "Page visits"],
            ),
        ],
    },
    Preset {
        name: "instagram_graph_posts",
        kind: Kind::Posts,
        describes: "Instagram Graph API media fields and insights",
        platform: Some("instagram"),
        day_order: DayFirst,
        rows: Rows::Lifetime,
        marks: &["permalink", "media_url", "caption"],
        columns: &[
            ("post_id", &["id", "media_id"]),
            ("account_id", &["owner_id", "username", "ig_user_id"]),
            ("published_at", &["timestamp"]),
            ("content_type", &["media_product_type", "media_type"]),
            ("likes", &["like_count"]),
            ("comments", &["comments_count"]),
            ("saves", &["saved"]),
            ("shares", &["shares"]),
            ("reach", &["reach"]),
            ("impressions", &["impressions", "views"]),
            ("video_views", &["plays", "video_views"]),
            ("profile_visits", &["profile_visits"]),
            ("follows", &["follows"]),
        ],
    },
    Preset {
        name: "instagram_graph_accounts",
        kind: Kind::Accounts,
        describes: "Instagram Graph API user insights (daily)",
        platform: Some("instagram"),
        day_order: DayFirst,
        rows: Rows::Lifetime,
        marks: &["online_followers", "accounts_engaged"],
        columns: &[
            ("account_id", &["ig_user_id", "username", "id"]),
            ("date", &["end_time", "date"]),
            ("followers", &["followers_count", "follower_count"]),
            ("reach", &["reach"]),
            ("impressions", &["impressions"]),
            ("profile_visits", &["profile_views"]),
            ("website_clicks", &["website_clicks"]),
        ],
    },
    Preset {
        name: "tiktok_content",
        kind: Kind::Posts,
        describes: "TikTok Studio, Content export (one row per video)",
        platform: Some("tiktok"),
        day_order: DayFirst,
        rows: Rows::Lifetime,
        marks: &["Video title"],
        columns: &[
            ("post_id", &["Video link", "Video ID"]),
            ("published_at", &["Post time", "Posted on"]),
            ("video_views", &["Total views", "Video views"]),
            ("likes", &["Total likes"]),
            ("comments", &["Total comments"]),
            ("shares", &["Total shares"]),
            ("saves", &["Total saves", "Add to Favorites"]),
        ],
    },
    Preset {
        name: "tiktok_overview",
        kind: Kind::Accounts,
        describes: "TikTok Studio, Overview export (one row per day)",
        platform: Some("tiktok"),
        day_order: DayFirst,
        rows: Rows::Lifetime,
        marks: &["Video Views"],
        columns: &[("date", &["Date"]), ("profile_visits", &["Profile Views"])],
    },
    Preset {
        name: "tiktok_followers",
        kind: Kind::Accounts,
        describes: "TikTok Studio, FollowerHistory export (one row per day)",
        platform: Some("tiktok"),
        day_order: DayFirst,
        rows: Rows::Lifetime,
        marks: &["Difference in followers from previous day"],
        columns: &[("date", &["Date"]), ("followers", &["Followers"])],
    },
    Preset {
        name: "youtube_studio",
        kind: Kind::Posts,
        describes: "YouTube Studio, Advanced mode > Content export (Table data, with a Total row)",
        platform: Some("youtube"),
        day_order: MonthFirst,
        rows: Rows::Lifetime,
        marks: &["Video title", "Duration", "Watch time (hours)"],
        columns: &[
            ("post_id", &["Content", "Video"]),
            ("published_at", &["Video publish time", "Publish time"]),
            ("video_views", &["Views"]),
            ("impressions", &["Impressions"]),
            ("likes", &["Likes"]),
            ("comments", &["Comments added", "Comments"]),
            ("shares", &["Shares"]),
            ("follows", &["Subscribers gained", "Subscribers"]),
        ],
    },
    Preset {
        name: "x_posts",
        kind: Kind::Posts,
        describes: "X (Twitter) analytics, post (tweet) activity export (one row per post, or per post and day: the days add up)",
        platform: Some("x"),
        day_order: MonthFirst,
        rows: Rows::Daily("Date"),
        marks: &["Tweet permalink", "Tweet text", "Post text", "Post Link", "Engagements"],
        columns: &[
            ("post_id", &["Post id", "Tweet id"]),
            ("published_at", &["Date", "time"]),
            ("impressions", &["Impressions"]),
            ("likes", &["Likes"]),
            ("comments", &["Replies"]),
            ("shares", &["Reposts", "Retweets"]),
            ("saves", &["Bookmarks"]),
            ("clicks", &["URL Clicks", "url clicks"]),
            ("follows", &["New follows", "follows"]),
            ("profile_visits", &["Profile visits", "user profile clicks"]),
            ("video_views", &["media views"]),
        ],
    },
    Preset {
        name: "linkedin_posts",
        kind: Kind::Posts,
        describes: "LinkedIn page, content export (All posts)",
        platform: Some("linkedin"),
        day_order: MonthFirst,
        rows: Rows::Lifetime,
        marks: &["Post title", "Posted by", "Click through rate (CTR)", "Engagement rate"],
        columns: &[
            ("post_id", &["Post link", "Update link"]),
            ("published_at", &["Created date", "Date"]),
            ("content_type", &["Content Type"]),
            ("sponsored", &["Post type"]),
            ("campaign", &["Campaign name"]),
            ("impressions", &["Impressions"]),
            ("clicks", &["Clicks"]),
            ("likes", &["Likes", "Reactions"]),
            ("comments", &["Comments"]),
            ("shares", &["Reposts", "Shares"]),
            ("follows", &["Follows"]),
        ],
    },
    Preset {
        name: "ga4_traffic",
        kind: Kind::Traffic,
        describes: "Google Analytics 4, Traffic acquisition report export",
        platform: None,
        day_order: MonthFirst,
        rows: Rows::Lifetime,
        marks: &[
            "Engaged sessions",
            "Engagement rate",
            "Average engagement time per session",
        ],
        columns: &[
            ("date", &["Date"]),
            (
                "source",
                &[
                    "Session source / medium",
                    "Session source",
                    "First user source",
                    "Source",
                ],
            ),
            ("medium", &["Session medium", "Medium"]),
            ("campaign", &["Session campaign", "Campaign"]),
            ("sessions", &["Sessions"]),
            ("users", &["Total users", "Users", "Active users"]),
            ("conversions", &["Key events", "Conversions"]),
            ("revenue", &["Total revenue"]),
        ],
    },
];

/// A header as compared: lower case, trimmed, runs of whitespace as one space.
pub fn fold(header: &str) -> String {
    header
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '"')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

impl Preset {
    /// (canonical, index of the header read) for each canonical column the headers carry.
    pub fn matches(&self, folded: &[String]) -> Vec<(&'static str, usize)> {
        let mut out = Vec::new();
        for (canonical, names) in self.columns {
            let hit = names.iter().find_map(|n| folded.iter().position(|h| *h == fold(n)));
            if let Some(i) = hit {
                out.push((*canonical, i));
            }
        }
        out
    }
}

impl Preset {
    /// Whether a file carries a header only this kind of export would: a mark, or a header of
    /// several words that is no canonical name (`Publish time`, `like_count`). Headers such as
    /// `date` or `likes` alone say nothing about where a file came from.
    pub fn distinctive(&self, folded: &[String]) -> bool {
        let canonical = |h: &str| {
            [Kind::Posts, Kind::Accounts, Kind::Traffic]
                .iter()
                .any(|k| k.columns().iter().any(|(n, _)| *n == h))
        };
        self.marks.iter().any(|m| folded.contains(&fold(m)))
            || self.columns.iter().flat_map(|(_, names)| names.iter()).any(|n| {
                let f = fold(n);
                (f.contains(' ') || f.contains('_')) && !canonical(&f) && folded.contains(&f)
            })
    }

    /// How many of a file's headers say it is this export: columns read plus marks.
    pub fn score(&self, folded: &[String]) -> usize {
        let marks = self.marks.iter().filter(|m| folded.contains(&fold(m))).count();
        self.matches(folded).len() + marks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_maps_onto_its_tables_columns() {
        for p in PRESETS {
            let names: Vec<&str> = p.kind.columns().iter().map(|(n, _)| *n).collect();
            for (canonical, headers) in p.columns {
                assert!(names.contains(canonical), "{}: {canonical}", p.name);
                assert!(!headers.is_empty());
            }
        }
    }

    #[test]
    fn headers_fold() {
        assert_eq!(fold("\u{feff}\"Post  ID\" "), "post id");
        let p = find("linkedin_posts").map(|p| p.matches(&[fold("Reposts"), fold("Impressions")]));
        assert_eq!(p, Some(vec![("impressions", 1), ("shares", 0)]));
    }
}
