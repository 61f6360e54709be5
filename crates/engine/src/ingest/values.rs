//! Cell values as exports write them: humanised counts (`1.2K`, `475.8m`, `3,4 rb`, `1,2 jt`),
//! thousands separators of either locale (`1,234`, `1.234`), percentages (`1.39%`), currency
//! signs, missing markers (`-`, `N/A`, `undefined`, `NaN%`) and dates in the formats exports
//! use (ISO, `DD/MM/YYYY`, `MM/DD/YYYY`, `DD.MM`, `YYYYMMDD`, `Tue, Aug 25, 2026`, English and
//! Indonesian month names, yearless dates completed by the caller's year).
//!
//! Each function reads one cell; the column functions in `read` run them over whole Arrow
//! arrays in parallel. Numbers are assembled from their decimal digits (an integer mantissa
//! and a power of ten), so `475.8m` is exactly 475 800 000, not 475 799 999.99999994.

/// The outcome of reading one cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<T> {
    /// Empty, or a marker that means "no value" (`-`, `N/A`, `undefined`, `NaN`, ...).
    Missing,
    Value(T),
    /// Text that is not a value of the column's kind: nulled and counted by the caller.
    Bad,
}

impl<T> Cell<T> {
    /// The value mapped, missing and bad cells as they are.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Cell<U> {
        match self {
            Cell::Value(v) => Cell::Value(f(v)),
            Cell::Missing => Cell::Missing,
            Cell::Bad => Cell::Bad,
        }
    }
}

/// Which mark separates decimals where a cell alone does not tell (`1.234`, `1,234`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decimal {
    Point,
    Comma,
}

const MISSING: &[&str] = &[
    "",
    "-",
    "--",
    "–",
    "—",
    "nan",
    "nan%",
    "undefined",
    "n/a",
    "na",
    "null",
    "none",
    "nil",
    "#n/a",
];

fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '"')
}

/// True when the (trimmed) text says "no value".
pub fn is_missing(s: &str) -> bool {
    // every marker starts with one of these (or is empty): most cells are rejected at once
    if s.as_bytes().first().is_some_and(|b| {
        !matches!(
            b,
            b'-' | b'n' | b'N' | b'u' | b'U' | b'#' | 0xE2 | b' ' | b'"' | b'\t' | 0xEF
        )
    }) {
        return false;
    }
    let t = trim(s);
    t.len() <= 10 && MISSING.iter().any(|m| t.eq_ignore_ascii_case(m))
}

/// Multiplier words after a number, lower case, longest first where one is a prefix of another.
const SUFFIXES: &[(&str, i32)] = &[
    ("ribu", 3),
    ("rb", 3),
    ("k", 3),
    ("thousand", 3),
    ("juta", 6),
    ("jt", 6),
    ("mn", 6),
    ("million", 6),
    ("m", 6),
    ("miliar", 9),
    ("milyar", 9),
    ("mlr", 9),
    ("billion", 9),
    ("bn", 9),
    ("b", 9),
    ("triliun", 12),
    ("trillion", 12),
    ("t", 12),
];

const CURRENCY_PREFIXES: &[&str] = &["us$", "$", "€", "£", "¥", "₹", "rp.", "rp", "idr", "usd", "eur", "gbp"];

/// Strips a currency sign or code before or after the number.
fn strip_currency(s: &str) -> &str {
    let b = s.as_bytes();
    if b.first().is_some_and(u8::is_ascii_digit)
        && b.last()
            .is_some_and(|c| c.is_ascii_digit() || c.is_ascii_alphabetic() || *c == b'%')
    {
        // digits first: only a code after the number can be a currency ("12 EUR")
        let n = s.len();
        for p in CURRENCY_PREFIXES.iter().filter(|p| p.is_ascii() && p.len() >= 3) {
            if n > p.len() && s.is_char_boundary(n - p.len()) && s[n - p.len()..].eq_ignore_ascii_case(p) {
                return s[..n - p.len()].trim_end();
            }
        }
        return s;
    }
    let mut t = s;
    for p in CURRENCY_PREFIXES {
        if t.len() >= p.len() && t.is_char_boundary(p.len()) && t[..p.len()].eq_ignore_ascii_case(p) {
            t = t[p.len()..].trim_start();
            break;
        }
    }
    for p in CURRENCY_PREFIXES {
        let n = t.len();
        if n >= p.len() && t.is_char_boundary(n - p.len()) && t[n - p.len()..].eq_ignore_ascii_case(p) {
            t = t[..n - p.len()].trim_end();
            break;
        }
    }
    t
}

