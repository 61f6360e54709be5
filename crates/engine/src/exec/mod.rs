//! Execution: each table into additive partial states at the output grain (posts through a
//! Rust kernel over the columns read once, with followers-at-post looked up per row;
//! snapshots through polars), a rollup of the states, and the KPI formulas applied to the
//! merged states.

pub(crate) mod accounts;
pub mod compare;
mod contracts;
mod coverage;
mod derived;
mod events;
mod kernel;
mod overflow;
mod parquet;
mod pass;
mod posts;
mod spill;
mod states;
mod traffic;
pub mod window;

use crate::error::{Error, Result};
use crate::error::{InputCode, QueryCode, SchemaCode};
use crate::plan::{Metric, Origin, OutputKpi, Plan, Value, PERIOD};
use crate::states::{Block, PartialStates, Source};
pub(crate) use coverage::stack as stack_coverage;
pub(crate) use overflow::arithmetic;
use polars::prelude::*;
use polars_core::query_result::QueryResult;
pub(crate) use posts::ENG;
use socialkpi_formula::BinOp;

/// Name of the constant key used when a report has no dimension and no period.
pub(crate) const ALL: &str = "__all";

/// Rows a table contributed and rows dropped, by reason (rule 6 of docs/kpis.md).
#[derive(Debug, Clone, Default)]
pub struct RowAccount {
    /// (table, rows read)
    pub read: Vec<(String, u64)>,
    /// (table, reason, rows dropped)
    pub dropped: Vec<(String, String, u64)>,
    /// (stage, seconds): where the time went, for `compute_details(...).timings`
    pub stages: Vec<(String, f64)>,
    /// The days each table covered (`coverage::of_table` frames).
    pub coverage: Vec<DataFrame>,
    /// Warnings of a table's read or pass (`compute_details(...).warnings`).
    pub warnings: Vec<String>,
}

impl RowAccount {
    fn time<T>(&mut self, stage: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let started = std::time::Instant::now();
        let out = f(self);
        self.stages.push((stage.to_string(), started.elapsed().as_secs_f64()));
        out
    }

    fn drop(&mut self, table: &str, reason: &str, n: u64) {
        if n > 0 {
            self.dropped.push((table.to_string(), reason.to_string(), n));
        }
    }
}

/// The result of a run: the KPI frame and what was used to compute it.
#[derive(Debug)]
pub struct Output {
    pub frame: DataFrame,
    /// Engagement components used for `eng` (empty when no engagement KPI was asked).
    pub components: Vec<String>,
    /// Components of named platforms where a definition set gives them other ones.
    pub platform_components: Vec<(String, Vec<String>)>,
    pub rows: RowAccount,
    pub warnings: Vec<String>,
    /// (measure, the table it was counted from) for conversions, revenue and leads.
    pub origins: Vec<(String, String)>,
    /// The days each table covered: table, account_id (null without one), first, last.
    pub coverage: DataFrame,
}

/// Collects a plan with the streaming engine (bounded memory for files larger than RAM).
pub fn collect(lf: LazyFrame) -> Result<DataFrame> {
    match lf.collect_with_engine(Engine::Streaming)? {
        QueryResult::Single(df) => Ok(df),
        QueryResult::Multiple(mut dfs) => dfs
            .pop()
            .ok_or_else(|| Error::Internal("query returned no frame".into())),
    }
}

/// Reads `columns` of a table, each through `coerce` (given its name and type), plus `extra`
/// expressions over the raw columns.
pub(crate) fn read_columns(
    lf: LazyFrame,
    table: &str,
    columns: &[String],
    coerce: impl Fn(&str, &DataType) -> Result<Expr>,
    extra: Vec<Expr>,
) -> Result<DataFrame> {
    collect(select_columns(lf, table, columns, coerce, extra)?)
}

/// `read_columns` before it is collected.
pub(crate) fn select_columns(
    mut lf: LazyFrame,
    table: &str,
    columns: &[String],
    coerce: impl Fn(&str, &DataType) -> Result<Expr>,
    extra: Vec<Expr>,
) -> Result<LazyFrame> {
    let schema = lf.collect_schema().map_err(|e| {
        Error::input(
            InputCode::UnreadableTable,
            format!("could not read the {table} table: {e}"),
        )
    })?;
    let mut select = Vec::with_capacity(columns.len() + extra.len());
    for c in columns {
        let dtype = schema.get(c.as_str()).ok_or_else(|| {
            Error::schema(
                SchemaCode::MissingColumn,
                format!("column '{c}' is missing from {table}"),
            )
        })?;
        select.push(coerce(c, dtype)?);
    }
    select.extend(extra);
    Ok(lf.select(select))
}

