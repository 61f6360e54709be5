//! The posts pass over a stream of batches, in bounded memory.
//!
//! Each batch's grain columns become integer codes through dictionaries that live across
//! batches; the codes of a row are combined, step by step, into its group; then every
//! partial state is a tight scatter loop `acc[group[row]] += value[row]`. Followers-at-post
//! and contract delivery are per-row lookups in tables keyed by the same codes. Nothing of
//! a batch outlives it but the dictionaries' new values, the accumulators and the 8-byte
//! hashes of its ids (for the repeat check at the end).

use super::kernel::{FollowerIndex, WindowIndex};
use super::parquet::Indexed;
use crate::error::Result;
use crate::ids::inline_key;
pub(super) use crate::periods::{days, Periods};
use polars::prelude::*;
use polars_arrow::array::Array;
use polars_arrow::bitmap::Bitmap;
use rayon::prelude::*;

const NONE: u32 = u32::MAX;

/// A column's dictionary across batches: value -> code (in order of first appearance), and
/// the distinct values in code order for the result's keys.
#[derive(Clone)]
pub(super) struct Dict {
    /// Values are compared as text (text columns, or keys typed differently in two tables);
    /// otherwise as 64-bit integers (integers, booleans, dates, times).
    text: bool,
    /// The type the values are given back in.
    out: DataType,
    /// Text of up to 12 bytes, keyed by its Arrow view.
    inline: PlHashMap<u128, u32>,
    /// A direct-mapped cache in front of `inline`: rows come in any order, and most keys
    /// repeat from a small set (accounts, platforms) that this holds without probing.
    cache: Vec<(u128, u32)>,
    strings: PlHashMap<String, u32>,
    ints: PlHashMap<i64, u32>,
    null: Option<u32>,
    n: u32,
    values: Vec<Series>,
}

