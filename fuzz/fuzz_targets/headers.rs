//! Any headers, `columns=` map and defaults through the header mapping (presets, detection,
//! the required-columns check): a typed error or a map is fine, a panic or a hang is not, and
//! a map gives each canonical column to one header at most. Run with `make fuzz`. The mapping
//! is plain Rust: its files are built here as they are.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
// the error codes the included files name (`crate::error::...`)
#[path = "../../crates/engine/src/codes.rs"]
mod error;

#[path = "../../crates/engine/src/ingest/values.rs"]
mod values;

#[allow(dead_code)]
#[path = "../../crates/engine/src/ingest/presets.rs"]
mod presets;

#[allow(dead_code)]
#[path = "../../crates/engine/src/ingest/mapping.rs"]
mod mapping;

use mapping::{map_headers, Options, Repeats};
use presets::{Kind, PRESETS};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // control: the table, a named preset or detection, a columns= map, a default, repeats
    let kind = [Kind::Posts, Kind::Accounts, Kind::Traffic][usize::from(control % 3)];
    let mut parts = text.split('\n');
    let headers: Vec<String> = parts.next().unwrap_or("").split(',').map(str::to_string).collect();
    let columns: Vec<(String, String)> = parts
        .next()
        .unwrap_or("")
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(h, c)| (h.to_string(), c.to_string()))
        .collect();
    // as `read` lets them through: canonical columns, each named once
    let mut known: Vec<(String, String)> = Vec::new();
    for (h, c) in columns {
        if kind.columns().iter().any(|(n, _)| *n == c) && !known.iter().any(|(_, k)| *k == c) {
            known.push((h, c));
        }
    }
    let defaults = if control & 8 != 0 {
        vec![("account_id".to_string(), "acme".to_string())]
    } else {
        Vec::new()
    };
    let repeats = match control >> 6 {
        0 => Repeats::Unstated,
        1 => Repeats::Snapshots,
        2 => Repeats::Daily(None),
        _ => Repeats::Daily(headers.first().cloned()),
    };
    let opts = Options {
        kind,
        preset: None,
        columns: known,
        defaults,
        snapshot: (control & 16 != 0).then(|| headers.last().cloned()).flatten(),
        year: None,
        repeats,
    };
    let preset = if control & 32 != 0 {
        let name = PRESETS[usize::from(control) % PRESETS.len()].name;
        match mapping::find_preset(name, kind) {
            Ok(p) => Some(p),
            Err(e) => {
                assert_eq!(e.code.as_str(), "unknown_preset");
                return;
            }
        }
    } else {
        None
    };
    match map_headers("fuzzed.csv", &headers, &opts, preset) {
        Ok(m) => {
            assert_eq!(m.map.len(), headers.len());
            let mut seen: Vec<&str> = m.map.iter().flatten().copied().collect();
            let n = seen.len();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), n, "a canonical column mapped twice: {:?}", m.map);
            let required = kind.required();
            assert!(required.is_empty() || m.missing.len() < required.len());
        }
        Err(e) => {
            assert!(
                ["unknown_header", "ambiguous_preset", "missing_keys"].contains(&e.code.as_str()),
                "{}",
                e.code.as_str()
            );
            assert!(!e.message.is_empty());
        }
    }
});
