//! The schema of partial states as types: which table a block of states comes from
//! ([`Source`]), each state column a block holds ([`StateColumn`]), its name in frames and
//! files (docs/states.md lists them), and how it combines when states merge or roll up
//! ([`Combine`]). Everything that makes, merges, rolls up or finalises states names its
//! columns through these types; this module reads nothing else of the crate.

use std::fmt;

/// A post-level quantity that is summed: a column, or the engagement sum `eng`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Column(String),
    Eng,
}

impl Metric {
    pub fn col(name: &str) -> Self {
        Self::Column(name.to_string())
    }
    /// Name used inside state column names.
    pub fn key(&self) -> &str {
        match self {
            Self::Column(c) => c,
            Self::Eng => "eng",
        }
    }
    fn parse(key: &str) -> Option<Self> {
        match key {
            "" => None,
            "eng" => Some(Self::Eng),
            c => Some(Self::col(c)),
        }
    }
}

/// The table a block of states was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Posts,
    /// The accounts' flows (profile visits, mentions, leads summed over snapshots).
    Accounts,
    /// The accounts' follower snapshots, per account.
    Snapshots,
    Contracts,
    Traffic,
    Conversions,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Self::Posts,
        Self::Accounts,
        Self::Snapshots,
        Self::Contracts,
        Self::Traffic,
        Self::Conversions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Posts => "posts",
            Self::Accounts => "accounts",
            Self::Snapshots => "snapshots",
            Self::Contracts => "contracts",
            Self::Traffic => "traffic",
            Self::Conversions => "conversions",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The table whose rows the block counts (rows read and dropped are reported by table).
    pub fn table(self) -> &'static str {
        match self {
            Self::Snapshots => "accounts",
            other => other.name(),
        }
    }
}

/// How a state column combines when states merge or roll up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Counts, sums and pro-rated amounts: added.
    Sum,
    /// An account's first snapshot of a period (and its day): the one of the earliest day.
    First,
    FirstDay,
    /// An account's last snapshot of a period (and its day): the one of the latest day.
    Last,
    LastDay,
}

/// One state column of a block.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StateColumn {
    /// The rows a table counted in the group and period (posts, account-days, contracts,
    /// traffic rows, conversion events): what coverage (rule 7) and flows read.
    Rows(Source),
    /// Σ of a posts metric, and the posts that reported it (a sum of nulls is null).
    Sum(Metric),
    Reported(Metric),
    /// Σ a and Σ b over the posts that reported both (rule 1).
    RatioNumerator(Metric, Metric),
    RatioDenominator(Metric, Metric),
    /// Σ metric and Σ followers-at-post over the posts with both.
    AtFollowersNumerator(Metric),
    AtFollowersDenominator(Metric),
    /// Σ over posts of eng / reach (reach > 0), and how many posts have one.
    PerPostEngagementRate,
    PerPostEngagementRateCount,
    /// Posts tied to a contract (inside its window, by its account, campaign, content type).
    Delivered,
    /// Posts left out of followers-at-post KPIs: without a follower snapshot on or before
    /// their day, or with one older than `max_staleness` days.
    WithoutFollowers,
    WithStaleFollowers,
    /// A state of a value a formula computes per post (`f:__k0:s`, `f:likes@__k1:s`,
    /// `f:__k0/reach:rn`, ...), named by the formula compiler: a sum.
    Formula(String),
    /// Σ of an accounts' daily flow (profile visits, mentions, leads), and the account-days
    /// that reported it.
    AccountSum(String),
    AccountReported(String),
    /// Contract fees and posts agreed, pro-rated by the days of each contract in the period.
    Fee,
    Agreed,
    /// Σ of a traffic column (sessions; conversions, revenue or leads when traffic counts
    /// them), and the rows that reported it.
    TrafficSum(String),
    TrafficReported(String),
    /// Traffic rows from social sources, their sessions, and the rows that reported sessions.
    SocialRows,
    Referral,
    ReferralReported,
    /// Conversion events of kind 'sale' and 'lead', the value of sales, and the sales that
    /// reported a value.
    Sales,
    Leads,
    SaleValue,
    SaleValueReported,
    /// An account's first and last follower snapshot in the period, with their days.
    FirstFollowers,
    FirstFollowersDay,
    LastFollowers,
    LastFollowersDay,
}

/// Names of the snapshot states (also read as plain columns while snapshots are made).
pub const FIRST_FOLLOWERS: &str = "followers_first";
pub const FIRST_FOLLOWERS_DAY: &str = "followers_first_day";
pub const LAST_FOLLOWERS: &str = "followers_last";
pub const LAST_FOLLOWERS_DAY: &str = "followers_last_day";
/// Names of the posts' counts of posts without followers-at-post (also read as columns while
/// the posts pass runs).
pub const WITHOUT_FOLLOWERS: &str = "__no_followers_at_post";
pub const WITH_STALE_FOLLOWERS: &str = "__stale_followers_at_post";

