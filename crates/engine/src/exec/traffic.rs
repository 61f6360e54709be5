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

/// Each row's platform, whether it is social, and the unmatched sources with their row counts.
pub(super) type Matched = (Series, BooleanChunked, Vec<(String, u64)>);

/// Each row's platform (the matched one, else the source as it is) and whether it matched a
/// social platform. Sources are matched once per distinct value.
pub(super) fn match_platforms(column: &Column, table: &SourceTable) -> Result<Matched> {
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
    for &c in &codes {
        counts[c as usize] += 1;
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
    let mut df = read_timed(lf, TABLE, &tp.columns, coerce, ("date", "date"), rows)?;
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

    if tp.referral || tp.platform_from_source {
        let from = if tp.platform_from_source { "source" } else { "platform" };
        let (platform, social, unmatched) = match_platforms(df.column(from)?, &SourceTable::new(&plan.sources))?;
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

    let mut summed: Vec<&str> = tp.measures.iter().map(String::as_str).collect();
    summed.push("sessions");
    super::overflow::check_table_sums(&df, &summed, TABLE)?;
    let mut lf = with_period(df, "date", plan)?.lazy();
    if keys.iter().any(|k| k == ALL) {
        lf = lf.with_column(lit(true).alias(ALL));
    }
    let mut aggs = vec![len()
        .cast(DataType::Int64)
        .alias(StateColumn::Rows(Source::Traffic).name())];
    let mut flows: Vec<&str> = tp.measures.iter().map(String::as_str).collect();
    if tp.sessions {
        flows.push("sessions");
    }
    for c in flows {
        aggs.push(col(c).sum().alias(StateColumn::TrafficSum(c.into()).name()));
        let reported = col(c).count().cast(DataType::Int64);
        aggs.push(reported.alias(StateColumn::TrafficReported(c.into()).name()));
    }
    if tp.referral {
        // the rows of social sources are the referral KPI's own rows
        let social = || when(col(SOCIAL)).then(col("sessions")).otherwise(lit(NULL));
        aggs.push(social().sum().alias(StateColumn::Referral.name()));
        let reported = social().count().cast(DataType::Int64);
        aggs.push(reported.alias(StateColumn::ReferralReported.name()));
        let social_rows = col(SOCIAL).sum().cast(DataType::Int64);
        aggs.push(social_rows.alias(StateColumn::SocialRows.name()));
    }
    let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    Ok(lf.group_by(group).agg(aggs).collect()?)
}