/// The power of ten of a trailing multiplier word and the text before it.
fn split_suffix(s: &str) -> (&str, i32) {
    let end = s.trim_end();
    let alpha_start = end
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphabetic())
        .last()
        .map(|(i, _)| i);
    let Some(i) = alpha_start else { return (end, 0) };
    let word = &end[i..];
    for (w, p) in SUFFIXES {
        if word.eq_ignore_ascii_case(w) {
            return (end[..i].trim_end(), *p);
        }
    }
    (end, i32::MIN) // an unknown word: not a number
}

/// Digits and separators of a number body, read into (mantissa, digits after the decimal
/// mark). `ambiguous` decides a lone separator followed by exactly three digits.
fn read_body(body: &str, ambiguous: Option<Decimal>, has_scale: bool) -> Option<(u128, i32)> {
    let bytes = body.as_bytes();
    if bytes.is_empty() {
        return None;
    }
    let (mut dots, mut commas, mut last_dot, mut last_comma) = (0usize, 0usize, None, None);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' | b' ' | b'\'' | b'_' => {}
            b'.' => {
                dots += 1;
                last_dot = Some(i);
            }
            b',' => {
                commas += 1;
                last_comma = Some(i);
            }
            _ => return None,
        }
    }
    // the decimal mark's position, if any
    let decimal_at = match (last_dot, last_comma) {
        (Some(d), Some(c)) => {
            let (pos, count) = if d > c { (d, dots) } else { (c, commas) };
            if count > 1 {
                return None; // "1.234.5,6": not a number
            }
            Some(pos)
        }
        (Some(p), None) | (None, Some(p)) => {
            let count = dots + commas;
            let after = bytes.len() - p - 1;
            if count > 1 {
                None // "1,234,567": thousands only
            } else if has_scale || after != 3 || p == 0 {
                Some(p) // "1.2K", "3,4 rb", "0,5", ".5"
            } else {
                let mark = if bytes[p] == b'.' {
                    Decimal::Point
                } else {
                    Decimal::Comma
                };
                (Some(mark) == ambiguous).then_some(p)
            }
        }
        (None, None) => None,
    };
    let mut mantissa: u128 = 0;
    let mut frac_digits = 0i32;
    let mut digits = 0usize;
    let mut group = 0usize; // digits since the last thousands separator
    let mut seen_thousands = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
                digits += 1;
                group += 1;
                if decimal_at.is_some_and(|d| i > d) {
                    frac_digits += 1;
                }
            }
            _ if Some(i) == decimal_at => {
                if seen_thousands && group != 3 {
                    return None;
                }
                group = 0;
            }
            _ => {
                // a thousands separator: groups after the first hold exactly three digits
                if decimal_at.is_some_and(|d| i > d) || digits == 0 || (seen_thousands && group != 3) {
                    return None;
                }
                seen_thousands = true;
                group = 0;
            }
        }
    }
    if digits == 0 || (seen_thousands && decimal_at.is_none() && group != 3) {
        return None;
    }
    Some((mantissa, frac_digits))
}