/// Reads a table like `read_columns` (its time column `time` coerced into `parsed`), counts
/// its rows, and drops those whose time is missing or did not parse, each counted by reason.
pub(crate) fn read_timed(
    lf: LazyFrame,
    table: &str,
    columns: &[String],
    coerce: impl Fn(&str, &DataType) -> Result<Expr>,
    (time, parsed): (&str, &str),
    rows: &mut RowAccount,
) -> Result<DataFrame> {
    let df = read_columns(lf, table, columns, coerce, vec![col(time).is_null().alias("__no_time")])?;
    rows.read.push((table.to_string(), df.height() as u64));
    let (missing, unparseable) = (format!("missing {time}"), format!("unparseable {time}"));
    drop_rows(
        df,
        rows,
        table,
        vec![(&missing, col("__no_time")), (&unparseable, col(parsed).is_null())],
    )
}

/// Drops the rows where each reason's condition holds, counting them by reason (rule 6).
pub(crate) fn drop_rows(
    mut df: DataFrame,
    rows: &mut RowAccount,
    table: &str,
    reasons: Vec<(&str, Expr)>,
) -> Result<DataFrame> {
    for (reason, gone) in reasons {
        let before = df.height();
        df = df.lazy().filter(gone.not()).collect()?;
        rows.drop(table, reason, (before - df.height()) as u64);
    }
    Ok(df)
}

/// The first value of a count column (0 when absent): for one-row summary frames.
pub(crate) fn first_u64(df: &DataFrame, name: &str) -> u64 {
    df.column(name)
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<u64>())
        .unwrap_or(0)
}

/// Group keys of the result: the `by` dimensions and the period.
pub(crate) fn output_keys(plan: &Plan) -> Vec<String> {
    let mut keys = plan.by.clone();
    if plan.every.is_some() {
        keys.push(PERIOD.to_string());
    }
    if keys.is_empty() {
        keys.push(ALL.to_string());
    }
    keys
}

/// `df` with each row's period start (`PERIOD`, a date) from its `day` column (dates): each
/// distinct day is truncated once (polars' `dt.truncate` works row by row through calendar
/// arithmetic).
pub(crate) fn with_period(mut df: DataFrame, day: &str, plan: &Plan) -> Result<DataFrame> {
    let Some(every) = plan.every else {
        return Ok(df);
    };
    let days = pass::days(df.column(day)?)?;
    let mut periods = pass::Periods::new(every);
    let codes = periods.encode(&days);
    df.with_column(period_column(
        codes.iter().map(|&c| periods.starts[c as usize]).collect(),
    )?)?;
    Ok(df)
}

/// The `PERIOD` column (dates) of period starts as days.
pub(super) fn period_column(starts: Int32Chunked) -> Result<Column> {
    Ok(starts
        .into_series()
        .cast(&DataType::Date)?
        .with_name(PERIOD.into())
        .into_column())
}

/// The tables of a run, as the caller handed them over.
#[derive(Default)]
pub struct Inputs {
    pub posts: Option<LazyFrame>,
    /// Row ranges to read the posts by (None: stream them through polars' engine).
    pub posts_slices: Option<Vec<(i64, usize)>>,
    /// The Parquet files the slices are row groups of (None: not files, or not all Parquet).
    pub posts_parquet: Option<Vec<crate::ingest::ParquetFile>>,
    pub accounts: Option<LazyFrame>,
    pub contracts: Option<LazyFrame>,
    pub traffic: Option<LazyFrame>,
    pub events: Option<LazyFrame>,
    /// The memory the `post_id` repeat check may hold, in bytes, before it spills its hashes
    /// to temporary files (None: no limit; see `spill`).
    pub memory_limit: Option<u64>,
}

pub use spill::MEMORY_LIMIT;

/// Asked between slices of posts with (slices done, slices in all): true stops the run with
/// `Error::Interrupted` (Ctrl-C). It is also how a caller shows progress.
pub type Interrupt<'a> = &'a (dyn Fn(usize, usize) -> bool + Sync);

/// The error of a table that the KPIs asked for need but the call did not pass.
fn missing_table(table: &str) -> Error {
    Error::query(
        QueryCode::MissingTable,
        format!("the {table} table is needed by the KPIs asked for; pass {table}=..."),
    )
}

/// Runs a checked plan over the tables it reads: their partial states, finalized.
pub fn run(plan: &Plan, inputs: Inputs, interrupted: Interrupt<'_>) -> Result<Output> {
    finalize(plan, partial(plan, inputs, interrupted)?)
}

