//! Request -> plan: which KPIs, which measures (with their additivity class), which columns
//! of which table, at which grain. Built-in KPIs are planned from column names (`exec` checks
//! their types); formulas are checked against the column types too (`custom`).
//!
//! `build` goes in steps (`build`): the KPIs chosen and compiled from their formulas
//! (`kpis`), the tables they read, the dimensions placed, then each table's plan (`posts`,
//! `tables`). The plan is data: `exec` reads it, and nothing here runs a table.

mod build;
pub mod calendar;
mod custom;
pub mod kind;
mod kpis;
mod origins;
mod posts;
mod tables;
mod usable;

pub use crate::catalog::Definition;
use build::{build_here, Given};
pub use calendar::{Calendar, Month, Weekday};
pub use custom::{check_names, check_syntax, CustomKpi, CustomPosts, CustomState, Linear, StateKind, TextTest, Value};
pub use origins::{measure, Origin, Origins};
pub use posts::status_plan;
pub use socialkpi_formula::Type as ColumnType;

use crate::catalog::Kpi;
use crate::error::{did_you_mean, suggest, Error, Result};
use crate::error::{QueryCode, SchemaCode};
use crate::schema::StateColumn;
use polars::prelude::TimeZone;

/// The reporting period of `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Period {
    pub const NAMES: [&'static str; 5] = ["1d", "1w", "1mo", "1q", "1y"];

    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "1d" => Ok(Self::Day),
            "1w" => Ok(Self::Week),
            "1mo" => Ok(Self::Month),
            "1q" => Ok(Self::Quarter),
            "1y" => Ok(Self::Year),
            other => Err(Error::query(
                QueryCode::UnknownGrain,
                format!(
                    "every={other:?} is not a reporting period; use None (one period), \"1d\", \"1w\" (weeks from week_start, Monday by default), \"1mo\", \"1q\" or \"1y\"{}",
                    did_you_mean(&suggest(other, Self::NAMES))
                ),
            )),
        }
    }
}

/// What to do with repeated `post_id`s (and repeated account snapshots of one day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedupe {
    /// Repeats are an error.
    Error,
    /// Keep the last row of each post (or account-day), count the others as dropped.
    Last,
}

/// What the caller asked for, before it is checked.
#[derive(Debug, Clone)]
pub struct Request {
    pub kpis: Vec<String>,
    pub by: Vec<String>,
    pub every: Option<String>,
    pub tz: String,
    pub dedupe: Dedupe,
    /// The user's additions to the source table: (source or host, platform).
    pub sources: Vec<(String, String)>,
    /// KPIs defined by formulas (the user's, a definition file's, a vendor preset's); a name
    /// here takes the place of the built-in KPI of that name.
    pub custom: Vec<Definition>,
    /// Engagement components per platform (`default`: the others); empty: the built-in set.
    pub engagement: Components,
    /// Column types of posts and accounts (formulas are checked against them).
    pub posts_types: Vec<(String, ColumnType)>,
    pub accounts_types: Vec<(String, ColumnType)>,
    /// Followers-at-post reads a snapshot at most this many days old (None: any age).
    pub max_staleness: Option<u32>,
    /// When weeks, quarters and years start.
    pub calendar: Calendar,
}

/// The default of `max_staleness`: a week (README, "KPI definitions").
pub const MAX_STALENESS_DAYS: u32 = 7;

impl Request {
    pub fn new(kpis: Vec<String>, by: Vec<String>, every: Option<String>, tz: String, dedupe: Dedupe) -> Self {
        Self {
            kpis,
            by,
            every,
            tz,
            dedupe,
            sources: Vec::new(),
            custom: Vec::new(),
            engagement: Vec::new(),
            posts_types: Vec::new(),
            accounts_types: Vec::new(),
            max_staleness: Some(MAX_STALENESS_DAYS),
            calendar: Calendar::default(),
        }
    }
}

/// Engagement components per platform: (platform or `default`, components).
pub type Components = Vec<(String, Vec<String>)>;

