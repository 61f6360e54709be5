//! Exports into canonical tables: headers mapped (explicit map, preset, canonical names), cells
//! parsed (see `values`), summary rows, rows without a key and older snapshots dropped, and an
//! account of every row and nulled cell.
//!
//! The files arrive as frames of text (or typed columns from Parquet, Excel, JSON lines); each
//! is mapped and parsed on its own, because exports move their columns between months, then
//! the frames are stacked and repeats of a post or snapshot are resolved across all of them.

use super::presets::{self, fold, Kind, Preset, Value};
use super::values::{self, Cell, DayOrder, Decimal};
use crate::error::{did_you_mean, suggest, Error, Result};
use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

/// What the caller asked of a read.
pub struct Options {
    pub kind: Kind,
    pub preset: Option<String>,
    /// file header -> canonical column
    pub columns: Vec<(String, String)>,
    /// canonical column -> constant text, parsed like a cell
    pub defaults: Vec<(String, String)>,
    /// the header of the column that says when a row was exported
    pub snapshot: Option<String>,
    /// the year of dates written without one
    pub year: Option<i32>,
}

/// A file with its header map (canonical column per header) and the preset used.
type MappedFile = (RawFile, Vec<Option<&'static str>>, Option<&'static Preset>);

/// One file as read by the caller.
pub struct RawFile {
    pub label: String,
    pub frame: DataFrame,
}

pub struct FileReport {
    pub label: String,
    pub preset: Option<String>,
    pub rows_read: usize,
    /// (header, canonical column) for every header read as a canonical column
    pub header_map: Vec<(String, String)>,
}

/// The account of a read: every row read is either kept or dropped for a reason.
#[derive(Default)]
pub struct Report {
    pub files: Vec<FileReport>,
    pub rows_read: usize,
    pub rows_kept: usize,
    /// (reason, rows): total_row, missing_key, older_snapshot, duplicate
    pub dropped: Vec<(String, usize)>,
    /// (column, reason, cells, samples)
    pub nulled: Vec<(String, String, usize, Vec<String>)>,
    pub warnings: Vec<String>,
}

impl Report {
    fn drop_rows(&mut self, reason: &str, rows: usize) {
        if rows == 0 {
            return;
        }
        match self.dropped.iter_mut().find(|(r, _)| r == reason) {
            Some((_, n)) => *n += rows,
            None => self.dropped.push((reason.to_string(), rows)),
        }
    }

    fn null_cells(&mut self, column: &str, cells: usize, samples: Vec<String>) {
        if cells == 0 {
            return;
        }
        match self.nulled.iter_mut().find(|(c, ..)| c == column) {
            Some((_, _, n, s)) => {
                *n += cells;
                for x in samples {
                    if s.len() < 3 && !s.contains(&x) {
                        s.push(x);
                    }
                }
            }
            None => self
                .nulled
                .push((column.to_string(), "unparseable".into(), cells, samples)),
        }
    }
}

/// Words a summary row puts in its first column (YouTube Studio's "Total", GA4's "Grand total").
const TOTAL_WORDS: &[&str] = &[
    "total",
    "totals",
    "grand total",
    "summary",
    "jumlah",
    "total keseluruhan",
];

/// A summary row's first cell (cheap for the ids and dates most first cells hold).
fn is_total(v: &str) -> bool {
    let t = v.trim_start();
    t.len() <= 20
        && t.as_bytes()
            .first()
            .is_some_and(|b| matches!(b.to_ascii_lowercase(), b't' | b's' | b'g' | b'j'))
        && TOTAL_WORDS.contains(&fold(t).as_str())
}

fn value_of(kind: Kind, canonical: &str) -> Option<Value> {
    kind.columns().iter().find(|(n, _)| *n == canonical).map(|(_, v)| *v)
}

fn check_canonical(kind: Kind, canonical: &str, what: &str) -> Result<()> {
    if value_of(kind, canonical).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = kind.columns().iter().map(|(n, _)| *n).collect();
    Err(Error::schema(
        "unknown_canonical",
        format!(
            "{what} names '{canonical}', which is not a column of the {} table{}; its columns are {}",
            kind.name(),
            did_you_mean(&suggest(canonical, names.iter().copied())),
            names.join(", ")
        ),
    ))
}

/// Reads the caller's files into one canonical table and its report.
pub fn read(files: Vec<RawFile>, opts: &Options) -> Result<(DataFrame, Report)> {
    for (_, canonical) in &opts.columns {
        check_canonical(opts.kind, canonical, "columns=")?;
    }
    for (canonical, _) in &opts.defaults {
        check_canonical(opts.kind, canonical, "defaults=")?;
    }
    for (i, (header, canonical)) in opts.columns.iter().enumerate() {
        if let Some((other, _)) = opts.columns[..i].iter().find(|(_, c)| c == canonical) {
            return Err(Error::schema(
                "duplicate_mapping",
                format!("columns= maps both '{other}' and '{header}' to '{canonical}'; map one header to each canonical column"),
            ));
        }
    }
    let preset = match &opts.preset {
        None => None,
        Some(name) => Some(find_preset(name, opts.kind)?),
    };
    check_headers_exist(&files, opts)?;
    let mut mapped = Vec::with_capacity(files.len());
    for file in files {
        let headers: Vec<String> = file.frame.get_column_names().iter().map(|n| n.to_string()).collect();
        let (map, chosen) = map_headers(&file.label, &headers, opts, preset)?;
        mapped.push((file, map, chosen));
    }
    let locale = Locale::of_read(&mapped, opts);
    let mut report = Report::default();
    let mut frames = Vec::with_capacity(mapped.len());
    for (file, map, chosen) in mapped {
        frames.push(read_file(file, &map, chosen, &locale, opts, &mut report)?);
    }
    let mut df = stack(frames)?;
    df = drop_missing_keys(df, opts.kind, &mut report)?;
    df = resolve_repeats(df, opts, &mut report)?;
    report.rows_kept = df.height();
    Ok((df, report))
}

