//! Building blocks of the kernel: the calendar (period starts, splitting day ranges into
//! periods), the follower-snapshot and contract-window lookups, and the repeat check of ids
//! by hashes. `pass` streams the posts through them.

use crate::error::Result;
use crate::plan::Period;
use polars::prelude::*;
use polars_arrow::array::Array;
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

const NONE: u32 = u32::MAX;
/// Column of account codes handed to the snapshots.
pub(super) const ACCOUNT: &str = "__account";
/// Days as i32 with this marking a missing day.
pub(super) const NO_DAY: i32 = i32::MIN;
/// The days the calendar takes (about 2.9 million years on each side of 1970): inside them,
/// period starts, the next period and day counts between two of them stay far from the ends
/// of i32 (and from `NO_DAY`); a day outside is an error (`pass::days`).
pub(super) const DAYS: std::ops::RangeInclusive<i32> = -(1 << 30)..=(1 << 30);

// ---- calendar ---------------------------------------------------------------------------

/// (year, month, day) of days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
pub(super) fn civil(days: i32) -> (i64, u32, u32) {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

/// The first day of the period that contains `day` (weeks start on Monday).
pub(super) fn period_start(day: i32, every: Period) -> i32 {
    match every {
        Period::Day => day,
        // 1970-01-01 was a Thursday: Monday is 3 days earlier
        Period::Week => day - (day + 3).rem_euclid(7),
        Period::Month => {
            let (y, m, _) = civil(day);
            days_from_civil(y, m, 1)
        }
        Period::Quarter => {
            let (y, m, _) = civil(day);
            days_from_civil(y, (m - 1) / 3 * 3 + 1, 1)
        }
        Period::Year => days_from_civil(civil(day).0, 1, 1),
    }
}

/// The first day of the period after the one that starts on `start`.
pub(super) fn next_period(start: i32, every: Period) -> i32 {
    let months = |n: u32| {
        let (y, m, _) = civil(start);
        let m0 = m - 1 + n;
        days_from_civil(y + i64::from(m0 / 12), m0 % 12 + 1, 1)
    };
    match every {
        Period::Day => start + 1,
        Period::Week => start + 7,
        Period::Month => months(1),
        Period::Quarter => months(3),
        Period::Year => months(12),
    }
}

/// Splits day ranges [start, end] (inclusive) into the periods they overlap: for each piece,
/// the range's index, the period's first day (None without periods) and the share of the
/// range's days inside the period.
pub(super) fn split_by_period(
    ranges: &[(i32, i32)],
    every: Option<Period>,
) -> (Vec<IdxSize>, Vec<Option<i32>>, Vec<f64>) {
    let (mut index, mut period, mut share) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &(start, end)) in ranges.iter().enumerate() {
        let days = f64::from(end - start + 1);
        let Some(every) = every else {
            index.push(i as IdxSize);
            period.push(None);
            share.push(1.0);
            continue;
        };
        let mut p = period_start(start, every);
        while p <= end {
            let next = next_period(p, every);
            let inside = (end.min(next - 1) - start.max(p) + 1).max(0);
            if inside > 0 {
                index.push(i as IdxSize);
                period.push(Some(p));
                share.push(f64::from(inside) / days);
            }
            p = next;
        }
    }
    (index, period, share)
}

/// Contract windows [start, end] per key code, with the content type a window asks for
/// (`u32::MAX`: any), for "does this post fall in one".
pub(super) enum WindowIndex {
    /// When no window asks for a content type: one bit per key and day from the first
    /// window's start to the last one's end, set inside some window (one lookup a post).
    Days(DayBits),
    /// Each key's windows (from `offsets[key]` to `offsets[key + 1]`), searched.
    Search {
        offsets: Vec<usize>,
        windows: Vec<(i32, i32, u32)>,
    },
}

/// A bit per (key, day) over `span` days from `first`, for `keys` keys.
pub(super) struct DayBits {
    keys: usize,
    first: i32,
    span: usize,
    bits: Vec<u64>,
}

/// The most bits `DayBits` takes (8 MB); past it, windows are searched.
const MAX_DAY_BITS: usize = 1 << 26;

impl WindowIndex {
    /// From (key code, start, end, content type code) rows sorted by code, codes < `keys`.
    pub fn new(keys: usize, rows: &[(u32, i32, i32, u32)]) -> Self {
        DayBits::new(keys, rows).map_or_else(|| Self::search(keys, rows), Self::Days)
    }