/// A column of the result: a built-in KPI, or one defined by a formula; both finalised from
/// their formula's value.
#[derive(Debug, Clone)]
pub enum OutputKpi {
    Builtin(&'static Kpi, Value),
    Custom(CustomKpi),
}

impl OutputKpi {
    pub fn name(&self) -> &str {
        match self {
            Self::Builtin(k, _) => k.name,
            Self::Custom(c) => &c.definition.name,
        }
    }

    /// How the column is finalised from the merged states.
    pub fn value(&self) -> &Value {
        match self {
            Self::Builtin(_, v) => v,
            Self::Custom(c) => &c.value,
        }
    }
}

pub use crate::schema::Metric;

// The names of the posts' states over plain columns (docs/states.md lists them): every KPI
// over the same columns reads the same states.

/// Σ of a metric.
pub fn sum_name(m: &Metric) -> String {
    StateColumn::Sum(m.clone()).name()
}
/// The posts where a metric is present.
pub fn nonnull_name(m: &Metric) -> String {
    StateColumn::Reported(m.clone()).name()
}
/// Σ a and Σ b over the posts where both are present.
pub fn ratio_names(a: &Metric, b: &Metric) -> (String, String) {
    (
        StateColumn::RatioNumerator(a.clone(), b.clone()).name(),
        StateColumn::RatioDenominator(a.clone(), b.clone()).name(),
    )
}
/// Σ of a metric and Σ followers-at-post over the posts with both.
pub fn followers_at_post_names(m: &Metric) -> (String, String) {
    (
        StateColumn::AtFollowersNumerator(m.clone()).name(),
        StateColumn::AtFollowersDenominator(m.clone()).name(),
    )
}

/// The additive partial states the posts table must produce.
#[derive(Debug, Clone, Default)]
pub struct PostsPlan {
    /// Columns to read from the posts table.
    pub columns: Vec<String>,
    /// `by` dimensions that the posts table carries.
    pub dims: Vec<String>,
    /// `by` dimensions taken from the account's snapshot (account attributes such as `tier`).
    pub attribute_dims: Vec<String>,
    /// Σ metric with its non-null count (flow KPIs, all-null -> null).
    pub sums: Vec<Metric>,
    /// Σ a / Σ b over rows where both are present.
    pub ratios: Vec<(Metric, Metric)>,
    /// Mean over posts of eng / reach (reach > 0).
    pub per_post_engagement_rate: bool,
    /// Σ metric / Σ followers-at-post.
    pub at_followers: Vec<Metric>,
    /// The engagement components present, in order (`likes|reactions`: likes, else reactions).
    pub components: Vec<String>,
    /// Components of named platforms, where they differ from `components`.
    pub platform_components: Components,
    /// States and computed columns of KPIs defined by formulas.
    pub custom: CustomPosts,
    /// Needs `published_at` (periods or followers-at-post).
    pub needs_time: bool,
    /// Reads the account key (followers-at-post or account attributes meet the snapshots).
    pub needs_account: bool,
    /// Count columns read (non-negative numbers).
    pub count_columns: Vec<String>,
    /// The post id column, when the table has one (duplicates are checked).
    pub post_id: Option<String>,
    /// Numeric columns that may be negative (revenue: refunds).
    pub signed_columns: Vec<String>,
    /// Posts delivered inside a contract window are counted (`delivery_rate`).
    pub delivered: bool,
    /// Columns a post shares with the contract it delivers on (account_id, and campaign and
    /// content_type when both tables carry them).
    pub contract_match: Vec<String>,
    /// What else ties a post to its contract (see `Attribution`).
    pub attribution: Attribution,
    /// The table has a `currency` column next to money columns: it must hold one currency.
    pub currency: bool,
}

/// What ties a post to a contract besides the account (and platform) and the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Attribution {
    /// Both tables carry `campaign`: a post delivers on its own campaign's contracts.
    Campaign,
    /// No shared campaign, but posts carry a `sponsored` flag: only sponsored posts deliver.
    Sponsored,
    /// Neither: every post of the account inside the window counts (the result warns).
    #[default]
    Account,
}