fn find_preset(name: &str, kind: Kind) -> Result<&'static Preset> {
    match presets::find(name) {
        Some(p) if p.kind == kind => Ok(p),
        Some(p) => Err(Error::query(
            "unknown_preset",
            format!(
                "preset '{name}' reads {} exports, not {}; use sk.read_{}(), or one of: {}",
                p.kind.name(),
                kind.name(),
                p.kind.name(),
                preset_names(kind)
            ),
        )),
        None => Err(Error::query(
            "unknown_preset",
            format!(
                "unknown preset '{name}'{}; presets for {}: {}",
                did_you_mean(&suggest(name, presets::PRESETS.iter().map(|p| p.name))),
                kind.name(),
                preset_names(kind)
            ),
        )),
    }
}

fn preset_names(kind: Kind) -> String {
    let names: Vec<&str> = presets::PRESETS
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| p.name)
        .collect();
    names.join(", ")
}

/// A header of `columns=` or `snapshot=` that no file has is a mistake worth naming.
fn check_headers_exist(files: &[RawFile], opts: &Options) -> Result<()> {
    let all: Vec<String> = files
        .iter()
        .flat_map(|f| f.frame.get_column_names().into_iter().map(|n| n.to_string()))
        .collect();
    let folded: Vec<String> = all.iter().map(|h| fold(h)).collect();
    let wanted = opts
        .columns
        .iter()
        .map(|(h, _)| (h.as_str(), "columns="))
        .chain(opts.snapshot.iter().map(|h| (h.as_str(), "snapshot=")));
    for (header, what) in wanted {
        if !folded.contains(&fold(header)) {
            return Err(Error::schema(
                "missing_column",
                format!(
                    "{what} names the header '{header}', which no file has{}; the headers are {}",
                    did_you_mean(&suggest(header, all.iter().map(String::as_str))),
                    all.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Header index -> canonical column for one file, and the preset used.
fn map_headers(
    label: &str,
    headers: &[String],
    opts: &Options,
    preset: Option<&'static Preset>,
) -> Result<(Vec<Option<&'static str>>, Option<&'static Preset>)> {
    let folded: Vec<String> = headers.iter().map(|h| fold(h)).collect();
    let mut map: Vec<Option<&'static str>> = vec![None; headers.len()];
    let canonical_of = |name: &str| opts.kind.columns().iter().find(|(n, _)| *n == name).map(|(n, _)| *n);
    for (header, canonical) in &opts.columns {
        if let Some(i) = folded.iter().position(|h| *h == fold(header)) {
            map[i] = canonical_of(canonical);
        }
    }
    // the snapshot column keeps its own name: it is no canonical column
    let snapshot = opts.snapshot.as_deref().map(fold);
    let free: Vec<String> = folded
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if map[i].is_some() || snapshot.as_ref() == Some(h) {
                String::new()
            } else {
                h.clone()
            }
        })
        .collect();
    let taken = |map: &[Option<&str>], c: &str| map.contains(&Some(c));
    // canonical names are a preset of their own, preferred on a tie
    let canonical_hits: Vec<(usize, &'static str)> = free
        .iter()
        .enumerate()
        .filter_map(|(i, h)| canonical_of(h).map(|c| (i, c)))
        .filter(|(_, c)| !taken(&map, c))
        .collect();
    let chosen = match preset {
        Some(p) => Some(p),
        None => detect(label, headers, &free, opts.kind, canonical_hits.len())?,
    };
    if let Some(p) = chosen {
        for (canonical, i) in p.matches(&free) {
            if !taken(&map, canonical) {
                map[i] = Some(canonical);
            }
        }
    }
    for (i, c) in canonical_hits {
        if map[i].is_none() && !taken(&map, c) {
            map[i] = Some(c);
        }
    }
    if map.iter().all(Option::is_none) && opts.defaults.is_empty() {
        let closest = presets::PRESETS
            .iter()
            .filter(|p| p.kind == opts.kind)
            .map(|p| (p.score(&free), p.name))
            .max();
        let hint = match closest {
            Some((n, name)) if n > 0 => format!("; the closest preset is '{name}' ({n} header(s) match)"),
            _ => String::new(),
        };
        return Err(Error::schema(
            "unknown_header",
            format!(
                "the headers of '{label}' ({}) match no preset and no canonical {} column{hint}; pass preset=... or columns={{header: canonical}} (sk.reader_presets() lists the presets)",
                headers.join(", "),
                opts.kind.name()
            ),
        ));
    }
    Ok((map, chosen))
}

/// The preset whose headers a file carries most of; a tie between presets that read the file
/// differently is an error naming them.
fn detect(
    label: &str,
    headers: &[String],
    free: &[String],
    kind: Kind,
    canonical_score: usize,
) -> Result<Option<&'static Preset>> {
    let mut scored: Vec<(usize, &'static Preset)> = presets::PRESETS
        .iter()
        .filter(|p| p.kind == kind)
        .filter(|p| p.distinctive(free))
        .map(|p| (p.score(free), p))
        .filter(|(n, _)| *n >= 2 && *n > canonical_score)
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    let Some(&(best, first)) = scored.first() else {
        return Ok(None);
    };
    let first_map = first.matches(free);
    let mut tied: Vec<&'static Preset> = vec![first];
    tied.extend(
        scored
            .iter()
            .skip(1)
            .filter(|(n, p)| *n == best && (p.matches(free) != first_map || p.platform != first.platform))
            .map(|(_, p)| *p),
    );
    if tied.len() > 1 {
        let names: Vec<String> = tied.iter().map(|p| format!("'{}' ({})", p.name, p.describes)).collect();
        return Err(Error::schema(
            "ambiguous_preset",
            format!(
                "the headers of '{label}' ({}) fit several presets equally well: {}; pass preset=...",
                headers.join(", "),
                names.join(", ")
            ),
        ));
    }
    Ok(Some(first))
}

fn read_file(
    file: RawFile,
    map: &[Option<&'static str>],
    chosen: Option<&'static Preset>,
    locale: &Locale,
    opts: &Options,
    report: &mut Report,
) -> Result<DataFrame> {
    let RawFile { label, frame } = file;
    let headers: Vec<String> = frame.get_column_names().iter().map(|n| n.to_string()).collect();
    let rows_read = frame.height();
    report.rows_read += rows_read;
    // summary rows: a total word in the first column, and no key of their own (a post titled
    // "Summary" keeps its row); when the first column is the key, the word alone
    let key_at = opts
        .kind
        .keys()
        .first()
        .and_then(|k| map.iter().position(|m| *m == Some(*k)));
    let key_cells = match key_at {
        Some(k) if k > 0 => frame.columns()[k].str().ok(),
        _ => None,
    };
    let frame = match frame.columns().first().and_then(|c| c.str().ok()) {
        Some(first) if fold_text(first, || false, |a, v| a || is_total(v), |a, b| a || b) => {
            let keep: BooleanChunked = match key_cells {
                Some(keys) => first
                    .iter()
                    .zip(keys.iter())
                    .map(|(v, k)| !(v.is_some_and(is_total) && k.is_none_or(values::is_missing)))
                    .collect(),
                None => first.iter().map(|v| !v.is_some_and(is_total)).collect(),
            };
            let dropped = keep.len() - keep.num_trues();
            report.drop_rows("total_row", dropped);
            if dropped > 0 {
                frame.filter(&keep)?
            } else {
                frame
            }
        }
        _ => frame,
    };
    let frame = drop_description_row(frame, map, opts.kind, report)?;
    let snapshot = opts.snapshot.as_deref().map(fold);
    // each canonical or snapshot column is parsed on its own thread
    let jobs: Vec<(usize, &str, Option<Value>)> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let value = match map[i] {
                Some(c) => value_of(opts.kind, c),
                None if snapshot.as_deref() == Some(fold(h).as_str()) => Some(Value::Timestamp),
                None => None,
            };
            (i, h.as_str(), value)
        })
        .collect();
    let columns = frame.columns();
    let parsed: Vec<Result<Parsed>> = THREAD_POOL.install(|| {
        jobs.par_iter()
            .map(|(i, header, value)| {
                let name = map[*i].unwrap_or(header);
                let series = columns[*i].as_materialized_series().clone().with_name(name.into());
                match value {
                    Some(v) => parse_column(&series, *v, locale, opts.year, header, &label),
                    None => Ok(Parsed::kept(series)),
                }
            })
            .collect()
    });
    let height = frame.height();
    let mut out: Vec<Column> = Vec::with_capacity(headers.len() + opts.defaults.len() + 1);
    let mut header_map = Vec::new();
    for ((i, header, _), p) in jobs.iter().zip(parsed) {
        let p = p?;
        report.null_cells(p.series.name(), p.bad, p.samples);
        if let Some(c) = map[*i] {
            header_map.push((header.to_string(), c.to_string()));
        }
        let mut s = p.series;
        // a column kept as it was must not take a canonical column's name
        if map[*i].is_none()
            && (map.iter().flatten().any(|c| *c == s.name().as_str())
                || out.iter().any(|c: &Column| c.name() == s.name()))
        {
            let renamed = format!("{}_original", s.name());
            s.rename(renamed.into());
        }
        out.push(s.into_column());
    }
    split_source_medium(&mut out, &header_map)?;
    // constants: the caller's defaults, then the preset's platform
    let mut constants: Vec<(String, String)> = opts.defaults.clone();
    if let Some(p) = chosen.and_then(|p| p.platform) {
        if !constants.iter().any(|(c, _)| c == "platform") {
            constants.push(("platform".into(), p.into()));
        }
    }
    for (canonical, text) in constants {
        let Some(v) = value_of(opts.kind, &canonical) else {
            continue;
        };
        let constant = Series::new(canonical.as_str().into(), vec![text.as_str(); height]);
        let parsed = parse_column(&constant, v, locale, opts.year, &canonical, "defaults=")?;
        if parsed.bad > 0 {
            return Err(Error::schema(
                "unparseable_default",
                format!("defaults= gives '{text}' for '{canonical}', which does not read as a {v:?} value"),
            ));
        }
        match out.iter().position(|c| c.name().as_str() == canonical) {
            Some(at) => {
                let present = out[at].as_materialized_series().clone();
                let filled = present.is_null();
                let merged = parsed.series.cast(present.dtype())?.zip_with(&filled, &present)?;
                out[at] = merged.into_column();
            }
            None => out.push(parsed.series.into_column()),
        }
    }
    report.files.push(FileReport {
        label,
        preset: chosen.map(|p| p.name.to_string()),
        rows_read,
        header_map,
    });
    Ok(DataFrame::new(height, out)?)
}

/// GA4's "Session source / medium" holds both (`l.instagram.com / referral`): split into
/// `source` and `medium` when no other column gives the medium.
fn split_source_medium(out: &mut Vec<Column>, header_map: &[(String, String)]) -> Result<()> {
    let combined = header_map
        .iter()
        .any(|(h, c)| c == "source" && fold(h).ends_with("source / medium"));
    if !combined || out.iter().any(|c| c.name().as_str() == "medium") {
        return Ok(());
    }
    let Some(at) = out.iter().position(|c| c.name().as_str() == "source") else {
        return Ok(());
    };
    let both = out[at].as_materialized_series().str()?.clone();
    let part = |first: bool| {
        both.iter().map(move |v| {
            v.map(|v| match v.split_once(" / ") {
                Some((a, b)) => (if first { a } else { b }).trim(),
                None if first => v,
                None => "",
            })
            .filter(|x| !x.is_empty())
        })
    };
    out[at] = StringChunked::from_iter_options("source".into(), part(true))
        .into_series()
        .into_column();
    out.insert(
        at + 1,
        StringChunked::from_iter_options("medium".into(), part(false))
            .into_series()
            .into_column(),
    );
    Ok(())
}

/// Legacy Facebook Insights exports put a line of descriptions under the header ("Lifetime:
/// The number of people who..."): a first row whose every count cell is words, in two or
/// more count columns, is that line.
fn drop_description_row(frame: DataFrame, map: &[Option<&str>], kind: Kind, report: &mut Report) -> Result<DataFrame> {
    if frame.height() == 0 {
        return Ok(frame);
    }
    let mut words = 0;
    for (i, c) in frame.columns().iter().enumerate() {
        let Some(v) = map[i].and_then(|c| value_of(kind, c)) else {
            continue;
        };
        if !matches!(v, Value::Count | Value::Money) {
            continue;
        }
        let Ok(ca) = c.str() else { return Ok(frame) };
        match ca.get(0) {
            Some(cell) if cell.chars().filter(|c| c.is_alphabetic()).count() >= 8 => {
                if values::parse_number(cell, None) != Cell::Bad {
                    return Ok(frame);
                }
                words += 1;
            }
            None => {}
            Some(cell) if values::is_missing(cell) => {}
            Some(_) => return Ok(frame),
        }
    }
    if words < 2 {
        return Ok(frame);
    }
    report.drop_rows("description_row", 1);
    Ok(frame.slice(1, frame.height() - 1))
}

/// How the cells of one read are written where a cell alone does not tell: which number comes
/// first in `04/05/2026`, and which mark is decimal in `1.500` (amounts). Decided once for all
/// the files and columns of a read, from the cells that do tell: `25/08/2026` says days first,
/// `08/25/2026` months first, `12,50` a decimal comma, `12.50` a decimal point. Without
/// evidence: the preset's order (else days first) and a decimal point.
pub struct Locale {
    pub order: DayOrder,
    pub decimal: Decimal,
}

impl Locale {
    fn of_read(files: &[MappedFile], opts: &Options) -> Locale {
        let default_order = files
            .iter()
            .find_map(|(_, _, p)| p.map(|p| p.day_order))
            .unwrap_or(DayOrder::DayFirst);
        let snapshot = opts.snapshot.as_deref().map(fold);
        let (mut dates, mut amounts) = (Vec::new(), Vec::new());
        for (file, map, _) in files {
            for (i, c) in file.frame.columns().iter().enumerate() {
                let Ok(ca) = c.str() else { continue };
                let value = match map[i] {
                    Some(name) => value_of(opts.kind, name),
                    None if snapshot.as_deref() == Some(fold(c.name()).as_str()) => Some(Value::Timestamp),
                    None => None,
                };
                match value {
                    Some(Value::Timestamp | Value::Date) => dates.push(ca),
                    Some(Value::Money) => amounts.push(ca),
                    _ => {}
                }
            }
        }
        Locale::from_evidence(&dates, &amounts, default_order)
    }

    /// The locale the given date and amount columns show.
    pub fn from_evidence(dates: &[&StringChunked], amounts: &[&StringChunked], default_order: DayOrder) -> Locale {
        let (mut day_first, mut month_first) = (false, false);
        for ca in dates {
            let (d, m) = fold_text(
                ca,
                || (false, false),
                |(d, m), v| {
                    let v = v.trim();
                    if (d && m) || (v.len() >= 5 && v.as_bytes()[..4].iter().all(u8::is_ascii_digit)) {
                        return (d, m);
                    }
                    match values::numeric_fields(v) {
                        Some((a, b, _)) => (d || a > 12, m || b > 12),
                        None => (d, m),
                    }
                },
                |a, b| (a.0 || b.0, a.1 || b.1),
            );
            day_first |= d;
            month_first |= m;
        }
        let (mut point, mut comma) = (0usize, 0usize);
        for ca in amounts {
            let (p, c) = fold_text(
                ca,
                || (0usize, 0usize),
                |(p, c), v| match values::decimal_evidence(v) {
                    Some(Decimal::Point) => (p + 1, c),
                    Some(Decimal::Comma) => (p, c + 1),
                    None => (p, c),
                },
                |a, b| (a.0 + b.0, a.1 + b.1),
            );
            point += p;
            comma += c;
        }
        Locale {
            order: match (day_first, month_first) {
                (true, false) => DayOrder::DayFirst,
                (false, true) => DayOrder::MonthFirst,
                _ => default_order,
            },
            decimal: if comma > point { Decimal::Comma } else { Decimal::Point },
        }
    }
}

/// A parsed column and the cells it could not read.
pub struct Parsed {
    series: Series,
    bad: usize,
    samples: Vec<String>,
}

impl Parsed {
    /// (column, cells that did not read, up to three of them)
    pub fn into_parts(self) -> (Series, usize, Vec<String>) {
        (self.series, self.bad, self.samples)
    }

    fn kept(series: Series) -> Self {
        Parsed {
            series,
            bad: 0,
            samples: Vec::new(),
        }
    }
}

/// Rows per parallel piece of a column.
const PIECE: usize = 1 << 16;

/// Folds the non-null cells of a text column in parallel pieces: `f` folds a piece into `A`,
/// `merge` combines the pieces' results.
fn fold_text<A: Send>(
    ca: &StringChunked,
    init: impl Fn() -> A + Sync,
    f: impl Fn(A, &str) -> A + Sync,
    merge: impl Fn(A, A) -> A + Sync,
) -> A {
    let n = ca.len();
    THREAD_POOL.install(|| {
        (0..n.div_ceil(PIECE))
            .into_par_iter()
            .map(|k| {
                let piece = ca.slice((k * PIECE) as i64, PIECE.min(n - k * PIECE));
                piece.iter().flatten().fold(init(), &f)
            })
            .reduce(&init, &merge)
    })
}

/// Runs `f` over a text column in parallel pieces into a primitive array with its validity
/// (each piece writes its own part of one buffer); also tells whether `all` holds for every
/// value read.
fn map_primitive<T: NumericNative>(
    ca: &StringChunked,
    f: impl Fn(&str) -> Cell<T> + Sync,
    all: impl Fn(T) -> bool + Sync,
) -> (Vec<T>, Bitmap, bool, usize, Vec<String>) {
    use polars_arrow::array::{Array, Utf8ViewArray};
    use polars_arrow::bitmap::MutableBitmap;
    let n = ca.len();
    let mut values = vec![T::default(); n];
    // the column's Arrow arrays cut into pieces of at most PIECE rows, each with its part of
    // the output buffer
    let mut arrays: Vec<Utf8ViewArray> = Vec::new();
    for arr in ca.downcast_iter() {
        let mut offset = 0;
        while offset < arr.len() {
            let len = PIECE.min(arr.len() - offset);
            arrays.push(arr.clone().sliced(offset, len));
            offset += len;
        }
    }
    let mut parts: Vec<(&Utf8ViewArray, &mut [T])> = Vec::with_capacity(arrays.len());
    let mut rest: &mut [T] = &mut values;
    for arr in &arrays {
        let (head, tail) = rest.split_at_mut(arr.len());
        parts.push((arr, head));
        rest = tail;
    }
    let pieces: Vec<(MutableBitmap, bool, usize, Vec<String>)> = THREAD_POOL.install(|| {
        parts
            .into_par_iter()
            .map(|(arr, out)| {
                let mut valid = MutableBitmap::with_capacity(out.len());
                let (mut holds, mut bad, mut samples) = (true, 0usize, Vec::new());
                let nulls = arr.validity().filter(|v| v.unset_bits() > 0);
                for (j, slot) in out.iter_mut().enumerate() {
                    let v = match nulls {
                        Some(bits) if !bits.get_bit(j) => None,
                        // SAFETY: `out` is this array's part of the buffer: j < arr.len()
                        _ => Some(unsafe { arr.value_unchecked(j) }),
                    };
                    let cell = v.map_or(Cell::Missing, &f);
                    valid.push(matches!(cell, Cell::Value(_)));
                    match cell {
                        Cell::Value(x) => {
                            *slot = x;
                            holds &= all(x);
                        }
                        Cell::Missing => {}
                        Cell::Bad => {
                            bad += 1;
                            if samples.len() < 3 {
                                samples.push(v.unwrap_or_default().to_string());
                            }
                        }
                    }
                }
                (valid, holds, bad, samples)
            })
            .collect()
    });
    let mut validity = MutableBitmap::with_capacity(n);
    let (mut holds, mut bad, mut samples) = (true, 0, Vec::new());
    for (v, h, b, s) in pieces {
        validity.extend_from_bitmap(&v.into());
        holds &= h;
        bad += b;
        for x in s {
            if samples.len() < 3 && !samples.contains(&x) {
                samples.push(x);
            }
        }
    }
    (values, validity.into(), holds, bad, samples)
}

/// Runs `f` over a text column in parallel pieces; collects values, bad cells and samples.
fn map_text<T: Send>(ca: &StringChunked, f: impl Fn(&str) -> Cell<T> + Sync) -> (Vec<Option<T>>, usize, Vec<String>) {
    let n = ca.len();
    let pieces: Vec<(Vec<Option<T>>, usize, Vec<String>)> = (0..n.div_ceil(PIECE))
        .into_par_iter()
        .map(|k| {
            let piece = ca.slice((k * PIECE) as i64, PIECE.min(n - k * PIECE));
            let mut out = Vec::with_capacity(piece.len());
            let (mut bad, mut samples) = (0usize, Vec::new());
            for v in piece.iter() {
                out.push(match v.map(&f) {
                    None | Some(Cell::Missing) => None,
                    Some(Cell::Value(x)) => Some(x),
                    Some(Cell::Bad) => {
                        bad += 1;
                        if samples.len() < 3 {
                            samples.push(v.unwrap_or_default().to_string());
                        }
                        None
                    }
                });
            }
            (out, bad, samples)
        })
        .collect();
    let mut values = Vec::with_capacity(n);
    let (mut bad, mut samples) = (0, Vec::new());
    for (v, b, s) in pieces {
        values.extend(v);
        bad += b;
        for x in s {
            if samples.len() < 3 && !samples.contains(&x) {
                samples.push(x);
            }
        }
    }
    (values, bad, samples)
}

fn parse_column(
    s: &Series,
    value: Value,
    locale: &Locale,
    year: Option<i32>,
    header: &str,
    label: &str,
) -> Result<Parsed> {
    let name = s.name().clone();
    match value {
        Value::Key | Value::Text | Value::Platform => {
            if !matches!(s.dtype(), DataType::String) {
                return Ok(Parsed::kept(s.cast(&DataType::String)?));
            }
            let ca = s.str()?;
            let clean = |v: &str| {
                let t = v.trim();
                if values::is_missing(t) {
                    Cell::Missing
                } else {
                    Cell::Value(t.to_string())
                }
            };
            if value == Value::Platform {
                // few distinct names: each is matched once (`Twitter` -> `x`, `YouTube` -> `youtube`)
                let table = crate::sources::SourceTable::new(&[]);
                let distinct = fold_text(
                    ca,
                    PlHashSet::<String>::default,
                    |mut set, v| {
                        if !set.contains(v) {
                            set.insert(v.to_string());
                        }
                        set
                    },
                    |mut a, b| {
                        a.extend(b);
                        a
                    },
                );
                let names: PlHashMap<String, Option<String>> = distinct
                    .into_iter()
                    .map(|v| {
                        let name = match clean(&v) {
                            Cell::Value(t) => Some(table.platform(&t).map_or_else(|| t.to_lowercase(), str::to_string)),
                            _ => None,
                        };
                        (v, name)
                    })
                    .collect();
                if names.iter().all(|(k, v)| v.as_deref() == Some(k.as_str())) {
                    return Ok(Parsed::kept(s.clone()));
                }
                let mapped = ca
                    .iter()
                    .map(|v| v.and_then(|v| names.get(v).and_then(|n| n.as_deref())));
                return Ok(Parsed::kept(
                    StringChunked::from_iter_options(name, mapped).into_series(),
                ));
            }
            // most id and text columns need no change: keep their buffers
            // only the ends can need trimming: look at the first and last characters
            let padded = |v: &str| {
                v.chars().next().is_some_and(char::is_whitespace)
                    || v.chars().next_back().is_some_and(char::is_whitespace)
            };
            let untouched = fold_text(
                ca,
                || true,
                |a, v| a && !padded(v) && !values::is_missing(v),
                |a, b| a && b,
            );
            if untouched {
                return Ok(Parsed::kept(s.clone()));
            }
            let (vals, _, _) = map_text(ca, clean);
            Ok(Parsed::kept(
                StringChunked::from_iter_options(name, vals.into_iter()).into_series(),
            ))
        }
        Value::Count | Value::Money => parse_numbers(s, value == Value::Count, locale.decimal),
        Value::Timestamp | Value::Date => parse_times(s, value == Value::Date, locale.order, year, header, label),
    }
}

/// Counts and amounts: numbers as written in exports. Counts are Int64 when every value is
/// whole, amounts Float64.
/// `decimal`: the read's decimal mark (see `Locale`), for a lone separator before three
/// digits in amounts; in counts it is a thousands separator.
pub fn parse_numbers(s: &Series, count: bool, decimal: Decimal) -> Result<Parsed> {
    let name = s.name().clone();
    let floats = match s.dtype() {
        DataType::String => {
            let ca = s.str()?;
            let ambiguous = if count { None } else { Some(decimal) };
            let (vals, validity, whole, bad, samples) = map_primitive(
                ca,
                |v| values::parse_number(v, ambiguous),
                |v| v.fract() == 0.0 && v.abs() < 9.0e15,
            );
            let series = if count && whole {
                // converted in place (same size): a second buffer would cost its fresh pages
                let ints: Vec<i64> = vals.into_iter().map(|v| v as i64).collect();
                Int64Chunked::from_vec_validity(name, ints, Some(validity)).into_series()
            } else {
                Float64Chunked::from_vec_validity(name, vals, Some(validity)).into_series()
            };
            return Ok(Parsed { series, bad, samples });
        }
        DataType::Boolean => s.cast(&DataType::Int64)?,
        dt if dt.is_integer() => return Ok(Parsed::kept(s.cast(&DataType::Int64)?)),
        dt if dt.is_float() => {
            let f = s.cast(&DataType::Float64)?;
            let ca = f.f64()?;
            ca.apply(|v| v.filter(|x| !x.is_nan())).into_series()
        }
        DataType::Null => s.cast(&DataType::Float64)?,
        other => {
            return Err(Error::schema(
                "not_numeric",
                format!("column '{name}' holds {other} values, not numbers"),
            ))
        }
    };
    Ok(Parsed::kept(whole_as_int(floats, count)?))
}

fn whole_as_int(s: Series, count: bool) -> Result<Series> {
    if !count || !matches!(s.dtype(), DataType::Float64) {
        return Ok(s);
    }
    let ca = s.f64()?;
    let whole = ca.iter().flatten().all(|v| v.fract() == 0.0 && v.abs() < 9.0e15);
    Ok(if whole { s.cast(&DataType::Int64)? } else { s })
}

/// Dates and datetimes as exports write them. A column none of whose cells reads is an error
/// that shows some; one whose dates lack a year needs `year=`.
pub fn parse_times(
    s: &Series,
    date_only: bool,
    order: DayOrder,
    year: Option<i32>,
    header: &str,
    label: &str,
) -> Result<Parsed> {
    let name = s.name().clone();
    match s.dtype() {
        DataType::Date => {
            return Ok(Parsed::kept(if date_only {
                s.clone()
            } else {
                s.cast(&DataType::Datetime(TimeUnit::Microseconds, None))?
            }))
        }
        DataType::Datetime(_, tz) => {
            let naive = match tz {
                Some(_) => {
                    let phys = s.cast(&DataType::Datetime(TimeUnit::Microseconds, tz.clone()))?;
                    phys.to_physical_repr()
                        .into_owned()
                        .into_datetime(TimeUnit::Microseconds, None)
                }
                None => s.cast(&DataType::Datetime(TimeUnit::Microseconds, None))?,
            };
            return Ok(Parsed::kept(if date_only {
                naive.cast(&DataType::Date)?
            } else {
                naive
            }));
        }
        DataType::String => {}
        DataType::Null => {
            let dt = if date_only {
                DataType::Date
            } else {
                DataType::Datetime(TimeUnit::Microseconds, None)
            };
            return Ok(Parsed::kept(s.cast(&dt)?));
        }
        _ => {
            // numbers such as GA4's 20260825 read as text
            let text = s.cast(&DataType::String)?;
            return parse_times(&text, date_only, order, year, header, label);
        }
    }
    let ca = s.str()?;
    let roll = year.and_then(|_| new_year_turn(ca, order));
    let parse = |v: &str| match (values::parse_stamp(v, order, year), roll, year) {
        // yearless dates from before the turn of the year fall in the year before
        (Cell::Value(st), Some(from), Some(y)) if st.yearless && st.month >= from => {
            values::parse_stamp(v, order, Some(y - 1))
        }
        (cell, _, _) => cell,
    };
    let (series, read, bad, samples) = if date_only {
        let (vals, validity, _, bad, samples) = map_primitive(ca, |v| parse(v).map(|st| st.days()), |_| true);
        let read = validity.set_bits();
        let s = Int32Chunked::from_vec_validity(name, vals, Some(validity)).into_series();
        (s.into_date(), read, bad, samples)
    } else {
        let (vals, validity, _, bad, samples) = map_primitive(ca, |v| parse(v).map(|st| st.utc_micros()), |_| true);
        let read = validity.set_bits();
        let s = Int64Chunked::from_vec_validity(name, vals, Some(validity)).into_series();
        (s.into_datetime(TimeUnit::Microseconds, None), read, bad, samples)
    };
    if bad > 0 && year.is_none() {
        // is it only the year that is missing?
        let yearless = samples
            .iter()
            .any(|v| matches!(values::parse_stamp(v, order, Some(2000)), Cell::Value(st) if st.yearless));
        if yearless {
            return Err(Error::query(
                "missing_year",
                format!(
                    "dates in '{header}' of '{label}' have no year (e.g. {}); pass year=... (the year they fall in)",
                    quoted(&samples)
                ),
            ));
        }
    }
    if read == 0 && bad > 0 {
        return Err(Error::schema(
            "unparseable_dates",
            format!(
                "no value of '{header}' in '{label}' reads as a date (e.g. {}); supported: 2026-08-25, 25/08/2026, 08/25/2026, 25.08.2026, 25.08 (with year=), 20260825, Aug 25, 2026, Tue, Aug 25, 2026, 25 Agustus 2026; convert the column or map another one",
                quoted(&samples)
            ),
        ));
    }
    Ok(Parsed { series, bad, samples })
}

/// The first month of a yearless column's dates that lie before a turn of the year, when the
/// column runs over one (30 December ... 2 January: 12): it holds December and January dates
/// and its months leave a gap of six months or more inside the year, wider than the one
/// around New Year.
/// `year=` is then the year of the column's January dates.
fn new_year_turn(ca: &StringChunked, order: DayOrder) -> Option<u32> {
    let months: u16 = fold_text(
        ca,
        || 0u16,
        |m, v| match values::parse_stamp(v, order, Some(2000)) {
            Cell::Value(st) if st.yearless => m | (1 << st.month),
            _ => m,
        },
        |a, b| a | b,
    );
    // only a column that holds both December and January runs over New Year
    if months & (1 << 12) == 0 || months & (1 << 1) == 0 {
        return None;
    }
    let present: Vec<u32> = (1..=12).filter(|m| months & (1 << m) != 0).collect();
    let (first, last) = (*present.first()?, *present.last()?);
    let around = 12 - last + first - 1; // the gap that holds New Year
    let widest = present.windows(2).map(|w| (w[1] - w[0] - 1, w[1])).max()?;
    (widest.0 >= 6 && widest.0 > around).then_some(widest.1)
}

fn quoted(samples: &[String]) -> String {
    let q: Vec<String> = samples.iter().map(|s| format!("'{s}'")).collect();
    q.join(", ")
}

/// Frames of several files as one: the union of their columns, in order of first appearance;
/// a column a file lacks is null there.
fn stack(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let mut names: Vec<PlSmallStr> = Vec::new();
    let mut dtypes: Vec<DataType> = Vec::new();
    for df in &frames {
        for c in df.columns() {
            match names.iter().position(|n| n == c.name()) {
                Some(i) => {
                    dtypes[i] = polars_core::utils::try_get_supertype(&dtypes[i], c.dtype()).unwrap_or(DataType::String)
                }
                None => {
                    names.push(c.name().clone());
                    dtypes.push(c.dtype().clone());
                }
            }
        }
    }
    let mut out: Option<DataFrame> = None;
    for df in frames {
        let h = df.height();
        let mut cols = Vec::with_capacity(names.len());
        for (n, dt) in names.iter().zip(&dtypes) {
            let s = match df.column(n) {
                Ok(c) => c.as_materialized_series().cast(dt)?,
                Err(_) => Series::full_null(n.clone(), h, dt),
            };
            cols.push(s.into_column());
        }
        let df = DataFrame::new(h, cols)?;
        match &mut out {
            None => out = Some(df),
            Some(acc) => {
                acc.vstack_mut(&df)?;
            }
        }
    }
    Ok(out.unwrap_or_else(DataFrame::empty))
}

fn drop_missing_keys(df: DataFrame, kind: Kind, report: &mut Report) -> Result<DataFrame> {
    let mut keep: Option<BooleanChunked> = None;
    for key in kind.keys() {
        if let Ok(c) = df.column(key) {
            let present = c.as_materialized_series().is_not_null();
            keep = Some(match keep {
                None => present,
                Some(k) => &k & &present,
            });
        }
    }
    let Some(keep) = keep else { return Ok(df) };
    let dropped = df.height() - keep.num_trues();
    report.drop_rows("missing_key", dropped);
    Ok(if dropped > 0 { df.filter(&keep)? } else { df })
}

/// The same post (or account day) seen more than once keeps its latest snapshot (with
/// `snapshot=`), else its last row; the others are dropped and counted. A kept snapshot with a
/// smaller lifetime count than an older one is kept and reported.
fn resolve_repeats(df: DataFrame, opts: &Options, report: &mut Report) -> Result<DataFrame> {
    let identity: Vec<&str> = opts
        .kind
        .identity()
        .iter()
        .copied()
        .filter(|c| df.column(c).is_ok())
        .collect();
    let anchor = opts.kind.identity().first().copied();
    if identity.is_empty() || anchor.is_some_and(|a| df.column(a).is_err()) || df.height() < 2 {
        return Ok(df);
    }
    // the common case, no repeats at all, is told by the first key alone (hashed in place)
    if let Some(a) = anchor {
        if crate::exec::repeated_rows(df.column(a)?)? == 0 {
            return Ok(df);
        }
    }
    let groups = df.group_by(identity.iter().copied())?;
    let positions = groups.get_groups();
    if positions.len() == df.height() {
        return Ok(df);
    }
    let snapshot_values: Option<Vec<Option<i64>>> = match &opts.snapshot {
        Some(h) => {
            let folded = fold(h);
            let col = df.columns().iter().find(|c| fold(c.name()) == folded);
            match col {
                Some(c) => Some(
                    c.as_materialized_series()
                        .to_physical_repr()
                        .cast(&DataType::Int64)?
                        .i64()?
                        .iter()
                        .collect(),
                ),
                None => None,
            }
        }
        None => None,
    };
    let counts: Vec<Vec<Option<f64>>> = df
        .columns()
        .iter()
        .filter(|c| value_of(opts.kind, c.name()) == Some(Value::Count))
        .map(|c| -> Result<Vec<Option<f64>>> {
            Ok(c.as_materialized_series()
                .cast(&DataType::Float64)?
                .f64()?
                .iter()
                .collect())
        })
        .collect::<Result<_>>()?;
    let mut keep = vec![true; df.height()];
    let (mut older, mut repeated, mut decreased) = (0usize, 0usize, 0usize);
    for g in positions.iter() {
        let rows: Vec<usize> = match &g {
            polars_core::frame::group_by::GroupsIndicator::Idx((_, idx)) => idx.iter().map(|&i| i as usize).collect(),
            polars_core::frame::group_by::GroupsIndicator::Slice([first, len]) => {
                (*first as usize..(*first + *len) as usize).collect()
            }
        };
        if rows.len() < 2 {
            continue;
        }
        let mut rows = rows;
        rows.sort_unstable();
        // the latest snapshot wins; among equal snapshots (or without any), the last row
        let best = match &snapshot_values {
            Some(snap) => rows.iter().copied().max_by_key(|&r| (snap[r], r)).unwrap_or(rows[0]),
            None => rows[rows.len() - 1],
        };
        for &r in &rows {
            if r != best {
                keep[r] = false;
            }
        }
        if snapshot_values.is_some() {
            older += rows.len() - 1;
            let shrank = counts.iter().any(|col| {
                rows.iter()
                    .any(|&r| r != best && matches!((col[r], col[best]), (Some(o), Some(k)) if k < o))
            });
            decreased += usize::from(shrank);
        } else {
            repeated += rows.len() - 1;
        }
    }
    report.drop_rows("older_snapshot", older);
    report.drop_rows("duplicate", repeated);
    if decreased > 0 {
        report.warnings.push(format!(
            "{decreased} {} kept a latest snapshot with a smaller lifetime count than an earlier one (kept as the platform reports it)",
            if opts.kind == Kind::Posts { "post(s)" } else { "row(s)" }
        ));
    }
    let mask: BooleanChunked = keep.into_iter().collect();
    Ok(df.filter(&mask)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str, v: &[Option<&str>]) -> Column {
        Series::new(name.into(), v.to_vec()).into_column()
    }

    fn opts(kind: Kind) -> Options {
        Options {
            kind,
            preset: None,
            columns: vec![],
            defaults: vec![],
            snapshot: None,
            year: None,
        }
    }

    #[test]
    fn snapshots_keep_the_latest_and_count_the_rest() -> Result<()> {
        let frame = DataFrame::new(
            4,
            vec![
                text("post_id", &[Some("a"), Some("a"), Some("b"), None]),
                text("likes", &[Some("1.2K"), Some("1,100"), Some("oops"), Some("3")]),
                text(
                    "exported",
                    &[
                        Some("2026-02-01"),
                        Some("2026-01-01"),
                        Some("2026-01-01"),
                        Some("2026-01-01"),
                    ],
                ),
            ],
        )?;
        let mut o = opts(Kind::Posts);
        o.snapshot = Some("exported".into());
        let (df, report) = read(
            vec![RawFile {
                label: "f.csv".into(),
                frame,
            }],
            &o,
        )?;
        assert_eq!(df.height(), 2);
        assert_eq!(report.rows_read, 4);
        assert_eq!(report.rows_kept, 2);
        assert_eq!(
            report.dropped,
            vec![("missing_key".to_string(), 1), ("older_snapshot".to_string(), 1)]
        );
        assert_eq!(report.nulled[0].0, "likes");
        assert_eq!(report.nulled[0].2, 1);
        let likes: Vec<Option<i64>> = df.column("likes")?.as_materialized_series().i64()?.iter().collect();
        assert_eq!(likes, vec![Some(1200), None]);
        assert!(report.warnings.is_empty());
        Ok(())
    }

    #[test]
    fn unknown_headers_and_canonicals_are_errors() -> Result<()> {
        let frame = DataFrame::new(1, vec![text("foo", &[Some("1")])])?;
        let err = read(
            vec![RawFile {
                label: "f.csv".into(),
                frame: frame.clone(),
            }],
            &opts(Kind::Posts),
        )
        .err();
        assert_eq!(err.map(|e| e.code()), Some("unknown_header"));
        let mut o = opts(Kind::Posts);
        o.columns = vec![("foo".into(), "like".into())];
        let err = read(
            vec![RawFile {
                label: "f.csv".into(),
                frame,
            }],
            &o,
        )
        .err();
        assert_eq!(err.map(|e| e.code()), Some("unknown_canonical"));
        Ok(())
    }
}
