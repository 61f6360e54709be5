//! Integer arithmetic that never wraps.
//!
//! The states add Int64 columns with plain (wrapping) adds in their scatter loops, which are
//! the pass's cost; a check per add would slow every one of them. Instead each column that
//! is summed carries a bound on the sum of its absolute values, and no sum over any of its
//! rows (a group's, a rollup's, a difference of two of them) can pass the Int64 range while
//! that bound is below 2^63. Per batch the bound costs one vectorised pass over the values
//! (the bitwise or of their magnitudes, times the rows); only a batch whose values are so
//! large that this rough bound passes 2^52 adds up its absolute values exactly. A column
//! whose bound reaches 2^63 is an `integer_overflow` error: the rule is exact up to a slack
//! below 2^52 per batch (about a million rows), far from any real count.
//!
//! Formula arithmetic on integers (`a * b`, `a + b`, `-a`, per post or over the states) goes
//! through `crate::expr::arithmetic`, which adds and multiplies with checks and raises
//! `integer_overflow` instead of wrapping.

use crate::error::{Error, InputCode, Result};
use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;

/// The bound (2^63) that no sum of absolute values may reach.
const LIMIT: u128 = 1 << 63;
/// A batch whose rough bound passes this adds up its absolute values exactly.
const ROUGH: u128 = 1 << 52;

/// The error of a sum that could pass the Int64 range.
pub fn sum_error(what: &str) -> Error {
    Error::input(
        InputCode::IntegerOverflow,
        format!(
            "the sum of {what} could pass the Int64 range (about ±9.2 × 10^18): its values add up to 2^63 or more in absolute value. Values that large are usually a data error; fix them, or cast the column to Float64 to add it approximately"
        ),
    )
}

/// A bound on the sum of the absolute values of an Int64 column's present values: the rows
/// times the power of two above the largest magnitude (the or of the magnitudes, slots under
/// nulls included; `or` when the caller has it), or, when that passes 2^52, the exact sum.
pub fn bound(ca: &Int64Chunked, or: Option<u64>) -> u128 {
    let or = or.unwrap_or_else(|| {
        ca.downcast_iter()
            .map(|a| a.values().iter().fold(0u64, |acc, &v| acc | v.unsigned_abs()))
            .fold(0u64, |a, b| a | b)
    });
    let per_row = if or == 0 { 0 } else { 1u128 << (64 - or.leading_zeros()) };
    let rough = per_row * ca.len() as u128;
    if rough < ROUGH {
        return rough;
    }
    ca.downcast_iter().map(exact).sum()
}

/// Σ |v| over an array's present values.
fn exact(arr: &PrimitiveArray<i64>) -> u128 {
    let values = arr.values().as_slice();
    match arr.validity().filter(|v| v.unset_bits() > 0) {
        Some(valid) => values
            .iter()
            .zip(valid.iter())
            .map(|(&v, ok)| if ok { u128::from(v.unsigned_abs()) } else { 0 })
            .sum(),
        None => values.iter().map(|&v| u128::from(v.unsigned_abs())).sum(),
    }
}

/// Whether bounds adding up to `total` keep every sum inside the Int64 range.
pub fn fits(total: u128) -> bool {
    total < LIMIT
}

/// The integer columns of a table that polars sums by group (accounts, traffic, conversions;
/// states merged or rolled up): an `integer_overflow` error unless the bound on each one's
/// absolute values is below 2^63 (the whole table as one batch), so that no group's sum wraps.
pub fn check_table_sums(df: &DataFrame, columns: &[&str], table: &str) -> Result<()> {
    for &c in columns {
        let Ok(column) = df.column(c) else {
            continue;
        };
        if column.dtype() == &DataType::Int64 && !fits(bound(column.as_materialized_series().i64()?, None)) {
            return Err(sum_error(&format!("column '{c}' of {table}")));
        }
    }
    Ok(())
}

/// Each post's sum of components when it may have passed the Int64 range (the caller's bound
/// could not rule it out): the wrapped sums `sums` are exact unless they differ from the
/// same sums in floats by about 2^64.
pub fn check_wrapped(sums: &[i64], approx: &[f64]) -> Result<()> {
    // exact sums differ from the floats' by far less than 2^62; a wrapped one by about 2^64
    let wrapped = sums.iter().zip(approx).any(|(&s, &f)| (f - s as f64).abs() > 4.6e18);
    if wrapped {
        return Err(sum_error("a post's engagements (its components added up)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound_of_test(ca: &Int64Chunked) -> u128 {
        bound(ca, None)
    }

    fn ca(values: &[Option<i64>]) -> Int64Chunked {
        Int64Chunked::from_iter_options("x".into(), values.iter().copied())
    }

    #[test]
    fn bounds_cover_the_absolute_sum() {
        // small values: the rough bound (a power of two per row)
        assert_eq!(bound_of_test(&ca(&[Some(3), Some(-4), None])), 3 * 8);
        assert_eq!(bound_of_test(&ca(&[Some(0), Some(-1)])), 2 * 2);
        assert_eq!(bound_of_test(&ca(&[Some(0), None])), 0);
        // large values: exact, over present values
        let big = ca(&[Some(i64::MAX), Some(1), None]);
        assert_eq!(bound_of_test(&big), i64::MAX as u128 + 1);
        assert_eq!(bound_of_test(&ca(&[Some(i64::MIN)])), 1u128 << 63);
        assert!(fits(bound_of_test(&ca(&[Some(i64::MAX)]))));
        assert!(!fits(bound_of_test(&ca(&[Some(i64::MAX), Some(1)]))));
    }
}