impl Attribution {
    /// From the columns matched on both sides and the posts' columns.
    pub fn of(matched: &[String], pcols: &[String]) -> Self {
        if matched.iter().any(|c| c == "campaign") {
            Self::Campaign
        } else if has(pcols, "sponsored") {
            Self::Sponsored
        } else {
            Self::Account
        }
    }

    /// In the analyst's words (the `attribution` column of `contract_status`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Campaign => "campaign",
            Self::Sponsored => "sponsored",
            Self::Account => "account",
        }
    }
}

/// The warning of a delivery count that every post of the account entered.
pub const ACCOUNT_WIDE_DELIVERY: &str = "delivery_rate counted every post of the contracted account inside the contract window as delivered: neither a campaign column in both posts and contracts nor a sponsored column in posts ties a post to its contract; add one of them to count deliverables only";

/// What the contracts table must produce.
#[derive(Debug, Clone, Default)]
pub struct ContractsPlan {
    pub columns: Vec<String>,
    /// `by` dimensions (all must be contract columns).
    pub dims: Vec<String>,
    /// Fees pro-rated into cost.
    pub fee: bool,
    /// Posts agreed, pro-rated.
    pub agreed: bool,
    /// The table has `account_id`, read for its coverage (`compute_details(...).coverage`)
    /// even where the KPIs do not read it.
    pub coverage_account: bool,
    /// Columns matched against posts for delivery (see `PostsPlan::contract_match`).
    pub matched: Vec<String>,
    /// The table has a `currency` column: it must hold one currency.
    pub currency: bool,
}

/// What the accounts table must produce.
#[derive(Debug, Clone, Default)]
pub struct AccountsPlan {
    pub columns: Vec<String>,
    /// `by` dimensions for account KPIs (all must be in the accounts table).
    pub dims: Vec<String>,
    pub followers: bool,
    pub profile_visits: bool,
    pub mentions: bool,
    pub leads: bool,
    /// Snapshots are needed for followers-at-post.
    pub snapshots_for_posts: bool,
    /// Account attributes joined onto posts.
    pub attributes: Vec<String>,
    /// The account table's rows define result rows (an account KPI was asked for).
    pub defines_rows: bool,
}

/// What the traffic table must produce.
#[derive(Debug, Clone, Default)]
pub struct TrafficPlan {
    pub columns: Vec<String>,
    /// `by` dimensions (traffic columns, or `platform` matched from `source`).
    pub dims: Vec<String>,
    /// `platform` is derived from `source` through the source table.
    pub platform_from_source: bool,
    /// Sessions from social sources are needed (referral KPIs).
    pub referral: bool,
    /// Sessions are needed (traffic KPIs).
    pub sessions: bool,
    /// Attributed measures counted from traffic (conversions, revenue, leads).
    pub measures: Vec<String>,
}

/// What the conversions table (one row per event) must produce.
#[derive(Debug, Clone, Default)]
pub struct EventsPlan {
    pub columns: Vec<String>,
    pub dims: Vec<String>,
    /// `platform` is derived from `source` through the source table.
    pub platform_from_source: bool,
    /// The sale events' `value` is summed (revenue).
    pub value: bool,
}

/// A checked request: everything `exec` needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The built-in KPIs whose states are computed (asked for, or read by a formula).
    pub kpis: Vec<&'static Kpi>,
    /// The result's KPI columns, in the order asked.
    pub outputs: Vec<OutputKpi>,
    pub by: Vec<String>,
    pub every: Option<Period>,
    /// Report time zone; `None` means UTC.
    pub tz: Option<String>,
    pub dedupe: Dedupe,
    pub account_key: Vec<String>,
    pub posts: Option<PostsPlan>,
    pub accounts: Option<AccountsPlan>,
    pub contracts: Option<ContractsPlan>,
    pub traffic: Option<TrafficPlan>,
    pub events: Option<EventsPlan>,
    /// Where conversions, revenue and leads come from.
    pub origins: Origins,
    /// The user's additions to the source table.
    pub sources: Vec<(String, String)>,
    /// Preset members left out because their inputs were not given.
    pub warnings: Vec<String>,
    /// Followers-at-post reads a snapshot at most this many days old (None: any age).
    pub max_staleness: Option<u32>,
    /// When weeks, quarters and years start.
    pub calendar: Calendar,
}

