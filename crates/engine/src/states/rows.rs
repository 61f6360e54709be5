//! What a run read besides the states: the rows of each table, the rows dropped and why,
//! where the time went, the days each table covered, and the warnings of the reads.

use crate::error::Result;
use polars::prelude::*;

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
    pub(crate) fn time<T>(&mut self, stage: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let started = std::time::Instant::now();
        let out = f(self);
        self.stages.push((stage.to_string(), started.elapsed().as_secs_f64()));
        out
    }

    pub(crate) fn drop(&mut self, table: &str, reason: &str, n: u64) {
        if n > 0 {
            self.dropped.push((table.to_string(), reason.to_string(), n));
        }
    }

    /// Adds the rows, drops, stages and coverage that another account of the same run kept
    /// (the tables run beside the posts return their warnings apart).
    pub(crate) fn absorb(&mut self, other: RowAccount) {
        self.read.extend(other.read);
        self.dropped.extend(other.dropped);
        self.stages.extend(other.stages);
        self.coverage.extend(other.coverage);
    }
}

/// The coverage frames of the tables read, stacked (an empty frame of the same schema
/// when there are none).
pub fn stack_coverage(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let empty = || -> Result<DataFrame> {
        Ok(DataFrame::new(
            0,
            vec![
                Column::new_empty("table".into(), &DataType::String),
                Column::new_empty("account_id".into(), &DataType::String),
                Column::new_empty("first".into(), &DataType::Date),
                Column::new_empty("last".into(), &DataType::Date),
            ],
        )?)
    };
    let mut out = empty()?;
    for f in frames {
        out.vstack_mut(&f)?;
    }
    Ok(out)
}