/// The partial states of each table the plan reads, at the plan's grain.
pub fn partial(plan: &Plan, inputs: Inputs, interrupted: Interrupt<'_>) -> Result<PartialStates> {
    let Inputs {
        posts,
        posts_slices,
        posts_parquet,
        accounts,
        contracts,
        traffic,
        events,
        memory_limit,
    } = inputs;
    let mut rows = RowAccount::default();
    let mut warnings = plan.warnings.clone();
    let keys = output_keys(plan);
    let contracts = match (&plan.contracts, contracts) {
        (Some(cp), Some(lf)) => {
            let mut c = rows.time("contracts_load_s", |rows| {
                rows.coverage
                    .push(coverage::of_contracts(lf.clone(), cp.coverage_account)?);
                contracts::Contracts::load(Some(&cp.columns), lf, rows)
            })?;
            if let Some(pp) = plan.posts.as_ref().filter(|pp| pp.delivered) {
                if pp.attribution == crate::plan::Attribution::Sponsored {
                    c.tie_sponsored()?;
                }
            }
            // open-ended contracts end with the data: the posts' last day is read first
            if c.has_open_ends()? {
                let last = match (&posts, &plan.posts) {
                    (Some(lf), Some(_)) => {
                        contracts::last_post_day(lf.clone(), posts_parquet.as_deref(), plan.tz.as_deref())?
                    }
                    _ => None,
                };
                c.close_open_ends(last)?;
            }
            warnings.extend(c.warnings.iter().cloned());
            Some(c)
        }
        (Some(_), None) => return Err(missing_table("contracts")),
        _ => None,
    };
    let snapshots = match (&plan.accounts, accounts) {
        (Some(ap), Some(lf)) => {
            Some(rows.time("accounts_load_s", |rows| accounts::Snapshots::load(plan, ap, lf, rows))?)
        }
        (Some(_), None) => return Err(missing_table("accounts")),
        _ => None,
    };
    // The account, traffic and conversion states need no posts: they are grouped beside the
    // posts pass (traffic and conversions with row accounts of their own).
    let states = std::thread::scope(|scope| -> Result<_> {
        let accounts_job = match (&plan.accounts, &snapshots) {
            (Some(ap), Some(s)) if ap.defines_rows => Some(scope.spawn(|| {
                let started = std::time::Instant::now();
                (s.states(plan, ap, &keys), started.elapsed().as_secs_f64())
            })),
            _ => None,
        };
        let others_job = scope.spawn(|| -> Result<_> {
            let (mut rows, mut warnings) = (RowAccount::default(), Vec::new());
            if let Some(s) = &snapshots {
                rows.coverage
                    .push(coverage::of_table("accounts", s.frame(), "date", "date")?);
            }
            let traffic_states = match (&plan.traffic, traffic) {
                (Some(tp), Some(lf)) => Some(rows.time("traffic_states_s", |rows| {
                    traffic::states(plan, tp, lf, &keys, rows, &mut warnings)
                })?),
                (Some(_), None) => return Err(missing_table("traffic")),
                _ => None,
            };
            let event_states = match (&plan.events, events) {
                (Some(ep), Some(lf)) => {
                    Some(rows.time("conversions_states_s", |rows| events::states(plan, ep, lf, &keys, rows))?)
                }
                (Some(_), None) => return Err(missing_table("conversions")),
                _ => None,
            };
            Ok((traffic_states, event_states, rows, warnings))
        });
        let post_states = match (&plan.posts, posts) {
            (Some(pp), Some(lf)) => Some(posts::states(
                plan,
                pp,
                lf,
                snapshots.as_ref(),
                contracts.as_ref(),
                posts_slices.as_deref(),
                posts_parquet.as_deref(),
                interrupted,
                &keys,
                &mut rows,
                memory_limit,
            )),
            (Some(_), None) => Some(Err(missing_table("posts"))),
            _ => None,
        };
        // a panic in a job goes on to the binding, which turns it into the right exception
        let account_states = match accounts_job.map(|job| job.join()) {
            Some(Ok((states, seconds))) => {
                rows.stages.push(("accounts_states_s".into(), seconds));
                Some(states)
            }
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => None,
        };
        let others = match others_job.join() {
            Ok(others) => others,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        Ok((post_states.transpose()?, account_states.transpose()?, others?))
    })?;
    let (post_states, account_states, (traffic_states, event_states, other_rows, other_warnings)) = states;
    warnings.append(&mut rows.warnings);
    rows.read.extend(other_rows.read);
    rows.dropped.extend(other_rows.dropped);
    rows.stages.extend(other_rows.stages);
    rows.coverage.extend(other_rows.coverage);
    warnings.extend(other_warnings);
    let contract_states = match (&plan.contracts, &contracts) {
        (Some(cp), Some(c)) => Some(rows.time("contracts_states_s", |_| c.states(plan, cp, &keys))?),
        _ => None,
    };
    let (account_flows, snapshot_states) = match account_states {
        Some((flows, snapshots)) => (Some(flows), snapshots),
        None => (None, None),
    };
    let blocks = [
        (Source::Posts, post_states),
        (Source::Accounts, account_flows),
        (Source::Snapshots, snapshot_states),
        (Source::Contracts, contract_states),
        (Source::Traffic, traffic_states),
        (Source::Conversions, event_states),
    ]
    .into_iter()
    .filter_map(|(source, frame)| frame.map(|frame| Block::new(source, frame)))
    .collect();
    let coverage = coverage::stack(std::mem::take(&mut rows.coverage))?;
    Ok(PartialStates {
        blocks,
        post_ids: None,
        coverage,
        rows,
        warnings,
        components: plan.posts.as_ref().map(|p| p.components.clone()).unwrap_or_default(),
        platform_components: plan
            .posts
            .as_ref()
            .map(|p| p.platform_components.clone())
            .unwrap_or_default(),
    })
}

/// The KPI values of the plan from partial states at the plan's grain: the tables' states
/// joined on the groups and periods, the followers from the snapshots, the coverage of each
/// table, and the KPI formulas.
pub fn finalize(plan: &Plan, states: PartialStates) -> Result<Output> {
    finalize_with(plan, states, Ok)
}

/// `finalize` with the tables of states (the followers already derived from the snapshots)
/// passed through `relabel` before they are joined: comparisons and windows give the tables
/// other periods there (compare.rs), and the KPI formulas then run as they always do.
pub(crate) fn finalize_with(
    plan: &Plan,
    states: PartialStates,
    relabel: impl FnOnce(Vec<DataFrame>) -> Result<Vec<DataFrame>>,
) -> Result<Output> {
    let PartialStates {
        blocks,
        coverage,
        mut rows,
        warnings,
        components,
        platform_components,
        ..
    } = states;
    let keys = output_keys(plan);
    let started = std::time::Instant::now();
    let mut tables: Vec<DataFrame> = Vec::with_capacity(blocks.len());
    let mut snapshots = None;
    for block in blocks {
        match block.source {
            Source::Snapshots => snapshots = Some(block.frame),
            _ => tables.push(block.frame),
        }
    }
    if let Some(snapshots) = snapshots {
        let t = std::time::Instant::now();
        let followers = accounts::followers(&snapshots, &plan.account_key, &keys, plan.every.is_some())?;
        rows.stages.push(("followers_s".into(), t.elapsed().as_secs_f64()));
        tables.push(followers);
    }
    let tables = relabel(tables)?;
    let t = std::time::Instant::now();
    // every (group, period) of any table appears: full joins of the states on the keys
    let mut joined: Option<DataFrame> = None;
    for states in tables {
        joined = Some(match joined {
            None => states,
            Some(left) => {
                let (left, right) = align_as_text(left.lazy(), states.lazy(), &keys)?;
                let on: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
                let mut args = JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns);
                args.nulls_equal = true;
                left.join(right, on.clone(), on, args).collect()?
            }
        });
    }
    let joined = joined.ok_or_else(|| Error::Internal("no table was read".into()))?;
    rows.stages.push(("join_s".into(), t.elapsed().as_secs_f64()));
    // which tables cover each group and period (rule 7): read by the flows' formulas
    let covered = coverage::columns(plan, joined.schema())?;
    let joined = joined.lazy().with_columns(covered);
    let mut select: Vec<Expr> = plan.by.iter().map(|d| col(d.as_str())).collect();
    if plan.every.is_some() {
        select.push(col(PERIOD));
    }
    let mut intermediate = Intermediate::default();
    for kpi in &plan.outputs {
        let value = match kpi {
            OutputKpi::Builtin(k) => finalise(k.name, plan)?,
            OutputKpi::Custom(c) => intermediate.value(&c.value, plan)?.0,
        };
        select.push(value.alias(kpi.name()));
    }
    let joined = intermediate.add_to(joined);
    let mut sort_by: Vec<PlSmallStr> = plan.by.iter().map(|s| PlSmallStr::from(s.as_str())).collect();
    if plan.every.is_some() {
        sort_by.push(PERIOD.into());
    }
    let out = joined.select(select);
    let out = if sort_by.is_empty() {
        out
    } else {
        out.sort(
            sort_by,
            SortMultipleOptions::default()
                .with_nulls_last(true)
                .with_maintain_order(true),
        )
    };
    let frame = out.collect()?;
    rows.stages
        .push(("finalise_s".to_string(), started.elapsed().as_secs_f64()));
    Ok(Output {
        frame,
        components,
        platform_components,
        rows,
        warnings,
        origins: origins(plan),
        coverage,
    })
}

