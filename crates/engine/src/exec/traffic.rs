//! Web analytics: sessions by source, the source matched to a platform, referral and
//! website traffic states at the output grain.

use super::pass;
use super::{read_timed, with_period, RowAccount, ALL};
use crate::error::InputCode;
use crate::error::{Error, Result};
use crate::ingest;
use crate::plan::{Plan, TrafficPlan};
use crate::schema::{Source, StateColumn};
use crate::sources::SourceTable;
use polars::prelude::*;

const TABLE: &str = "traffic";
const SOCIAL: &str = "__social";
/// The traffic rows each row of `by_source_and_day` sums.
const ROWS: &str = "__rows";

/// Each row's platform, whether it is social, and the unmatched sources with their row counts.
pub(super) type Matched = (Series, BooleanChunked, Vec<(String, u64)>);

/// Each row's platform (the matched one, else the source as it is) and whether it matched a
/// social platform. Sources are matched once per distinct value. `rows`: how many rows of
/// the table each row stands for (none: one each), for the unmatched sources' counts.
pub(super) fn match_platforms(column: &Column, table: &SourceTable, rows: Option<&[u64]>) -> Result<Matched> {
    let (codes, distinct) = pass::distinct_codes(column)?;
    let distinct = distinct.cast(&DataType::String)?;
    let mut platforms: Vec<Option<String>> = Vec::with_capacity(distinct.len());
    let mut social: Vec<bool> = Vec::with_capacity(distinct.len());
    for v in distinct.str()?.iter() {
        let matched = v.and_then(|v| table.platform(v));
        social.push(matched.is_some());
        platforms.push(matched.map(str::to_string).or_else(|| v.map(str::to_string)));
    }
    let index = IdxCa::from_vec("".into(), codes.clone());
    let platform = Series::new("platform".into(), platforms).take(&index)?;
    let social_rows = BooleanChunked::from_slice("".into(), &social).take(&index)?;
    // unmatched sources with their row counts, most frequent first
    let mut counts = vec![0u64; distinct.len()];
    for (i, &c) in codes.iter().enumerate() {
        counts[c as usize] += rows.map_or(1, |r| r[i]);
    }
    let mut unmatched: Vec<(String, u64)> = distinct
        .str()?
        .iter()
        .zip(&social)
        .zip(&counts)
        .filter(|((_, s), _)| !**s)
        .map(|((v, _), n)| (v.unwrap_or("(missing)").to_string(), *n))
        .collect();
    unmatched.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok((platform, social_rows, unmatched))
}

/// Traffic states at the output grain: `t:rows`, `t:sessions`, `t:sessions_n` and, for
/// referral KPIs, `t:referral` (sessions from social sources), `t:referral_n` (of them, those
/// reported) and `t:social_rows`.
pub(super) fn states(
    plan: &Plan,
    tp: &TrafficPlan,
    lf: LazyFrame,
    keys: &[String],
    rows: &mut RowAccount,
    warnings: &mut Vec<String>,
) -> Result<DataFrame> {
    let coerce = |c: &str, dtype: &DataType| -> Result<Expr> {
        Ok(match c {
            "date" => ingest::date_expr(c, dtype, TABLE)?,
            "sessions" | "leads" | "conversions" | "revenue" => ingest::count_expr(c, dtype, TABLE)?,
            _ => col(c),
        })
    };
    let df = read_timed(lf, TABLE, &tp.columns, coerce, ("date", "date"), rows)?;
    rows.coverage
        .push(super::coverage::of_table(TABLE, &df, "date", "date")?);
    for c in ["sessions", "leads", "conversions"] {
        if let Ok(column) = df.column(c) {
            if column.as_materialized_series().min::<f64>()?.is_some_and(|v| v < 0.0) {
                return Err(Error::input(
                    InputCode::NegativeValue,
                    format!("column '{c}' of traffic has negative values; counts cannot be negative"),
                ));
            }
        }
    }

    let mut summed: Vec<&str> = tp.measures.iter().map(String::as_str).collect();
    summed.push("sessions");
    super::overflow::check_table_sums(&df, &summed, TABLE)?;

    // the rows are summed per source (or platform), day and dimension first: sources are
    // then matched, and the output grain grouped, over far fewer rows
    let matching = tp.referral || tp.platform_from_source;
    let from = if tp.platform_from_source { "source" } else { "platform" };
    let mut flows: Vec<&str> = tp.measures.iter().map(String::as_str).collect();
    if tp.sessions || tp.referral {
        flows.push("sessions");
    }
    let mut df = by_source_and_day(df, tp, matching.then_some(from), &flows)?;
    if matching {
        let rows: Vec<u64> = df.column(ROWS)?.i64()?.into_no_null_iter().map(|n| n as u64).collect();
        let (platform, social, unmatched) =
            match_platforms(df.column(from)?, &SourceTable::new(&plan.sources), Some(&rows))?;
        if tp.platform_from_source {
            df.with_column(platform.into_column())?;
        }
        df.with_column(social.into_series().with_name(SOCIAL.into()).into_column())?;
        if tp.referral && !unmatched.is_empty() {
            let n: u64 = unmatched.iter().map(|(_, n)| n).sum();
            let examples: Vec<&str> = unmatched.iter().take(5).map(|(v, _)| v.as_str()).collect();
            warnings.push(format!(
                "{n} traffic rows from {} sources matched no social platform (for example {}); they count in website_traffic, not in referral traffic. Map more sources with sources={{...}}",
                unmatched.len(),
                examples.join(", ")
            ));
        }
    }

    let mut lf = with_period(df, "date", plan)?.lazy();
    if keys.iter().any(|k| k == ALL) {
        lf = lf.with_column(lit(true).alias(ALL));
    }
    let mut aggs = vec![col(ROWS).sum().alias(StateColumn::Rows(Source::Traffic).name())];
    for &c in flows.iter().filter(|&&c| c != "sessions" || tp.sessions) {
        aggs.push(col(c).sum().alias(StateColumn::TrafficSum(c.into()).name()));
        aggs.push(
            col(reported(c))
                .sum()
                .alias(StateColumn::TrafficReported(c.into()).name()),
        );
    }
    if tp.referral {
        // the rows of social sources are the referral KPI's own rows
        let social = |c: &str, otherwise: Expr| when(col(SOCIAL)).then(col(c)).otherwise(otherwise).sum();
        aggs.push(social("sessions", lit(NULL)).alias(StateColumn::Referral.name()));
        let reported = social(&reported("sessions"), lit(0_i64));
        aggs.push(reported.alias(StateColumn::ReferralReported.name()));
        aggs.push(social(ROWS, lit(0_i64)).alias(StateColumn::SocialRows.name()));
    }
    let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    Ok(lf.group_by(group).agg(aggs).collect()?)
}