const POW10: [u64; 19] = {
    let mut p = [1u64; 19];
    let mut i = 1;
    while i < 19 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// mantissa × 10^exp as the nearest f64 (exact when the result is an integer below 2^53).
#[inline]
fn scale(mantissa: u128, exp: i32) -> Option<f64> {
    // the common case in 64 bits: a 128-bit integer to float conversion is a library call
    if let Ok(m) = u64::try_from(mantissa) {
        if (0..19).contains(&exp) {
            if let Some(v) = m.checked_mul(POW10[exp as usize]) {
                return Some(v as f64);
            }
        } else if (-18..0).contains(&exp) && m < (1u64 << 53) {
            return Some(m as f64 / POW10[exp.unsigned_abs() as usize] as f64);
        }
    }
    if exp >= 0 {
        let p = 10u128.checked_pow(exp.unsigned_abs())?;
        return mantissa.checked_mul(p).map(|v| v as f64);
    }
    // both exactly representable: one correctly rounded division
    let p = 10u128.checked_pow(exp.unsigned_abs())?;
    if mantissa < (1u128 << 53) && exp >= -22 {
        return Some(mantissa as f64 / p as f64);
    }
    format!("{mantissa}e{exp}").parse::<f64>().ok()
}

/// Reads a number as exports write it.
///
/// `ambiguous`: how to read a lone `.` or `,` followed by exactly three digits and no
/// multiplier (`1.234`): as the decimal mark given, else (or with `None`, as for counts,
/// which have no decimals) as a thousands separator.
#[inline]
pub fn parse_number(raw: &str, ambiguous: Option<Decimal>) -> Cell<f64> {
    if let Some(v) = fast_number(raw.as_bytes(), ambiguous) {
        return Cell::Value(v);
    }
    parse_number_slow(raw, ambiguous)
}

/// Everything `fast_number` leaves: signs, spaces, currencies, percentages, locales, words.
#[inline(never)]
fn parse_number_slow(raw: &str, ambiguous: Option<Decimal>) -> Cell<f64> {
    // accounting negatives, (1,234), and the Unicode minus sign: one of them, once
    let s = trim(raw);
    let negated = s
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .or_else(|| s.strip_prefix('\u{2212}'));
    if let Some(inner) = negated {
        let inner = trim(inner);
        if inner.starts_with(['(', '-', '+', '\u{2212}']) {
            return Cell::Bad;
        }
        return match parse_plain(inner, ambiguous) {
            Cell::Value(v) if v >= 0.0 => Cell::Value(if v > 0.0 { -v } else { 0.0 }),
            Cell::Missing if !inner.is_empty() => Cell::Missing,
            _ => Cell::Bad,
        };
    }
    parse_plain(s, ambiguous)
}

/// A number without accounting parentheses: sign, currency, percent, multiplier, separators.
fn parse_plain(s: &str, ambiguous: Option<Decimal>) -> Cell<f64> {
    if let Some(v) = fast_number(s.as_bytes(), ambiguous) {
        return Cell::Value(v);
    }
    if !s.as_bytes().first().is_some_and(u8::is_ascii_digit) && is_missing(s) {
        return Cell::Missing;
    }
    if let Ok(v) = s.parse::<i64>() {
        return Cell::Value(v as f64);
    }
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s[1..].trim_start()),
        Some(b'+') => (false, s[1..].trim_start()),
        _ => (false, s),
    };
    let rest = strip_currency(rest);
    let (rest, percent) = match rest.strip_suffix('%') {
        Some(r) => (r.trim_end(), true),
        None => (rest, false),
    };
    if percent && rest.eq_ignore_ascii_case("nan") {
        return Cell::Missing;
    }
    // scientific notation: 2.28E+11
    if let Some(e) = rest.find(['e', 'E']) {
        let (m, x) = (&rest[..e], &rest[e + 1..]);
        if let (Some((mantissa, frac)), Ok(exp)) = (read_body(m, Some(Decimal::Point), true), x.parse::<i32>()) {
            let exp = exp - frac - if percent { 2 } else { 0 };
            return match scale(mantissa, exp) {
                Some(v) => Cell::Value(if negative { -v } else { v }),
                None => Cell::Bad,
            };
        }
        if !rest[e..].chars().all(|c| c.is_alphabetic()) {
            return Cell::Bad;
        }
    }
    let (body, power) = split_suffix(rest);
    if power == i32::MIN {
        return Cell::Bad;
    }
    // non-breaking and narrow spaces between thousands (French and Nordic exports)
    let spaced;
    let body = if body.contains(['\u{a0}', '\u{202f}', '\u{2009}']) {
        spaced = body.replace(['\u{a0}', '\u{202f}', '\u{2009}'], " ");
        spaced.as_str()
    } else {
        body
    };
    let Some((mantissa, frac)) = read_body(body.trim(), ambiguous, power > 0 || percent) else {
        return Cell::Bad;
    };
    let exp = power - frac - if percent { 2 } else { 0 };
    match scale(mantissa, exp) {
        Some(v) => Cell::Value(if negative { -v } else { v }),
        None => Cell::Bad,
    }
}

/// The shapes most cells have, read in one pass: `1234`, `1,234,567`, `12.5`, `12.3K`,
/// `4.5m`, `2b`. None for anything else (the general path reads it).
#[inline]
fn fast_number(b: &[u8], ambiguous: Option<Decimal>) -> Option<f64> {
    let (body, power) = match b.last()? {
        b'0'..=b'9' => (b, 0),
        b'k' | b'K' => (&b[..b.len() - 1], 3),
        b'm' | b'M' => (&b[..b.len() - 1], 6),
        b'b' | b'B' => (&b[..b.len() - 1], 9),
        _ => return None,
    };
    if body.is_empty() || body.len() > 18 || !body[0].is_ascii_digit() {
        return None;
    }
    let (mut mantissa, mut frac, mut point, mut commas, mut group) = (0u64, 0i32, false, 0usize, 0usize);
    for &c in body {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                group += 1;
                if point {
                    frac += 1;
                }
            }
            b',' if !point && (commas == 0 || group == 3) => {
                commas += 1;
                group = 0;
            }
            b'.' if !point && commas == 0 => {
                point = true;
                group = 0;
            }
            _ => return None,
        }
    }
    if commas > 0 && (group != 3 || power != 0 || ambiguous == Some(Decimal::Comma)) {
        return None; // "3,4K", "1,2345", or a comma that may be decimal: the general path
    }
    if point && (frac == 0 || (power == 0 && frac == 3 && ambiguous != Some(Decimal::Point))) {
        return None; // "1.234" without a multiplier: thousands or decimals, by the column
    }
    let exp = power - frac;
    if exp >= 0 {
        return mantissa.checked_mul(POW10[exp as usize]).map(|v| v as f64);
    }
    scale(u128::from(mantissa), exp)
}