impl StateColumn {
    /// The block that holds the column.
    pub fn source(&self) -> Source {
        match self {
            Self::Rows(source) => *source,
            Self::Sum(_)
            | Self::Reported(_)
            | Self::RatioNumerator(..)
            | Self::RatioDenominator(..)
            | Self::AtFollowersNumerator(_)
            | Self::AtFollowersDenominator(_)
            | Self::PerPostEngagementRate
            | Self::PerPostEngagementRateCount
            | Self::Delivered
            | Self::WithoutFollowers
            | Self::WithStaleFollowers
            | Self::Formula(_) => Source::Posts,
            Self::AccountSum(_) | Self::AccountReported(_) => Source::Accounts,
            Self::Fee | Self::Agreed => Source::Contracts,
            Self::TrafficSum(_)
            | Self::TrafficReported(_)
            | Self::SocialRows
            | Self::Referral
            | Self::ReferralReported => Source::Traffic,
            Self::Sales | Self::Leads | Self::SaleValue | Self::SaleValueReported => Source::Conversions,
            Self::FirstFollowers | Self::FirstFollowersDay | Self::LastFollowers | Self::LastFollowersDay => {
                Source::Snapshots
            }
        }
    }

    /// Whether the column counts rows (posts, account-days, events, those that reported a
    /// value): an integer whatever the table's columns are.
    pub fn counts(&self) -> bool {
        matches!(
            self,
            Self::Rows(_)
                | Self::Reported(_)
                | Self::PerPostEngagementRateCount
                | Self::Delivered
                | Self::WithoutFollowers
                | Self::WithStaleFollowers
                | Self::AccountReported(_)
                | Self::TrafficReported(_)
                | Self::SocialRows
                | Self::ReferralReported
                | Self::Sales
                | Self::Leads
                | Self::SaleValueReported
        )
    }

    /// Whether the column is a day (of a first or last snapshot).
    pub fn is_day(&self) -> bool {
        matches!(self, Self::FirstFollowersDay | Self::LastFollowersDay)
    }

    /// How the column combines when states merge or roll up.
    pub fn combine(&self) -> Combine {
        match self {
            Self::FirstFollowers => Combine::First,
            Self::FirstFollowersDay => Combine::FirstDay,
            Self::LastFollowers => Combine::Last,
            Self::LastFollowersDay => Combine::LastDay,
            _ => Combine::Sum,
        }
    }

