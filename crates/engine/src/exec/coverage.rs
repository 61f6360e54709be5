//! Coverage (rule 7 of KPIS.md, "unknown is null"): which days each table reported, and
//! whether a table covers a group and period of the result, so that a flow it does not cover
//! is null instead of 0.
//!
//! When the result is per account (`account_id` among the `by` dimensions), a table covers
//! an account from the first to the last period in which it has rows of that account (its
//! first and last date); otherwise it covers every group from its first to its last period.
//! That is read from the table's own states at the output grain, after they are joined: no
//! row of any table is visited again.

use super::read_columns;
use crate::error::Result;
use crate::ingest;
use crate::plan::{Plan, PERIOD};
use crate::schema::{Source, StateColumn};
use polars::prelude::*;

/// The tables whose coverage decides a flow (read from the state that counts their rows).
const TABLES: [Source; 5] = [
    Source::Posts,
    Source::Contracts,
    Source::Conversions,
    Source::Traffic,
    Source::Accounts,
];

/// Name of the column that says whether `table` covers a row's group and period.
fn covered(table: Source) -> String {
    format!("cov:{}", table.name())
}

/// The coverage columns of the joined states (`schema`): true where the table covers the
/// row's group and period; false for a table whose states are not among them.
pub(super) fn columns(plan: &Plan, schema: &Schema) -> Result<Vec<Expr>> {
    // per account when the result is, else the whole table
    let by: Vec<Expr> = plan
        .by
        .iter()
        .filter(|d| d.as_str() == "account_id")
        .map(|d| col(d.as_str()))
        .collect();
    let mut out = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let rows = StateColumn::Rows(table).name();
        let present = col(rows.as_str()).fill_null(lit(0)).gt(lit(0));
        let value = if schema.get(&rows).is_none() {
            lit(false)
        } else if plan.every.is_none() {
            if by.is_empty() {
                present.any(true)
            } else {
                present.any(true).over(by.clone())?
            }
        } else {
            // between the first and last period with rows in the table
            let periods = || {
                when(present.clone())
                    .then(col(PERIOD))
                    .otherwise(lit(NULL).cast(DataType::Date))
            };
            let (first, last) = if by.is_empty() {
                (periods().min(), periods().max())
            } else {
                (periods().min().over(by.clone())?, periods().max().over(by.clone())?)
            };
            col(PERIOD)
                .gt_eq(first)
                .and(col(PERIOD).lt_eq(last))
                .fill_null(lit(false))
        };
        out.push(value.alias(covered(table)));
    }
    Ok(out)
}

/// Keeps `value` where `table` covers the row, null elsewhere.
pub(super) fn where_covered(table: Source, value: Expr) -> Expr {
    when(col(covered(table).as_str())).then(value).otherwise(lit(NULL))
}

/// The days a table covered, per account when it has `account_id`: (table, account_id,
/// first, last), from its `first` and `last` date columns. (Grouped on the account's own
/// type; only the small result becomes text.)
pub(super) fn of_table(table: &str, df: &DataFrame, first: &str, last: &str) -> Result<DataFrame> {
    let spans = [col(first).min().alias("first"), col(last).max().alias("last")];
    let lf = df.clone().lazy();
    let lf = if df.column("account_id").is_ok() {
        lf.group_by([col("account_id")])
            .agg(spans)
            .with_column(col("account_id").cast(DataType::String))
    } else {
        lf.select(spans)
            .with_column(lit(NULL).cast(DataType::String).alias("account_id"))
    };
    Ok(lf
        .filter(col("first").is_not_null())
        .sort(["account_id"], SortMultipleOptions::default().with_nulls_last(true))
        .select([
            lit(table).alias("table"),
            col("account_id"),
            col("first").cast(DataType::Date),
            col("last").cast(DataType::Date),
        ])
        .collect()?)
}

/// The contracts' coverage, from their `start` and `end` (read on their own: the contracts
/// states may not read `account_id`).
pub(super) fn of_contracts(lf: LazyFrame, account: bool) -> Result<DataFrame> {
    const TABLE: &str = "contracts";
    let mut columns = vec!["start".to_string(), "end".to_string()];
    if account {
        columns.push("account_id".to_string());
    }
    let coerce = |c: &str, dtype: &DataType| -> Result<Expr> {
        Ok(match c {
            "start" | "end" => ingest::date_expr(c, dtype, TABLE)?,
            _ => col(c),
        })
    };
    let df = read_columns(lf, TABLE, &columns, coerce, Vec::new())?;
    of_table(TABLE, &df, "start", "end")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{build, Dedupe, Request};

    fn plan(by: &[&str]) -> Result<Plan> {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let request = Request::new(
            names(&["cost"]),
            names(by),
            Some("1mo".into()),
            "UTC".into(),
            Dedupe::Error,
        );
        let posts = names(&["post_id", "account_id", "published_at", "spend"]);
        let contracts = names(&["account_id", "start", "end", "fee"]);
        build(&request, Some(&posts), None, Some(&contracts), None, None)
    }

    /// The coverage columns of joined states: (account, month as days, posts rows, contract rows).
    fn covered_by(plan: &Plan) -> Result<Vec<(bool, bool, bool)>> {
        let joined = df!(
            "account_id" => ["acme", "acme", "acme", "acme", "zen"],
            PERIOD => [0, 31, 59, 90, 31],
            "rows" => [None, Some(1_i64), None, Some(2), Some(1)],
            "c:rows" => [Some(1_i64), None, Some(1), None, None],
        )?
        .lazy()
        .with_column(col(PERIOD).cast(DataType::Date))
        .collect()?;
        let out = joined
            .clone()
            .lazy()
            .with_columns(columns(plan, joined.schema())?)
            .collect()?;
        let flags = |table: Source| -> Result<Vec<bool>> {
            Ok(out
                .column(&covered(table))?
                .bool()?
                .iter()
                .map(|v| v == Some(true))
                .collect())
        };
        let (posts, contracts, events) = (
            flags(Source::Posts)?,
            flags(Source::Contracts)?,
            flags(Source::Conversions)?,
        );
        Ok((0..out.height()).map(|i| (posts[i], contracts[i], events[i])).collect())
    }

    #[test]
    fn a_table_covers_an_account_from_its_first_to_its_last_period() -> Result<()> {
        // acme: contracts in January and March (February between them), posts in February and
        // April; zen: posts in February only, no contract
        assert_eq!(
            covered_by(&plan(&["account_id"])?)?,
            vec![
                (false, true, false),
                (true, true, false),
                (true, true, false),
                (true, false, false),
                (true, false, false),
            ]
        );
        // not per account: each table covers its whole range, zen's February included
        assert_eq!(
            covered_by(&plan(&[])?)?,
            vec![
                (false, true, false),
                (true, true, false),
                (true, true, false),
                (true, false, false),
                (true, true, false),
            ]
        );
        Ok(())
    }
}
