//! Exports into canonical tables: headers mapped (explicit map, preset, canonical names), cells
//! parsed (see `values`), summary rows, rows without a key and older snapshots dropped, and an
//! account of every row and nulled cell.
//!
//! The files arrive as frames of text (or typed columns from Parquet, Excel, JSON lines). Each
//! is mapped on its own, because exports move their columns between months; the read's locale
//! (day order, decimal mark) is decided from all of them; each is parsed, then the frames are
//! stacked and repeats of a post or snapshot are resolved across all of them.

use super::columns::{fold_text, numbers_if_all, parse_column, Evidence, Locale, Parsed};
use super::headers::{check_headers_exist, find_preset, map_headers};
use super::mapping::own_time_headers;
pub use super::mapping::{Options, Repeats};
use super::presets::{fold, Kind, Preset, Rows, Value};
use super::values::{self, Cell, DayOrder};
use crate::error::{did_you_mean, suggest, Error, Result};
use crate::error::{QueryCode, SchemaCode};
use polars::prelude::*;
use polars_core::runtime::THREAD_POOL;
use rayon::prelude::*;

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
    /// How a post's repeated rows were read ("snapshots" or "daily"); None when none repeated.
    pub repeats: Option<&'static str>,
}

/// How the read takes a post's repeated rows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    /// Lifetime snapshots: the latest (by the column `latest_by`, `snapshot=` as the frame
    /// names it; else the last row read) is kept. `stated`: the caller or every file's preset
    /// said so (else it is assumed, and a post that repeats on different dates is warned about).
    Snapshots { stated: bool, latest_by: Option<String> },
    /// Daily increments: counts and amounts add up per post; `day`: the header of the
    /// metrics' day, as the frame names it.
    Daily { day: Option<String> },
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

pub(super) fn value_of(kind: Kind, canonical: &str) -> Option<Value> {
    kind.columns().iter().find(|(n, _)| *n == canonical).map(|(_, v)| *v)
}

fn check_canonical(kind: Kind, canonical: &str, what: &str) -> Result<()> {
    if value_of(kind, canonical).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = kind.columns().iter().map(|(n, _)| *n).collect();
    Err(Error::schema(
        SchemaCode::UnknownCanonical,
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
                SchemaCode::DuplicateMapping,
                format!("columns= maps both '{other}' and '{header}' to '{canonical}'; map one header to each canonical column"),
            ));
        }
    }
    if opts.repeats != Repeats::Unstated {
        if opts.kind != Kind::Posts {
            return Err(Error::query(
                QueryCode::InvalidArgument,
                "daily= is for posts: account and traffic rows are one per day already",
            ));
        }
        if opts.snapshot.is_some() {
            return Err(Error::query(
                QueryCode::InvalidArgument,
                "snapshot= says the rows are lifetime snapshots and daily= says how they add up: pass one of them",
            ));
        }
    }
    let preset = match &opts.preset {
        None => None,
        Some(name) => Some(find_preset(name, opts.kind)?),
    };
    check_headers_exist(&files, opts)?;
    let mut mapped = Vec::with_capacity(files.len());
    let mut missing = Vec::with_capacity(files.len());
    for file in files {
        let headers: Vec<String> = file.frame.get_column_names().iter().map(|n| n.to_string()).collect();
        let m = map_headers(&file.label, &headers, opts, preset)?;
        missing.push((file.label.clone(), m.missing));
        mapped.push((file, m.map, m.preset));
    }
    let mode = repeats_mode(&mapped, opts);
    let mut report = Report::default();
    for (label, lacks) in missing {
        warn_missing(&label, &lacks, &mode, &mut report);
    }
    let locales = column_locales(&mapped, opts);
    let mut frames = Vec::with_capacity(mapped.len());
    for ((file, map, chosen), locales) in mapped.into_iter().zip(locales) {
        frames.push(read_file(file, &map, chosen, &locales, opts, &mut report)?);
    }
    let mut df = stack(frames)?;
    df = drop_missing_keys(df, opts.kind, &mut report)?;
    df = resolve_repeats(df, opts, &mode, &mut report)?;
    report.rows_kept = df.height();
    Ok((df, report))
}

