//! The headers of a file mapped to canonical columns: the caller's map, a preset (named, or
//! detected from the headers that say where a file came from), canonical names; and the check
//! that a file maps what its table needs (`Kind::required`).
//!
//! Plain Rust (no polars, no Python), so that the fuzzer builds it alone
//! (`fuzz/fuzz_targets/headers.rs`); `headers` turns its errors into the crate's.

use super::presets::{self, fold, Kind, Preset};
use crate::error::{QueryCode, SchemaCode};
use socialkpi_formula::{did_you_mean, suggest};

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
    /// what a post's repeated rows are, when the caller says
    pub repeats: Repeats,
}

/// What the caller said a post's repeated rows are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repeats {
    /// Nothing said: `snapshot=`, then the preset decide, else the rows are read as lifetime
    /// snapshots, with a warning when a post repeats on different dates.
    Unstated,
    /// Lifetime snapshots (`daily=False`): the latest one counts.
    Snapshots,
    /// Daily increments (`daily=True`, or the header of the metrics' day): the days add up.
    Daily(Option<String>),
}

/// A mapping that cannot be made: its code (which says the kind) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError {
    pub code: MapCode,
    pub message: String,
}

/// The arguments are wrong (`QueryError`), or the file's headers (`SchemaError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapCode {
    Query(QueryCode),
    Schema(SchemaCode),
}

impl MapCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query(c) => c.as_str(),
            Self::Schema(c) => c.as_str(),
        }
    }
}

fn schema(code: SchemaCode, message: String) -> MapError {
    MapError {
        code: MapCode::Schema(code),
        message,
    }
}

/// One file's map: the canonical column per header, the preset used, and the required
/// columns (`Kind::required`) it neither maps nor has a default for.
pub struct Mapped {
    pub map: Vec<Option<&'static str>>,
    pub preset: Option<&'static Preset>,
    pub missing: Vec<&'static str>,
}

pub fn find_preset(name: &str, kind: Kind) -> Result<&'static Preset, MapError> {
    let query = |message: String| MapError {
        code: MapCode::Query(QueryCode::UnknownPreset),
        message,
    };
    match presets::find(name) {
        Some(p) if p.kind == kind => Ok(p),
        Some(p) => Err(query(format!(
            "preset '{name}' reads {} exports, not {}; use sk.read_{}(), or one of: {}",
            p.kind.name(),
            kind.name(),
            p.kind.name(),
            preset_names(kind)
        ))),
        None => Err(query(format!(
            "unknown preset '{name}'{}; presets for {}: {}",
            did_you_mean(&suggest(name, presets::PRESETS.iter().map(|p| p.name))),
            kind.name(),
            preset_names(kind)
        ))),
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

/// Header index -> canonical column for one file, the preset used and the required columns
/// it lacks.
pub fn map_headers(
    label: &str,
    headers: &[String],
    opts: &Options,
    preset: Option<&'static Preset>,
) -> Result<Mapped, MapError> {
    let folded: Vec<String> = headers.iter().map(|h| fold(h)).collect();
    let mut map: Vec<Option<&'static str>> = vec![None; headers.len()];
    let canonical_of = |name: &str| opts.kind.columns().iter().find(|(n, _)| *n == name).map(|(n, _)| *n);
    for (header, canonical) in &opts.columns {
        let header = fold(header);
        if let Some(i) = folded.iter().position(|h| *h == header) {
            map[i] = canonical_of(canonical);
        }
    }
    // (the snapshot and day headers are mapped like any other: one that maps no canonical
    // column keeps its own name)
    let free: Vec<String> = folded
        .iter()
        .enumerate()
        .map(|(i, h)| if map[i].is_some() { String::new() } else { h.clone() })
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
        let hint = match closest_presets(opts.kind, &free).first() {
            Some((n, name)) => format!("; the closest preset is '{name}' ({n} header(s) match)"),
            None => String::new(),
        };
        return Err(schema(
            SchemaCode::UnknownHeader,
            format!(
                "the headers of '{label}' ({}) match no preset and no canonical {} column{hint}; pass preset=... or columns={{header: canonical}} (sk.reader_presets() lists the presets)",
                headers.join(", "),
                opts.kind.name()
            ),
        ));
    }
    let required = opts.kind.required();
    let missing: Vec<&'static str> = required
        .iter()
        .copied()
        .filter(|c| !taken(&map, c) && !opts.defaults.iter().any(|(d, _)| d == c))
        .collect();
    if !required.is_empty() && missing.len() == required.len() {
        return Err(no_required_column(label, headers, &map, &free, opts.kind));
    }
    Ok(Mapped {
        map,
        preset: chosen,
        missing,
    })
}

