//! Request -> plan: which KPIs, which measures (with their additivity class), which columns
//! of which table, at which grain. Built-in KPIs are planned from column names (`exec` checks
//! their types); formulas are checked against the column types too (`custom`).

pub mod calendar;
mod custom;
pub mod kind;
mod origins;
mod posts;
mod tables;
mod usable;

pub use calendar::{Calendar, Month, Weekday};
pub use custom::{
    check_names, check_syntax, formula_error, CustomKpi, CustomPosts, CustomState, Definition, Linear, StateKind, Value,
};
pub use origins::{measure, Origin, Origins};
use posts::plan_posts;
pub use posts::status_plan;
pub use socialkpi_formula::Type as ColumnType;
use tables::{plan_contracts, plan_events, plan_traffic};
use usable::{reads_accounts, reads_contracts, reads_posts, usable, usable_traffic};

use crate::catalog::{self, Kpi, Source};
use crate::error::{did_you_mean, suggest, Error, Result};
use crate::error::{DefinitionCode, QueryCode, SchemaCode};
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

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// Expands names and presets; explicit names are strict, preset members whose table or
/// column is absent are left out and reported.
fn expand_kpis(names: &[String], custom: &[Definition]) -> Result<Vec<(&'static Kpi, bool)>> {
    let mut out: Vec<(&'static Kpi, bool)> = Vec::new();
    if names.is_empty() {
        return Err(Error::definition(DefinitionCode::NoKpis, "no KPIs were asked for; pass kpis=[...] with names from sk.catalog() or a goal preset such as \"engagement\""));
    }
    for name in names {
        if custom.iter().any(|d| &d.name == name) {
            continue;
        }
        if let Some(k) = catalog::find(name) {
            if let Some(slot) = out.iter_mut().find(|(o, _)| o.name == k.name) {
                slot.1 = true;
            } else {
                out.push((k, true));
            }
        } else if let Some(members) = catalog::preset(name) {
            for m in members.iter().filter(|m| !custom.iter().any(|d| d.name == **m)) {
                if let Some(k) = catalog::find(m) {
                    if !out.iter().any(|(o, _)| o.name == k.name) {
                        out.push((k, false));
                    }
                }
            }
        } else {
            let names = catalog::KPIS
                .iter()
                .map(|k| k.name)
                .chain(catalog::PRESETS.iter().map(|(p, _)| *p))
                .chain(custom.iter().map(|d| d.name.as_str()));
            return Err(Error::definition(
                DefinitionCode::UnknownKpi,
                format!("unknown KPI '{name}'{}; sk.catalog() lists every KPI and the presets awareness, engagement, traffic, leads, conversion, content", did_you_mean(&suggest(name, names))),
            ));
        }
    }
    Ok(out)
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
    let plan = || {
        build_here(
            req,
            posts_cols,
            accounts_cols,
            contracts_cols,
            traffic_cols,
            events_cols,
        )
    };
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

fn build_here(
    req: &Request,
    posts_cols: Option<&[String]>,
    accounts_cols: Option<&[String]>,
    contracts_cols: Option<&[String]>,
    traffic_cols: Option<&[String]>,
    events_cols: Option<&[String]>,
) -> Result<Plan> {
    let every = req.every.as_deref().map(Period::parse).transpose()?;
    let tz = report_zone(&req.tz)?;
    let mut seen = Vec::new();
    for d in &req.by {
        if d.contains('\0') {
            // column names cross the Arrow C interface as C strings, which end at a NUL
            return Err(Error::query(
                QueryCode::InvalidColumnName,
                format!("by= names column {d:?}, whose name holds a NUL character (\\0), which no result column can carry; rename the column"),
            ));
        }
        if d == PERIOD {
            return Err(Error::query(
                QueryCode::ReservedDimension,
                "'period_start' is the period column of the result; use every=... instead of grouping by it",
            ));
        }
        if d == "published_at" {
            // the posts' time column is read as each post's day, bucketed by every=
            return Err(Error::query(
                QueryCode::TimeDimension,
                "'published_at' is the posts' time column and is not grouped by as it is; pass every=\"1d\" (or \"1w\", \"1mo\", \"1q\", \"1y\") to get one row per period in a period_start column",
            ));
        }
        if seen.contains(d) {
            return Err(Error::query(
                QueryCode::RepeatedDimension,
                format!("dimension '{d}' is listed twice in by="),
            ));
        }
        seen.push(d.clone());
    }

    let o = Origins::choose(posts_cols, accounts_cols, traffic_cols, events_cols);
    let mut warnings = Vec::new();
    let mut kpis: Vec<&'static Kpi> = Vec::new();
    let mut outputs: Vec<OutputKpi> = Vec::new();
    // formulas: checked against the tables, compiled to posts states and engine measures;
    // built-ins that read a redefined KPI are computed from their formulas too
    check_names(&req.custom)?;
    let mut all_custom = req.custom.clone();
    all_custom.extend(custom::promoted(&req.kpis, &req.custom));
    let expanded = expand_kpis(&req.kpis, &all_custom)?;
    let tables = custom::Tables::new(
        req.posts_types.iter().map(flag_of_integers).collect(),
        req.accounts_types.iter().cloned().collect(),
        &req.custom,
        o,
    );
    let mut lowerer = socialkpi_formula::check::Lowerer::new(&tables);
    let mut compiler = custom::Compiler::default();
    let mut compiled: Vec<CustomKpi> = Vec::new();
    // a name, or a goal preset's members, that a definition replaces
    let defined = |name: &String| -> Vec<&Definition> {
        match all_custom.iter().find(|d| &d.name == name) {
            Some(d) => vec![d],
            None => catalog::preset(name)
                .unwrap_or(&[])
                .iter()
                .filter_map(|m| all_custom.iter().find(|d| d.name == *m))
                .collect(),
        }
    };
    for name in &req.kpis {
        for d in defined(name) {
            if !compiled.iter().any(|c| c.definition.name == d.name) {
                compiled.push(compiler.compile(&mut lowerer, d)?);
            }
        }
    }
    for (kpi, explicit) in expanded {
        match usable(kpi, posts_cols, accounts_cols, contracts_cols, &o)
            .and_then(|()| usable_traffic(kpi, traffic_cols, &o))
        {
            Ok(()) => kpis.push(kpi),
            Err(e) if explicit => return Err(e),
            Err(e) => warnings.push(format!("{} was left out of the preset: {e}", kpi.name)),
        }
    }
    // every built-in KPI asked for is compiled from its catalogue formula, as a user's KPI is
    let builtin_tables = custom::Tables::new(
        catalogue_columns(posts_cols),
        accounts_cols
            .unwrap_or(&[])
            .iter()
            .map(|c| (c.clone(), ColumnType::Number))
            .collect(),
        &[],
        o,
    );
    let mut builtin_lowerer = socialkpi_formula::check::Lowerer::new(&builtin_tables);
    let mut builtins: Vec<(&'static Kpi, Value)> = Vec::with_capacity(kpis.len());
    for k in &kpis {
        let definition = Definition {
            name: k.name.to_string(),
            formula: catalog::formula(k.name).unwrap_or_default().to_string(),
            goal: k.goal.to_string(),
            unit: k.unit.to_string(),
            description: k.definition.to_string(),
        };
        builtins.push((k, compiler.compile(&mut builtin_lowerer, &definition)?.value));
    }
    let builtin = |name: &str| {
        builtins
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, v)| OutputKpi::Builtin(k, v.clone()))
    };
    for name in &req.kpis {
        if let Some(c) = compiled.iter().find(|c| &c.definition.name == name) {
            if !outputs.iter().any(|o| o.name() == name) {
                outputs.push(OutputKpi::Custom(c.clone()));
            }
        } else if let Some(out) = builtin(name) {
            if !outputs.iter().any(|o| o.name() == out.name()) {
                outputs.push(out);
            }
        } else if let Some(members) = catalog::preset(name) {
            for m in members {
                let out = match compiled.iter().find(|c| c.definition.name == *m) {
                    Some(c) => OutputKpi::Custom(c.clone()),
                    None => match builtin(m) {
                        Some(out) => out,
                        None => continue,
                    },
                };
                if !outputs.iter().any(|o| o.name() == out.name()) {
                    outputs.push(out);
                }
            }
        }
    }
    // the built-in measures formulas read (cost, followers, ...) are computed, not shown
    for name in &compiler.builtins {
        let Some(kpi) = catalog::find(name) else {
            return Err(Error::Internal(format!(
                "engine measure '{name}' is not in the catalogue"
            )));
        };
        if kpis.iter().any(|k| k.name == kpi.name) {
            continue;
        }
        let reader = compiled
            .first()
            .map_or(String::new(), |c| format!("KPI '{}' reads {name}: ", c.definition.name));
        usable(kpi, posts_cols, accounts_cols, contracts_cols, &o)
            .and_then(|()| usable_traffic(kpi, traffic_cols, &o))
            .map_err(|e| match e {
                Error::Schema { code, message } => Error::schema(code, format!("{reader}{message}")),
                Error::Query { code, message } => Error::query(code, format!("{reader}{message}")),
                other => other,
            })?;
        kpis.push(kpi);
    }
    for c in &compiled {
        let name = &c.definition.name;
        if req.by.contains(name) || name == PERIOD {
            return Err(Error::definition(
                DefinitionCode::InvalidName,
                format!(
                    "KPI '{name}' has the name of a column of the result ({}); name the KPI otherwise",
                    if name == PERIOD {
                        "the period"
                    } else {
                        "a by= dimension"
                    }
                ),
            ));
        }
    }
    let custom_posts = compiler.finish();
    if kpis.is_empty() && custom_posts.is_empty() && compiled.is_empty() {
        return Err(Error::definition(
            DefinitionCode::NoKpis,
            format!(
                "none of the requested KPIs can be computed from the tables given: {}",
                warnings.join("; ")
            ),
        ));
    }

    let empty: Vec<String> = Vec::new();
    let pcols = posts_cols.unwrap_or(&empty);
    let acols = accounts_cols.unwrap_or(&empty);
    let ccols = contracts_cols.unwrap_or(&empty);
    let tcols = traffic_cols.unwrap_or(&empty);
    let ecols = events_cols.unwrap_or(&empty);
    let traffic_kpis: Vec<&str> = kpis
        .iter()
        .filter(|k| k.source == Source::Traffic || o.of(k.name) == Some(Origin::Traffic))
        .map(|k| k.name)
        .collect();
    let event_kpis: Vec<&str> = kpis
        .iter()
        .filter(|k| o.of(k.name) == Some(Origin::Events))
        .map(|k| k.name)
        .collect();
    let events_platform = !has(ecols, "platform") && has(ecols, "source");
    let derived_platform = !has(tcols, "platform") && has(tcols, "source");
    let contract_kpis: Vec<&str> = kpis
        .iter()
        .filter(|k| reads_contracts(k, contracts_cols.is_some()))
        .map(|k| k.name)
        .collect();
    let posts_used = kpis.iter().any(|k| reads_posts(k, pcols, &o)) || !custom_posts.is_empty();
    if posts_used && posts_cols.is_none() {
        let kpi = compiled.first().map_or("", |c| c.definition.name.as_str());
        return Err(missing_table(kpi, "posts"));
    }
    if custom_posts.followers_at_post && accounts_cols.is_none() {
        let kpi = compiled.first().map_or("", |c| c.definition.name.as_str());
        return Err(missing_table(kpi, "accounts"));
    }
    let accounts_used = kpis.iter().any(|k| reads_accounts(k, pcols, &o)) || custom_posts.followers_at_post;
    let account_kpis: Vec<&str> = kpis
        .iter()
        .filter(|k| reads_accounts(k, pcols, &o) && k.source != Source::PostsAtFollowers)
        .map(|k| k.name)
        .collect();

    let mut account_key = vec!["account_id".to_string()];
    if accounts_cols.is_some() && has(acols, "platform") && (!posts_used || has(pcols, "platform")) {
        account_key.push("platform".to_string());
    }

    // a built-in read only by a formula is named through the formula in errors
    let shown = |kpi: &str| -> String {
        let asked = outputs.iter().any(|o| o.name() == kpi);
        match compiled.iter().find(|c| c.value.reads(kpi)) {
            Some(c) if !asked => format!("{}' (through its measure '{kpi}')", c.definition.name),
            _ => format!("{kpi}'"),
        }
    };
    // Dimensions: each must be in a table that the KPIs read.
    let mut posts_dims = Vec::new();
    let mut attribute_dims = Vec::new();
    let mut account_dims = Vec::new();
    for d in &req.by {
        let in_posts = posts_used && has(pcols, d);
        let in_accounts = accounts_used && has(acols, d)
            || (posts_used && accounts_cols.is_some_and(|a| has(a, d)) && has(pcols, "account_id"));
        let in_traffic = has(tcols, d) || (d == "platform" && derived_platform);
        let in_events = has(ecols, d) || (d == "platform" && events_platform);
        let in_some_table = has(pcols, d) || has(acols, d) || has(ccols, d) || in_traffic || in_events;
        if !in_posts && !in_accounts && !in_some_table {
            let mut all: Vec<&str> = pcols.iter().chain(acols).chain(ccols).map(String::as_str).collect();
            all.dedup();
            return Err(Error::query(
                QueryCode::UnknownDimension,
                format!("dimension '{d}' is not a column of the tables these KPIs read{}; by= takes column names such as account_id, platform, content_type", did_you_mean(&suggest(d, all))),
            ));
        }
        if let Some(kpi) = account_kpis.first() {
            if !has(acols, d) {
                return Err(Error::query(
                    QueryCode::DimensionNotInTable,
                    format!("KPI '{} comes from the accounts table, which has no column '{d}'; group account KPIs by account_id, platform or an account attribute, or compute '{d}' KPIs in a separate call", shown(kpi)),
                ));
            }
            account_dims.push(d.clone());
        }
        if let Some(kpi) = traffic_kpis.first() {
            if !in_traffic {
                return Err(Error::query(
                    QueryCode::DimensionNotInTable,
                    format!("KPI '{} comes from the traffic table, which has no column '{d}'; group traffic KPIs by platform (matched from source), source, medium or campaign, or compute '{d}' KPIs in a separate call", shown(kpi)),
                ));
            }
        }
        if let Some(kpi) = event_kpis.first() {
            if !in_events {
                return Err(Error::query(
                    QueryCode::DimensionNotInTable,
                    format!("KPI '{} counts events of the conversions table, which cannot attribute them to '{d}': it has no column '{d}'; add the column to the events, group by account_id, campaign or platform (from source), or compute '{d}' KPIs in a separate call", shown(kpi)),
                ));
            }
        }
        if let Some(kpi) = contract_kpis.first() {
            if !has(ccols, d) {
                return Err(Error::query(
                    QueryCode::DimensionNotInTable,
                    format!("KPI '{} comes from the contracts table, which has no column '{d}'; group contract KPIs by account_id, campaign or another contract column, or compute '{d}' KPIs in a separate call", shown(kpi)),
                ));
            }
        }
        if posts_used {
            if has(pcols, d) {
                posts_dims.push(d.clone());
            } else if accounts_cols.is_some_and(|a| has(a, d)) {
                attribute_dims.push(d.clone());
            } else {
                let kpi = kpis
                    .iter()
                    .find(|k| reads_posts(k, pcols, &o))
                    .map(|k| k.name)
                    .or(compiled.first().map(|c| c.definition.name.as_str()))
                    .unwrap_or("");
                return Err(Error::query(
                    QueryCode::DimensionNotInTable,
                    format!("KPI '{kpi}' reads the posts table, which has no column '{d}' (nor is it an account attribute of accounts=...); add '{d}' to the posts, or compute '{d}' KPIs in a separate call"),
                ));
            }
        }
    }

    let posts = if posts_used {
        Some(plan_posts(
            &kpis,
            pcols,
            &posts_dims,
            &attribute_dims,
            &account_key,
            every.is_some(),
            &custom_posts,
            &req.engagement,
        )?)
    } else {
        None
    };
    // account attributes (e.g. tier) grouping posts bring the accounts table in too
    let accounts = if accounts_used || !attribute_dims.is_empty() {
        let mut ap = AccountsPlan {
            dims: account_dims,
            defines_rows: !account_kpis.is_empty(),
            ..Default::default()
        };
        for k in &kpis {
            match k.source {
                Source::Accounts if k.inputs.contains(&"mentions") => ap.mentions = true,
                Source::Attributed if o.of(k.name) == Some(Origin::Accounts) => {
                    ap.leads = true;
                    if k.name == "lead_rate" && !has(pcols, "profile_visits") {
                        ap.profile_visits = true;
                    }
                }
                Source::Attributed if k.name == "lead_rate" && !has(pcols, "profile_visits") => {
                    ap.profile_visits = true
                }
                Source::Accounts => ap.followers = true,
                Source::PostsAtFollowers => ap.snapshots_for_posts = true,
                Source::PostsElseAccounts if !has(pcols, "profile_visits") => ap.profile_visits = true,
                _ => {}
            }
        }
        if custom_posts.followers_at_post {
            ap.snapshots_for_posts = true;
        }
        ap.attributes = attribute_dims.clone();
        let mut cols: Vec<String> = account_key.clone();
        push_unique(&mut cols, "date".to_string());
        for c in ap.dims.iter().chain(ap.attributes.iter()) {
            push_unique(&mut cols, c.clone());
        }
        if ap.followers || ap.snapshots_for_posts {
            push_unique(&mut cols, "followers".to_string());
        }
        if ap.profile_visits {
            push_unique(&mut cols, "profile_visits".to_string());
        }
        if ap.mentions {
            push_unique(&mut cols, "mentions".to_string());
        }
        if ap.leads {
            push_unique(&mut cols, "leads".to_string());
        }
        for c in &cols {
            if !has(acols, c) {
                let kpi = kpis
                    .iter()
                    .find(|k| reads_accounts(k, pcols, &o))
                    .map_or("", |k| k.name);
                return Err(missing_column(kpi, c, "accounts", acols));
            }
        }
        ap.columns = cols;
        Some(ap)
    } else {
        None
    };
    let contracts = match contract_kpis.first() {
        Some(first) => Some(plan_contracts(&kpis, &req.by, pcols, ccols, first)?),
        None => None,
    };
    let traffic = match traffic_kpis.first() {
        Some(first) => Some(plan_traffic(&kpis, &req.by, tcols, &o, derived_platform, first)?),
        None => None,
    };
    let events = match event_kpis.first() {
        Some(first) => Some(plan_events(&kpis, &req.by, ecols, &o, events_platform, first)?),
        None => None,
    };
    let mut posts = posts;
    if let (Some(pp), Some(cp)) = (posts.as_mut(), &contracts) {
        if pp.delivered {
            pp.contract_match = cp.matched.clone();
            for c in &cp.matched {
                if !has(pcols, c) {
                    return Err(missing_column("delivery_rate", c, "posts", pcols));
                }
                push_unique(&mut pp.columns, c.clone());
            }
            pp.attribution = Attribution::of(&cp.matched, pcols);
            match pp.attribution {
                Attribution::Sponsored => push_unique(&mut pp.columns, "sponsored".to_string()),
                Attribution::Account => warnings.push(ACCOUNT_WIDE_DELIVERY.to_string()),
                Attribution::Campaign => {}
            }
        }
    }
    if let Some(pp) = &posts {
        if (pp.needs_account) && accounts.is_some() {
            // the posts side must carry the account key to meet its snapshots
            for c in &account_key {
                if !has(pcols, c) {
                    return Err(missing_column(
                        outputs.first().map_or("", |o| o.name()),
                        c,
                        "posts",
                        pcols,
                    ));
                }
            }
        }
    }
    if posts.is_some() && !has(pcols, "post_id") {
        warnings.push(
            "posts has no post_id column: each row counts as one post, and repeated posts cannot be found; add post_id (or map it when reading) to have repeats checked".to_string(),
        );
    }
    Ok(Plan {
        kpis,
        outputs,
        by: req.by.clone(),
        every,
        tz,
        dedupe: req.dedupe,
        account_key,
        posts,
        accounts,
        contracts,
        traffic,
        events,
        origins: o,
        sources: req.sources.clone(),
        warnings,
        max_staleness: req.max_staleness,
        calendar: req.calendar,
    })
}

/// The posts' columns the built-in formulas read, as numbers (`exec` reads and checks them
/// as counts and money, whatever their type).
fn catalogue_columns(posts_cols: Option<&[String]>) -> std::collections::HashMap<String, ColumnType> {
    use crate::ingest::presets::{Kind, Value as Read};
    posts_cols
        .unwrap_or(&[])
        .iter()
        .filter(|c| {
            Kind::Posts
                .columns()
                .iter()
                .any(|(name, read)| name == c && matches!(read, Read::Count | Read::Money))
        })
        .map(|c| (c.clone(), ColumnType::Number))
        .collect()
}

/// `sponsored` given as 0/1 integers is the yes/no it means (read as Boolean, see
/// `exec::posts::read`).
fn flag_of_integers((name, t): &(String, ColumnType)) -> (String, ColumnType) {
    match t {
        ColumnType::Number if name == "sponsored" => (name.clone(), ColumnType::Bool),
        _ => (name.clone(), *t),
    }
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
