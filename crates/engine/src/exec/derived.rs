//! Per-post values that the posts pass derives from each batch's arrays: a post's engagements
//! (rule 3 over its platform's components), its engagement rate by reach, and the conditions
//! of text tests.
//!
//! Written as polars expressions these are chains of `is_null`, `fill_null`, `+` and
//! `when/then`, each a full array of its own; here each is one loop over the components.

use super::overflow;
use super::parquet::Indexed;
use crate::error::Result;
use crate::plan::{Components, TextTest};
use polars::prelude::*;
use polars_arrow::array::{BooleanArray, PrimitiveArray};
use polars_arrow::bitmap::Bitmap;

/// The rows of a batch where a column has a value, as one bitmap.
fn present(column: &Column) -> Bitmap {
    super::states::validity(column).unwrap_or_else(|| Bitmap::new_with_value(true, column.len()))
}

/// `sum[j] += values[j]` where `mask` is set, 64 rows per mask word (branch-free, so the
/// compiler vectorises it).
fn add_where<T: NumericNative>(sum: &mut [T], values: &[T], mask: &Bitmap) {
    let zero = T::default();
    let add = |sum: &mut [T], values: &[T], w: u64| {
        for (i, (s, v)) in sum.iter_mut().zip(values).enumerate() {
            *s += if (w >> i) & 1 == 1 { *v } else { zero };
        }
    };
    let mut words = mask.fast_iter_u64();
    let mut i = 0usize;
    for w in &mut words {
        add(&mut sum[i..i + 64], &values[i..i + 64], w);
        i += 64;
    }
    let ([lo, hi], _) = words.remainder();
    let n = sum.len();
    let mid = (i + 64).min(n);
    add(&mut sum[i..mid], &values[i..mid], lo);
    add(&mut sum[mid..n], &values[mid..n], hi);
}

/// Adds one set of components into `sum` on the rows of `rows`: each component is its first
/// alternative present (`likes|reactions`: likes, else reactions). Returns the rows where a
/// component was present.
fn add_set<T: PolarsNumericType>(
    batch: &DataFrame,
    set: &[String],
    rows: &Bitmap,
    sum: &mut [T::Native],
) -> Result<Bitmap> {
    let mut any = Bitmap::new_zeroed(rows.len());
    for component in set {
        let mut taken = Bitmap::new_zeroed(rows.len());
        for alternative in component.split('|') {
            let column = batch.column(alternative)?;
            let valid = &present(column) & rows;
            let add = &valid & &!&taken;
            let values = column.as_materialized_series().cast(&T::get_static_dtype())?;
            let mut offset = 0usize;
            for arr in values.unpack::<T>()?.downcast_iter() {
                let len = arr.len();
                let mask = add.clone().sliced(offset, len);
                add_where(&mut sum[offset..offset + len], arr.values().as_slice(), &mask);
                offset += len;
            }
            taken = &taken | &valid;
        }
        any = &any | &taken;
    }
    Ok(any)
}

/// Engagements of each post as a `T` column: the sum of its platform's components present,
/// null when none is.
fn sum_of<T: PolarsNumericType>(batch: &DataFrame, default: &[String], platforms: &Components) -> Result<Series> {
    let n = batch.height();
    let mut sum = vec![T::Native::default(); n];
    let mut valid = Bitmap::new_zeroed(n);
    let mut rest = Bitmap::new_with_value(true, n);
    if !platforms.is_empty() {
        let platform = batch
            .column("platform")?
            .as_materialized_series()
            .cast(&DataType::String)?;
        for (name, set) in platforms {
            // the first set named for a platform applies to it
            let equal = platform.str()?.equal(name.as_str());
            let equal = equal.rechunk();
            let on = equal
                .downcast_iter()
                .next()
                .map(|a| {
                    let bits = a.values().clone();
                    match a.validity() {
                        Some(v) => &bits & v,
                        None => bits,
                    }
                })
                .unwrap_or_else(|| Bitmap::new_zeroed(n));
            let on = &on & &rest;
            rest = &rest & &!&on;
            valid = &valid | &add_set::<T>(batch, set, &on, &mut sum)?;
        }
    }
    valid = &valid | &add_set::<T>(batch, default, &rest, &mut sum)?;
    let validity = (valid.unset_bits() > 0).then_some(valid);
    let arr = PrimitiveArray::<T::Native>::from_vec(sum).with_validity(validity);
    Ok(chunked_like::<T>(super::posts::ENG, arr, batch.columns().first()).into_series())
}

