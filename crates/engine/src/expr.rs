//! Expressions that both the formula compiler (per-post columns, in `plan`) and the
//! finalisation over the states (in `exec`) build: rule-2 ratios, rule-3 sums and integer
//! arithmetic that never wraps (see `exec::overflow` for the sums of the states).

use crate::error::raised;
use crate::error::InputCode;
use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;
use socialkpi_formula::BinOp;

/// Σ / Σ with rule 2: a zero or missing denominator gives null.
pub fn ratio(num: Expr, den: Expr) -> Expr {
    let den_f = den.cast(DataType::Float64);
    when(den_f.clone().is_null().or(den_f.clone().eq(lit(0.0))))
        .then(lit(NULL).cast(DataType::Float64))
        .otherwise(num.cast(DataType::Float64) / den_f)
}

/// Rule 3 over signed terms (`true`: added): the sum of those present, a missing term
/// counting as 0; null only when every term is missing.
pub fn rule3(terms: Vec<(bool, Expr)>) -> Option<Expr> {
    let all_null = balanced(terms.iter().map(|(_, e)| e.clone().is_null()).collect(), |a, b| {
        a.and(b)
    })?;
    // checked: integers never wrap (see `overflow`)
    let values = terms
        .into_iter()
        .map(|(plus, e)| {
            if plus {
                e.fill_null(lit(0))
            } else {
                arithmetic(BinOp::Sub, lit(0), e.fill_null(lit(0)))
            }
        })
        .collect();
    let total = balanced(values, |a, b| arithmetic(BinOp::Add, a, b))?;
    Some(when(all_null).then(lit(NULL)).otherwise(total))
}

/// `op` over the expressions, left to right, in a balanced tree past a few: a chain of as
/// many terms as a formula allows would make a tree as tall, and polars walks expressions
/// recursively (a thread's stack may be 512 KiB).
fn balanced(mut exprs: Vec<Expr>, op: impl Fn(Expr, Expr) -> Expr) -> Option<Expr> {
    const CHAIN: usize = 32;
    if exprs.len() <= CHAIN {
        return exprs.into_iter().reduce(op);
    }
    while exprs.len() > 1 {
        let mut pairs = Vec::with_capacity(exprs.len().div_ceil(2));
        let mut rest = exprs.into_iter();
        while let Some(a) = rest.next() {
            pairs.push(match rest.next() {
                Some(b) => op(a, b),
                None => a,
            });
        }
        exprs = pairs;
    }
    exprs.pop()
}

fn overflow(what: &str) -> PolarsError {
    raised(
        InputCode::IntegerOverflow,
        &format!("{what} passes the Int64 range (about ±9.2 × 10^18); values that large are usually a data error: fix them, or cast the columns to Float64 to compute approximately"),
    )
}

/// `a op b` (`+`, `-`, `*`) as polars computes it, except that on integers a result outside
/// the Int64 range raises `integer_overflow` instead of wrapping.
pub fn arithmetic(op: BinOp, a: Expr, b: Expr) -> Expr {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, Result};

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