/// Key columns typed differently in two tables (ids as numbers in one, text in the other)
/// meet as text before a join.
pub(crate) fn align_as_text(
    mut left: LazyFrame,
    mut right: LazyFrame,
    on: &[String],
) -> Result<(LazyFrame, LazyFrame)> {
    let (ls, rs) = (left.collect_schema()?, right.collect_schema()?);
    let casts: Vec<Expr> = on
        .iter()
        .filter(|c| ls.get(c.as_str()) != rs.get(c.as_str()))
        .map(|c| col(c.as_str()).cast(DataType::String))
        .collect();
    if casts.is_empty() {
        return Ok((left, right));
    }
    Ok((left.with_columns(casts.clone()), right.with_columns(casts)))
}

/// Where each attributed measure the KPIs read was counted from, in words.
fn origins(plan: &Plan) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for kpi in &plan.kpis {
        let (Some(measure), Some(origin)) = (crate::plan::measure(kpi.name), plan.origins.of(kpi.name)) else {
            continue;
        };
        if out.iter().any(|(m, _)| m == measure) {
            continue;
        }
        let text = match (origin, measure) {
            (Origin::Events, "revenue") => "conversions table (the value of events of kind 'sale')".to_string(),
            (Origin::Events, "leads") => "conversions table (events of kind 'lead')".to_string(),
            (Origin::Events, _) => "conversions table (events of kind 'sale')".to_string(),
            (Origin::Posts, m) => format!("posts (column '{m}')"),
            (Origin::Traffic, m) => format!("traffic (column '{m}')"),
            (Origin::Accounts, m) => format!("accounts (column '{m}', summed over days)"),
        };
        out.push((measure.to_string(), text));
    }
    out
}