/// The values as a column chunked like `like` (zero-copy): a frame whose columns are chunked
/// alike is not copied into single chunks when polars adds columns to it.
fn chunked_like<T: PolarsNumericType>(
    name: &str,
    arr: PrimitiveArray<T::Native>,
    like: Option<&Column>,
) -> ChunkedArray<T> {
    let lengths: Vec<usize> = like
        .map(|c| c.as_materialized_series().chunk_lengths().collect())
        .unwrap_or_default();
    if lengths.len() <= 1 || lengths.iter().sum::<usize>() != arr.len() {
        return ChunkedArray::with_chunk(name.into(), arr);
    }
    let mut offset = 0usize;
    let chunks = lengths.into_iter().map(|len| {
        let piece = arr.clone().sliced(offset, len);
        offset += len;
        piece
    });
    ChunkedArray::from_chunk_iter(name.into(), chunks)
}

/// Each post's engagements (Int64, or Float64 when a component is fractional), or None when
/// no platform has any component.
pub(super) fn engagements(batch: &DataFrame, default: &[String], platforms: &Components) -> Result<Option<Series>> {
    let mut columns = default
        .iter()
        .chain(platforms.iter().flat_map(|(_, set)| set))
        .flat_map(|c| c.split('|'))
        .peekable();
    if columns.peek().is_none() {
        return Ok(None);
    }
    let mut fractional = false;
    for c in columns {
        fractional |= batch.column(c)?.dtype().is_float();
    }
    Ok(Some(if fractional {
        sum_of::<Float64Type>(batch, default, platforms)?
    } else {
        sum_of::<Int64Type>(batch, default, platforms)?
    }))
}

/// Checks that no post's engagements (Int64, added with wrapping adds) passed the Int64
/// range, from a bound on them: per component the largest magnitude (a power of two) of its
/// alternatives, added up over the largest set of components. `known` holds the or of the
/// magnitudes of columns the batch's checks read already. Returns an or whose power of two
/// bounds the engagements (for their sums' bound), None when they are not Int64 or the
/// bound is too large to say.
pub(super) fn check_engagements(
    batch: &DataFrame,
    default: &[String],
    platforms: &Components,
    known: &[(String, u64)],
) -> Result<Option<u64>> {
    match batch.column(super::posts::ENG) {
        Ok(eng) if eng.dtype() == &DataType::Int64 => {}
        _ => return Ok(None),
    }
    let bound = row_bound(batch, default, platforms, known)?;
    if overflow::fits(bound) {
        // the or below the power of two that bounds each post's engagements
        return Ok(Some(u64::try_from(bound.saturating_sub(1)).unwrap_or(u64::MAX >> 1)));
    }
    // a post's components may add up past the Int64 range: the floats' sums tell
    let sums = batch.column(super::posts::ENG)?.as_materialized_series();
    let approx = sum_of::<Float64Type>(batch, default, platforms)?;
    let exact: Vec<i64> = sums.i64()?.into_no_null_iter().collect();
    let approx: Vec<f64> = approx.f64()?.into_no_null_iter().collect();
    overflow::check_wrapped(&exact, &approx)?;
    Ok(None)
}

/// A bound on each post's engagements (see `check_engagements`).
fn row_bound(batch: &DataFrame, default: &[String], platforms: &Components, known: &[(String, u64)]) -> Result<u128> {
    let magnitude = |c: &str| -> Result<u128> {
        let or = match known.iter().find(|(k, _)| k == c) {
            Some((_, or)) => *or,
            None => {
                let s = batch.column(c)?.as_materialized_series().cast(&DataType::Int64)?;
                s.i64()?
                    .downcast_iter()
                    .flat_map(|a| a.values().iter())
                    .fold(0u64, |acc, &v| acc | v.unsigned_abs())
            }
        };
        Ok(if or == 0 { 0 } else { 1u128 << (64 - or.leading_zeros()) })
    };
    let mut largest = 0u128;
    for set in std::iter::once(default).chain(platforms.iter().map(|(_, set)| set.as_slice())) {
        let mut total = 0u128;
        for component in set {
            let mut most = 0u128;
            for alternative in component.split('|') {
                most = most.max(magnitude(alternative)?);
            }
            total += most;
        }
        largest = largest.max(total);
    }
    Ok(largest)
}

/// A column's values as doubles, chunk by chunk.
fn doubles(column: &Column) -> Result<Vec<f64>> {
    let s = column.as_materialized_series();
    let mut out = Vec::with_capacity(s.len());
    match s.dtype() {
        DataType::Int64 => s
            .i64()?
            .downcast_iter()
            .for_each(|a| out.extend(a.values().iter().map(|&v| v as f64))),
        DataType::Float64 => s.f64()?.downcast_iter().for_each(|a| out.extend_from_slice(a.values())),
        _ => {
            let f = s.cast(&DataType::Float64)?;
            f.f64()?.downcast_iter().for_each(|a| out.extend_from_slice(a.values()));
        }
    }
    Ok(out)
}