/// The header of the metrics' day the caller named with `daily=`.
/// The folded headers of the columns read as times under their own names: `snapshot=` and
/// `daily=`.
pub(super) fn own_time_headers(opts: &Options) -> Vec<String> {
    [opts.snapshot.as_deref(), daily_header(opts)]
        .iter()
        .flatten()
        .map(|h| fold(h))
        .collect()
}

pub(super) fn daily_header(opts: &Options) -> Option<&str> {
    match &opts.repeats {
        Repeats::Daily(Some(h)) => Some(h.as_str()),
        _ => None,
    }
}

/// Presets of the table that read any of the headers, most headers first (at most five).
fn closest_presets(kind: Kind, free: &[String]) -> Vec<(usize, &'static str)> {
    let mut scored: Vec<(usize, &'static str)> = presets::PRESETS
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| (p.score(free), p.name))
        .filter(|(n, _)| *n > 0)
        .collect();
    scored.sort_by_key(|(n, name)| (std::cmp::Reverse(*n), *name));
    scored.truncate(5);
    scored
}

/// A file that maps none of its table's required columns: what it maps, and the presets
/// closest to its headers.
fn no_required_column(
    label: &str,
    headers: &[String],
    map: &[Option<&'static str>],
    free: &[String],
    kind: Kind,
) -> MapError {
    let found: Vec<String> = headers
        .iter()
        .zip(map)
        .filter_map(|(h, m)| m.map(|c| format!("'{h}' as {c}")))
        .collect();
    let closest: Vec<String> = closest_presets(kind, free)
        .into_iter()
        .map(|(n, name)| format!("'{name}' ({n} header(s) match)"))
        .collect();
    let closest = if closest.is_empty() {
        "no preset reads its headers".to_string()
    } else {
        format!("the closest presets are {}", closest.join(", "))
    };
    let required = kind.required().join(", ");
    schema(
        SchemaCode::MissingKeys,
        format!(
            "'{label}' maps none of {required}, so its rows cannot be told apart, dated or attributed: it reads only {} (headers: {}); {closest}. Map them with columns={{header: '{}', ...}}, give defaults={{'account_id': ...}} or pass preset=...",
            found.join(", "),
            headers.join(", "),
            kind.required().first().copied().unwrap_or("account_id")
        ),
    )
}

/// The preset whose headers a file carries most of; a tie between presets that read the file
/// differently is an error naming them.
fn detect(
    label: &str,
    headers: &[String],
    free: &[String],
    kind: Kind,
    canonical_score: usize,
) -> Result<Option<&'static Preset>, MapError> {
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
        return Err(schema(
            SchemaCode::AmbiguousPreset,
            format!(
                "the headers of '{label}' ({}) fit several presets equally well: {}; pass preset=...",
                headers.join(", "),
                names.join(", ")
            ),
        ));
    }
    Ok(Some(first))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A read of `kind` with nothing else said (also the readers' tests' starting point).
    pub(crate) fn opts(kind: Kind) -> Options {
        Options {
            kind,
            preset: None,
            columns: vec![],
            defaults: vec![],
            snapshot: None,
            year: None,
            repeats: Repeats::Unstated,
        }
    }

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn posts_need_a_key() {
        let h = headers(&["video_id", "likes", "views", "date"]);
        let err = map_headers("v.csv", &h, &opts(Kind::Posts), None).err();
        assert_eq!(err.as_ref().map(|e| e.code.as_str()), Some("missing_keys"));
        assert!(err.is_some_and(|e| e.message.contains("'likes' as likes") && e.message.contains("closest presets")));
        let mut o = opts(Kind::Posts);
        o.columns = vec![("video_id".into(), "post_id".into())];
        let m = map_headers("v.csv", &h, &o, None).map(|m| m.missing);
        assert_eq!(m, Ok(vec!["published_at", "account_id"]));
        o.defaults = vec![("account_id".into(), "acme".into())];
        let m = map_headers("v.csv", &h, &o, None).map(|m| m.missing);
        assert_eq!(m, Ok(vec!["published_at"]));
    }

    #[test]
    fn accounts_need_an_account_or_a_day_not_post_keys() {
        let h = headers(&["followers"]);
        let mut o = opts(Kind::Accounts);
        let m = map_headers("a.csv", &h, &o, None).map(|m| m.missing);
        assert_eq!(m.map_err(|e| e.code), Err(MapCode::Schema(SchemaCode::MissingKeys)));
        o.defaults = vec![("account_id".into(), "acme".into())];
        let m = map_headers("a.csv", &h, &o, None).map(|m| m.missing);
        assert_eq!(m, Ok(vec!["date"]));
        let m = map_headers(
            "a.csv",
            &headers(&["account_id", "date", "followers"]),
            &opts(Kind::Accounts),
            None,
        );
        assert_eq!(m.map(|m| m.missing), Ok(vec![]));
    }
}