// ---- finalisation: KPI formulas over merged states -------------------------------------

fn state(name: &str) -> Expr {
    col(name)
}

pub(crate) fn sum_name(m: &Metric) -> String {
    format!("s:{}", m.key())
}
pub(crate) fn nonnull_name(m: &Metric) -> String {
    format!("n:{}", m.key())
}
pub(crate) fn ratio_names(a: &Metric, b: &Metric) -> (String, String) {
    (
        format!("rn:{}/{}", a.key(), b.key()),
        format!("rd:{}/{}", a.key(), b.key()),
    )
}
pub(crate) fn followers_at_post_names(m: &Metric) -> (String, String) {
    (format!("fn:{}", m.key()), format!("fd:{}", m.key()))
}

/// Σ / Σ with rule 2: a zero or missing denominator gives null.
pub(crate) fn ratio(num: Expr, den: Expr) -> Expr {
    let den_f = den.cast(DataType::Float64);
    when(den_f.clone().is_null().or(den_f.clone().eq(lit(0.0))))
        .then(lit(NULL).cast(DataType::Float64))
        .otherwise(num.cast(DataType::Float64) / den_f)
}

/// Rule 3 over signed terms (`true`: added): the sum of those present, a missing term
/// counting as 0; null only when every term is missing.
pub(crate) fn rule3(terms: Vec<(bool, Expr)>) -> Option<Expr> {
    let all_null = balanced(terms.iter().map(|(_, e)| e.clone().is_null()).collect(), |a, b| {
        a.and(b)
    })?;
    // checked: integers never wrap (see `overflow`)
    let values = terms
        .into_iter()
        .map(|(plus, e)| {
            if plus {
                e.fill_null(lit(0))
            } else {
                arithmetic(BinOp::Sub, lit(0), e.fill_null(lit(0)))
            }
        })
        .collect();
    let total = balanced(values, |a, b| arithmetic(BinOp::Add, a, b))?;
    Some(when(all_null).then(lit(NULL)).otherwise(total))
}

/// `op` over the expressions, left to right, in a balanced tree past a few: a chain of as
/// many terms as a formula allows would make a tree as tall, and polars walks expressions
/// recursively (a thread's stack may be 512 KiB).
fn balanced(mut exprs: Vec<Expr>, op: impl Fn(Expr, Expr) -> Expr) -> Option<Expr> {
    const CHAIN: usize = 32;
    if exprs.len() <= CHAIN {
        return exprs.into_iter().reduce(op);
    }
    while exprs.len() > 1 {
        let mut pairs = Vec::with_capacity(exprs.len().div_ceil(2));
        let mut rest = exprs.into_iter();
        while let Some(a) = rest.next() {
            pairs.push(match rest.next() {
                Some(b) => op(a, b),
                None => a,
            });
        }
        exprs = pairs;
    }
    exprs.pop()
}

/// Adds computed columns (name, expression, level) level by level: a level reads the columns
/// of the levels below it.
pub(crate) fn with_levels(mut frame: LazyFrame, columns: &[(String, Expr, usize)]) -> LazyFrame {
    let top = columns.iter().map(|(_, _, l)| *l).max().unwrap_or(0);
    for level in 0..=top {
        let exprs: Vec<Expr> = columns
            .iter()
            .filter(|(_, _, l)| *l == level)
            .map(|(_, e, _)| e.clone())
            .collect();
        if !exprs.is_empty() {
            frame = frame.with_columns(exprs);
        }
    }
    frame
}

