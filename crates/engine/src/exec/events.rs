//! Conversion events (one row per lead or sale): counted per group and period, attributed
//! by the table's own columns (account, campaign, or the platform its source matches).

use super::traffic::match_platforms;
use super::{read_timed, with_period, RowAccount, ALL};
use crate::error::Result;
use crate::ingest;
use crate::plan::{EventsPlan, Plan};
use crate::schema::{Source, StateColumn};
use crate::sources::SourceTable;
use polars::prelude::*;

const TABLE: &str = "conversions";
const DAY: &str = "__day";

/// Events states at the output grain: `e:rows`, `e:leads`, `e:sales` and, for revenue,
/// `e:value` (Σ value of sales) with `e:value_n` (sales that carried a value).
pub(super) fn states(
    plan: &Plan,
    ep: &EventsPlan,
    lf: LazyFrame,
    keys: &[String],
    rows: &mut RowAccount,
) -> Result<DataFrame> {
    let tz = plan.tz.as_deref();
    let coerce = |c: &str, dtype: &DataType| -> Result<Expr> {
        Ok(match c {
            "timestamp" => ingest::day_expr(c, dtype, tz, TABLE)?.alias(DAY),
            "value" => ingest::count_expr(c, dtype, TABLE)?,
            _ => col(c),
        })
    };
    let mut df = read_timed(lf, TABLE, &ep.columns, coerce, ("timestamp", DAY), rows)?;

    // kinds, read once per distinct value: 'lead' or 'sale' (any case, trimmed)
    let (codes, distinct) = super::pass::distinct_codes(df.column("kind")?)?;
    let distinct = distinct.cast(&DataType::String)?;
    let kinds: Vec<Option<&str>> = distinct
        .str()?
        .iter()
        .map(|k| match k.map(|k| k.trim().to_lowercase()) {
            Some(k) if k == "lead" => Some("lead"),
            Some(k) if k == "sale" => Some("sale"),
            _ => None,
        })
        .collect();
    let index = IdxCa::from_vec("".into(), codes);
    let is = |kind: &str| -> Result<Series> {
        let flags: Vec<bool> = kinds.iter().map(|k| *k == Some(kind)).collect();
        Ok(BooleanChunked::from_slice("".into(), &flags)
            .take(&index)?
            .into_series())
    };
    df.with_column(is("lead")?.with_name("__lead".into()).into_column())?;
    df.with_column(is("sale")?.with_name("__sale".into()).into_column())?;
    let before = df.height();
    df = df.lazy().filter(col("__lead").or(col("__sale"))).collect()?;
    rows.drop(TABLE, "unknown kind", (before - df.height()) as u64);
    rows.coverage.push(super::coverage::of_table(TABLE, &df, DAY, DAY)?);

    if ep.platform_from_source {
        let (platform, _, _) = match_platforms(df.column("source")?, &SourceTable::new(&plan.sources), None)?;
        df.with_column(platform.into_column())?;
    }
    super::overflow::check_table_sums(&df, &["value"], TABLE)?;
    let mut lf = with_period(df, DAY, plan)?.lazy();
    if keys.iter().any(|k| k == ALL) {
        lf = lf.with_column(lit(true).alias(ALL));
    }
    let mut aggs = vec![
        len()
            .cast(DataType::Int64)
            .alias(StateColumn::Rows(Source::Conversions).name()),
        col("__lead")
            .sum()
            .cast(DataType::Int64)
            .alias(StateColumn::Leads.name()),
        col("__sale")
            .sum()
            .cast(DataType::Int64)
            .alias(StateColumn::Sales.name()),
    ];
    if ep.value {
        let sale_value = || when(col("__sale")).then(col("value")).otherwise(lit(NULL));
        aggs.push(sale_value().sum().alias(StateColumn::SaleValue.name()));
        let reported = sale_value().count().cast(DataType::Int64);
        aggs.push(reported.alias(StateColumn::SaleValueReported.name()));
    }
    let group: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    Ok(lf.group_by(group).agg(aggs).collect()?)
}
