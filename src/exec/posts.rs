//! Posts -> additive partial states at the output grain, in one pass over the table.

use super::accounts::Snapshots;
use super::{
    collect, fap_names, first_u64, min_name, nonnull_name, period_of, ratio_names, sum_name, RowAccount, ALL, ENG_KEY,
};
use crate::error::{Error, Result};
use crate::ingest;
use crate::plan::{Dedupe, Metric, Plan, PostsPlan, PERIOD};
use polars::prelude::*;

const DAY: &str = "__day";
const ENG: &str = "__eng";
const TABLE: &str = "posts";

fn metric_expr(m: &Metric) -> Expr {
    match m {
        Metric::Column(c) => col(c.as_str()),
        Metric::Eng => col(ENG),
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
fn deduplicate(plan: &Plan, id: &str, lf: LazyFrame, rows: &mut RowAccount) -> Result<LazyFrame> {
    match plan.dedupe {
        Dedupe::Last => {
            let before = collect(lf.clone().select([len().alias("n")]))?;
            // Posts without an id are not repeats of each other. The in-memory engine keeps
            // row order for `keep=last` (the streaming engine does not support it on all keys).
            let with_id = lf.clone().filter(col(id).is_not_null()).collect()?;
            let with_id = with_id.unique_stable(Some(&[id.to_string()]), UniqueKeepStrategy::Last, None)?;
            let deduped = concat([with_id.lazy(), lf.filter(col(id).is_null())], UnionArgs::default())?.collect()?;
            let before = first_u64(&before, "n");
            rows.drop(
                TABLE,
                "duplicate post_id (dedupe='last' kept the last row)",
                before.saturating_sub(deduped.height() as u64),
            );
            Ok(deduped.lazy())
        }
        Dedupe::Error => {
            let ids = col(id);
            let counts = collect(lf.clone().select([
                len().alias("rows"),
                ids.clone().null_count().cast(DataType::UInt64).alias("nulls"),
                ids.n_unique().cast(DataType::UInt64).alias("unique"),
            ]))?;
            let get = |c: &str| first_u64(&counts, c);
            // n_unique counts null as one value; posts without an id are not repeats
            let distinct_ids = get("unique").saturating_sub(u64::from(get("nulls") > 0));
            let repeated = get("rows").saturating_sub(get("nulls")).saturating_sub(distinct_ids);
            if repeated > 0 {
                let sample = collect(
                    lf.select([col(id)])
                        .group_by([col(id)])
                        .agg([len().alias("n")])
                        .filter(col("n").gt(lit(1)).and(col(id).is_not_null()))
                        .limit(3),
                )?;
                let examples: Vec<String> = sample
                    .column(id)
                    .map(|c| {
                        (0..c.len())
                            .filter_map(|i| c.get(i).ok().map(|v| v.to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                return Err(Error::input(
                    "duplicate_post_id",
                    format!(
                        "posts has {repeated} repeated post_id rows (for example {}); each post must appear once. Pass dedupe='last' to keep the last row of each post, or remove the repeats",
                        examples.join(", ")
                    ),
                ));
            }
            Ok(lf)
        }
    }
}

/// Counts negative values of a column (error path only).
fn negative_error(lf: LazyFrame, column: &str) -> Error {
    let n = collect(lf.select([col(column).lt(lit(0)).sum().cast(DataType::UInt64).alias("n")]))
        .map(|df| first_u64(&df, "n"))
        .unwrap_or(0);
    Error::input(
        "negative_value",
        format!("column '{column}' of posts has {n} negative values; counts cannot be negative. Fix or filter those rows before computing"),
    )
}

/// The posts' partial states at the output grain `keys`.
pub(super) fn states(
    plan: &Plan,
    pp: &PostsPlan,
    lf: LazyFrame,
    snapshots: Option<&Snapshots>,
    keys: &[String],
    rows: &mut RowAccount,
) -> Result<DataFrame> {
    let mut lf = lf;
    let schema = lf
        .collect_schema()
        .map_err(|e| Error::input("unreadable_table", format!("could not read the posts table: {e}")))?;
    let dtype = |c: &str| {
        schema
            .get(c)
            .cloned()
            .ok_or_else(|| Error::schema("missing_column", format!("column '{c}' is missing from posts")))
    };

    // Only the columns the plan reads, with counts coerced and times reduced to days.
    let mut select: Vec<Expr> = Vec::new();
    for c in &pp.columns {
        let expr = if pp.count_columns.contains(c) {
            ingest::count_expr(c, &dtype(c)?, TABLE)?
        } else if c == "published_at" {
            ingest::day_expr(c, &dtype(c)?, plan.tz.as_deref(), TABLE)?.alias(DAY)
        } else {
            col(c.as_str())
        };
        select.push(expr);
    }
    let mut lf = lf.select(select);
    if let Some(id) = &pp.post_id {
        lf = rows.time("posts_duplicates_s", |rows| deduplicate(plan, id, lf, rows))?;
    }
    if let Some(eng) = engagement_expr(pp) {
        lf = lf.with_column(eng.alias(ENG));
    }

    // Main pass: every additive state at the output grain (dimensions, or the account when
    // account attributes are joined later, and the period). Few groups keep it cache-friendly.
    let mut grain: Vec<String> = pp.dims.clone();
    if !pp.attribute_dims.is_empty() {
        for k in &plan.account_key {
            if !grain.contains(k) {
                grain.push(k.clone());
            }
        }
    }
    let base = lf;
    let mut lf = base.clone();
    if plan.every.is_some() {
        lf = lf.with_column(period_of(col(DAY), plan).alias(PERIOD));
        grain.push(PERIOD.to_string());
    }
    if grain.is_empty() {
        lf = lf.with_column(lit(true).alias(ALL));
        grain.push(ALL.to_string());
    }

    let mut aggs: Vec<Expr> = vec![len().cast(DataType::Int64).alias("rows")];
    // The min of each count column serves twice: negative values are errors, and a null min
    // means the group reported no value at all (a sum of nulls is null, not 0).
    for c in &pp.count_columns {
        aggs.push(col(c.as_str()).min().alias(min_name(c)));
    }
    if pp.sums.contains(&Metric::Eng) {
        aggs.push(col(ENG).min().alias(min_name(ENG_KEY)));
    }
    for m in &pp.sums {
        aggs.push(metric_expr(m).sum().alias(sum_name(m)));
    }
    for (a, b) in &pp.ratios {
        // rule 1: both sums over the rows where both inputs are present (sum skips nulls)
        let (n, d) = ratio_names(a, b);
        aggs.push(
            when(metric_expr(b).is_not_null())
                .then(metric_expr(a))
                .otherwise(lit(NULL))
                .sum()
                .alias(n),
        );
        aggs.push(
            when(metric_expr(a).is_not_null())
                .then(metric_expr(b))
                .otherwise(lit(NULL))
                .sum()
                .alias(d),
        );
    }
    if pp.per_post_engagement_rate {
        let ok = col(ENG).is_not_null().and(col("reach").gt(lit(0)));
        let per_post = col(ENG).cast(DataType::Float64) / col("reach").cast(DataType::Float64);
        aggs.push(
            when(ok.clone())
                .then(per_post)
                .otherwise(lit(NULL))
                .sum()
                .alias("ape:sum"),
        );
        aggs.push(ok.cast(DataType::Int64).sum().alias("ape:n"));
    }
    let group: Vec<Expr> = grain.iter().map(|k| col(k.as_str())).collect();
    let mut df = rows.time("posts_scan_s", |_| collect(lf.group_by(group).agg(aggs)))?;

    let total: i64 = df.column("rows")?.as_materialized_series().sum::<i64>().unwrap_or(0);
    rows.read.push((TABLE.to_string(), u64::try_from(total).unwrap_or(0)));
    for c in &pp.count_columns {
        let min = df
            .column(&min_name(c))?
            .as_materialized_series()
            .cast(&DataType::Float64)?
            .min::<f64>()?;
        if min.is_some_and(|v| v < 0.0) {
            return Err(negative_error(base, c));
        }
    }

    // Rows without a time, or without the account they are grouped by, have no group.
    let mut missing: Vec<(&str, Expr, Expr)> = Vec::new();
    if plan.every.is_some() {
        // (with every=None such posts still count; they only miss followers-at-post)
        missing.push(("missing published_at", col(PERIOD).is_null(), col(DAY).is_null()));
    }
    if plan.by.iter().any(|d| d == "account_id") && pp.dims.iter().any(|d| d == "account_id") {
        let gone = col("account_id").is_null();
        missing.push(("missing account_id", gone.clone(), gone));
    }
    for (reason, is_missing, _) in &missing {
        let n = sum_u64(df.clone().lazy().filter(is_missing.clone()), "rows")?;
        if n > 0 {
            rows.drop(TABLE, reason, n);
            df = df.lazy().filter(is_missing.clone().not()).collect()?;
        }
    }

    let started = std::time::Instant::now();
    let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    let with_all = |lf: LazyFrame| {
        if keys.iter().any(|k| k == ALL) {
            lf.with_column(lit(true).alias(ALL))
        } else {
            lf
        }
    };
    let mut out = df.lazy();
    if !pp.attribute_dims.is_empty() {
        let snaps = snapshots.ok_or_else(|| Error::Internal("account attributes without snapshots".into()))?;
        out = snaps.join_attributes(out, &pp.attribute_dims)?;
    }
    if grain.as_slice() != keys {
        // rollup: coarser groups are sums of finer ones (and mins of mins)
        let names: Vec<PlSmallStr> = out
            .collect_schema()?
            .iter_names()
            .filter(|n| n.contains(':') || n.as_str() == "rows")
            .cloned()
            .collect();
        let rollup: Vec<Expr> = names
            .iter()
            .map(|n| {
                if n.starts_with("min:") {
                    col(n.clone()).min()
                } else {
                    col(n.clone()).sum()
                }
            })
            .collect();
        out = with_all(out).group_by(group.clone()).agg(rollup);
    }

    if !pp.at_followers.is_empty() {
        // Second, narrow pass: the followers-at-post states per (account, day), which meet the
        // account's last snapshot on or before that day.
        let snaps = snapshots.ok_or_else(|| Error::Internal("followers-at-post without snapshots".into()))?;
        let mut fgrain: Vec<String> = pp.dims.clone();
        for k in &plan.account_key {
            if !fgrain.contains(k) {
                fgrain.push(k.clone());
            }
        }
        fgrain.push(DAY.to_string());
        let mut faggs = vec![len().cast(DataType::Int64).alias("rows")];
        for m in &pp.at_followers {
            faggs.push(metric_expr(m).sum().alias(sum_name(m)));
            faggs.push(metric_expr(m).count().cast(DataType::Int64).alias(nonnull_name(m)));
        }
        let mut fap_in = base;
        for (_, _, is_missing) in &missing {
            fap_in = fap_in.filter(is_missing.clone().not());
        }
        let fgroup: Vec<Expr> = fgrain.iter().map(|k| col(k.as_str())).collect();
        let per_day = rows.time("posts_followers_scan_s", |_| {
            collect(fap_in.group_by(fgroup).agg(faggs))
        })?;
        let mut joined = snaps.join_followers_at_post(per_day.lazy(), DAY)?;
        if !pp.attribute_dims.is_empty() {
            joined = snaps.join_attributes(joined, &pp.attribute_dims)?;
        }
        let joined = joined.collect()?;
        let without = sum_u64(joined.clone().lazy().filter(col("__fap").is_null()), "rows")?;
        rows.drop(
            TABLE,
            "no follower snapshot on or before the post's day (left out of followers-at-post KPIs only)",
            without,
        );
        let has = col("__fap").is_not_null();
        let mut fap_aggs = Vec::new();
        for m in &pp.at_followers {
            let (n, d) = fap_names(m);
            fap_aggs.push(
                when(has.clone())
                    .then(col(sum_name(m)))
                    .otherwise(lit(0))
                    .sum()
                    .alias(n),
            );
            fap_aggs.push(
                when(has.clone())
                    .then(col(nonnull_name(m)).cast(DataType::Float64) * col("__fap").cast(DataType::Float64))
                    .otherwise(lit(0.0))
                    .sum()
                    .alias(d),
            );
        }
        let mut fap = joined.lazy();
        if plan.every.is_some() {
            fap = fap.with_column(period_of(col(DAY), plan).alias(PERIOD));
        }
        let fap = with_all(fap).group_by(group.clone()).agg(fap_aggs);
        let mut args = JoinArgs::new(JoinType::Left);
        args.nulls_equal = true;
        out = out.join(fap, group.clone(), group, args);
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
