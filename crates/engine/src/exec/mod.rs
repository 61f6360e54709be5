//! Execution: each table into additive partial states at the output grain (posts through a
//! Rust kernel over the columns read once, with followers-at-post looked up per row;
//! snapshots through polars), a rollup of the states, and the KPI formulas applied to the
//! merged states.

pub(crate) mod accounts;
pub mod compare;
mod contracts;
mod coverage;
mod dedupe;
mod derived;
mod events;
mod kernel;
mod memo;
mod overflow;
mod parquet;
mod pass;
mod posts;
pub mod range;
mod spill;
mod states;
mod traffic;
pub mod window;

use crate::error::{Error, Result};
use crate::error::{InputCode, QueryCode, SchemaCode};
use crate::expr::{arithmetic, ratio};
pub use crate::ingest::collect;
pub use crate::periods::{period_column, with_period};
pub use crate::plan::{output_keys, ALL};
use crate::plan::{Metric, Origin, Plan, Value, PERIOD};
use crate::schema::StateColumn;
pub(crate) use crate::states::stack_coverage;
pub use crate::states::RowAccount;
use crate::states::{Block, PartialStates, Source};
use polars::prelude::*;
use socialkpi_formula::{BinOp, Native};

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

/// The tables of a run, as the caller handed them over.
#[derive(Default)]
pub struct Inputs {
    pub posts: Option<LazyFrame>,
    /// Row ranges to read the posts by (None: stream them through polars' engine).
    pub posts_slices: Option<Vec<(i64, usize)>>,
    /// The Parquet files the slices are row groups of (None: not files, or not all Parquet).
    pub posts_parquet: Option<Vec<crate::ingest::ParquetFile>>,
    /// The CSV files of the posts, read a block at a time (None: not files, or not all CSV).
    pub posts_csv: Option<Vec<crate::ingest::csv::CsvFile>>,
    pub accounts: Option<LazyFrame>,
    pub contracts: Option<LazyFrame>,
    pub traffic: Option<LazyFrame>,
    pub events: Option<LazyFrame>,
    /// The memory the `post_id` repeat check may hold, in bytes, before it spills its hashes
    /// to temporary files (None: no limit; see `spill`).
    pub memory_limit: Option<u64>,
    /// Whether the states keep their posts' id hashes (`sk.partial`): the pass then hashes
    /// the ids as states keep them and hands them over (`PartialStates::post_ids`).
    pub keep_post_ids: bool,
    /// What earlier runs of the same request (the hash) made of the same accounts table, to
    /// use again and to add to (see `memo`).
    pub accounts_memo: Option<(Arc<AccountsMemo>, u64)>,
    /// The posts' states only: the tables passed whole beside them (accounts, contracts,
    /// traffic, conversions) are read only as far as the posts pass needs them (followers-at-
    /// post, delivery), and neither their states nor their rows come with these states. For
    /// the parts of a cluster run but one, which makes them once for all.
    pub posts_only: bool,
}