/// The caller's word on repeated rows, else that of every file's preset (a daily export
/// whose day column the file has), else assumed snapshots.
fn repeats_mode(files: &[MappedFile], opts: &Options) -> Mode {
    let stated = |latest_by: Option<String>| Mode::Snapshots {
        stated: true,
        latest_by,
    };
    match (&opts.snapshot, &opts.repeats) {
        (Some(header), _) => return stated(Some(named_as(files, header))),
        (None, Repeats::Snapshots) => return stated(None),
        (None, Repeats::Daily(day)) => {
            let day = day
                .as_deref()
                .map_or_else(|| "published_at".into(), |h| named_as(files, h));
            return Mode::Daily { day: Some(day) };
        }
        (None, Repeats::Unstated) => {}
    }
    let of_file = |(file, map, preset): &MappedFile| -> Option<Mode> {
        match (*preset)?.rows {
            Rows::Lifetime => Some(stated(None)),
            Rows::Daily(header) => Some(match column_of(file, map, header) {
                Some(day) => Mode::Daily { day: Some(day) },
                // the same export without its day column: one row per post
                None => stated(None),
            }),
        }
    };
    let modes: Vec<Option<Mode>> = files.iter().map(of_file).collect();
    match modes.first() {
        Some(Some(first)) if modes.iter().all(|m| m.as_ref() == Some(first)) => first.clone(),
        _ => Mode::Snapshots {
            stated: false,
            latest_by: None,
        },
    }
}

/// The name the stacked frame gives the column of `header` (`snapshot=`, `daily=`): as the
/// first file that has it names it (`column_of`), else the header itself.
fn named_as(files: &[MappedFile], header: &str) -> String {
    files
        .iter()
        .find_map(|(file, map, _)| column_of(file, map, header))
        .unwrap_or_else(|| header.to_string())
}