    /// The column's name in frames and files.
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// The state column a name stands for, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        let simple = [
            Self::Rows(Source::Posts),
            Self::Rows(Source::Accounts),
            Self::Rows(Source::Contracts),
            Self::Rows(Source::Traffic),
            Self::Rows(Source::Conversions),
            Self::PerPostEngagementRate,
            Self::PerPostEngagementRateCount,
            Self::Delivered,
            Self::WithoutFollowers,
            Self::WithStaleFollowers,
            Self::Fee,
            Self::Agreed,
            Self::SocialRows,
            Self::Referral,
            Self::ReferralReported,
            Self::Sales,
            Self::Leads,
            Self::SaleValue,
            Self::SaleValueReported,
            Self::FirstFollowers,
            Self::FirstFollowersDay,
            Self::LastFollowers,
            Self::LastFollowersDay,
        ];
        if let Some(s) = simple.into_iter().find(|s| s.to_string() == name) {
            return Some(s);
        }
        if let Some(formula) = name.strip_prefix("f:").filter(|f| !f.is_empty()) {
            return Some(Self::Formula(formula.to_string()));
        }
        let pair = |rest: &str| -> Option<(Metric, Metric)> {
            let (a, b) = rest.split_once('/')?;
            Some((Metric::parse(a)?, Metric::parse(b)?))
        };
        let (prefix, rest) = name.split_once(':')?;
        match prefix {
            "s" => Metric::parse(rest).map(Self::Sum),
            "n" => Metric::parse(rest).map(Self::Reported),
            "rn" => pair(rest).map(|(a, b)| Self::RatioNumerator(a, b)),
            "rd" => pair(rest).map(|(a, b)| Self::RatioDenominator(a, b)),
            "fn" => Metric::parse(rest).map(Self::AtFollowersNumerator),
            "fd" => Metric::parse(rest).map(Self::AtFollowersDenominator),
            "as" if !rest.is_empty() => Some(Self::AccountSum(rest.to_string())),
            "an" if !rest.is_empty() => Some(Self::AccountReported(rest.to_string())),
            "t" => match rest.strip_suffix("_n") {
                Some(c) if !c.is_empty() => Some(Self::TrafficReported(c.to_string())),
                _ if !rest.is_empty() => Some(Self::TrafficSum(rest.to_string())),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for StateColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rows(Source::Posts) => f.write_str("rows"),
            Self::Rows(Source::Accounts | Source::Snapshots) => f.write_str("a:rows"),
            Self::Rows(Source::Contracts) => f.write_str("c:rows"),
            Self::Rows(Source::Traffic) => f.write_str("t:rows"),
            Self::Rows(Source::Conversions) => f.write_str("e:rows"),
            Self::Sum(m) => write!(f, "s:{}", m.key()),
            Self::Reported(m) => write!(f, "n:{}", m.key()),
            Self::RatioNumerator(a, b) => write!(f, "rn:{}/{}", a.key(), b.key()),
            Self::RatioDenominator(a, b) => write!(f, "rd:{}/{}", a.key(), b.key()),
            Self::AtFollowersNumerator(m) => write!(f, "fn:{}", m.key()),
            Self::AtFollowersDenominator(m) => write!(f, "fd:{}", m.key()),
            Self::PerPostEngagementRate => f.write_str("per_post_er:sum"),
            Self::PerPostEngagementRateCount => f.write_str("per_post_er:n"),
            Self::Delivered => f.write_str("p:delivered"),
            Self::WithoutFollowers => f.write_str(WITHOUT_FOLLOWERS),
            Self::WithStaleFollowers => f.write_str(WITH_STALE_FOLLOWERS),
            Self::Formula(name) => write!(f, "f:{name}"),
            Self::AccountSum(c) => write!(f, "as:{c}"),
            Self::AccountReported(c) => write!(f, "an:{c}"),
            Self::Fee => f.write_str("c:fee"),
            Self::Agreed => f.write_str("c:agreed"),
            Self::TrafficSum(c) => write!(f, "t:{c}"),
            Self::TrafficReported(c) => write!(f, "t:{c}_n"),
            Self::SocialRows => f.write_str("t:social_rows"),
            Self::Referral => f.write_str("t:referral"),
            Self::ReferralReported => f.write_str("t:referral_n"),
            Self::Sales => f.write_str("e:sales"),
            Self::Leads => f.write_str("e:leads"),
            Self::SaleValue => f.write_str("e:value"),
            Self::SaleValueReported => f.write_str("e:value_n"),
            Self::FirstFollowers => f.write_str(FIRST_FOLLOWERS),
            Self::FirstFollowersDay => f.write_str(FIRST_FOLLOWERS_DAY),
            Self::LastFollowers => f.write_str(LAST_FOLLOWERS),
            Self::LastFollowersDay => f.write_str(LAST_FOLLOWERS_DAY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_column_reads_back_from_its_name() {
        let m = || Metric::col("reach");
        let columns = [
            StateColumn::Rows(Source::Posts),
            StateColumn::Rows(Source::Traffic),
            StateColumn::Sum(Metric::Eng),
            StateColumn::Reported(m()),
            StateColumn::RatioNumerator(Metric::Eng, m()),
            StateColumn::RatioDenominator(Metric::Eng, m()),
            StateColumn::AtFollowersNumerator(Metric::col("shares")),
            StateColumn::AtFollowersDenominator(Metric::Eng),
            StateColumn::PerPostEngagementRate,
            StateColumn::PerPostEngagementRateCount,
            StateColumn::Delivered,
            StateColumn::WithoutFollowers,
            StateColumn::WithStaleFollowers,
            StateColumn::Formula("__k0/__k1:rn".into()),
            StateColumn::Formula("likes@__k0:s".into()),
            StateColumn::AccountSum("mentions".into()),
            StateColumn::AccountReported("leads".into()),
            StateColumn::Fee,
            StateColumn::Agreed,
            StateColumn::TrafficSum("sessions".into()),
            StateColumn::TrafficReported("revenue".into()),
            StateColumn::SocialRows,
            StateColumn::Referral,
            StateColumn::ReferralReported,
            StateColumn::Sales,
            StateColumn::Leads,
            StateColumn::SaleValue,
            StateColumn::SaleValueReported,
            StateColumn::FirstFollowers,
            StateColumn::LastFollowersDay,
        ];
        for c in columns {
            assert_eq!(StateColumn::parse(&c.name()), Some(c.clone()), "{c}");
        }
    }

    #[test]
    fn snapshots_combine_by_day_and_the_rest_add_up() {
        assert_eq!(StateColumn::LastFollowers.combine(), Combine::Last);
        assert_eq!(StateColumn::FirstFollowersDay.combine(), Combine::FirstDay);
        assert_eq!(StateColumn::Fee.combine(), Combine::Sum);
        assert_eq!(StateColumn::LastFollowers.source(), Source::Snapshots);
        assert_eq!(
            StateColumn::TrafficReported("sessions".into()).source(),
            Source::Traffic
        );
    }

    #[test]
    fn names_that_are_no_state_are_refused() {
        for name in [
            "account_id",
            "period_start",
            "s:",
            "rn:eng",
            "x:rows",
            "as:",
            "t:",
            "__k0",
        ] {
            assert_eq!(StateColumn::parse(name), None, "{name}");
        }
    }
}