pub use memo::AccountsMemo;
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
pub fn partial(plan: &Plan, mut inputs: Inputs, interrupted: Interrupt<'_>) -> Result<PartialStates> {
    let mut rows = RowAccount::default();
    let mut warnings = plan.warnings.clone();
    let keys = output_keys(plan);
    let posts_only = inputs.posts_only;
    // (a part of the posts only needs the contracts for delivery, not for their own states)
    let delivered = plan.posts.as_ref().is_some_and(|pp| pp.delivered);
    let contracts = if posts_only && !delivered {
        None
    } else {
        load_contracts(plan, &mut inputs, &mut rows, &mut warnings)?
    };
    let memo = inputs.accounts_memo.take();
    let snapshots = load_snapshots(plan, inputs.accounts.take(), &mut rows, memo)?;
    let states = table_states(
        plan,
        &keys,
        inputs,
        &snapshots,
        contracts.as_ref(),
        interrupted,
        &mut rows,
    )?;
    warnings.append(&mut rows.warnings);
    rows.absorb(states.others.rows);
    warnings.extend(states.others.warnings);
    let contract_states = match (&plan.contracts, &contracts) {
        (Some(cp), Some(c)) if !posts_only => Some(rows.time("contracts_states_s", |_| c.states(plan, cp, &keys))?),
        _ => None,
    };
    if posts_only {
        // (the part that states the whole tables counts their rows)
        rows.read.retain(|(table, _)| table == posts::TABLE);
        rows.dropped.retain(|(table, _, _)| table == posts::TABLE);
    }
    let (account_flows, snapshot_states) = match states.accounts {
        Some((flows, snapshots)) => (Some(flows), snapshots),
        None => (None, None),
    };
    let (post_states, post_ids) = match states.posts {
        Some((frame, ids)) => (Some(frame), ids),
        None => (None, None),
    };
    let blocks = [
        (Source::Posts, post_states),
        (Source::Accounts, account_flows),
        (Source::Snapshots, snapshot_states),
        (Source::Contracts, contract_states),
        (Source::Traffic, states.others.traffic),
        (Source::Conversions, states.others.events),
    ]
    .into_iter()
    .filter_map(|(source, frame)| frame.map(|frame| Block::new(source, frame)))
    .collect();
    let coverage = stack_coverage(std::mem::take(&mut rows.coverage))?;
    Ok(PartialStates {
        blocks,
        post_ids: post_ids.map(crate::states::PostIds::new),
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

/// The contracts (the delivery lookup of the posts pass, and their own states), with their
/// open ends closed by the posts' last day; their warnings go to `warnings`.
fn load_contracts(
    plan: &Plan,
    inputs: &mut Inputs,
    rows: &mut RowAccount,
    warnings: &mut Vec<String>,
) -> Result<Option<contracts::Contracts>> {
    let (cp, lf) = match (&plan.contracts, inputs.contracts.take()) {
        (Some(cp), Some(lf)) => (cp, lf),
        (Some(_), None) => return Err(missing_table("contracts")),
        _ => return Ok(None),
    };
    let mut c = rows.time("contracts_load_s", |rows| {
        rows.coverage
            .push(coverage::of_contracts(lf.clone(), cp.coverage_account)?);
        contracts::Contracts::load(Some(&cp.columns), lf, rows)
    })?;
    // open-ended contracts end with the data: the posts' last day is read first
    if c.has_open_ends()? {
        let last = match (&inputs.posts, &plan.posts) {
            (Some(lf), Some(_)) => {
                contracts::last_post_day(lf.clone(), inputs.posts_parquet.as_deref(), plan.tz.as_deref())?
            }
            _ => None,
        };
        c.close_open_ends(last)?;
    }
    warnings.extend(c.warnings.iter().cloned());
    Ok(Some(c))
}

/// The accounts' snapshots (the followers-at-post lookup, and their own states): from the
/// memo when an earlier run of the request loaded them (its rows and warnings counted again),
/// else loaded, and kept in the memo when there is one.
fn load_snapshots(
    plan: &Plan,
    accounts: Option<LazyFrame>,
    rows: &mut RowAccount,
    memo: Option<(Arc<AccountsMemo>, u64)>,
) -> Result<Loaded> {
    let (ap, lf) = match (&plan.accounts, accounts) {
        (Some(ap), Some(lf)) => (ap, lf),
        (Some(_), None) => return Err(missing_table("accounts")),
        _ => return Ok(Loaded::default()),
    };
    let started = std::time::Instant::now();
    // the load's rows, drops and warnings, and its time
    let count = |rows: &mut RowAccount, mut load: RowAccount| {
        rows.warnings.append(&mut load.warnings);
        rows.absorb(load);
        rows.stages
            .push(("accounts_load_s".into(), started.elapsed().as_secs_f64()));
    };
    if let Some(made) = memo.as_ref().and_then(|(memo, request)| memo.get(*request)) {
        count(rows, made.rows.clone());
        return Ok(Loaded {
            snapshots: Some(made.snapshots.clone()),
            made: Some(made),
        });
    }
    let mut own = RowAccount::default();
    let snapshots = Arc::new(accounts::Snapshots::load(plan, ap, lf, &mut own)?);
    let made = memo.map(|(memo, request)| memo.keep(request, snapshots.clone(), own.clone()));
    count(rows, own);
    Ok(Loaded {
        snapshots: Some(snapshots),
        made,
    })
}

/// The accounts' snapshots as loaded (none without an accounts table), and the memo's record
/// of them when the run was given a memo.
#[derive(Default)]
struct Loaded {
    snapshots: Option<Arc<accounts::Snapshots>>,
    made: Option<Arc<memo::Made>>,
}

/// The states of the posts, the accounts, and traffic and conversions, from one run each.
struct TableStates {
    /// The posts' states, and their distinct id hashes when kept (`Inputs::keep_post_ids`).
    posts: Option<(DataFrame, Option<Vec<u64>>)>,
    /// The accounts' flows, and their follower snapshots' states.
    accounts: Option<(DataFrame, Option<DataFrame>)>,
    others: OtherStates,
}

/// Traffic's and the conversions' states, with the rows and warnings of their reads.
#[derive(Default)]
struct OtherStates {
    traffic: Option<DataFrame>,
    events: Option<DataFrame>,
    rows: RowAccount,
    warnings: Vec<String>,
}

/// The account, traffic and conversion states need no posts: they are grouped beside the
/// posts pass (traffic and conversions with row accounts of their own).
fn table_states(
    plan: &Plan,
    keys: &[String],
    inputs: Inputs,
    loaded: &Loaded,
    contracts: Option<&contracts::Contracts>,
    interrupted: Interrupt<'_>,
    rows: &mut RowAccount,
) -> Result<TableStates> {
    let (snapshots, made) = (loaded.snapshots.as_deref(), loaded.made.as_deref());
    let Inputs {
        posts,
        posts_slices,
        posts_parquet,
        posts_csv,
        traffic,
        events,
        memory_limit,
        keep_post_ids,
        posts_only,
        ..
    } = inputs;
    std::thread::scope(|scope| -> Result<_> {
        let accounts_job = match (&plan.accounts, snapshots) {
            (Some(ap), Some(s)) if ap.defines_rows && !posts_only => Some(scope.spawn(|| {
                let started = std::time::Instant::now();
                (account_states(plan, ap, keys, s, made), started.elapsed().as_secs_f64())
            })),
            _ => None,
        };
        let others_job = (!posts_only).then(|| scope.spawn(|| other_states(plan, keys, traffic, events, snapshots)));
        let post_states = match (&plan.posts, posts) {
            (Some(pp), Some(lf)) => Some(posts::states(
                plan,
                pp,
                lf,
                loaded,
                contracts,
                posts_slices.as_deref(),
                posts_parquet.as_deref(),
                posts_csv.as_deref(),
                interrupted,
                keys,
                rows,
                memory_limit,
                keep_post_ids,
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
        let others = match others_job.map(|job| job.join()) {
            Some(Ok(others)) => others,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Ok(OtherStates::default()),
        };
        Ok(TableStates {
            posts: post_states.transpose()?,
            accounts: account_states.transpose()?,
            others: others?,
        })
    })
}

/// The accounts' states: from the memo when an earlier run of the request made them, else
/// made (and kept in the memo when there is one).
fn account_states(
    plan: &Plan,
    ap: &crate::plan::AccountsPlan,
    keys: &[String],
    snapshots: &accounts::Snapshots,
    made: Option<&memo::Made>,
) -> Result<memo::AccountStates> {
    if let Some(states) = made.and_then(|m| m.states.get()) {
        return Ok(states.clone());
    }
    let states = snapshots.states(plan, ap, keys)?;
    if let Some(m) = made {
        // (two runs at once may both make them: the same states, the first kept)
        let _ = m.states.set(states.clone());
    }
    Ok(states)
}

/// Traffic's and the conversions' states (and the accounts' coverage), with row accounts of
/// their own.
fn other_states(
    plan: &Plan,
    keys: &[String],
    traffic: Option<LazyFrame>,
    events: Option<LazyFrame>,
    snapshots: Option<&accounts::Snapshots>,
) -> Result<OtherStates> {
    let (mut rows, mut warnings) = (RowAccount::default(), Vec::new());
    if let Some(s) = snapshots {
        rows.coverage
            .push(coverage::of_table("accounts", s.frame(), "date", "date")?);
    }
    let traffic = match (&plan.traffic, traffic) {
        (Some(tp), Some(lf)) => Some(rows.time("traffic_states_s", |rows| {
            traffic::states(plan, tp, lf, keys, rows, &mut warnings)
        })?),
        (Some(_), None) => return Err(missing_table("traffic")),
        _ => None,
    };
    let events = match (&plan.events, events) {
        (Some(ep), Some(lf)) => {
            Some(rows.time("conversions_states_s", |rows| events::states(plan, ep, lf, keys, rows))?)
        }
        (Some(_), None) => return Err(missing_table("conversions")),
        _ => None,
    };
    Ok(OtherStates {
        traffic,
        events,
        rows,
        warnings,
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
    let tables = tables_of(plan, blocks, &keys, &mut rows)?;
    let tables = relabel(tables)?;
    let joined = join_tables(tables, &keys, &mut rows)?;
    let frame = kpi_frame(plan, joined)?;
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

/// The blocks' frames, with the followers derived from the snapshots in place of them.
fn tables_of(plan: &Plan, blocks: Vec<Block>, keys: &[String], rows: &mut RowAccount) -> Result<Vec<DataFrame>> {
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
        let followers = accounts::followers(&snapshots, &plan.account_key, keys, plan.every.is_some())?;
        rows.stages.push(("followers_s".into(), t.elapsed().as_secs_f64()));
        tables.push(followers);
    }
    Ok(tables)
}

/// Every (group, period) of any table appears: full joins of the states on the keys.
fn join_tables(tables: Vec<DataFrame>, keys: &[String], rows: &mut RowAccount) -> Result<DataFrame> {
    let t = std::time::Instant::now();
    let mut joined: Option<DataFrame> = None;
    for states in tables {
        joined = Some(match joined {
            None => states,
            Some(left) => {
                let (left, right) = align_as_text(left.lazy(), states.lazy(), keys)?;
                let on: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
                let mut args = JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns);
                args.nulls_equal = true;
                left.join(right, on.clone(), on, args).collect()?
            }
        });
    }
    let joined = joined.ok_or_else(|| Error::Internal("no table was read".into()))?;
    rows.stages.push(("join_s".into(), t.elapsed().as_secs_f64()));
    Ok(joined)
}

/// The result: the `by` dimensions, the period and each KPI's formula over the joined
/// states, sorted by the dimensions and the period.
fn kpi_frame(plan: &Plan, joined: DataFrame) -> Result<DataFrame> {
    // which tables cover each group and period (rule 7): read by the flows' formulas
    let covered = coverage::columns(plan, joined.schema())?;
    let joined = joined.lazy().with_columns(covered);
    let mut select: Vec<Expr> = plan.by.iter().map(|d| col(d.as_str())).collect();
    if plan.every.is_some() {
        select.push(col(PERIOD));
    }
    let mut intermediate = Intermediate::default();
    for kpi in &plan.outputs {
        let (value, _) = intermediate.value(kpi.value(), plan)?;
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
    Ok(out.collect()?)
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

pub(crate) use crate::plan::{followers_at_post_names, nonnull_name, ratio_names, sum_name};

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
    let (sum, reported) = (StateColumn::Sum(metric.clone()), StateColumn::Reported(metric.clone()));
    coverage::where_covered(
        Source::Posts,
        states_flow(StateColumn::Rows(Source::Posts), sum, reported),
    )
}

/// A state column's values.
fn of(column: StateColumn) -> Expr {
    col(column.name())
}

/// [`flow`] over state columns.
fn states_flow(rows: StateColumn, sum: StateColumn, reported: StateColumn) -> Expr {
    flow(&rows.name(), &sum.name(), &reported.name())
}

/// Cost: the posts' spend (a flow) plus pro-rated contract fees, each known only where its
/// table covers the group and period (rule 7). Null when neither part is known; a part that
/// is unknown (or reported as null) counts as 0 beside a known one.
fn cost(plan: &Plan) -> Result<Expr> {
    let spend_metric = Metric::Column("spend".into());
    let spend = plan.posts.as_ref().is_some_and(|p| p.sums.contains(&spend_metric));
    let fees = plan.contracts.as_ref().is_some_and(|c| c.fee);
    let spend_flow = || covered_post_flow(&spend_metric).cast(DataType::Float64);
    let fee = || coverage::where_covered(Source::Contracts, of(StateColumn::Fee).fill_null(lit(0.0)));
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

/// A measure across tables that the formula language names, from the states of the table
/// it reads.
fn measure(native: Native, plan: &Plan) -> Result<Expr> {
    use StateColumn as S;
    let within = coverage::where_covered;
    let account_flow = |m: &str| {
        states_flow(
            S::Rows(Source::Accounts),
            S::AccountSum(m.into()),
            S::AccountReported(m.into()),
        )
    };
    Ok(match native {
        Native::Followers => col(accounts::FOLLOWERS),
        Native::FollowersStart => col(accounts::FOLLOWERS_START),
        // daily flows of the accounts table (mentions, profile visits), summed over days
        Native::AccountsSum(m) => account_flow(m),
        Native::Cost => cost(plan)?,
        Native::Agreed => of(S::Agreed).fill_null(lit(0.0)),
        Native::Delivered => of(S::Delivered).fill_null(lit(0)),
        // sessions from social sources: 0 where the group has no social rows, null where its
        // social rows reported no sessions
        Native::Referral => within(
            Source::Traffic,
            states_flow(S::SocialRows, S::Referral, S::ReferralReported),
        ),
        Native::Sessions => within(Source::Traffic, traffic_flow("sessions")),
        Native::Attributed(m) => attributed(m, plan)?,
    })
}

/// A flow of the traffic table's column `c`.
fn traffic_flow(c: &str) -> Expr {
    use StateColumn as S;
    states_flow(
        S::Rows(Source::Traffic),
        S::TrafficSum(c.into()),
        S::TrafficReported(c.into()),
    )
}

/// Conversions, revenue or leads, each from the one table the plan chose: null where that
/// table does not cover the group and period (rule 7).
fn attributed(measure: &str, plan: &Plan) -> Result<Expr> {
    use StateColumn as S;
    let within = coverage::where_covered;
    Ok(match (measure, plan.origins.of(measure)) {
        (_, Some(Origin::Posts)) => covered_post_flow(&Metric::Column(measure.to_string())),
        (_, Some(Origin::Traffic)) => within(Source::Traffic, traffic_flow(measure)),
        ("leads", Some(Origin::Accounts)) => within(
            Source::Accounts,
            states_flow(
                S::Rows(Source::Accounts),
                S::AccountSum("leads".into()),
                S::AccountReported("leads".into()),
            ),
        ),
        ("conversions", Some(Origin::Events)) => within(Source::Conversions, of(S::Sales).fill_null(lit(0))),
        ("leads", Some(Origin::Events)) => within(Source::Conversions, of(S::Leads).fill_null(lit(0))),
        ("revenue", Some(Origin::Events)) => within(
            Source::Conversions,
            states_flow(S::Sales, S::SaleValue, S::SaleValueReported),
        ),
        _ => return Err(Error::Internal(format!("no table for {measure}"))),
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
                    coverage::where_covered(Source::Posts, value)
                } else {
                    value
                };
                (value, 0)
            }
            Value::Count(name) => (state(name).fill_null(lit(0)).cast(DataType::Int64), 0),
            Value::Ratio(num, den) => (ratio(state(num), state(den)), 0),
            Value::Measure(native) => (measure(*native, plan)?, 0),
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

    #[test]
    fn a_memo_of_the_accounts_gives_the_states_and_rows_of_a_fresh_load() -> Result<()> {
        let posts = df!(
            "post_id" => ["a", "b", "c", "d"],
            "account_id" => ["x", "x", "y", "y"],
            "published_at" => [0_i64, 86_400_000_000, 86_400_000_000, 3 * 86_400_000_000],
            "likes" => [1_i64, 2, 3, 4],
            "reach" => [10_i64, 20, 30, 40],
        )?
        .lazy()
        .with_column(col("published_at").cast(DataType::Datetime(TimeUnit::Microseconds, None)))
        .collect()?;
        // a snapshot without a date is dropped and counted, in every run
        let accounts = df!(
            "account_id" => ["x", "x", "y", "y"],
            "date" => [Some(0_i32), Some(2), Some(0), None],
            "followers" => [100_i64, 110, 200, 210],
        )?
        .lazy()
        .with_column(col("date").cast(DataType::Date))
        .collect()?;
        let names = |df: &DataFrame| -> Vec<String> { df.get_column_names().iter().map(|s| s.to_string()).collect() };
        let plan_of = |every: &str| -> Result<Plan> {
            let request = Request::new(
                vec!["posts".into(), "followers".into(), "engagement_rate_followers".into()],
                vec!["account_id".into()],
                Some(every.into()),
                "UTC".into(),
                Dedupe::Error,
            );
            build(
                &request,
                Some(&names(&posts)),
                Some(&names(&accounts)),
                None,
                None,
                None,
            )
        };
        let no_stop = |_: usize, _: usize| false;
        let run_with = |plan: &Plan, memo: Option<(Arc<AccountsMemo>, u64)>| -> Result<PartialStates> {
            let inputs = Inputs {
                posts: Some(posts.clone().lazy()),
                accounts: Some(accounts.clone().lazy()),
                accounts_memo: memo,
                ..Default::default()
            };
            partial(plan, inputs, &no_stop)
        };
        let same = |a: &PartialStates, b: &PartialStates| {
            assert_eq!(a.blocks.len(), b.blocks.len());
            // (a block's groups come in polars' group-by order, which varies from run to run)
            let sorted = |df: &DataFrame| df.sort(df.get_column_names_owned(), SortMultipleOptions::default());
            for (x, y) in a.blocks.iter().zip(&b.blocks) {
                let (x, y) = (sorted(&x.frame), sorted(&y.frame));
                assert!(matches!((&x, &y), (Ok(x), Ok(y)) if x.equals_missing(y)));
            }
            assert_eq!(a.rows.read, b.rows.read);
            assert_eq!(a.rows.dropped, b.rows.dropped);
            assert_eq!(a.warnings, b.warnings);
        };
        let (daily, monthly) = (plan_of("1d")?, plan_of("1mo")?);
        let fresh = run_with(&daily, None)?;
        assert!(fresh.rows.dropped.iter().any(|(t, _, n)| t == "accounts" && *n == 1));
        let memo = Arc::new(AccountsMemo::default());
        let filled = run_with(&daily, Some((memo.clone(), 1)))?;
        let reused = run_with(&daily, Some((memo.clone(), 1)))?;
        same(&fresh, &filled);
        same(&fresh, &reused);
        assert!(memo
            .get(1)
            .is_some_and(|m| m.states.get().is_some() && m.followers.get().is_some()));
        // another request loads again, and takes the memo's place
        let other = run_with(&monthly, Some((memo.clone(), 2)))?;
        same(&run_with(&monthly, None)?, &other);
        assert!(memo.get(1).is_none() && memo.get(2).is_some());
        Ok(())
    }
}
