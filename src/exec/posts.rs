//! Posts -> additive partial states at the output grain: the needed columns are read once
//! (polars, in parallel), then one Rust kernel turns them into states (see `kernel`).

use super::accounts::Snapshots;
use super::contracts::{check_currency, Contracts};
use super::kernel::{self, Codes, Num, Op};
use super::{collect, fap_names, first_u64, nonnull_name, ratio_names, sum_name, RowAccount, ALL};
use crate::error::{Error, Result};
use crate::ingest;
use crate::plan::{Dedupe, Metric, Plan, PostsPlan, PERIOD};
use polars::prelude::*;
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

pub(super) const DAY: &str = "__day";
pub(super) const ENG: &str = "__eng";
/// Per-post engagement rate (eng / reach where reach > 0).
const APE: &str = "__ape";
/// Rows of a group without a follower snapshot by their day.
const NO_FAP: &str = "__no_fap";
const TABLE: &str = "posts";
/// Posts inside a contract window (a state: summed in rollups).
pub(super) const DELIVERED: &str = "p:delivered";

/// The distinct values of `columns`, one row per code of `keys`, with the code (`kernel::ACCOUNT`).
fn distinct_keys(df: &DataFrame, columns: &[String], keys: &Codes) -> Result<DataFrame> {
    let mut out = Vec::new();
    for k in columns {
        out.push(df.column(k)?.take_slice(&keys.first)?);
    }
    let codes: Vec<u32> = (0..keys.n() as u32).collect();
    out.push(Column::new(kernel::ACCOUNT.into(), codes));
    Ok(DataFrame::new(keys.n(), out)?)
}

fn metric_column(m: &Metric) -> &str {
    match m {
        Metric::Column(c) => c.as_str(),
        Metric::Eng => ENG,
    }
}

/// Rule 3: the sum of the components present; null only when every component is null.
fn engagement_expr(pp: &PostsPlan) -> Option<Expr> {
    let parts: Vec<Expr> = pp
        .components
        .iter()
        .map(|c| match c.as_str() {
            // reactions replace likes where a platform reports them instead; never both
            "likes|reactions" => when(col("likes").is_null())
                .then(col("reactions"))
                .otherwise(col("likes")),
            other => col(other),
        })
        .collect();
    let all_null = parts.iter().map(|p| p.clone().is_null()).reduce(|a, b| a.and(b))?;
    let total = parts.into_iter().map(|p| p.fill_null(lit(0))).reduce(|a, b| a + b)?;
    Some(when(all_null).then(lit(NULL)).otherwise(total))
}

/// Checks `post_id` for repeats, or keeps the last row of each post.
fn deduplicate(plan: &Plan, id: &str, df: DataFrame, rows: &mut RowAccount) -> Result<DataFrame> {
    match plan.dedupe {
        Dedupe::Last => {
            let before = df.height();
            // Posts without an id are not repeats of each other.
            let with_id = df.clone().lazy().filter(col(id).is_not_null()).collect()?;
            let with_id = with_id.unique_stable(Some(&[id.to_string()]), UniqueKeepStrategy::Last, None)?;
            let deduped = concat(
                [with_id.lazy(), df.lazy().filter(col(id).is_null())],
                UnionArgs::default(),
            )?
            .collect()?;
            rows.drop(
                TABLE,
                "duplicate post_id (dedupe='last' kept the last row)",
                before.saturating_sub(deduped.height()) as u64,
            );
            Ok(deduped)
        }
        Dedupe::Error => {
            let (repeated, examples) = kernel::repeated_ids(df.column(id)?)?;
            if repeated > 0 {
                return Err(Error::input(
                    "duplicate_post_id",
                    format!(
                        "posts has {repeated} repeated post_id rows (for example {}); each post must appear once. Pass dedupe='last' to keep the last row of each post, or remove the repeats",
                        examples.join(", ")
                    ),
                ));
            }
            Ok(df)
        }
    }
}