impl ContractsPlan {
    /// The columns that cross into the core: those the KPIs read, and `account_id` for the
    /// table's coverage.
    pub fn crossing_columns(&self) -> Vec<String> {
        let mut out = self.columns.clone();
        if self.coverage_account {
            push_unique(&mut out, "account_id".to_string());
        }
        out
    }
}

pub const PERIOD: &str = "period_start";
/// Name of the constant key used when a report has no dimension and no period.
pub const ALL: &str = "__all";

/// Group keys of the result: the `by` dimensions and the period.
pub fn output_keys(plan: &Plan) -> Vec<String> {
    let mut keys = plan.by.clone();
    if plan.every.is_some() {
        keys.push(PERIOD.to_string());
    }
    if keys.is_empty() {
        keys.push(ALL.to_string());
    }
    keys
}

/// The posts' computed column of each post's engagements (its components added up), which
/// formulas read as `eng`.
pub const ENG: &str = "__eng";
const ENG_COMPONENTS: [&str; 4] = ["comments", "shares", "saves", "reactions"];

fn missing_table(kpi: &str, table: &str) -> Error {
    let how = match table {
        "accounts" => "accounts=... (daily snapshots with account_id, date, followers)",
        "traffic" => "traffic=... (web analytics rows with date, source and sessions)",
        "conversions" => "conversions=... (one row per event with timestamp, kind 'lead' or 'sale', value and account_id / campaign / source)",
        "contracts" => {
            "contracts=... (one row per influencer agreement with account_id, campaign, start, end, posts_agreed, fee)"
        }
        _ => "posts=... (one row per post with account_id, published_at and its metrics)",
    };
    Error::query(
        QueryCode::MissingTable,
        format!("KPI '{kpi}' needs the {table} table; pass {how}"),
    )
}

fn missing_column(kpi: &str, column: &str, table: &str, have: &[String]) -> Error {
    Error::schema(
        SchemaCode::MissingColumn,
        format!(
            "column '{column}' is missing from {table} (needed by KPI '{kpi}'){}; rename the column or map it before calling compute",
            did_you_mean(&suggest(column, have.iter().map(String::as_str)))
        ),
    )
}

fn has(cols: &[String], name: &str) -> bool {
    cols.iter().any(|c| c == name)
}

/// Appends `x` unless `v` holds it already.
pub(crate) fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// The report time zone: `None` for UTC, else a checked IANA name.
pub fn report_zone(tz: &str) -> Result<Option<String>> {
    match tz {
        "UTC" | "utc" | "Etc/UTC" => Ok(None),
        // (polars reads an empty name as no time zone)
        other if other.trim().is_empty() => Err(Error::query(
            QueryCode::UnknownTimeZone,
            format!("tz={other:?} is empty; use a name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\""),
        )),
        other => {
            TimeZone::opt_try_new(Some(other)).map_err(|_| {
                Error::query(QueryCode::UnknownTimeZone, format!("tz={other:?} is not a known IANA time zone; use a name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\""))
            })?;
            Ok(Some(other.to_string()))
        }
    }
}

/// The stack of the thread that plans: checking and compiling formulas recurses over them,
/// within bounds their limits set (128 levels with the KPIs they name written out, each
/// level a few KiB of checker frames, and a parse of up to 64 nested levels on top), where
/// the caller's thread may have as little as 512 KiB (a polars worker, a Python thread).
const PLANNING_STACK: usize = 16 << 20;