/// A flow: 0 without rows, null when rows exist but none reported a value (`reported`
/// counts the rows with a value).
fn flow(rows: &str, sum: &str, reported: &str) -> Expr {
    let rows = state(rows).fill_null(lit(0));
    when(rows.eq(lit(0)))
        .then(lit(0).cast(DataType::Int64))
        .when(state(reported).fill_null(lit(0)).eq(lit(0)))
        .then(lit(NULL))
        .otherwise(state(sum))
}

/// A flow of posts that rule 7 reads as unknown outside the posts' coverage.
fn covered_post_flow(metric: &Metric) -> Expr {
    coverage::where_covered("posts", flow("rows", &sum_name(metric), &nonnull_name(metric)))
}

/// Cost: the posts' spend (a flow) plus pro-rated contract fees, each known only where its
/// table covers the group and period (rule 7). Null when neither part is known; a part that
/// is unknown (or reported as null) counts as 0 beside a known one.
fn cost(plan: &Plan) -> Result<Expr> {
    let spend_metric = Metric::Column("spend".into());
    let spend = plan.posts.as_ref().is_some_and(|p| p.sums.contains(&spend_metric));
    let fees = plan.contracts.as_ref().is_some_and(|c| c.fee);
    let spend_flow = || covered_post_flow(&spend_metric).cast(DataType::Float64);
    let fee = || coverage::where_covered("contracts", state("c:fee").fill_null(lit(0.0)));
    Ok(match (spend, fees) {
        (true, true) => when(spend_flow().is_null().and(fee().is_null()))
            .then(lit(NULL).cast(DataType::Float64))
            .otherwise(spend_flow().fill_null(lit(0.0)) + fee().fill_null(lit(0.0))),
        (true, false) => covered_post_flow(&spend_metric),
        (false, true) => fee(),
        (false, false) => return Err(Error::Internal("cost without spend or contracts".into())),
    })
}

/// A group's value over the total of all groups in the same period.
fn share_of_period(value: Expr, plan: &Plan) -> Result<Expr> {
    // the total in floats, as the share is: a total of integers past the Int64 range would wrap
    let whole = value.clone().cast(DataType::Float64);
    let total = if plan.every.is_some() {
        whole.sum().over([col(PERIOD)])?
    } else {
        whole.sum()
    };
    Ok(ratio(value, total))
}