/// Counts negative values of a column (error path only).
fn negative_error(df: &DataFrame, column: &str) -> Error {
    let n = collect(
        df.clone()
            .lazy()
            .select([col(column).lt(lit(0)).sum().cast(DataType::UInt64).alias("n")]),
    )
    .map(|df| first_u64(&df, "n"))
    .unwrap_or(0);
    Error::input(
        "negative_value",
        format!("column '{column}' of posts has {n} negative values; counts cannot be negative. Fix or filter those rows before computing"),
    )
}

/// Reads the columns the plan needs: counts coerced, times reduced to days in the report
/// zone, the engagement sum and the per-post engagement rate computed alongside.
fn read(tz: Option<&str>, pp: &PostsPlan, mut lf: LazyFrame) -> Result<LazyFrame> {
    let schema = lf
        .collect_schema()
        .map_err(|e| Error::input("unreadable_table", format!("could not read the posts table: {e}")))?;
    let dtype = |c: &str| {
        schema
            .get(c)
            .cloned()
            .ok_or_else(|| Error::schema("missing_column", format!("column '{c}' is missing from posts")))
    };
    let mut select: Vec<Expr> = Vec::new();
    for c in &pp.columns {
        let expr = if pp.count_columns.contains(c) {
            ingest::count_expr(c, &dtype(c)?, TABLE)?
        } else if c == "published_at" {
            ingest::day_expr(c, &dtype(c)?, tz, TABLE)?.alias(DAY)
        } else {
            col(c.as_str())
        };
        select.push(expr);
    }
    let mut lf = lf.select(select);
    if let Some(eng) = engagement_expr(pp) {
        lf = lf.with_column(eng.alias(ENG));
    }
    if pp.per_post_engagement_rate {
        let ok = col(ENG).is_not_null().and(col("reach").gt(lit(0)));
        let rate = col(ENG).cast(DataType::Float64) / col("reach").cast(DataType::Float64);
        lf = lf.with_column(when(ok).then(rate).otherwise(lit(NULL)).alias(APE));
    }
    Ok(lf)
}

/// The posts columns of `contract_status`: the contract match, the day, engagements, reach.
pub(super) fn read_for_contracts(pp: &PostsPlan, lf: LazyFrame, tz: Option<&str>) -> Result<LazyFrame> {
    read(tz, pp, lf)
}

/// The kernel's work list: which sums, counts and followers-at-post sums each state needs,
/// and states that equal another one (a ratio side whose other side is never null is the
/// plain sum): (existing state, alias).
fn state_ops<'a>(pp: &PostsPlan, df: &'a DataFrame) -> Result<(Vec<Op<'a>>, Vec<(String, String)>)> {
    let num = |m: &Metric| Num::of(df.column(metric_column(m))?);
    let mut ops = Vec::new();
    let mut aliases = Vec::new();
    for m in &pp.sums {
        ops.push(Op::Sum {
            value: num(m)?,
            sum: sum_name(m),
            count: Some(nonnull_name(m)),
            mask: None,
        });
    }
    for (a, b) in &pp.ratios {
        // rule 1: both sums over the rows where both inputs are present
        let (na, nb) = (num(a)?, num(b)?);
        let (n, d) = ratio_names(a, b);
        for (value, metric, other, name) in [(na, a, nb, n), (nb, b, na, d)] {
            let mask = other.validity();
            if mask.is_none() && pp.sums.contains(metric) {
                aliases.push((sum_name(metric), name));
            } else {
                ops.push(Op::Sum {
                    value,
                    sum: name,
                    count: None,
                    mask,
                });
            }
        }
    }
    if pp.per_post_engagement_rate {
        ops.push(Op::Sum {
            value: Num::of(df.column(APE)?)?,
            sum: "ape:sum".into(),
            count: Some("ape:n".into()),
            mask: None,
        });
    }
    for m in &pp.at_followers {
        let (n, d) = fap_names(m);
        ops.push(Op::AtFollowers {
            value: num(m)?,
            num: n,
            den: d,
        });
    }
    Ok((ops, aliases))
}