/// The name a file's column of `header` takes once read: the canonical column the file maps
/// it to (`columns=`, a preset: the trending day of a video read as its `published_at` and its
/// snapshot at once), else the header itself; None when the file has no such header.
fn column_of(file: &RawFile, map: &[Option<&'static str>], header: &str) -> Option<String> {
    let header_folded = fold(header);
    let at = file
        .frame
        .get_column_names()
        .iter()
        .position(|h| fold(h) == header_folded)?;
    Some(map[at].map_or_else(|| header.to_string(), str::to_string))
}

/// A file that maps some of its table's required columns, but not all: what lacks and what
/// it costs.
fn warn_missing(label: &str, lacks: &[&str], mode: &Mode, report: &mut Report) {
    let costs: Vec<String> = lacks
        .iter()
        .filter_map(|c| match *c {
            "post_id" => Some("post_id (a post read twice counts twice)".to_string()),
            // a daily table with a day column of its own dates its posts by their first day
            "published_at" if matches!(mode, Mode::Daily { day: Some(d) } if d != "published_at") => None,
            "published_at" => Some("published_at (its posts fall in no period)".to_string()),
            "account_id" => Some("account_id (its rows belong to no account)".to_string()),
            "date" => Some("date (its snapshots fall on no day)".to_string()),
            other => Some(other.to_string()),
        })
        .collect();
    if !costs.is_empty() {
        report.warnings.push(format!(
            "'{label}' maps no {}; map a header with columns={{header: canonical}} or give defaults=",
            costs.join(", no ")
        ));
    }
}

fn read_file(
    file: RawFile,
    map: &[Option<&'static str>],
    chosen: Option<&'static Preset>,
    locales: &[Locale],
    opts: &Options,
    report: &mut Report,
) -> Result<DataFrame> {
    let RawFile { label, frame } = file;
    let headers: Vec<String> = frame.get_column_names().iter().map(|n| n.to_string()).collect();
    let rows_read = frame.height();
    report.rows_read += rows_read;
    // summary rows: a total word in the first column, and no key of their own (a post titled
    // "Summary" keeps its row); when the first column is the key, the word alone
    let frame = match frame.columns().first().and_then(|c| c.str().ok()) {
        Some(first) if fold_text(first, || false, |a, v| a || is_total(v), |a, b| a || b) => {
            let keep: BooleanChunked = match &row_without_keys(&frame, map, opts.kind, frame.height())? {
                Some(missing) => first
                    .iter()
                    .zip(missing.iter())
                    .map(|(v, m)| !(v.is_some_and(is_total) && m.unwrap_or(true)))
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
    let first_has_key = map.iter().enumerate().any(|(i, m)| {
        m.is_some_and(|c| opts.kind.keys().contains(&c))
            && frame.columns()[i].get(0).is_ok_and(|v| match v {
                AnyValue::Null => false,
                AnyValue::String(t) => !values::is_missing(t),
                _ => true,
            })
    });
    let frame = drop_description_row(frame, map, opts.kind, first_has_key, report)?;
    let own_times = own_time_headers(opts);
    // each column is parsed on its own thread
    let jobs: Vec<(usize, &str, Option<Value>)> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let value = match map[i] {
                Some(c) => value_of(opts.kind, c),
                None if own_times.contains(&fold(h)) => Some(Value::Timestamp),
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
                    Some(v) => parse_column(&series, *v, &locales[*i], opts.year, header, &label),
                    // a column that names a date stays as written (`13.09` is no number)
                    None if fold(header).contains("date") => Ok(Parsed::kept(series)),
                    // another column: numbers when every cell is one
                    None => Ok(Parsed::kept(numbers_if_all(&series)?.unwrap_or(series))),
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
        let default_order = chosen.map_or(DayOrder::DayFirst, |p| p.day_order);
        let locale = Locale::decide(Evidence::default(), Evidence::default(), default_order);
        let parsed = parse_column(&constant, v, &locale, opts.year, &canonical, "defaults=")?;
        if parsed.bad > 0 {
            return Err(Error::schema(
                SchemaCode::UnparseableDefault,
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

/// Of the first `rows` rows, those whose key cells are all missing (a summary row has no post
/// of its own), when the first column is no key (then a total word there alone marks the row);
/// None then, or without keys.
fn row_without_keys(
    frame: &DataFrame,
    map: &[Option<&str>],
    kind: Kind,
    rows: usize,
) -> Result<Option<BooleanChunked>> {
    let is_key = |m: &Option<&str>| m.is_some_and(|c| kind.keys().contains(&c));
    if map.first().is_some_and(is_key) {
        return Ok(None);
    }
    let mut missing: Option<BooleanChunked> = None;
    for (i, m) in map.iter().enumerate() {
        if !is_key(m) {
            continue;
        }
        let c = frame.columns()[i].slice(0, rows);
        let here: BooleanChunked = match c.str() {
            Ok(ca) => ca.iter().map(|v| v.is_none_or(values::is_missing)).collect(),
            Err(_) => c.as_materialized_series().is_null(),
        };
        missing = Some(match missing {
            None => here,
            Some(acc) => &acc & &here,
        });
    }
    Ok(missing)
}

/// Legacy Facebook Insights exports put a line of descriptions under the header ("Lifetime:
/// The number of people who..."): a first row whose every count cell is words, in two or
/// more count columns, is that line.
fn drop_description_row(
    frame: DataFrame,
    map: &[Option<&str>],
    kind: Kind,
    first_has_key: bool,
    report: &mut Report,
) -> Result<DataFrame> {
    // a row that has its key is a row of data
    if frame.height() == 0 || first_has_key {
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

/// The locale (see `Locale`) of every column of every file: a date column's own evidence,
/// else that of the same column in the read's other files, else the file's preset's order; an
/// amount column's own evidence, else that of every amount column of the read.
fn column_locales(files: &[MappedFile], opts: &Options) -> Vec<Vec<Locale>> {
    let own_times = own_time_headers(opts);
    // (the column's name, its kind of value) per file and column
    let kinds: Vec<Vec<(String, Option<Value>)>> = files
        .iter()
        .map(|(file, map, _)| {
            file.frame
                .columns()
                .iter()
                .enumerate()
                .map(|(i, c)| match map[i] {
                    Some(name) => (name.to_string(), value_of(opts.kind, name)),
                    None if own_times.contains(&fold(c.name())) => (fold(c.name()), Some(Value::Timestamp)),
                    None => (String::new(), None),
                })
                .collect()
        })
        .collect();
    let own: Vec<Vec<Evidence>> = files
        .iter()
        .zip(&kinds)
        .map(|((file, _, _), kinds)| {
            file.frame
                .columns()
                .iter()
                .zip(kinds)
                .map(|(c, (_, value))| match (c.str(), value) {
                    (Ok(ca), Some(Value::Timestamp | Value::Date)) => Evidence::of_dates(ca),
                    (Ok(ca), Some(Value::Money)) => Evidence::of_amounts(ca),
                    _ => Evidence::default(),
                })
                .collect()
        })
        .collect();
    let mut dates_by_name: Vec<(String, Evidence)> = Vec::new();
    let mut amounts = Evidence::default();
    for (kinds, own) in kinds.iter().zip(&own) {
        for ((name, value), e) in kinds.iter().zip(own) {
            match value {
                Some(Value::Timestamp | Value::Date) => match dates_by_name.iter_mut().find(|(n, _)| n == name) {
                    Some((_, acc)) => *acc = acc.and(*e),
                    None => dates_by_name.push((name.clone(), *e)),
                },
                Some(Value::Money) => amounts = amounts.and(*e),
                _ => {}
            }
        }
    }
    files
        .iter()
        .zip(kinds.iter().zip(&own))
        .map(|((_, _, preset), (kinds, own))| {
            let default_order = preset.map_or(DayOrder::DayFirst, |p| p.day_order);
            kinds
                .iter()
                .zip(own)
                .map(|((name, value), e)| {
                    let wider = match value {
                        Some(Value::Money) => amounts,
                        _ => dates_by_name
                            .iter()
                            .find(|(n, _)| n == name)
                            .map_or_else(Evidence::default, |(_, w)| *w),
                    };
                    Locale::decide(*e, wider, default_order)
                })
                .collect()
        })
        .collect()
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
fn resolve_repeats(df: DataFrame, opts: &Options, mode: &Mode, report: &mut Report) -> Result<DataFrame> {
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
        if crate::ids::repeated_rows(df.column(a)?)? == 0 {
            return Ok(df);
        }
    }
    let groups = df.group_by(identity.iter().copied())?;
    let positions = groups.get_groups();
    if positions.len() == df.height() {
        return Ok(df);
    }
    if let Mode::Daily { day } = mode {
        report.repeats = Some("daily");
        let day = day
            .as_deref()
            .and_then(|d| df.columns().iter().find(|c| fold(c.name()) == fold(d)))
            .map(|c| c.name().to_string());
        return sum_days(df, &identity, day.as_deref(), opts.kind, report);
    }
    report.repeats = Some("snapshots");
    // columns that date a row: a post repeated on different dates may be daily metrics
    let dates: Vec<&Column> = match mode {
        Mode::Snapshots {
            stated: false,
            latest_by: None,
        } => df
            .columns()
            .iter()
            .filter(|c| {
                let name = fold(c.name());
                name == "published_at"
                    || (value_of(opts.kind, c.name()).is_none()
                        && !c.dtype().is_primitive_numeric()
                        && ["date", "day", "time", "period"].iter().any(|w| name.contains(w)))
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut dated = 0usize;
    let latest_by = match mode {
        Mode::Snapshots { latest_by, .. } => latest_by.as_deref(),
        Mode::Daily { .. } => None,
    };
    let snapshot_values: Option<Vec<Option<i64>>> = match latest_by {
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
        let differs = |c: &&Column| rows.iter().any(|&r| c.get(r).ok() != c.get(rows[0]).ok());
        dated += usize::from(dates.iter().any(differs));
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
    if dated > 0 {
        let names: Vec<&str> = dates.iter().map(|c| c.name().as_str()).collect();
        report.warnings.push(format!(
            "{dated} post(s) repeat on different dates ({}): the rows were read as lifetime snapshots, each post's last row kept; if they are daily metrics, pass daily=True (or daily='<day header>') to add the days up, or daily=False to say they are snapshots",
            names.join(", ")
        ));
    }
    let mask: BooleanChunked = keep.into_iter().collect();
    Ok(df.filter(&mask)?)
}

/// A daily table's rows added up per post: counts and amounts summed (null when no day has a
/// value; Float64 when an integer sum would pass 2^62), `published_at` the earliest, the day
/// column the latest (and `published_at` when the table has none), other columns the value
/// of the post's latest day. The rows added into another are counted as `summed_day`.
fn sum_days(df: DataFrame, identity: &[&str], day: Option<&str>, kind: Kind, report: &mut Report) -> Result<DataFrame> {
    let height = df.height();
    let order: Vec<PlSmallStr> = df.get_column_names().into_iter().cloned().collect();
    let summed = |name: &str| matches!(value_of(kind, name), Some(Value::Count | Value::Money));
    let mut aggs: Vec<Expr> = Vec::new();
    let mut wide: Vec<(String, String)> = Vec::new();
    for c in df.columns() {
        let name = c.name().as_str();
        if identity.contains(&name) {
            continue;
        }
        let e = col(name);
        let agg = if summed(name) {
            if c.dtype().is_integer() {
                let f = format!("{name}__socialkpi_float_sum");
                aggs.push(e.clone().cast(DataType::Float64).sum().alias(f.as_str()));
                wide.push((name.to_string(), f));
            }
            when(e.clone().count().gt(lit(0)))
                .then(e.sum())
                .otherwise(lit(NULL).cast(c.dtype().clone()))
        } else if name == "published_at" {
            e.min()
        } else if Some(name) == day {
            e.max()
        } else {
            match day {
                Some(d) => e
                    .sort_by([col(d)], SortMultipleOptions::default().with_maintain_order(true))
                    .last(),
                None => e.last(),
            }
        };
        aggs.push(agg.alias(name));
    }
    let first_day = day.filter(|d| *d != "published_at" && !order.iter().any(|n| n == "published_at"));
    if let Some(d) = first_day {
        aggs.push(
            col(d)
                .min()
                .cast(DataType::Datetime(TimeUnit::Microseconds, None))
                .alias("published_at"),
        );
    }
    let keys: Vec<Expr> = identity.iter().map(|k| col(*k)).collect();
    let mut out = df.lazy().group_by_stable(keys).agg(aggs).collect()?;
    // an integer sum past 2^62 is read as the float sum: it never wraps
    for (name, f) in wide {
        let big = out
            .column(&f)?
            .as_materialized_series()
            .f64()?
            .iter()
            .flatten()
            .any(|v| v.abs() >= 4.611_686_018_427_388e18);
        if big {
            let floats = out
                .column(&f)?
                .as_materialized_series()
                .clone()
                .with_name(name.as_str().into());
            out.with_column(floats.into_column())?;
        }
        out.drop_in_place(&f)?;
    }
    let mut names: Vec<PlSmallStr> = order;
    if first_day.is_some() {
        names.push("published_at".into());
    }
    let out = out.select(names)?;
    report.drop_rows("summed_day", height - out.height());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::mapping::tests::opts;

    fn text(name: &str, v: &[Option<&str>]) -> Column {
        Series::new(name.into(), v.to_vec()).into_column()
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
        // no published_at nor account_id: said once, nothing else
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].contains("maps no published_at"));
        Ok(())
    }

    #[test]
    fn daily_rows_add_up_and_assumed_snapshots_warn() -> Result<()> {
        let frame = || -> Result<DataFrame> {
            Ok(DataFrame::new(
                3,
                vec![
                    text("post_id", &[Some("a"), Some("a"), Some("b")]),
                    text("account_id", &[Some("x"), Some("x"), Some("x")]),
                    text(
                        "published_at",
                        &[Some("2026-03-02"), Some("2026-03-01"), Some("2026-03-01")],
                    ),
                    text("likes", &[Some("3"), Some("5"), Some("7")]),
                    text("sponsored", &[Some("Y"), Some("n"), None]),
                ],
            )?)
        };
        let file = |frame| RawFile {
            label: "d.csv".into(),
            frame,
        };
        let mut o = opts(Kind::Posts);
        o.repeats = Repeats::Daily(None);
        let (df, report) = read(vec![file(frame()?)], &o)?;
        let likes: Vec<Option<i64>> = df.column("likes")?.as_materialized_series().i64()?.iter().collect();
        assert_eq!(likes, vec![Some(8), Some(7)]);
        assert_eq!(report.dropped, vec![("summed_day".to_string(), 1)]);
        assert_eq!(report.repeats, Some("daily"));
        // the latest day's flag: 2026-03-02's
        let flags: Vec<Option<bool>> = df
            .column("sponsored")?
            .as_materialized_series()
            .bool()?
            .iter()
            .collect();
        assert_eq!(flags, vec![Some(true), None]);
        let (df, report) = read(vec![file(frame()?)], &opts(Kind::Posts))?;
        assert_eq!(df.height(), 2);
        assert_eq!(report.repeats, Some("snapshots"));
        assert!(report.warnings.iter().any(|w| w.contains("repeat on different dates")));
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