/// The rows where a value is not 0.
fn nonzero_bits(values: &[f64]) -> Bitmap {
    bits_of(values, |v| *v != 0.0)
}

/// A bitmap of `test` on each item, 64 to a word without a branch per item (a bitmap
/// collected from an iterator of bools is pushed a bit at a time).
fn bits_of<T>(items: &[T], test: impl Fn(&T) -> bool) -> Bitmap {
    let mut bytes = Vec::with_capacity(items.len().div_ceil(8));
    for word_items in items.chunks(64) {
        let word = word_items
            .iter()
            .enumerate()
            .fold(0u64, |w, (i, item)| w | (u64::from(test(item)) << i));
        bytes.extend_from_slice(&word.to_le_bytes()[..word_items.len().div_ceil(8)]);
    }
    Bitmap::from_u8_vec(bytes, items.len())
}

/// num / den for each post, for each (name, num, den) (rule 2: null where the denominator is
/// missing or 0, or the numerator missing), as `expr::ratio` computes it in polars. Each
/// denominator is read once for the quotients over it.
pub(super) fn quotients(batch: &DataFrame, quotients: &[(String, String, String)]) -> Result<Vec<Series>> {
    let mut out = Vec::with_capacity(quotients.len());
    // each denominator's values and where they are usable, read once
    let mut dens: Vec<(&str, Vec<f64>, Bitmap)> = Vec::new();
    for (name, num, d) in quotients {
        let at = match dens.iter().position(|(den, ..)| den == d) {
            Some(at) => at,
            None => {
                let column = batch.column(d)?;
                let values = doubles(column)?;
                let usable = &present(column) & &nonzero_bits(&values);
                dens.push((d.as_str(), values, usable));
                dens.len() - 1
            }
        };
        let (_, d, usable) = &dens[at];
        let column = batch.column(num)?;
        let mut values = doubles(column)?;
        for (v, d) in values.iter_mut().zip(d) {
            *v /= d;
        }
        let valid = &present(column) & usable;
        let validity = (valid.unset_bits() > 0).then_some(valid);
        let arr = PrimitiveArray::<f64>::from_vec(values).with_validity(validity);
        out.push(chunked_like::<Float64Type>(name, arr, Some(column)).into_series());
    }
    Ok(out)
}

/// A text test's condition column (`content_type == 'video'`), named after the condition. A
/// missing value passes neither `==` nor `!=`.
pub(super) fn text_test(test: &TextTest, column: &Column) -> Result<Column> {
    let passed = text_passes(test, column)?.fill_null_with_values(false)?;
    Ok(passed.with_name(test.condition.as_str().into()).into_column())
}

/// `text_test` of a column read as values and each row's index into them (as a key column is
/// read from Parquet pages: a row group's dictionary is a few values): each value is tested
/// once, and each row takes its value's result.
pub(super) fn text_test_indexed(test: &TextTest, column: &Indexed) -> Result<Column> {
    let passes: Vec<bool> = text_passes(test, column.values())?
        .iter()
        .map(|p| p.unwrap_or(false))
        .collect();
    // (a null row's index is past the values: it passes neither test)
    let bits = bits_of(column.indices(), |&v| passes.get(v as usize).copied().unwrap_or(false));
    let bits = BooleanArray::from_data_default(bits, None);
    Ok(BooleanChunked::with_chunk(test.condition.as_str().into(), bits).into_column())
}