/// The posts' partial states at the output grain `keys`.
pub(super) fn states(
    plan: &Plan,
    pp: &PostsPlan,
    lf: LazyFrame,
    snapshots: Option<&Snapshots>,
    contracts: Option<&Contracts>,
    keys: &[String],
    rows: &mut RowAccount,
) -> Result<DataFrame> {
    let lf = read(plan.tz.as_deref(), pp, lf)?;
    let mut df = rows.time("posts_read_s", |_| collect(lf))?;
    rows.read.push((TABLE.to_string(), df.height() as u64));
    if let Some(id) = &pp.post_id {
        df = rows.time("posts_duplicates_s", |rows| deduplicate(plan, id, df, rows))?;
    }
    if pp.currency {
        check_currency(&df, TABLE)?;
    }
    for c in pp.count_columns.iter().filter(|c| !pp.signed_columns.contains(c)) {
        let min = df.column(c)?.as_materialized_series().min::<f64>()?;
        if min.is_some_and(|v| v < 0.0) {
            return Err(negative_error(&df, c));
        }
    }

    // The grain of the kernel: the dimensions (and the account when account attributes are
    // joined later) and the period.
    let mut grain: Vec<String> = pp.dims.clone();
    if !pp.attribute_dims.is_empty() {
        for k in &plan.account_key {
            if !grain.contains(k) {
                grain.push(k.clone());
            }
        }
    }
    let started = std::time::Instant::now();
    let n = df.height();
    let mut encoded: Vec<String> = grain.clone();
    let mut extra: Vec<&String> = Vec::new();
    if !pp.at_followers.is_empty() {
        extra.extend(&plan.account_key);
    }
    if pp.delivered {
        extra.extend(&pp.contract_match);
    }
    for k in extra {
        if !encoded.contains(k) {
            encoded.push(k.clone());
        }
    }
    let codes: Vec<Codes> = THREAD_POOL.install(|| {
        encoded
            .par_iter()
            .map(|c| kernel::encode(df.column(c)?))
            .collect::<Result<Vec<_>>>()
    })?;
    let code_of = |name: &String| encoded.iter().position(|c| c == name).map(|i| &codes[i]);
    rows.stages
        .push(("posts_encode_s".into(), started.elapsed().as_secs_f64()));
    let days = if pp.needs_time {
        Some(kernel::days(df.column(DAY)?)?)
    } else {
        None
    };
    let periods = match (plan.every, &days) {
        (Some(every), Some(days)) => Some(kernel::period_codes(days, every)),
        _ => None,
    };
    let mut parts: Vec<&Codes> = grain.iter().filter_map(code_of).collect();
    if let Some((p, _)) = &periods {
        parts.push(p);
    }
    let groups = kernel::combine_all(&parts, n);
    rows.stages
        .push(("posts_periods_s".into(), started.elapsed().as_secs_f64()));

    let fap = match (&days, pp.at_followers.is_empty()) {
        (Some(days), false) => {
            let snaps = snapshots.ok_or_else(|| Error::Internal("followers-at-post without snapshots".into()))?;
            let key: Vec<&Codes> = plan.account_key.iter().filter_map(code_of).collect();
            let accounts = kernel::combine_all(&key, n);
            // the posts' distinct accounts, numbered by their code, meet their snapshots
            let index = snaps.follower_index(distinct_keys(&df, &plan.account_key, &accounts)?)?;
            Some(kernel::followers_at_post(&index, &accounts.codes, days))
        }
        _ => None,
    };
    let delivered = match (&days, pp.delivered) {
        (Some(days), true) => {
            let contracts = contracts.ok_or_else(|| Error::Internal("delivery without contracts".into()))?;
            let key: Vec<&Codes> = pp.contract_match.iter().filter_map(code_of).collect();
            let keyed = kernel::combine_all(&key, n);
            let index = contracts.windows(&pp.contract_match, distinct_keys(&df, &pp.contract_match, &keyed)?)?;
            Some(kernel::count_where(&groups.codes, groups.n(), |row| {
                index.contains(keyed.codes[row], days[row])
            }))
        }
        _ => None,
    };
    rows.stages
        .push(("posts_groups_s".into(), started.elapsed().as_secs_f64()));

    let started = std::time::Instant::now();
    let (row_counts, no_fap) = kernel::row_counts(&groups.codes, groups.n(), fap.as_deref());
    let (ops, aliases) = state_ops(pp, &df)?;
    let mut state_columns = kernel::run_ops(&ops, &groups, fap.as_deref())?;
    for (from, to) in aliases {
        let same = state_columns
            .iter()
            .find(|c| c.name().as_str() == from)
            .ok_or_else(|| Error::Internal(format!("state {from} was not computed")))?;
        state_columns.push(same.clone().with_name(to.into()));
    }
    let mut columns = Vec::new();
    for k in &grain {
        columns.push(df.column(k)?.take_slice(&groups.first)?);
    }
    if let Some((p, starts)) = &periods {
        let first: Int32Chunked = groups
            .first
            .iter()
            .map(|&row| starts[p.codes[row as usize] as usize])
            .collect();
        columns.push(
            first
                .into_series()
                .cast(&DataType::Date)?
                .with_name(PERIOD.into())
                .into(),
        );
    } else if plan.every.is_some() {
        return Err(Error::Internal("periods without published_at".into()));
    }
    if columns.is_empty() {
        columns.push(Column::new(ALL.into(), vec![true; groups.n()]));
    }
    columns.push(Column::new("rows".into(), row_counts));
    if fap.is_some() {
        columns.push(Column::new(NO_FAP.into(), no_fap));
    }
    if let Some(d) = delivered {
        columns.push(Column::new(DELIVERED.into(), d));
    }
    columns.extend(state_columns);
    let states = DataFrame::new(groups.n(), columns)?;
    drop(ops);
    drop(df);
    let mut df = states;
    rows.stages
        .push(("posts_states_s".into(), started.elapsed().as_secs_f64()));

    // Rows without a time, or without the account they are grouped by, have no group.
    let mut missing: Vec<(&str, Expr)> = Vec::new();
    if plan.every.is_some() {
        // (with every=None such posts still count; they only miss followers-at-post)
        missing.push(("missing published_at", col(PERIOD).is_null()));
    }
    if plan.by.iter().any(|d| d == "account_id") && pp.dims.iter().any(|d| d == "account_id") {
        missing.push(("missing account_id", col("account_id").is_null()));
    }
    for (reason, is_missing) in &missing {
        let n = sum_u64(df.clone().lazy().filter(is_missing.clone()), "rows")?;
        if n > 0 {
            rows.drop(TABLE, reason, n);
            df = df.lazy().filter(is_missing.clone().not()).collect()?;
        }
    }
    if fap.is_some() {
        rows.drop(
            TABLE,
            "no follower snapshot on or before the post's day (left out of followers-at-post KPIs only)",
            sum_u64(df.clone().lazy(), NO_FAP)?,
        );
    }

    let started = std::time::Instant::now();
    let mut out = df.lazy();
    if !pp.attribute_dims.is_empty() {
        let snaps = snapshots.ok_or_else(|| Error::Internal("account attributes without snapshots".into()))?;
        out = snaps.join_attributes(out, &pp.attribute_dims)?;
    }
    let mut grain = grain;
    if plan.every.is_some() {
        grain.push(PERIOD.to_string());
    }
    if grain.is_empty() {
        grain.push(ALL.to_string());
    }
    if grain.as_slice() != keys {
        // rollup: coarser groups are sums of finer ones
        let names: Vec<PlSmallStr> = out
            .collect_schema()?
            .iter_names()
            .filter(|n| n.contains(':') || n.as_str() == "rows")
            .cloned()
            .collect();
        let sums: Vec<Expr> = names.iter().map(|n| col(n.clone()).sum()).collect();
        if keys.iter().any(|k| k == ALL) {
            out = out.with_column(lit(true).alias(ALL));
        }
        let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
        out = out.group_by(group).agg(sums);
    }
    let df = out.collect()?;
    rows.stages
        .push(("posts_rollup_s".into(), started.elapsed().as_secs_f64()));
    Ok(df)
}

fn sum_u64(lf: LazyFrame, column: &str) -> Result<u64> {
    let df = lf.select([col(column).sum().cast(DataType::UInt64)]).collect()?;
    Ok(first_u64(&df, column))
}