/// Checks a request against the tables' column names and builds the plan, on a thread of a
/// known stack ([`PLANNING_STACK`]).
pub fn build(
    req: &Request,
    posts_cols: Option<&[String]>,
    accounts_cols: Option<&[String]>,
    contracts_cols: Option<&[String]>,
    traffic_cols: Option<&[String]>,
    events_cols: Option<&[String]>,
) -> Result<Plan> {
    let given = Given {
        posts: posts_cols,
        accounts: accounts_cols,
        contracts: contracts_cols,
        traffic: traffic_cols,
        events: events_cols,
    };
    let plan = || build_here(req, given);
    std::thread::scope(|scope| {
        let planner = std::thread::Builder::new()
            .name("socialkpi-plan".into())
            .stack_size(PLANNING_STACK)
            .spawn_scoped(scope, plan);
        match planner {
            Ok(planner) => planner
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("planning the request panicked".into()))),
            // no thread to be had (a process at its limit): plan on the caller's
            Err(_) => plan(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn req(kpis: &[&str], by: &[&str]) -> Request {
        Request::new(names(kpis), names(by), Some("1mo".into()), "UTC".into(), Dedupe::Error)
    }

    #[test]
    fn reads_only_needed_columns() {
        let posts = names(&[
            "post_id",
            "account_id",
            "published_at",
            "likes",
            "comments",
            "reach",
            "impressions",
            "saves",
        ]);
        let plan = build(
            &req(&["engagement_rate"], &["account_id"]),
            Some(&posts),
            None,
            None,
            None,
            None,
        )
        .expect("plan");
        let pp = plan.posts.expect("posts plan");
        assert!(!pp.columns.contains(&"impressions".to_string()));
        assert_eq!(pp.components, names(&["likes", "comments", "saves"]));
        assert!(plan.accounts.is_none());
    }

    #[test]
    fn errors_have_codes() {
        let posts = names(&["account_id", "published_at", "likes", "content_type"]);
        let code = |r: Result<Plan>| r.err().map(|e| e.code()).unwrap_or("ok");
        assert_eq!(
            code(build(&req(&["likez"], &[]), Some(&posts), None, None, None, None)),
            "unknown_kpi"
        );
        assert_eq!(
            code(build(
                &req(&["likes"], &["colour"]),
                Some(&posts),
                None,
                None,
                None,
                None
            )),
            "unknown_dimension"
        );
        assert_eq!(
            code(build(&req(&["followers"], &[]), Some(&posts), None, None, None, None)),
            "missing_table"
        );
        assert_eq!(
            code(build(&req(&["reach"], &[]), Some(&posts), None, None, None, None)),
            "missing_column"
        );
        let acc = names(&["account_id", "date", "followers"]);
        assert_eq!(
            code(build(
                &req(&["followers"], &["content_type"]),
                Some(&posts),
                Some(&acc),
                None,
                None,
                None
            )),
            "dimension_not_in_table"
        );
        let mut r = req(&["likes"], &[]);
        r.every = Some("1month".into());
        assert_eq!(code(build(&r, Some(&posts), None, None, None, None)), "unknown_grain");
        r.every = None;
        r.tz = "Mars/Olympus".into();
        assert_eq!(
            code(build(&r, Some(&posts), None, None, None, None)),
            "unknown_time_zone"
        );
    }

    #[test]
    fn presets_skip_what_cannot_be_computed() {
        let posts = names(&[
            "account_id",
            "published_at",
            "likes",
            "comments",
            "shares",
            "reach",
            "impressions",
        ]);
        let plan = build(&req(&["engagement"], &[]), Some(&posts), None, None, None, None).expect("plan");
        assert!(plan.kpis.iter().any(|k| k.name == "engagement_rate"));
        assert!(!plan
            .kpis
            .iter()
            .any(|k| k.name == "saves" || k.name == "engagement_rate_followers"));
        assert!(!plan.warnings.is_empty());
    }
}