/// Words a yes/no column uses (`Paid`: `0`/`1`; LinkedIn's `Post type`: `Organic`/`Sponsored`),
/// compared without case.
const TRUE_WORDS: &[&str] = &["1", "1.0", "true", "yes", "y", "t", "sponsored", "paid", "promoted"];
const FALSE_WORDS: &[&str] = &[
    "0",
    "0.0",
    "false",
    "no",
    "n",
    "f",
    "organic",
    "unpaid",
    "not sponsored",
];

/// Reads a yes/no cell: `0/1`, `true/false`, `yes/no`, `Y/N` (any case) and the words of
/// sponsored-post columns.
pub fn parse_flag(raw: &str) -> Cell<bool> {
    let s = trim(raw);
    if s.len() > 13 {
        return Cell::Bad;
    }
    if TRUE_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return Cell::Value(true);
    }
    if FALSE_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return Cell::Value(false);
    }
    if is_missing(s) {
        return Cell::Missing;
    }
    Cell::Bad
}

/// Whether a cell of a column that is no canonical one reads as a plain number the user
/// would want as one: not an identifier written with leading zeros (`007`, a zip code) nor an
/// integer too long for a float to hold exactly (an id such as a tweet's).
pub fn is_number_cell(raw: &str) -> bool {
    let s = trim(raw);
    let b = s.as_bytes();
    if b.len() > 1 && b[0] == b'0' && b[1].is_ascii_digit() {
        return false;
    }
    if b.iter().filter(|c| c.is_ascii_digit()).count() > 15 {
        return false;
    }
    matches!(parse_number(s, Some(Decimal::Point)), Cell::Value(_))
}

/// Evidence a cell gives of its column's decimal mark: `1.2`, `1,234.5` say Point; `3,4`,
/// `1.234,5` say Comma; `1,234` or `12` say nothing.
pub fn decimal_evidence(raw: &str) -> Option<Decimal> {
    let s = trim(raw);
    let (d, c) = (s.rfind('.'), s.rfind(','));
    let mark_of = |p: usize| {
        if s.as_bytes()[p] == b'.' {
            Decimal::Point
        } else {
            Decimal::Comma
        }
    };
    match (d, c) {
        (Some(d), Some(c)) => Some(mark_of(d.max(c))),
        (Some(p), None) | (None, Some(p)) => {
            let digits_after = s[p + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let single = s.matches(s.as_bytes()[p] as char).count() == 1;
            (single && digits_after != 3 && digits_after > 0).then(|| mark_of(p))
        }
        (None, None) => None,
    }
}

// ---------------------------------------------------------------------------------------
// Dates

/// Which number comes first in a numeric date such as `04/05/2026`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayOrder {
    DayFirst,
    MonthFirst,
}

/// A date and time read from text: the civil date, microseconds into the day, and the UTC
/// offset in seconds when the text gave one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub micros: i64,
    pub offset: Option<i32>,
    /// The text had no year; `year` is the caller's.
    pub yearless: bool,
}

const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("januari", 1),
    ("jan", 1),
    ("february", 2),
    ("februari", 2),
    ("feb", 2),
    ("peb", 2),
    ("march", 3),
    ("maret", 3),
    ("mar", 3),
    ("april", 4),
    ("apr", 4),
    ("may", 5),
    ("mei", 5),
    ("june", 6),
    ("juni", 6),
    ("jun", 6),
    ("july", 7),
    ("juli", 7),
    ("jul", 7),
    ("august", 8),
    ("agustus", 8),
    ("aug", 8),
    ("agu", 8),
    ("agt", 8),
    ("ags", 8),
    ("september", 9),
    ("sept", 9),
    ("sep", 9),
    ("october", 10),
    ("oktober", 10),
    ("oct", 10),
    ("okt", 10),
    ("november", 11),
    ("nopember", 11),
    ("nov", 11),
    ("nop", 11),
    ("december", 12),
    ("desember", 12),
    ("dec", 12),
    ("des", 12),
];