/// Whether each text of `values` is (or is not, by `test.equal`) the test's text; null where
/// the text is.
fn text_passes(test: &TextTest, values: &Column) -> Result<BooleanChunked> {
    let text = values.as_materialized_series().cast(&DataType::String)?;
    let text = text.str()?;
    Ok(match test.equal {
        true => text.equal(test.text.as_str()),
        false => text.not_equal(test.text.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Result<DataFrame> {
        Ok(DataFrame::new(
            4,
            vec![
                Column::new("likes".into(), [Some(1_i64), None, None, Some(4)]),
                Column::new("reactions".into(), [Some(10_i64), Some(20), None, None]),
                Column::new("comments".into(), [Some(2_i64), None, None, None]),
                Column::new("clicks".into(), [Some(100_i64), Some(200), None, Some(1)]),
                Column::new("platform".into(), [Some("linkedin"), Some("x"), None, Some("linkedin")]),
                Column::new("reach".into(), [Some(10_i64), Some(0), Some(5), None]),
            ],
        )?)
    }

    fn values(s: &Series) -> Vec<Option<f64>> {
        s.cast(&DataType::Float64)
            .map(|s| s.f64().map(|c| c.iter().collect()).unwrap_or_default())
            .unwrap_or_default()
    }

    #[test]
    fn nonzero_bits_mark_the_values_that_are_not_zero() {
        for n in [0, 1, 8, 9, 64, 67] {
            let values: Vec<f64> = (0..n).map(|i| [0.0, 1.5, -0.0, f64::NAN, -2.0][i % 5]).collect();
            let bits = nonzero_bits(&values);
            assert_eq!(bits.len(), n);
            let want: Vec<bool> = values.iter().map(|v| *v != 0.0).collect();
            assert_eq!(bits.iter().collect::<Vec<_>>(), want, "{n}");
        }
    }

    #[test]
    fn quotients_of_a_frame_in_chunks_equal_those_in_one() -> Result<()> {
        let mut chunked = frame()?;
        chunked.vstack_mut(&frame()?)?;
        assert_eq!(chunked.column("clicks")?.as_materialized_series().n_chunks(), 2);
        let mut whole = chunked.clone();
        whole.rechunk_mut();
        let q = [("q".to_string(), "clicks".to_string(), "reach".to_string())];
        let (a, b) = (quotients(&chunked, &q)?, quotients(&whole, &q)?);
        assert_eq!(values(&a[0]), values(&b[0]));
        assert_eq!(values(&a[0])[4..], [Some(10.0), None, None, None]);
        Ok(())
    }

    #[test]
    fn engagements_follow_rule_3_and_the_platform_sets() -> Result<()> {
        let df = frame()?;
        let default = vec!["likes|reactions".to_string(), "comments".to_string()];
        let eng = engagements(&df, &default, &Vec::new())?.expect("components");
        assert_eq!(eng.dtype(), &DataType::Int64);
        // likes, else reactions; null only where every component is
        assert_eq!(values(&eng), vec![Some(3.0), Some(20.0), None, Some(4.0)]);

        let platforms = vec![("linkedin".to_string(), vec!["clicks".to_string()])];
        let eng = engagements(&df, &default, &platforms)?.expect("components");
        assert_eq!(values(&eng), vec![Some(100.0), Some(20.0), None, Some(1.0)]);
        assert!(engagements(&df, &[], &Vec::new())?.is_none());

        // the engagement rate by reach is the quotient of the engagements over it
        let mut with_eng = df.clone();
        with_eng.with_column(eng.with_name("eng".into()).into_column())?;
        let rates = quotients(&with_eng, &[("r".into(), "eng".into(), "reach".into())])?;
        assert_eq!(values(&rates[0]), vec![Some(10.0), None, None, None]);

        // rule 2: null for a missing or zero denominator, or a missing numerator
        let q = |n: &str, d: &str| (n.to_string(), n.to_string(), d.to_string());
        let qs = quotients(
            &df,
            &[q("clicks", "reach"), q("likes", "reach"), q("reactions", "clicks")],
        )?;
        assert_eq!(values(&qs[0]), vec![Some(10.0), None, None, None]);
        assert_eq!(values(&qs[1]), vec![Some(0.1), None, None, None]);
        assert_eq!(values(&qs[2]), vec![Some(0.1), Some(0.1), None, None]);
        Ok(())
    }

    fn test(text: &str, equal: bool) -> TextTest {
        TextTest {
            condition: "c".into(),
            column: "a".into(),
            text: text.into(),
            equal,
        }
    }

    fn bools(c: Column) -> Result<Vec<Option<bool>>> {
        Ok(c.bool()?.iter().collect())
    }

    #[test]
    fn text_tests_pass_rows_by_their_values_and_never_a_missing_one() -> Result<()> {
        let column = Column::new("a".into(), [Some("video"), None, Some("image"), Some("Video")]);
        let is = text_test(&test("video", true), &column)?;
        assert_eq!(is.name().as_str(), "c");
        assert_eq!(bools(is)?, [Some(true), Some(false), Some(false), Some(false)]);
        let not = text_test(&test("video", false), &column)?;
        assert_eq!(bools(not)?, [Some(false), Some(false), Some(true), Some(true)]);
        Ok(())
    }

    #[test]
    fn text_tests_by_index_take_their_values_results() -> Result<()> {
        // a dictionary and each row's index into it, a row without a value marked
        let values = Column::new("a".into(), [Some("image"), Some("video"), None]);
        let null = super::super::parquet::NULL;
        let indices: Vec<u32> = [1, 0, null, 2, 1].into_iter().cycle().take(70).collect();
        let indexed = Indexed::new(values, indices)?;
        let is = bools(text_test_indexed(&test("video", true), &indexed)?)?;
        let not = bools(text_test_indexed(&test("video", false), &indexed)?)?;
        let want_is = [true, false, false, false, true].into_iter().cycle().take(70).map(Some);
        let want_not = [false, true, false, false, false]
            .into_iter()
            .cycle()
            .take(70)
            .map(Some);
        assert_eq!(is, want_is.collect::<Vec<_>>());
        assert_eq!(not, want_not.collect::<Vec<_>>());
        Ok(())
    }
}
