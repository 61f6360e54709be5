//! Building blocks of the kernel: the follower-snapshot and contract-window lookups (the
//! calendar of periods is `crate::periods`, the repeat check of ids `crate::ids`). `pass`
//! streams the posts through them.

pub(super) use crate::periods::{civil, period_start, split_by_period, NO_DAY};

const NONE: u32 = u32::MAX;
/// Column of account codes handed to the snapshots.
pub(super) const ACCOUNT: &str = "__account";
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

    #[inline]
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

    #[inline]
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

    /// `at` of each (account, day), into `out`. A daily table larger than the cache is read
    /// at random, once a post: each row's entry is fetched `AHEAD` rows before it is read, so
    /// that those reads overlap rather than wait one after the other.
    pub fn at_each(&self, accounts: &[u32], days: &[i32], out: &mut [f64]) {
        const AHEAD: usize = 16;
        let table: &[u32] = match &self.daily {
            Daily::Whole(table) => table,
            _ => &[],
        };
        let n = out.len().min(accounts.len()).min(days.len());
        for j in 0..n {
            if let (Some(&a), Some(&d)) = (accounts.get(j + AHEAD), days.get(j + AHEAD)) {
                if let Some(entry) = self.daily_entry(a, d).and_then(|i| table.get(i)) {
                    crate::ids::prefetch(entry);
                }
            }
            out[j] = self.at(accounts[j], days[j]);
        }
    }

    /// Where in the daily table `at` reads a post's value, when it reads it there.
    fn daily_entry(&self, account: u32, day: i32) -> Option<usize> {
        let span = self.spans.get(account as usize)?;
        (day >= span.first && day < span.last).then(|| span.start + (day - span.first) as usize)
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
    fn a_batch_reads_what_each_post_reads_alone() {
        let index = FollowerIndex::new(3, &[(0, 10, 100.0), (0, 20, 120.0), (2, 5, 7.0)], None);
        // more rows than a piece of `followers_at`, over every case of `at`
        let n = 40_000;
        let accounts: Vec<u32> = (0..n).map(|j| (j * 7 % 5) as u32).collect();
        let days: Vec<i32> = (0..n).map(|j| (j * 13 % 31) as i32 - 2).collect();
        let batch = super::super::pass::followers_at(&index, &accounts, &days);
        assert_eq!(batch.len(), n);
        for j in 0..n {
            let alone = index.at(accounts[j], days[j]);
            assert!(batch[j] == alone || (batch[j].is_nan() && alone.is_nan()), "row {j}");
        }
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