const WEEKDAYS: &[&str] = &[
    "mon",
    "monday",
    "tue",
    "tues",
    "tuesday",
    "wed",
    "wednesday",
    "thu",
    "thur",
    "thurs",
    "thursday",
    "fri",
    "friday",
    "sat",
    "saturday",
    "sun",
    "sunday",
    "senin",
    "sen",
    "selasa",
    "sel",
    "rabu",
    "rab",
    "kamis",
    "kam",
    "jumat",
    "jum'at",
    "jum",
    "sabtu",
    "sab",
    "minggu",
    "min",
    "ahad",
];

fn month_of(word: &str) -> Option<u32> {
    let w = word.trim_end_matches('.');
    MONTHS.iter().find(|(m, _)| w.eq_ignore_ascii_case(m)).map(|(_, n)| *n)
}

fn is_weekday(word: &str) -> bool {
    let w = word.trim_end_matches('.');
    WEEKDAYS.iter().any(|d| w.eq_ignore_ascii_case(d))
}

pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn valid(year: i32, month: u32, day: u32) -> bool {
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month) && (1000..=9999).contains(&year)
}

fn num(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn full_year(y: &str) -> Option<i32> {
    let v = num(y)? as i32;
    match y.len() {
        4 => Some(v),
        2 => Some(2000 + v),
        _ => None,
    }
}

/// `HH:MM[:SS[.ffffff]]`, optionally with AM/PM and a zone (`Z`, `+02:00`, `+0200`, `UTC`).
fn parse_time(s: &str) -> Option<(i64, Option<i32>)> {
    let mut t = s.trim();
    if t.is_empty() {
        return Some((0, None));
    }
    let mut offset = None;
    for z in ["utc", "gmt", "z"] {
        if t.len() >= z.len() && t.is_char_boundary(t.len() - z.len()) && t[t.len() - z.len()..].eq_ignore_ascii_case(z)
        {
            t = t[..t.len() - z.len()].trim_end();
            offset = Some(0);
            break;
        }
    }
    if offset.is_none() {
        if let Some(i) = t.rfind(['+', '-']) {
            let zone = &t[i + 1..];
            let digits: String = zone.chars().filter(char::is_ascii_digit).collect();
            if i > 0 && (digits.len() == 4 || digits.len() == 2) && zone.len() <= 5 {
                let h: i32 = digits[..2].parse().ok()?;
                let m: i32 = if digits.len() == 4 {
                    digits[2..].parse().ok()?
                } else {
                    0
                };
                let sign = if t.as_bytes()[i] == b'-' { -1 } else { 1 };
                offset = Some(sign * (h * 3600 + m * 60));
                t = t[..i].trim_end();
            }
        }
    }
    let mut pm = None;
    let tail = t.len().checked_sub(2).map(|i| &t.as_bytes()[i..]);
    if let Some(&[a, b'm' | b'M']) = tail {
        if matches!(a, b'a' | b'A' | b'p' | b'P') {
            pm = Some(matches!(a, b'p' | b'P'));
            t = t[..t.len() - 2].trim_end().trim_end_matches('.');
        }
    }
    let mut parts = t.split([':', '.']);
    let h: i64 = parts.next()?.trim().parse().ok()?;
    let m: i64 = parts.next()?.trim().parse().ok()?;
    let (mut sec, mut micros) = (0i64, 0i64);
    if let Some(sx) = parts.next() {
        sec = sx.parse().ok()?;
        if let Some(f) = parts.next() {
            if !f.is_ascii() {
                return None;
            }
            let f = &f[..f.len().min(6)];
            micros = f.parse::<i64>().ok()? * 10i64.pow(6 - f.len() as u32);
        }
    }
    if parts.next().is_some() {
        return None;
    }
    let h = match pm {
        Some(true) if h < 12 => h + 12,
        Some(false) if h == 12 => 0,
        _ => h,
    };
    if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..61).contains(&sec) {
        return None;
    }
    Some((((h * 60 + m) * 60 + sec) * 1_000_000 + micros, offset))
}

/// The numeric fields of a date such as `25/08/2026`, `08/25/26`, `25.08` or `25-08-2026`.
pub fn numeric_fields(s: &str) -> Option<(u32, u32, Option<&str>)> {
    let date = s.split([' ', 'T']).next()?;
    let sep = date.bytes().find(|b| matches!(b, b'/' | b'.' | b'-'))?;
    let mut it = date.split(sep as char);
    let a = num(it.next()?)?;
    let b = num(it.next()?.trim_end_matches('.'))?;
    let y = it.next().filter(|y| !y.is_empty());
    if it.next().is_some() {
        return None;
    }
    Some((a, b, y))
}