fn finalise(kpi: &str, plan: &Plan) -> Result<Expr> {
    let m = |c: &str| Metric::Column(c.to_string());
    let post_flow = |metric: &Metric| flow("rows", &sum_name(metric), &nonnull_name(metric));
    let post_ratio = |a: &Metric, b: &Metric| {
        let (n, d) = ratio_names(a, b);
        ratio(state(&n), state(&d))
    };
    let followers_at_post = |metric: &Metric| {
        let (n, d) = followers_at_post_names(metric);
        ratio(state(&n), state(&d))
    };
    let growth = || arithmetic(BinOp::Sub, state("followers"), state("followers_start"));
    let mentions = || flow("a:rows", "as:mentions", "an:mentions");
    // sessions from social sources: 0 where the group has no social rows, null where its
    // social rows reported no sessions
    let referral = || coverage::where_covered("traffic", flow("t:social_rows", "t:referral", "t:referral_n"));
    let profile_visits = || {
        if plan.accounts.as_ref().is_some_and(|a| a.profile_visits) {
            flow("a:rows", "as:profile_visits", "an:profile_visits")
        } else {
            post_flow(&m("profile_visits"))
        }
    };
    // conversions, revenue and leads: each from the one table the plan chose, null where
    // that table does not cover the group and period (rule 7)
    let attributed = |measure: &str| -> Result<Expr> {
        let within = coverage::where_covered;
        Ok(match (measure, plan.origins.of(measure)) {
            (_, Some(Origin::Posts)) => covered_post_flow(&m(measure)),
            (_, Some(Origin::Traffic)) => within(
                "traffic",
                flow("t:rows", &format!("t:{measure}"), &format!("t:{measure}_n")),
            ),
            ("leads", Some(Origin::Accounts)) => within("accounts", flow("a:rows", "as:leads", "an:leads")),
            ("conversions", Some(Origin::Events)) => within("conversions", state("e:sales").fill_null(lit(0))),
            ("leads", Some(Origin::Events)) => within("conversions", state("e:leads").fill_null(lit(0))),
            ("revenue", Some(Origin::Events)) => within("conversions", flow("e:sales", "e:value", "e:value_n")),
            _ => return Err(Error::Internal(format!("no table for {measure}"))),
        })
    };
    Ok(match kpi {
        "posts" => state("rows").fill_null(lit(0)).cast(DataType::Int64),
        "impressions" | "reach" | "likes" | "comments" | "shares" | "saves" | "clicks" => post_flow(&m(kpi)),
        "profile_visits" => profile_visits(),
        "engagements" => post_flow(&Metric::Eng),
        "frequency" => post_ratio(&m("impressions"), &m("reach")),
        "engagement_rate" => post_ratio(&Metric::Eng, &m("reach")),
        "engagement_rate_impressions" => post_ratio(&Metric::Eng, &m("impressions")),
        "virality_rate" => post_ratio(&m("shares"), &m("impressions")),
        "ctr" => post_ratio(&m("clicks"), &m("impressions")),
        "avg_engagement_rate_per_post" => ratio(state("per_post_er:sum"), state("per_post_er:n")),
        "engagement_rate_followers" => followers_at_post(&Metric::Eng),
        "amplification_rate" => followers_at_post(&m("shares")),
        "applause_rate" => followers_at_post(&m("likes")),
        "conversation_rate" => followers_at_post(&m("comments")),
        "conversions" | "revenue" | "leads" => attributed(kpi)?,
        "conversion_rate" if plan.origins.conversions == Some(Origin::Posts) => {
            post_ratio(&m("conversions"), &m("clicks"))
        }
        "conversion_rate" => ratio(attributed("conversions")?, post_flow(&m("clicks"))),
        "lead_rate" => ratio(attributed("leads")?, profile_visits()),
        "cost" => cost(plan)?,
        "cpm" => ratio(cost(plan)?, post_flow(&m("impressions"))) * lit(1000.0),
        "cpc" => ratio(cost(plan)?, post_flow(&m("clicks"))),
        "cpe" => ratio(cost(plan)?, post_flow(&Metric::Eng)),
        "cpa" => ratio(cost(plan)?, attributed("conversions")?),
        "roas" => ratio(attributed("revenue")?, cost(plan)?),
        "roi" => ratio(attributed("revenue")? - cost(plan)?, cost(plan)?),
        "posts_agreed" => state("c:agreed").fill_null(lit(0.0)),
        "mentions" => mentions(),
        "share_of_voice" => share_of_period(mentions(), plan)?,
        "website_traffic" => coverage::where_covered("traffic", flow("t:rows", "t:sessions", "t:sessions_n")),
        "referral_traffic" => referral(),
        "referral_share" => share_of_period(referral(), plan)?,
        "delivery_rate" => ratio(state(posts::DELIVERED).fill_null(lit(0)), state("c:agreed")),
        "followers" => state("followers"),
        "followers_start" => state("followers_start"),
        "follower_growth" => growth(),
        "follower_growth_rate" => ratio(growth(), state("followers_start")),
        other => return Err(Error::Internal(format!("KPI '{other}' has no formula"))),
    })
}

/// Values of formulas that other values read more than once (a denominator is read three
/// times): computed as columns of their own before the result's columns, a level after the
/// levels they read, so that nested formulas grow linearly.
#[derive(Default)]
struct Intermediate {
    columns: Vec<(String, Expr, usize)>,
}

impl Intermediate {
    /// `value`'s expression and its level (1 + the highest level of the columns it reads).
    fn value(&mut self, value: &Value, plan: &Plan) -> Result<(Expr, usize)> {
        Ok(match value {
            Value::Number(v) => (lit(*v), 0),
            Value::Flow { rows, sum, n, money } => {
                let value = flow(rows, sum, n);
                let value = if *money {
                    coverage::where_covered("posts", value)
                } else {
                    value
                };
                (value, 0)
            }
            Value::Count(name) => (state(name).fill_null(lit(0)).cast(DataType::Int64), 0),
            Value::Ratio(num, den) => (ratio(state(num), state(den)), 0),
            Value::Builtin(name) => (finalise(name, plan)?, 0),
            Value::Delivered => (state(posts::DELIVERED).fill_null(lit(0)), 0),
            // a number's share: each group's equal part of the period's groups
            Value::Share(v) if matches!(**v, Value::Number(_)) => {
                let groups = if plan.every.is_some() {
                    len().over([col(PERIOD)])?
                } else {
                    len()
                };
                let (x, _) = self.value(v, plan)?;
                (ratio(x.clone(), x * groups), 0)
            }
            Value::Share(v) => {
                let (x, level) = self.operand(v, plan)?;
                (share_of_period(x, plan)?, level)
            }
            Value::Binary(op, a, b) => {
                let ((a, la), (b, lb)) = (self.operand(a, plan)?, self.operand(b, plan)?);
                let expr = match op {
                    BinOp::Add | BinOp::Sub | BinOp::Mul => arithmetic(*op, a, b),
                    BinOp::Div => ratio(a, b),
                    other => return Err(Error::Internal(format!("'{}' between values", other.symbol()))),
                };
                (expr, la.max(lb))
            }
            // operands of their own too: a formula's KPIs written out may nest a hundred
            // levels, and polars walks an expression recursively
            Value::Neg(v) => {
                let (x, level) = self.operand(v, plan)?;
                (arithmetic(BinOp::Sub, lit(0), x), level)
            }
            Value::Coalesce(parts) => {
                let mut exprs = Vec::with_capacity(parts.len());
                let mut level = 0;
                for p in parts {
                    let (e, l) = self.operand(p, plan)?;
                    exprs.push(e);
                    level = level.max(l);
                }
                (coalesce(&exprs), level)
            }
        })
    }

