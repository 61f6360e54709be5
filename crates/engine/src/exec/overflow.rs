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
//! through `arithmetic`, which adds and multiplies with checks and raises `integer_overflow`
//! instead of wrapping.

use crate::error::InputCode;
use crate::error::{raised, Error, Result};
use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;
use socialkpi_formula::BinOp;

/// The bound (2^63) that no sum of absolute values may reach.
const LIMIT: u128 = 1 << 63;
/// A batch whose rough bound passes this adds up its absolute values exactly.
const ROUGH: u128 = 1 << 52;

/// What a column is, in the words of an error message.
pub(super) fn describe(column: &str) -> String {
    if column == super::posts::ENG {
        "the posts' engagements".to_string()
    } else if column.starts_with("__") {
        "a formula's per-post values".to_string()
    } else {
        format!("column '{column}' of posts")
    }
}

/// The error of a sum that could pass the Int64 range.
pub(super) fn sum_error(what: &str) -> Error {
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
pub(super) fn bound(ca: &Int64Chunked, or: Option<u64>) -> u128 {
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

/// Adds a batch's bound to a column's running one; an error once it reaches 2^63.
pub(super) fn add_bound(total: &mut u128, batch: u128, column: &str) -> Result<()> {
    *total = total.saturating_add(batch);
    if *total >= LIMIT {
        return Err(sum_error(&describe(column)));
    }
    Ok(())
}

/// Whether bounds adding up to `total` keep every sum inside the Int64 range.
pub(super) fn fits(total: u128) -> bool {
    total < LIMIT
}

/// The integer columns of a table that polars sums by group (accounts, traffic, conversions):
/// an `integer_overflow` error unless the bound on each one's absolute values is below 2^63
/// (the whole table as one batch), so that no group's sum wraps.
pub(super) fn check_table_sums(df: &DataFrame, columns: &[&str], table: &str) -> Result<()> {
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

fn overflow(what: &str) -> PolarsError {
    raised(
        InputCode::IntegerOverflow,
        &format!("{what} passes the Int64 range (about ±9.2 × 10^18); values that large are usually a data error: fix them, or cast the columns to Float64 to compute approximately"),
    )
}

/// `a op b` (`+`, `-`, `*`) as polars computes it, except that on integers a result outside
/// the Int64 range raises `integer_overflow` instead of wrapping.
pub(crate) fn arithmetic(op: BinOp, a: Expr, b: Expr) -> Expr {
    a.map_many(
        move |c: &mut [Column]| checked(op, &c[0], &c[1]),
        &[b],
        move |_: &Schema, fields: &[Field]| {
            // a literal's type is known only once polars picks one (polars wants a known type)
            let known = |t: &DataType| {
                let t = t.clone().materialize_unknown(true)?;
                Ok::<_, PolarsError>(if t.is_known() { t } else { DataType::Float64 })
            };
            let (x, y) = (&known(fields[0].dtype())?, &known(fields[1].dtype())?);
            let dtype = if integral(x) && integral(y) {
                DataType::Int64
            } else {
                polars_core::utils::try_get_supertype(x, y)?
            };
            let dtype = match dtype {
                // numbers that are not both integers are computed as polars does (in floats)
                d if d.is_float() || d.is_integer() => d,
                DataType::Boolean | DataType::Null => DataType::Int64,
                d => d,
            };
            Ok(Field::new(fields[0].name().clone(), dtype))
        },
    )
}

fn integral(t: &DataType) -> bool {
    t.is_integer() || t.is_bool() || matches!(t, DataType::Null)
}

/// `f` over each pair, wrapping, and the first index where it wrapped.
fn each(p: &[i64], q: &[i64], f: impl Fn(i64, i64) -> (i64, bool)) -> (Vec<i64>, Option<usize>) {
    let mut any = false;
    let out: Vec<i64> = p
        .iter()
        .zip(q)
        .map(|(&a, &b)| {
            let (v, o) = f(a, b);
            any |= o;
            v
        })
        .collect();
    let first = any.then(|| p.iter().zip(q).position(|(&a, &b)| f(a, b).1)).flatten();
    (out, first)
}

fn op_wraps(op: BinOp, a: i64, b: i64) -> bool {
    match op {
        BinOp::Add => a.checked_add(b).is_none(),
        BinOp::Sub => a.checked_sub(b).is_none(),
        _ => a.checked_mul(b).is_none(),
    }
}

fn checked(op: BinOp, a: &Column, b: &Column) -> PolarsResult<Column> {
    let n = if a.len() == 1 { b.len() } else { a.len() };
    let wide = |c: &Column| -> PolarsResult<Series> {
        let s = c.as_materialized_series();
        let s = if s.len() == 1 && n != 1 {
            s.new_from_index(0, n)
        } else {
            s.clone()
        };
        Ok(s)
    };
    let (x, y) = (wide(a)?, wide(b)?);
    if !(integral(x.dtype()) && integral(y.dtype())) {
        let out = match op {
            BinOp::Add => (&x + &y)?,
            BinOp::Sub => (&x - &y)?,
            _ => (&x * &y)?,
        };
        return Ok(out.with_name(a.name().clone()).into_column());
    }
    let (x, y) = (x.cast(&DataType::Int64)?, y.cast(&DataType::Int64)?);
    let (x, y) = (x.i64()?.rechunk(), y.i64()?.rechunk());
    let (Some(xa), Some(ya)) = (x.downcast_iter().next(), y.downcast_iter().next()) else {
        return Ok(Series::new_empty(a.name().clone(), &DataType::Int64).into_column());
    };
    let valid = match (xa.validity(), ya.validity()) {
        (Some(p), Some(q)) => Some(p & q),
        (Some(p), None) => Some(p.clone()),
        (None, Some(q)) => Some(q.clone()),
        (None, None) => None,
    };
    let (p, q) = (xa.values().as_slice(), ya.values().as_slice());
    let (out, wrapped) = match op {
        BinOp::Add => each(p, q, i64::overflowing_add),
        BinOp::Sub => each(p, q, i64::overflowing_sub),
        _ => each(p, q, i64::overflowing_mul),
    };
    // a slot under a null holds no value: its result is no value either
    let bad = match (&valid, wrapped) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(v), Some(first)) => (first..out.len()).any(|j| v.get_bit(j) && op_wraps(op, p[j], q[j])),
    };
    if bad {
        let what = match op {
            BinOp::Add => "a sum in a formula",
            BinOp::Sub => "a difference in a formula",
            _ => "a product in a formula",
        };
        return Err(overflow(what));
    }
    let arr = PrimitiveArray::<i64>::from_vec(out).with_validity(valid);
    Ok(Int64Chunked::with_chunk(a.name().clone(), arr).into_column())
}

/// Each post's sum of components when it may have passed the Int64 range (the caller's bound
/// could not rule it out): the wrapped sums `sums` are exact unless they differ from the
/// same sums in floats by about 2^64.
pub(super) fn check_wrapped(sums: &[i64], approx: &[f64]) -> Result<()> {
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
        let mut total = 0u128;
        assert!(add_bound(&mut total, bound_of_test(&ca(&[Some(i64::MAX)])), "likes").is_ok());
        let err = add_bound(&mut total, 1, "likes").err().map(|e| e.code());
        assert_eq!(err, Some("integer_overflow"));
    }

    #[test]
    fn formula_arithmetic_checks_integers() -> Result<()> {
        let df = df!("a" => [Some(i64::MAX), Some(2), None], "b" => [Some(1_i64), Some(3), Some(i64::MAX)])?;
        let run = |op: BinOp, a: Expr, b: Expr| df.clone().lazy().select([arithmetic(op, a, b).alias("v")]).collect();
        let err = run(BinOp::Add, col("a"), col("b")).err().map(|e| Error::from(e).code());
        assert_eq!(err, Some("integer_overflow"));
        let prod = run(BinOp::Mul, col("a").slice(1, 2), col("b").slice(1, 2))?;
        let v: Vec<Option<i64>> = prod
            .column("v")?
            .i64()?
            .downcast_iter()
            .flat_map(|a| a.iter().map(|v| v.copied()))
            .collect();
        assert_eq!(v, vec![Some(6), None]);
        // a literal broadcasts; -MIN overflows
        let neg = df!("m" => [i64::MIN])?
            .lazy()
            .select([arithmetic(BinOp::Sub, lit(0), col("m"))])
            .collect();
        assert_eq!(neg.err().map(|e| Error::from(e).code()), Some("integer_overflow"));
        // numbers alone (a formula's constants)
        let c = df!("f" => [1.5_f64])?
            .lazy()
            .select([arithmetic(BinOp::Mul, lit(0), lit(0.5)).alias("c")])
            .collect()?;
        assert_eq!(c.column("c")?.f64()?.get(0), Some(0.0));
        // floats as polars computes them
        let f = df!("f" => [1.5_f64])?
            .lazy()
            .select([arithmetic(BinOp::Mul, col("f"), lit(2))])
            .collect()?;
        assert_eq!(f.column("f")?.f64()?.get(0), Some(3.0));
        Ok(())
    }
}