/// Reads a date or datetime; `year` completes dates written without one. A yearless date
/// without `year` is `Bad` (the caller reports it as needing `year=`).
pub fn parse_stamp(raw: &str, order: DayOrder, year: Option<i32>) -> Cell<Stamp> {
    if let Some(st) = fixed_iso(raw.as_bytes()) {
        return Cell::Value(st);
    }
    let s = trim(raw);
    if is_missing(s) {
        return Cell::Missing;
    }
    match read_stamp(s, order, year) {
        Some(st) => Cell::Value(st),
        None => Cell::Bad,
    }
}

fn stamp(year: i32, month: u32, day: u32, time: (i64, Option<i32>), yearless: bool) -> Option<Stamp> {
    valid(year, month, day).then_some(Stamp {
        year,
        month,
        day,
        micros: time.0,
        offset: time.1,
        yearless,
    })
}

/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS` read digit by digit: the layout most files use.
fn fixed_iso(b: &[u8]) -> Option<Stamp> {
    let d = |i: usize| b.get(i).filter(|c| c.is_ascii_digit()).map(|c| u32::from(c - b'0'));
    let two = |i: usize| Some(d(i)? * 10 + d(i + 1)?);
    if !(b.len() == 10 || (b.len() == 19 && matches!(b[10], b' ' | b'T') && b[13] == b':' && b[16] == b':'))
        || b[4] != b'-'
        || b[7] != b'-'
    {
        return None;
    }
    let year = (two(0)? * 100 + two(2)?) as i32;
    let (month, day) = (two(5)?, two(8)?);
    let micros = if b.len() == 19 {
        let (h, m, s) = (two(11)?, two(14)?, two(17)?);
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        i64::from((h * 60 + m) * 60 + s) * 1_000_000
    } else {
        0
    };
    stamp(year, month, day, (micros, None), false)
}

fn read_stamp(s: &str, order: DayOrder, year: Option<i32>) -> Option<Stamp> {
    let b = s.as_bytes();
    // ISO: 2026-08-25, 2026-08-25T10:00:00.123Z, 2026/08/25 10:00
    if b.len() >= 10
        && b[..10].is_ascii()
        && b[..4].iter().all(u8::is_ascii_digit)
        && matches!(b[4], b'-' | b'/')
        && b[7] == b[4]
    {
        let y = s[..4].parse().ok()?;
        let m = num(&s[5..7])?;
        let d = num(&s[8..10])?;
        let rest = s[10..].trim_start_matches(['T', ' ']);
        return stamp(y, m, d, parse_time(rest)?, false);
    }
    // GA4's 20260825
    if b.len() == 8 && b.iter().all(u8::is_ascii_digit) {
        return stamp(s[..4].parse().ok()?, num(&s[4..6])?, num(&s[6..8])?, (0, None), false);
    }
    if b.first().is_some_and(u8::is_ascii_digit) {
        if let Some((x, y2, yr)) = numeric_fields(s) {
            let (day, month) = match order {
                DayOrder::DayFirst => (x, y2),
                DayOrder::MonthFirst => (y2, x),
            };
            let date_len = s.split([' ', 'T']).next().map_or(0, str::len);
            let time = parse_time(s[date_len..].trim_start_matches(['T', ' ', ',']))?;
            return match yr {
                Some(yr) => stamp(full_year(yr)?, month, day, time, false),
                None => stamp(year?, month, day, time, true),
            };
        }
    }
    read_words(s, year)
}

/// Dates with month names: `Tue, Aug 25, 2026`, `25 Agustus 2026`, `August 25`, `25-Aug-2026`,
/// optionally followed by a time (`10:00 AM`).
fn read_words(s: &str, year: Option<i32>) -> Option<Stamp> {
    let mut month = None;
    let mut numbers: Vec<&str> = Vec::new();
    let mut time_start = None;
    let mut rest_from = s.len();
    let mut pos = 0;
    for token in s.split([' ', ',', '-', '/']) {
        let start = pos;
        pos += token.len() + 1;
        if token.is_empty() || token == "at" || token == "pukul" {
            continue;
        }
        // a time: 10:30, 3 PM, or Indonesian 10.30 once the date has its day
        let dotted = month.is_some()
            && !numbers.is_empty()
            && token.len() >= 4
            && token.bytes().all(|c| c.is_ascii_digit() || c == b'.')
            && token.split('.').all(|p| (1..=2).contains(&p.len()));
        if dotted || token.contains(':') || token.eq_ignore_ascii_case("am") || token.eq_ignore_ascii_case("pm") {
            time_start = Some(start);
            rest_from = start;
            break;
        }
        if let Some(m) = month_of(token) {
            if month.is_some() {
                return None;
            }
            month = Some(m);
        } else if is_weekday(token) {
            continue;
        } else if token.bytes().all(|c| c.is_ascii_digit()) {
            numbers.push(token);
        } else if let Some(n) = token
            .strip_suffix(['.'])
            .filter(|n| n.bytes().all(|c| c.is_ascii_digit()))
        {
            numbers.push(n);
        } else {
            let digits = token.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            if ["st", "nd", "rd", "th"].iter().any(|x| token.ends_with(x)) && digits.bytes().all(|c| c.is_ascii_digit())
            {
                numbers.push(digits);
            } else {
                return None;
            }
        }
    }
    let month = month?;
    let time = match time_start {
        Some(_) => parse_time(&s[rest_from..])?,
        None => (0, None),
    };
    let (mut day, mut yr) = (None, None);
    for n in numbers {
        match n.len() {
            1 | 2 if day.is_none() => day = num(n),
            4 if yr.is_none() => yr = n.parse::<i32>().ok(),
            _ => return None,
        }
    }
    let day = day?;
    match yr {
        Some(y) => stamp(y, month, day, time, false),
        None => stamp(year?, month, day, time, true),
    }
}

impl Stamp {
    /// Days since 1970-01-01 of the civil date as written.
    pub fn days(&self) -> i32 {
        days_from_civil(self.year, self.month, self.day)
    }
    /// Microseconds since the epoch in UTC (the written time less its offset; naive = UTC).
    pub fn utc_micros(&self) -> i64 {
        i64::from(self.days()) * 86_400_000_000 + self.micros - i64::from(self.offset.unwrap_or(0)) * 1_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Cell<f64> {
        parse_number(s, Some(Decimal::Point))
    }

    #[test]
    fn humanised_counts() {
        assert_eq!(n("1,234"), Cell::Value(1234.0));
        assert_eq!(n("1.234"), Cell::Value(1.234));
        assert_eq!(parse_number("1.234", Some(Decimal::Comma)), Cell::Value(1234.0));
        assert_eq!(parse_number("1.234", None), Cell::Value(1234.0));
        assert_eq!(parse_number("1,234", Some(Decimal::Comma)), Cell::Value(1.234));
        assert_eq!(n("1.2K"), Cell::Value(1200.0));
        assert_eq!(n("3.3k"), Cell::Value(3300.0));
        assert_eq!(n("475.8m"), Cell::Value(475_800_000.0));
        assert_eq!(n("29.0b"), Cell::Value(29_000_000_000.0));
        assert_eq!(n("3,4 rb"), Cell::Value(3400.0));
        assert_eq!(n("1,2 jt"), Cell::Value(1_200_000.0));
        assert_eq!(n("12 ribu"), Cell::Value(12_000.0));
        assert_eq!(n("0.89k"), Cell::Value(890.0));
        assert_eq!(n("1,234,567"), Cell::Value(1_234_567.0));
        assert_eq!(n("1.234.567"), Cell::Value(1_234_567.0));
        assert_eq!(n("1.234,5"), Cell::Value(1234.5));
        assert_eq!(n("1,234.5"), Cell::Value(1234.5));
        assert_eq!(n("2.28E+11"), Cell::Value(228_000_000_000.0));
        assert_eq!(n("-12"), Cell::Value(-12.0));
        assert_eq!(n("$1,234.50"), Cell::Value(1234.5));
        assert_eq!(n("Rp 1.500.000"), Cell::Value(1_500_000.0));
        assert_eq!(n("1 234"), Cell::Value(1234.0));
        assert_eq!(n("1\u{a0}234\u{a0}567"), Cell::Value(1_234_567.0));
        assert_eq!(n("(1,234)"), Cell::Value(-1234.0));
        assert_eq!(n("\u{2212}12"), Cell::Value(-12.0));
        assert_eq!(n("((1))"), Cell::Bad);
        assert_eq!(n("()"), Cell::Bad);
        assert_eq!(n("(0)"), Cell::Value(0.0));
        assert_eq!(n(&format!("{}1{}", "(".repeat(5000), ")".repeat(5000))), Cell::Bad);
    }

    #[test]
    fn percentages_and_missing_markers() {
        assert_eq!(n("1.39%"), Cell::Value(0.0139));
        assert_eq!(n("12%"), Cell::Value(0.12));
        for m in ["", " ", "-", "–", "NaN", "nan", "NaN%", "undefined", "N/A"] {
            assert_eq!(n(m), Cell::Missing, "{m:?}");
        }
        for bad in ["abc", "12x", "1,23,4", "1..2", "k", "1.2.3k"] {
            assert_eq!(n(bad), Cell::Bad, "{bad:?}");
        }
    }

    #[test]
    fn flags_and_number_cells() {
        for (cell, want) in [
            ("1", true),
            ("0", false),
            ("TRUE", true),
            ("no", false),
            ("Y", true),
            ("n", false),
        ] {
            assert_eq!(parse_flag(cell), Cell::Value(want), "{cell}");
        }
        assert_eq!(parse_flag("Sponsored"), Cell::Value(true));
        assert_eq!(parse_flag(" organic "), Cell::Value(false));
        assert_eq!(parse_flag("N/A"), Cell::Missing);
        assert_eq!(parse_flag("maybe"), Cell::Bad);
        assert!(is_number_cell("600.1") && is_number_cell("1,234") && is_number_cell("-3"));
        assert!(!is_number_cell("007") && !is_number_cell("1827364512345678901") && !is_number_cell("a1"));
        assert!(is_number_cell("0") && is_number_cell("0.5"));
    }

    #[test]
    fn decimal_evidence_of_cells() {
        assert_eq!(decimal_evidence("3,4"), Some(Decimal::Comma));
        assert_eq!(decimal_evidence("1.234,5"), Some(Decimal::Comma));
        assert_eq!(decimal_evidence("1.25"), Some(Decimal::Point));
        assert_eq!(decimal_evidence("1,234"), None);
    }

    fn d(s: &str, order: DayOrder, year: Option<i32>) -> Option<(i32, u32, u32, i64)> {
        match parse_stamp(s, order, year) {
            Cell::Value(st) => Some((st.year, st.month, st.day, st.micros / 60_000_000)),
            _ => None,
        }
    }

    #[test]
    fn dates_in_export_formats() {
        let dm = DayOrder::DayFirst;
        assert_eq!(d("2026-08-25", dm, None), Some((2026, 8, 25, 0)));
        assert_eq!(d("2026-08-25T10:30:00Z", dm, None), Some((2026, 8, 25, 630)));
        assert_eq!(d("2026-08-25 10:30", dm, None), Some((2026, 8, 25, 630)));
        assert_eq!(d("25/08/2026", dm, None), Some((2026, 8, 25, 0)));
        assert_eq!(
            d("08/25/2026 10:30", DayOrder::MonthFirst, None),
            Some((2026, 8, 25, 630))
        );
        assert_eq!(d("25.08", dm, Some(2026)), Some((2026, 8, 25, 0)));
        assert_eq!(d("25.08", dm, None), None);
        assert_eq!(d("20260825", dm, None), Some((2026, 8, 25, 0)));
        assert_eq!(d("Tue, Aug 25, 2026", dm, None), Some((2026, 8, 25, 0)));
        assert_eq!(d("Aug 25, 2026", dm, None), Some((2026, 8, 25, 0)));
        assert_eq!(d("25 Agustus 2026", dm, None), Some((2026, 8, 25, 0)));
        assert_eq!(d("Selasa, 25 Agu 2026", dm, None), Some((2026, 8, 25, 0)));
        assert_eq!(d("August 25", dm, Some(2026)), Some((2026, 8, 25, 0)));
        assert_eq!(d("Aug 25, 2026, 3:05 PM", dm, None), Some((2026, 8, 25, 905)));
        assert_eq!(
            d("Selasa, 25 Agustus 2026 pukul 10.30", dm, None),
            Some((2026, 8, 25, 630))
        );
        assert_eq!(d("25 Nop 2026", dm, None), Some((2026, 11, 25, 0)));
        assert_eq!(d("2026-08-2\u{20ac}", dm, None), None);
        assert_eq!(d("31/02/2026", dm, None), None);
        assert_eq!(d("hello", dm, None), None);
    }

    #[test]
    fn offsets_move_to_utc() {
        let Cell::Value(st) = parse_stamp("2026-08-25T01:00:00+02:00", DayOrder::DayFirst, None) else {
            panic!("not parsed")
        };
        assert_eq!(
            st.utc_micros(),
            i64::from(days_from_civil(2026, 8, 24)) * 86_400_000_000 + 23 * 3_600_000_000
        );
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