    /// An operand of arithmetic: a column of its own unless it reads the states directly.
    fn operand(&mut self, value: &Value, plan: &Plan) -> Result<(Expr, usize)> {
        let (expr, level) = self.value(value, plan)?;
        if matches!(
            value,
            Value::Binary(..) | Value::Share(_) | Value::Neg(_) | Value::Coalesce(_)
        ) {
            let name = format!("__v{}", self.columns.len());
            self.columns.push((name.clone(), expr.alias(name.as_str()), level));
            return Ok((col(name.as_str()), level + 1));
        }
        Ok((expr, level))
    }

    /// Adds the intermediate columns to the merged states, level by level.
    fn add_to(self, frame: LazyFrame) -> LazyFrame {
        with_levels(frame, &self.columns)
    }
}

/// One row per contract with what it delivered up to `as_of` (days since 1970-01-01).
pub fn contract_status(
    posts_plan: &crate::plan::PostsPlan,
    posts: LazyFrame,
    contracts: LazyFrame,
    as_of: i32,
    tz: Option<&str>,
) -> Result<DataFrame> {
    contracts::status(posts, posts_plan, contracts, as_of, tz)
}

/// How many rows repeat an earlier row's value of `column` (nulls never repeat): the posts
/// pass's hashing and collision check, for readers that resolve repeats only when there are.
pub fn repeated_rows(column: &Column) -> Result<u64> {
    use rayon::prelude::*;
    const PIECE: usize = 1 << 18;
    let state = PlRandomState::default();
    let s = column.as_materialized_series().cast(&DataType::String)?;
    let ca = s.str()?;
    let n = ca.len();
    // hashed in parallel pieces: a reader meets a whole file at once
    let hashes: Vec<Vec<Vec<u64>>> = polars_core::runtime::THREAD_POOL.install(|| {
        (0..n.div_ceil(PIECE))
            .into_par_iter()
            .map(|k| {
                let piece = ca.slice((k * PIECE) as i64, PIECE.min(n - k * PIECE));
                kernel::split_id_hashes(&piece.into_series().into_column(), &state)
            })
            .collect::<Result<_>>()
    })?;
    let candidates = kernel::repeated_hashes(&hashes);
    Ok(kernel::repeated_ids(column, Some(&candidates), &state)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{build, Dedupe, Request};

    #[test]
    fn a_run_stops_between_batches_when_interrupted() -> Result<()> {
        let posts = df!(
            "post_id" => ["a", "b", "c"],
            "account_id" => ["x", "x", "y"],
            "likes" => [1_i64, 2, 3],
        )?;
        let columns: Vec<String> = posts.get_column_names().iter().map(|s| s.to_string()).collect();
        let request = Request::new(
            vec!["likes".into()],
            vec!["account_id".into()],
            None,
            "UTC".into(),
            Dedupe::Error,
        );
        let plan = build(&request, Some(&columns), None, None, None, None)?;
        let inputs = || Inputs {
            posts: Some(posts.clone().lazy()),
            posts_slices: Some(vec![(0, 2), (2, 1)]),
            ..Default::default()
        };
        let stop = |_: usize, _: usize| true;
        assert!(matches!(run(&plan, inputs(), &stop), Err(Error::Interrupted)));
        let seen = std::sync::Mutex::new(Vec::new());
        let go = |done: usize, all: usize| {
            if let Ok(mut seen) = seen.lock() {
                seen.push((done, all));
            }
            false
        };
        let out = run(&plan, inputs(), &go)?;
        let likes: Vec<Option<i64>> = out
            .frame
            .column("likes")?
            .i64()?
            .downcast_iter()
            .flat_map(|a| a.iter().map(|v| v.copied()))
            .collect();
        assert_eq!(likes, vec![Some(3), Some(3)]);
        // asked before each slice with the slices done so far
        assert_eq!(seen.lock().map(|s| s.clone()).unwrap_or_default(), vec![(0, 2), (1, 2)]);
        Ok(())
    }
}