impl Dict {
    pub fn new(dtype: &DataType, force_text: bool) -> Self {
        // (UInt64 values past i64::MAX have no Int64 key: they are compared as text)
        let text = force_text
            || matches!(dtype, DataType::UInt64)
            || !(dtype.is_integer() || dtype.is_bool() || dtype.is_temporal());
        Self {
            text,
            out: if force_text { DataType::String } else { dtype.clone() },
            inline: PlHashMap::default(),
            cache: Vec::new(),
            strings: PlHashMap::default(),
            ints: PlHashMap::default(),
            null: None,
            n: 0,
            values: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// Whether the two compare and give back values alike (the same column type, and text
    /// or not).
    pub fn same_kind(&self, other: &Dict) -> bool {
        self.text == other.text && self.out == other.out
    }

    fn prepare(&self, s: &Series) -> Result<Series> {
        Ok(if self.text {
            s.cast(&DataType::String)?
        } else {
            s.to_physical_repr().cast(&DataType::Int64)?
        })
    }

    fn fresh(&mut self, new_rows: &mut Vec<IdxSize>, row: usize) -> u32 {
        new_rows.push(row as IdxSize);
        self.n += 1;
        self.n - 1
    }

    /// Codes of a batch's column; values not seen before get new codes.
    pub fn encode(&mut self, column: &Column) -> Result<Vec<u32>> {
        if !self.text && column.dtype() == &DataType::Boolean {
            return self.encode_bools(column.as_materialized_series());
        }
        let s = self.prepare(column.as_materialized_series())?;
        let mut codes = Vec::with_capacity(s.len());
        let mut new_rows: Vec<IdxSize> = Vec::new();
        let mut row = 0usize;
        if self.text {
            // Text of up to 12 bytes lives inside its 16-byte Arrow view: the view (with the
            // bytes past the text masked) is the key, no hashing of the text itself.
            for arr in s.str()?.downcast_iter() {
                let views = arr.views();
                let valid = arr.validity();
                for (j, view) in views.iter().enumerate() {
                    let code = if valid.is_some_and(|v| !v.get_bit(j)) {
                        match self.null {
                            Some(c) => c,
                            None => {
                                let c = self.fresh(&mut new_rows, row);
                                self.null = Some(c);
                                c
                            }
                        }
                    } else if let Some(key) = inline_key(view) {
                        let slot = cache_slot(key, self.cache.len());
                        match self.cache.get(slot) {
                            Some(&(k, c)) if k == key && c != NONE => c,
                            _ => {
                                let c = match self.inline.get(&key) {
                                    Some(&c) => c,
                                    None => {
                                        let c = self.fresh(&mut new_rows, row);
                                        self.inline.insert(key, c);
                                        c
                                    }
                                };
                                if self.cache.len() < (4 * self.inline.len()).min(1 << 15) {
                                    // grown with the values: refilled as they come again
                                    self.cache =
                                        vec![(0, NONE); (4 * self.inline.len()).next_power_of_two().max(1 << 10)];
                                }
                                let slot = cache_slot(key, self.cache.len());
                                self.cache[slot] = (key, c);
                                c
                            }
                        }
                    } else {
                        let x = arr.value(j);
                        match self.strings.get(x) {
                            Some(&c) => c,
                            None => {
                                let c = self.fresh(&mut new_rows, row);
                                self.strings.insert(x.to_string(), c);
                                c
                            }
                        }
                    };
                    codes.push(code);
                    row += 1;
                }
            }
        } else {
            let mut prev: Option<(i64, u32)> = None;
            for arr in s.i64()?.downcast_iter() {
                for v in arr.iter() {
                    let code = match (v.copied(), prev) {
                        (Some(x), Some((p, c))) if p == x => c,
                        (Some(x), _) => {
                            let c = match self.ints.get(&x) {
                                Some(&c) => c,
                                None => {
                                    let c = self.fresh(&mut new_rows, row);
                                    self.ints.insert(x, c);
                                    c
                                }
                            };
                            prev = Some((x, c));
                            c
                        }
                        (None, _) => match self.null {
                            Some(c) => c,
                            None => {
                                let c = self.fresh(&mut new_rows, row);
                                self.null = Some(c);
                                c
                            }
                        },
                    };
                    codes.push(code);
                    row += 1;
                }
            }
        }
        if !new_rows.is_empty() {
            self.values.push(s.take_slice(&new_rows)?);
        }
        Ok(codes)
    }

    /// `encode` of a boolean column (a post's `sponsored` flag): its three values are looked
    /// up once a batch, not hashed a row at a time, and the column is not widened to integers.
    fn encode_bools(&mut self, s: &Series) -> Result<Vec<u32>> {
        let mut known = [self.ints.get(&0).copied(), self.ints.get(&1).copied(), self.null];
        let mut codes = Vec::with_capacity(s.len());
        // both values known and none missing (a batch after the first): a bit's code each
        if let ([Some(no), Some(yes), _], 0) = (known, s.null_count()) {
            for arr in s.bool()?.downcast_iter() {
                codes.extend(arr.values().iter().map(|b| if b { yes } else { no }));
            }
            return Ok(codes);
        }
        let mut new_rows: Vec<IdxSize> = Vec::new();
        for (row, value) in s.bool()?.iter().enumerate() {
            let k = value.map_or(2, usize::from);
            let code = match known[k] {
                Some(c) => c,
                None => {
                    let c = self.fresh(&mut new_rows, row);
                    match value {
                        Some(v) => {
                            self.ints.insert(i64::from(v), c);
                        }
                        None => self.null = Some(c),
                    }
                    known[k] = Some(c);
                    c
                }
            };
            codes.push(code);
        }
        if !new_rows.is_empty() {
            self.values.push(self.prepare(s)?.take_slice(&new_rows)?);
        }
        Ok(codes)
    }

    /// Codes of a column given as values and each row's index into them (`parquet::NULL`:
    /// a null row); values not seen before get new codes.
    pub fn encode_indexed(&mut self, indexed: &Indexed) -> Result<Vec<u32>> {
        let values = indexed.values();
        let table = self.encode(values)?;
        // one pass over the rows: a null row (the only index past the values) is marked, and
        // takes the null's code after the values' (as `encode` would give it)
        let mut nulls = false;
        let mut codes: Vec<u32> = indexed
            .indices()
            .iter()
            .map(|&i| match table.get(i as usize) {
                Some(&c) => c,
                None => {
                    nulls = true;
                    NONE
                }
            })
            .collect();
        if nulls {
            let null = self.encode(&Column::full_null("".into(), 1, values.dtype()))?[0];
            codes.iter_mut().filter(|c| **c == NONE).for_each(|c| *c = null);
        }
        Ok(codes)
    }

    /// The values of `codes`, in the column's type.
    pub fn take(&self, codes: &[u32]) -> Result<Series> {
        let mut all = match self.values.first() {
            Some(s) => s.clone(),
            None => Series::new_empty("".into(), &if self.text { DataType::String } else { DataType::Int64 }),
        };
        for s in self.values.iter().skip(1) {
            all.append(s)?;
        }
        let picked = all.take_slice(codes)?;
        Ok(if self.text && !matches!(self.out, DataType::String) {
            picked.cast(&self.out)?
        } else if self.text {
            picked
        } else {
            picked.cast(&self.out.to_physical())?.cast(&self.out)?
        })
    }
}

/// The cache slot of a text key (`len` a power of two, or 0).
fn cache_slot(key: u128, len: usize) -> usize {
    let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
    let h = folded.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    match len {
        0 => 0,
        _ => (h >> (64 - len.trailing_zeros())) as usize,
    }
}

/// A whole column's codes and its distinct values in code order (in the column's type).
pub(super) fn distinct_codes(column: &Column) -> Result<(Vec<u32>, Series)> {
    let mut dict = Dict::new(column.dtype(), false);
    let codes = dict.encode(column)?;
    let all: Vec<u32> = (0..dict.len() as u32).collect();
    Ok((codes, dict.take(&all)?))
}

/// Codes of pairs (a, b) across batches, and each code's pair (to take keys apart again).
/// Pairs of small codes go through a dense table (rebuilt larger when codes outgrow it).
#[derive(Default, Clone)]
pub(super) struct Pairs {
    map: PlHashMap<u64, u32>,
    pub pairs: Vec<(u32, u32)>,
    /// (table, capacity of a, capacity of b)
    dense: Option<(Vec<u32>, usize, usize)>,
}

const DENSE_PAIRS: usize = 1 << 22;

impl Pairs {
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    fn fits(&mut self, a_max: usize, b_max: usize) -> bool {
        let (ca, cb) = match &self.dense {
            Some((_, ca, cb)) if a_max < *ca && b_max < *cb => return true,
            Some((_, ca, cb)) => (
                (a_max + 1).next_power_of_two().max(*ca),
                (b_max + 1).next_power_of_two().max(*cb),
            ),
            None => ((a_max + 1).next_power_of_two(), (b_max + 1).next_power_of_two()),
        };
        if ca.saturating_mul(cb) > DENSE_PAIRS {
            self.dense = None;
            return false;
        }
        let mut table = vec![NONE; ca * cb];
        for (code, &(x, y)) in self.pairs.iter().enumerate() {
            table[x as usize * cb + y as usize] = code as u32;
        }
        self.dense = Some((table, ca, cb));
        true
    }

    /// `combine` of `b` with codes that are all 0 (a grouping's first step), without them.
    pub fn first(&mut self, b: &[u32]) -> Vec<u32> {
        self.pairs_of(std::iter::repeat(0), 0, b)
    }

    pub fn combine(&mut self, a: &[u32], b: &[u32]) -> Vec<u32> {
        let a_max = a.iter().copied().max().unwrap_or(0) as usize;
        self.pairs_of(a.iter().copied(), a_max, b)
    }

    /// The codes of the pairs (a, b) row by row, `a` given as its codes in turn and their
    /// largest.
    fn pairs_of(&mut self, a: impl Iterator<Item = u32>, a_max: usize, b: &[u32]) -> Vec<u32> {
        let b_max = b.iter().copied().max().unwrap_or(0) as usize;
        if self.map.is_empty() && self.fits(a_max, b_max) {
            if let Some((table, _, cb)) = &mut self.dense {
                let cb = *cb;
                return a
                    .zip(b)
                    .map(|(x, &y)| {
                        let slot = &mut table[x as usize * cb + y as usize];
                        if *slot == NONE {
                            *slot = self.pairs.len() as u32;
                            self.pairs.push((x, y));
                        }
                        *slot
                    })
                    .collect();
            }
        }
        if self.map.is_empty() {
            // leaving the dense table for good: its pairs move to the map
            self.dense = None;
            for (code, &(x, y)) in self.pairs.iter().enumerate() {
                self.map.insert((u64::from(x) << 32) | u64::from(y), code as u32);
            }
        }
        let mut prev: Option<(u64, u32)> = None;
        a.zip(b)
            .map(|(x, &y)| {
                let k = (u64::from(x) << 32) | u64::from(y);
                match prev {
                    Some((p, c)) if p == k => c,
                    _ => {
                        let next = self.pairs.len() as u32;
                        let c = *self.map.entry(k).or_insert(next);
                        if c == next {
                            self.pairs.push((x, y));
                        }
                        prev = Some((k, c));
                        c
                    }
                }
            })
            .collect()
    }
}

/// Rows to groups: the grain columns' codes (and the period's) combined step by step, so that
/// only combinations that occur become groups.
#[derive(Default)]
pub(super) struct Grouping {
    steps: Vec<Pairs>,
}

impl Grouping {
    pub fn new(parts: usize) -> Self {
        Self {
            steps: (0..parts).map(|_| Pairs::default()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.steps.last().map_or(1, Pairs::len)
    }

    /// Group of each row from its parts' codes (one slice per part, in order).
    pub fn groups(&mut self, parts: &[&[u32]], rows: usize) -> Vec<u32> {
        let mut steps = self.steps.iter_mut().zip(parts);
        let mut acc = match steps.next() {
            Some((step, part)) => step.first(part),
            None => vec![0u32; rows],
        };
        for (step, part) in steps {
            acc = step.combine(&acc, part);
        }
        acc
    }

    /// The parts' codes of every group, one vector per part.
    pub fn split(&self) -> Vec<Vec<u32>> {
        let n = self.len();
        let mut out = vec![vec![0u32; n]; self.steps.len()];
        for g in 0..n {
            let mut code = g as u32;
            for (part_codes, step) in out.iter_mut().zip(&self.steps).rev() {
                let (prev, part) = step.pairs[code as usize];
                part_codes[g] = part;
                code = prev;
            }
        }
        out
    }
}

/// Counts per group, grown to `n` groups, for rows where `flag` holds.
pub(super) fn count_into(counts: &mut Vec<i64>, n: usize, groups: &[u32], flag: impl Fn(usize) -> bool) {
    counts.resize(n, 0);
    for (row, &g) in groups.iter().enumerate() {
        if flag(row) {
            counts[g as usize] += 1;
        }
    }
}

/// Followers at post for each row of a batch (NaN where none).
pub(super) fn followers_at(index: &FollowerIndex, accounts: &[u32], days: &[i32]) -> Vec<f64> {
    const PIECE: usize = 1 << 14;
    let mut out = vec![0.0; accounts.len().min(days.len())];
    out.par_chunks_mut(PIECE).enumerate().for_each(|(k, out)| {
        let rows = k * PIECE..k * PIECE + out.len();
        index.at_each(&accounts[rows.clone()], &days[rows], out);
    });
    out
}

/// The rows inside one of their key's contract windows (and content type), in order; with
/// `sponsored`, only the rows whose bit is set.
pub(super) fn delivered_rows(
    index: &WindowIndex,
    keys: &[u32],
    days: &[i32],
    types: Option<&[u32]>,
    sponsored: Option<&Bitmap>,
) -> Vec<u32> {
    let inside = |row: usize| index.contains(keys[row], days[row], types.map_or(NONE, |t| t[row]));
    let n = keys.len().min(days.len());
    match sponsored {
        // (a sponsored post is the rarer case: its bits are found first)
        Some(bits) => bits
            .true_idx_iter()
            .take_while(|&row| row < n)
            .filter(|&row| inside(row))
            .map(|row| row as u32)
            .collect(),
        None => (0..n).filter(|&row| inside(row)).map(|row| row as u32).collect(),
    }
}

/// Counts per group, grown to `n` groups, of the delivered rows (`delivered_rows`); `per_key`
/// counts the same rows per key (for the over-delivery check; sized to the contracts' keys,
/// which are the only ones inside a window).
pub(super) fn count_delivered(
    counts: &mut Vec<i64>,
    per_key: &mut [u64],
    n: usize,
    groups: &[u32],
    keys: &[u32],
    delivered: &[u32],
) {
    counts.resize(n, 0);
    for &row in delivered {
        let row = row as usize;
        counts[groups[row] as usize] += 1;
        if let Some(n) = per_key.get_mut(keys[row] as usize) {
            *n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_rows_are_inside_a_window_and_sponsored_when_asked() {
        // key 0: days 10..=20; key 1: days 5..=6
        let index = WindowIndex::new(2, &[(0, 10, 20, NONE), (1, 5, 6, NONE)]);
        let keys = [0, 0, 1, 1, 0];
        let days = [10, 21, 6, 7, 15];
        assert_eq!(delivered_rows(&index, &keys, &days, None, None), vec![0, 2, 4]);
        let sponsored = Bitmap::from([true, true, false, true, true]);
        assert_eq!(delivered_rows(&index, &keys, &days, None, Some(&sponsored)), vec![0, 4]);
    }

    #[test]
    fn indexed_columns_take_the_codes_of_their_values() -> Result<()> {
        let mut dict = Dict::new(&DataType::String, false);
        assert_eq!(dict.encode(&Column::new("a".into(), ["y"]))?, vec![0]);
        // values (a dictionary) and each row's index into them, nulls marked
        let values = Column::new("a".into(), ["x", "y", "z"]);
        let null = super::super::parquet::NULL;
        let codes = dict.encode_indexed(&Indexed::new(values, vec![2, 1, null, 2, 0])?)?;
        assert_eq!(codes, vec![2, 0, 3, 2, 1]);
        let back = dict.take(&codes)?;
        assert_eq!(
            back.str()?.iter().collect::<Vec<_>>(),
            vec![Some("z"), Some("y"), None, Some("z"), Some("x")]
        );
        Ok(())
    }

    #[test]
    fn codes_persist_across_batches_and_groups_split_back() -> Result<()> {
        let mut dict = Dict::new(&DataType::String, false);
        let a = dict.encode(&Column::new("a".into(), ["x", "y", "x"]))?;
        let b = dict.encode(&Column::new("a".into(), [Some("y"), None, Some("z")]))?;
        assert_eq!(a, vec![0, 1, 0]);
        assert_eq!(b, vec![1, 2, 3]);
        let back = dict.take(&[3, 0, 2])?;
        assert_eq!(back.str()?.iter().collect::<Vec<_>>(), vec![Some("z"), Some("x"), None]);
        // short text is keyed by its view, long text by its bytes; both stay consistent
        let long = "an account id longer than twelve bytes";
        let c = dict.encode(&Column::new("a".into(), [long, "x", long, "twelve bytes"]))?;
        assert_eq!(c, vec![4, 0, 4, 5]);
        assert_eq!(
            dict.encode(&Column::new("a".into(), ["twelve bytes", long]))?,
            vec![5, 4]
        );

        // booleans: across batches, nulls a value of their own, given back as booleans; the
        // same codes whichever way a batch comes (the integers 0 and 1 are their keys)
        let mut flags = Dict::new(&DataType::Boolean, false);
        assert_eq!(
            flags.encode(&Column::new("s".into(), [Some(true), None, Some(true)]))?,
            vec![0, 1, 0]
        );
        assert_eq!(flags.encode(&Column::new("s".into(), [false, true]))?, vec![2, 0]);
        let as_ints = Column::new("s".into(), [true, false]).cast(&DataType::Int64)?;
        let mut by_ints = Dict::new(&DataType::Boolean, false);
        by_ints.encode(&Column::new("s".into(), [false]))?;
        assert_eq!(by_ints.encode(&as_ints)?, vec![1, 0]);
        let back = flags.take(&[2, 1, 0])?;
        assert_eq!(back.dtype(), &DataType::Boolean);
        assert_eq!(
            back.bool()?.iter().collect::<Vec<_>>(),
            vec![Some(false), None, Some(true)]
        );

        let mut ints = Dict::new(&DataType::Date, false);
        let days = Column::new("d".into(), [10_i32, 11, 10]).cast(&DataType::Date)?;
        assert_eq!(ints.encode(&days)?, vec![0, 1, 0]);
        assert_eq!(ints.take(&[1])?.dtype(), &DataType::Date);

        let mut grouping = Grouping::new(2);
        let g1 = grouping.groups(&[&[0, 1, 0], &[5, 5, 6]], 3);
        let g2 = grouping.groups(&[&[1, 0], &[5, 6]], 2);
        assert_eq!(g1, vec![0, 1, 2]);
        assert_eq!(g2, vec![1, 2]);
        assert_eq!(grouping.split(), vec![vec![0, 1, 0], vec![5, 5, 6]]);
        Ok(())
    }
}