    /// The windows kept as they are, to be searched.
    fn search(keys: usize, rows: &[(u32, i32, i32, u32)]) -> Self {
        let mut offsets = vec![0usize; keys + 1];
        for &(k, _, _, _) in rows {
            offsets[k as usize + 1] += 1;
        }
        for i in 1..=keys {
            offsets[i] += offsets[i - 1];
        }
        Self::Search {
            offsets,
            windows: rows.iter().map(|r| (r.1, r.2, r.3)).collect(),
        }
    }

    pub fn contains(&self, key: u32, day: i32, content_type: u32) -> bool {
        let k = key as usize;
        match self {
            Self::Days(d) => d.get(k, day),
            Self::Search { offsets, windows } => match (offsets.get(k), offsets.get(k + 1)) {
                (Some(&lo), Some(&hi)) if day != NO_DAY => windows[lo..hi]
                    .iter()
                    .any(|&(s, e, t)| s <= day && day <= e && (t == NONE || t == content_type)),
                _ => false,
            },
        }
    }
}

impl DayBits {
    /// None when a window asks for a content type, or the bits would take too much memory.
    fn new(keys: usize, rows: &[(u32, i32, i32, u32)]) -> Option<Self> {
        if rows.iter().any(|r| r.3 != NONE) {
            return None;
        }
        let first = rows.iter().map(|r| r.1).min()?;
        let last = rows.iter().map(|r| r.2).max()?;
        let span = usize::try_from(i64::from(last) - i64::from(first) + 1).ok()?;
        let n = keys.checked_mul(span).filter(|&n| n <= MAX_DAY_BITS)?;
        let mut bits = vec![0u64; n.div_ceil(64)];
        for &(k, start, end, _) in rows {
            let base = k as usize * span;
            for day in start..=end {
                let i = base + (day - first) as usize;
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        Some(Self {
            keys,
            first,
            span,
            bits,
        })
    }

    fn get(&self, key: usize, day: i32) -> bool {
        let offset = i64::from(day) - i64::from(self.first);
        match usize::try_from(offset) {
            Ok(d) if d < self.span && key < self.keys && day != NO_DAY => {
                let i = key * self.span + d;
                self.bits.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
            }
            _ => false,
        }
    }
}

// ---- repeated ids -----------------------------------------------------------------------

/// Rows whose id repeats an earlier row's, and up to three repeated ids (nulls never repeat).
/// `candidates` are the hashes (`split_id_hashes` with `state`) seen more than once when a
/// pass already knows them; otherwise they are found here. An equal hash may be a collision:
/// only the real values behind the candidates count.
pub(super) fn repeated_ids(
    column: &Column,
    candidates: Option<&PlHashSet<u64>>,
    state: &PlRandomState,
) -> Result<(u64, Vec<String>)> {
    let found;
    let candidates = match candidates {
        Some(c) => c,
        None => {
            found = repeated_hashes(&[split_id_hashes(column, state)?]);
            &found
        }
    };
    if candidates.is_empty() {
        return Ok((0, Vec::new()));
    }
    let s = column.as_materialized_series().cast(&DataType::String)?;
    let mut seen: PlHashMap<&str, u64> = PlHashMap::default();
    for arr in s.str()?.downcast_iter() {
        for j in 0..arr.len() {
            if arr.is_valid(j) && candidates.contains(&super::pass::id_hash(arr, j, state)) {
                *seen.entry(arr.value(j)).or_insert(0) += 1;
            }
        }
    }
    let mut repeated: Vec<(&str, u64)> = seen.into_iter().filter(|(_, n)| *n > 1).collect();
    repeated.sort_unstable();
    let extra = repeated.iter().map(|(_, n)| n - 1).sum();
    Ok((extra, repeated.iter().take(3).map(|(v, _)| (*v).to_string()).collect()))
}

/// The top bits that split hashes into parts for `repeated_hashes`.
pub(super) const PART_BITS: u32 = 8;

/// The part of a hash: its top bits.
fn part(h: u64) -> usize {
    (h >> (64 - PART_BITS)) as usize
}

/// Puts a hash into its part (`hash_parts`).
#[inline]
pub(super) fn push_part(parts: &mut [Vec<u64>], h: u64) {
    parts[part(h)].push(h);
}

/// A batch's hashes split by their top bits (see `repeated_hashes`).
#[cfg(test)]
fn split_hashes(batch: &[u64]) -> Vec<Vec<u64>> {
    let mut out = hash_parts(batch.len());
    for &h in batch {
        push_part(&mut out, h);
    }
    out
}

/// The hashes of a batch's non-null ids (see `pass::id_hash`), split by their top bits.
pub(super) fn split_id_hashes(column: &Column, state: &PlRandomState) -> Result<Vec<Vec<u64>>> {
    let mut out = hash_parts(column.len());
    super::pass::for_each_id_hash(column, state, |h| push_part(&mut out, h))?;
    Ok(out)
}

/// Empty parts for about `n` hashes.
pub(super) fn hash_parts(n: usize) -> Vec<Vec<u64>> {
    let parts = 1usize << PART_BITS;
    (0..parts)
        .map(|_| Vec::with_capacity(n / parts + n / (4 * parts)))
        .collect()
}

/// Hashes that occur more than once, from batches split into parts (`split_id_hashes`,
/// `push_part`): each part's set, which stays in cache, is checked on its own (in parallel).
pub(super) fn repeated_hashes(split: &[Vec<Vec<u64>>]) -> PlHashSet<u64> {
    THREAD_POOL.install(|| {
        (0..1usize << PART_BITS)
            .into_par_iter()
            .map_init(Vec::new, |table, b| {
                let hashes: Vec<&[u64]> = split.iter().map(|p| p[b].as_slice()).collect();
                repeats(table, &hashes)
            })
            .flatten_iter()
            .collect()
    })
}

/// The hashes (of `batches`) that repeat an earlier one. The hashes are random already, so
/// they index an open-addressing table (`table`, reused) directly, by the bits below the
/// part's: no hashing again, one probe at about half load. The table outgrows the core's
/// cache, so each slot is prefetched a few hashes ahead.
fn repeats(table: &mut Vec<u64>, batches: &[&[u64]]) -> Vec<u64> {
    const AHEAD: usize = 16;
    let n: usize = batches.iter().map(|b| b.len()).sum();
    let size = (2 * n).next_power_of_two().max(16);
    table.clear();
    table.resize(size, 0);
    let (mask, shift) = (size - 1, 64 - PART_BITS - size.trailing_zeros());
    let slot_of = |h: u64| (h >> shift) as usize & mask;
    // 0 marks an empty slot; the hash 0 itself is counted beside the table
    let (mut zeros, mut out) = (0usize, Vec::new());
    for batch in batches {
        for (j, &h) in batch.iter().enumerate() {
            if let Some(&ahead) = batch.get(j + AHEAD) {
                prefetch(&table[slot_of(ahead)]);
            }
            if h == 0 {
                zeros += 1;
                if zeros == 2 {
                    out.push(0);
                }
                continue;
            }
            let mut slot = slot_of(h);
            loop {
                match table[slot] {
                    0 => {
                        table[slot] = h;
                        break;
                    }
                    seen if seen == h => {
                        out.push(h);
                        break;
                    }
                    _ => slot = (slot + 1) & mask,
                }
            }
        }
    }
    out
}

/// Asks the processor to bring the cache line of `at` in (a hint: nothing else changes).
#[inline]
fn prefetch(at: &u64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and cannot fault; `at` is a live reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(at).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

// ---- followers at post --------------------------------------------------------------------

/// Where an account's snapshots lie: its first and last snapshot days (first > last when it
/// has none), its last value, and where its days start in the daily table.
#[derive(Clone, Copy)]
struct Span {
    first: i32,
    last: i32,
    last_value: f64,
    start: usize,
}

/// The value on every day of each account's span (carried forward from the last snapshot):
/// one lookup instead of a binary search. Whole numbers are kept as u32, half the memory
/// (the table is read at random, once per post).
enum Daily {
    Whole(Vec<u32>),
    Fractional(Vec<f64>),
    /// The spans would take too much memory: binary search in the snapshots.
    None,
}

/// Each account's follower snapshots (sorted by day), for the last one on or before a day.
pub(super) struct FollowerIndex {
    spans: Vec<Span>,
    /// Offsets of each account's snapshots in `days` / `values` (len accounts + 1).
    offsets: Vec<usize>,
    days: Vec<i32>,
    values: Vec<f64>,
    daily: Daily,
    /// Every value is a whole number that a double holds exactly.
    integral: bool,
    /// A snapshot is read at most this many days after its day (None: any age).
    max_staleness: Option<u32>,
}

/// A day of `Daily::Whole` with no fresh snapshot (values below it are follower counts).
const STALE: u32 = u32::MAX;

impl FollowerIndex {
    /// From (account code, day, followers) rows sorted by account and day, codes < `accounts`;
    /// a snapshot is read up to `max_staleness` days after its day (None: until the next one).
    pub fn new(accounts: usize, rows: &[(u32, i32, f64)], max_staleness: Option<u32>) -> Self {
        let mut offsets = vec![0usize; accounts + 1];
        for &(a, _, _) in rows {
            offsets[a as usize + 1] += 1;
        }
        for i in 1..=accounts {
            offsets[i] += offsets[i - 1];
        }
        let days: Vec<i32> = rows.iter().map(|r| r.1).collect();
        let values: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let mut spans = Vec::with_capacity(accounts);
        let mut total = 0usize;
        for a in 0..accounts {
            let (lo, hi) = (offsets[a], offsets[a + 1]);
            spans.push(if hi > lo {
                let span = Span {
                    first: days[lo],
                    last: days[hi - 1],
                    last_value: values[hi - 1],
                    start: total,
                };
                total += (i64::from(days[hi - 1]) - i64::from(days[lo]) + 1) as usize;
                span
            } else {
                Span {
                    first: i32::MAX,
                    last: i32::MIN,
                    last_value: f64::NAN,
                    start: total,
                }
            });
        }
        let integral = values.iter().all(|v| v.fract() == 0.0 && v.abs() <= 2f64.powi(53));
        let carried = || {
            let mut out = Vec::with_capacity(total);
            for a in 0..accounts {
                let (lo, hi) = (offsets[a], offsets[a + 1]);
                for k in lo..hi {
                    let until = if k + 1 < hi { days[k + 1] } else { days[k] + 1 };
                    let carried = (until - days[k]) as usize;
                    // days past the staleness limit hold no value (NaN)
                    let fresh = max_staleness.map_or(carried, |m| carried.min(m as usize + 1));
                    out.extend(std::iter::repeat_n(values[k], fresh));
                    out.extend(std::iter::repeat_n(f64::NAN, carried - fresh));
                }
            }
            out
        };
        let daily = if total > (1 << 23) {
            Daily::None
        } else if integral && values.iter().all(|&v| (0.0..f64::from(STALE)).contains(&v)) {
            Daily::Whole(
                carried()
                    .into_iter()
                    .map(|v| if v.is_nan() { STALE } else { v as u32 })
                    .collect(),
            )
        } else {
            Daily::Fractional(carried())
        };
        Self {
            spans,
            offsets,
            days,
            values,
            daily,
            integral,
            max_staleness,
        }
    }

    /// Whether a snapshot `days_old` days before a post's day is too old to be read.
    fn stale(&self, days_old: i64) -> bool {
        self.max_staleness.is_some_and(|m| days_old > i64::from(m))
    }

    /// Whether `account` has a snapshot on or before `day` (for a NaN of `at`: a stale one).
    pub fn has_snapshot_by(&self, account: u32, day: i32) -> bool {
        self.spans.get(account as usize).is_some_and(|span| day >= span.first)
    }

    /// Whether every value is a whole number (so sums of them are exact, in any order).
    pub fn integral(&self) -> bool {
        self.integral
    }

    /// Followers of `account` at its last snapshot on or before `day`; NaN when none, or
    /// when it is more than `max_staleness` days old.
    pub fn at(&self, account: u32, day: i32) -> f64 {
        let a = account as usize;
        let Some(span) = self.spans.get(a) else {
            return f64::NAN;
        };
        // (NO_DAY is below every day; an account without snapshots has first = i32::MAX)
        if day < span.first {
            return f64::NAN;
        }
        if day >= span.last {
            if self.stale(i64::from(day) - i64::from(span.last)) {
                return f64::NAN;
            }
            return span.last_value;
        }
        let i = span.start + (day - span.first) as usize;
        match &self.daily {
            Daily::Whole(d) => d
                .get(i)
                .map_or(f64::NAN, |&v| if v == STALE { f64::NAN } else { f64::from(v) }),
            Daily::Fractional(d) => d.get(i).copied().unwrap_or(f64::NAN),
            Daily::None => {
                let (lo, hi) = (self.offsets[a], self.offsets[a + 1]);
                let k = self.days[lo..hi].partition_point(|&d| d <= day);
                if self.stale(i64::from(day) - i64::from(self.days[lo + k - 1])) {
                    return f64::NAN;
                }
                self.values[lo + k - 1]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_where_polars_truncates() {
        let day = |y, m, d| days_from_civil(y, m, d);
        assert_eq!(day(1970, 1, 1), 0);
        assert_eq!(civil(day(2024, 2, 29)), (2024, 2, 29));
        // 2024-02-29 was a Thursday
        assert_eq!(period_start(day(2024, 2, 29), Period::Week), day(2024, 2, 26));
        assert_eq!(period_start(day(2024, 2, 29), Period::Month), day(2024, 2, 1));
        assert_eq!(period_start(day(2024, 5, 31), Period::Quarter), day(2024, 4, 1));
        assert_eq!(period_start(day(2024, 12, 31), Period::Year), day(2024, 1, 1));
        assert_eq!(period_start(day(1969, 12, 31), Period::Month), day(1969, 12, 1));
        assert_eq!(period_start(day(1969, 12, 31), Period::Week), day(1969, 12, 29));
        for d in -1000..1000 {
            let (y, m, dd) = civil(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn ranges_split_into_periods_by_their_days() {
        let day = |y, m, d| days_from_civil(y, m, d);
        // 30 days from 22 January: 10 in January, 20 in February
        let (index, period, share) = split_by_period(&[(day(2026, 1, 22), day(2026, 2, 20))], Some(Period::Month));
        assert_eq!(index, vec![0, 0]);
        assert_eq!(period, vec![Some(day(2026, 1, 1)), Some(day(2026, 2, 1))]);
        assert_eq!(share, vec![10.0 / 30.0, 20.0 / 30.0]);
        let (_, period, share) = split_by_period(&[(day(2026, 3, 30), day(2026, 4, 2))], Some(Period::Quarter));
        assert_eq!(period, vec![Some(day(2026, 1, 1)), Some(day(2026, 4, 1))]);
        assert_eq!(share, vec![0.5, 0.5]);
        assert_eq!(next_period(day(2026, 12, 1), Period::Month), day(2027, 1, 1));
        assert_eq!(split_by_period(&[(5, 5)], None).2, vec![1.0]);
    }

    #[test]
    fn repeated_hashes_are_found_within_and_across_batches() {
        // hashes spread over every part, a few of them repeated
        let spread = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let first: Vec<u64> = (0..5_000).map(spread).chain([spread(7), spread(7)]).collect();
        let second: Vec<u64> = (4_990..9_000).map(spread).collect();
        let split = [split_hashes(&first), split_hashes(&second)];
        assert_eq!(split[0].iter().map(Vec::len).sum::<usize>(), first.len());
        for (b, hashes) in split[0].iter().enumerate() {
            assert!(hashes.iter().all(|&h| part(h) == b));
        }
        let mut got: Vec<u64> = repeated_hashes(&split).into_iter().collect();
        got.sort_unstable();
        let mut want: Vec<u64> = (4_990..5_000).map(spread).chain([spread(7)]).collect();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn day_bits_answer_as_the_windows_do() {
        // overlapping windows of three keys (key 2 has none), and days around them
        let rows = [
            (0, 10, 20, NONE),
            (0, 15, 30, NONE),
            (1, -5, -5, NONE),
            (1, 40, 41, NONE),
            (3, 0, 3, NONE),
        ];
        let index = WindowIndex::new(4, &rows);
        assert!(matches!(index, WindowIndex::Days(_)));
        let search = WindowIndex::search(4, &rows);
        for key in 0..6 {
            for day in (-10..50).chain([NO_DAY, i32::MAX]) {
                assert_eq!(index.contains(key, day, 7), search.contains(key, day, 7), "{key} {day}");
            }
        }
        assert!(index.contains(0, 30, NONE) && !index.contains(0, 31, NONE) && index.contains(1, -5, NONE));
        // a window that asks for a content type: searched
        let typed = WindowIndex::new(1, &[(0, 1, 5, 2)]);
        assert!(matches!(typed, WindowIndex::Search { .. }));
        assert!(typed.contains(0, 3, 2) && !typed.contains(0, 3, 1));
    }

    #[test]
    fn repeats_probe_past_taken_slots_and_count_zero() {
        // equal top bits (one slot) and different low bits: each probes past the others
        let crowded: Vec<u64> = (1..=40u64).collect();
        let mut table = vec![5; 3];
        let mut got = repeats(&mut table, &[&crowded, &[0, 7, 40, 0, 0, 41]]);
        got.sort_unstable();
        assert_eq!(got, vec![0, 7, 40]);
        // the table is reused, cleared
        assert_eq!(repeats(&mut table, &[&[3, 4]]), Vec::<u64>::new());
    }

    #[test]
    fn repeated_ids_are_found_and_nulls_are_not_repeats() -> Result<()> {
        let ids = Column::new(
            "post_id".into(),
            [Some("a"), None, Some("b"), Some("a"), None, Some("a")],
        );
        let state = PlRandomState::default();
        assert_eq!(repeated_ids(&ids, None, &state)?, (2, vec!["a".to_string()]));
        let unique = Column::new("post_id".into(), (0..100_000_i64).collect::<Vec<_>>());
        assert_eq!(repeated_ids(&unique, None, &state)?.0, 0);
        Ok(())
    }

    #[test]
    fn followers_are_the_last_snapshot_on_or_before_the_day() {
        let index = FollowerIndex::new(3, &[(0, 10, 100.0), (0, 20, 120.0), (2, 5, 7.0)], None);
        assert!(index.at(0, 9).is_nan());
        assert_eq!(index.at(0, 10), 100.0);
        assert_eq!(index.at(0, 19), 100.0);
        assert_eq!(index.at(0, 25), 120.0);
        assert!(index.at(1, 25).is_nan());
        assert_eq!(index.at(2, 5), 7.0);
        assert!(index.at(2, NO_DAY).is_nan());
        assert!(index.at(3, 25).is_nan());
        let rows = [(0, 10, 100.0), (0, 20, 120.5), (2, 5, 7.0)];
        let fractional = FollowerIndex::new(3, &rows, None);
        assert!(matches!(fractional.daily, Daily::Fractional(_)) && !fractional.integral());
        let sparse = FollowerIndex {
            daily: Daily::None,
            ..FollowerIndex::new(3, &rows, None)
        };
        for day in 0..30 {
            let (a, b) = (fractional.at(0, day), sparse.at(0, day));
            assert!(a == b || (a.is_nan() && b.is_nan()), "day {day}: {a} vs {b}");
        }
        assert_eq!(sparse.at(0, 25), 120.5);
    }

    #[test]
    fn snapshots_older_than_the_staleness_limit_are_not_read() {
        let rows = [(0, 10, 100.0), (0, 20, 120.0), (1, 5, 7.5)];
        for max in [0u32, 3, 7] {
            let whole = FollowerIndex::new(2, &rows[..2], Some(max));
            let fractional = FollowerIndex::new(2, &rows, Some(max));
            let sparse = FollowerIndex {
                daily: Daily::None,
                ..FollowerIndex::new(2, &rows, Some(max))
            };
            assert!(matches!(whole.daily, Daily::Whole(_)));
            assert!(matches!(fractional.daily, Daily::Fractional(_)));
            for day in 0..40 {
                // the last snapshot on or before `day`, if it is at most `max` days old
                let expected = rows[..2]
                    .iter()
                    .rev()
                    .find(|r| r.1 <= day)
                    .filter(|r| day - r.1 <= max as i32)
                    .map(|r| r.2);
                for index in [&whole, &fractional, &sparse] {
                    let got = index.at(0, day);
                    assert_eq!(got.is_nan(), expected.is_none(), "max {max}, day {day}: {got}");
                    if let Some(v) = expected {
                        assert_eq!(got, v);
                    }
                    assert_eq!(index.has_snapshot_by(0, day), day >= 10);
                }
            }
            assert_eq!(fractional.at(1, 5 + max as i32), 7.5);
            assert!(fractional.at(1, 6 + max as i32).is_nan());
        }
        let unlimited = FollowerIndex::new(2, &rows, None);
        assert_eq!(unlimited.at(0, 10_000), 120.0);
    }
}