/// Rows of the traffic table (`ROWS`), each flow's sum and its reported values (`reported`) per
/// day, dimension and, when sources are matched, `from` column. Summed by hand: the keys'
/// codes (few sources, a year of days) index the sums directly, where a group-by of text
/// hashes every row.
fn by_source_and_day(df: DataFrame, tp: &TrafficPlan, from: Option<&str>, flows: &[&str]) -> Result<DataFrame> {
    let mut names: Vec<&str> = Vec::new();
    let dims = tp.dims.iter().map(String::as_str);
    for name in dims
        .filter(|d| !(tp.platform_from_source && *d == "platform"))
        .chain(from)
        .chain(["date"])
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut codes = Vec::with_capacity(names.len());
    let mut dicts = Vec::with_capacity(names.len());
    for name in &names {
        let column = df.column(name)?;
        let mut dict = pass::Dict::new(column.dtype(), false);
        codes.push(dict.encode(column)?);
        dicts.push(dict);
    }
    let mut grouping = pass::Grouping::new(names.len());
    let parts: Vec<&[u32]> = codes.iter().map(Vec::as_slice).collect();
    let groups = grouping.groups(&parts, df.height());
    let n = grouping.len();
    let mut columns = Vec::with_capacity(names.len() + 1 + 2 * flows.len());
    for ((dict, name), part) in dicts.iter().zip(&names).zip(grouping.split()) {
        columns.push(dict.take(&part)?.with_name((*name).into()).into_column());
    }
    let mut rows = Vec::new();
    pass::count_into(&mut rows, n, &groups, |_| true);
    columns.push(Column::new(ROWS.into(), rows));
    for &flow in flows {
        let values = df.column(flow)?.as_materialized_series();
        let mut reported = vec![0_i64; n];
        let sums = match values.dtype() {
            // (the table's sums were checked to fit, so no group's overflows)
            DataType::Int64 => Series::new(flow.into(), sum_by_group(values.i64()?, &groups, n, &mut reported)),
            _ => Series::new(flow.into(), sum_by_group(values.f64()?, &groups, n, &mut reported)),
        };
        columns.push(sums.into_column());
        columns.push(Column::new(self::reported(flow).into(), reported));
    }
    Ok(DataFrame::new(n, columns)?)
}

/// Each group's sum of a column's values, and (into `reported`) how many were not null.
fn sum_by_group<T>(values: &ChunkedArray<T>, groups: &[u32], n: usize, reported: &mut [i64]) -> Vec<T::Native>
where
    T: PolarsNumericType,
    T::Native: std::ops::AddAssign,
{
    let mut sums = vec![T::Native::default(); n];
    for (&g, v) in groups.iter().zip(values.iter()) {
        if let Some(v) = v {
            sums[g as usize] += v;
            reported[g as usize] += 1;
        }
    }
    sums
}

/// The column of a flow's reported (non-null) values in `by_source_and_day`.
fn reported(flow: &str) -> String {
    format!("__reported_{flow}")
}
