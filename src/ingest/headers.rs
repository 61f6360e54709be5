//! The headers of a file mapped to canonical columns: the caller's map, a preset (named, or
//! detected from the headers that say where a file came from), canonical names.

use super::presets::{self, fold, Kind, Preset};
use super::read::{Options, RawFile};
use crate::error::{did_you_mean, suggest, Error, Result};

pub(super) fn find_preset(name: &str, kind: Kind) -> Result<&'static Preset> {
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
pub(super) fn check_headers_exist(files: &[RawFile], opts: &Options) -> Result<()> {
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
pub(super) fn map_headers(
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
