//! Definition files: KPIs written in the formula language, with per-platform engagement
//! components, read from YAML, TOML or JSON with serde (strict: an unknown key is an error
//! with its line and column; `parse` holds the reading, apart from the engine so that it can
//! be fuzzed). The built-in catalogue and the vendor presets are such files, shipped with the
//! package (python/socialkpi/definitions/).

use super::parse::{self, Problem};
use super::Definition;
use crate::error::DefinitionCode;
use crate::error::{did_you_mean, suggest, Error, Result};
use std::sync::OnceLock;

pub use super::parse::{MAX_BYTES, MAX_EXPANDED, MAX_KPIS};

/// A set of definitions: what a file defines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Definitions {
    pub name: String,
    pub description: String,
    pub source: String,
    /// Engagement components per platform (`default`: every other platform).
    pub engagement: Vec<(String, Vec<String>)>,
    pub kpis: Vec<Definition>,
}

/// The formats a definition file can be written in.
pub const FORMATS: [&str; 3] = ["yaml", "toml", "json"];

/// Parses a definition file's text; `origin` names it in errors (a path, or a preset).
pub fn parse(text: &str, format: &str, origin: &str) -> Result<Definitions> {
    let parsed = parse::parse(text, format, origin).map_err(|p| match p {
        Problem::File { code, message } => Error::definition(code, message),
        Problem::Formula(e) => crate::error::formula_error(e),
    })?;
    let kpis = parsed
        .kpis
        .into_iter()
        .map(|k| Definition {
            name: k.name,
            formula: k.formula,
            goal: k.goal.unwrap_or_else(|| "custom".into()),
            // empty: Python's sk.KPI infers it (ratio for formulas that divide or average)
            unit: k.unit.unwrap_or_default(),
            description: k.description.unwrap_or_default(),
        })
        .collect();
    Ok(Definitions {
        name: parsed.name,
        description: parsed.description,
        source: parsed.source,
        engagement: parsed.engagement,
        kpis,
    })
}

const BUILTIN: &str = include_str!("../../../../python/socialkpi/definitions/builtin.toml");
/// Vendor presets: (name, file text).
pub const VENDORS: [(&str, &str); 4] = [
    (
        "rivaliq",
        include_str!("../../../../python/socialkpi/definitions/rivaliq.toml"),
    ),
    (
        "socialinsider",
        include_str!("../../../../python/socialkpi/definitions/socialinsider.toml"),
    ),
    (
        "hypeauditor",
        include_str!("../../../../python/socialkpi/definitions/hypeauditor.toml"),
    ),
    (
        "later",
        include_str!("../../../../python/socialkpi/definitions/later.toml"),
    ),
];

/// The built-in catalogue's formulas (parsed once).
pub fn builtin() -> &'static Definitions {
    static BUILT: OnceLock<Definitions> = OnceLock::new();
    BUILT.get_or_init(|| parse(BUILTIN, "toml", "builtin.toml").unwrap_or_default())
}

/// A vendor preset by name.
pub fn vendor(name: &str) -> Result<Definitions> {
    let key = name.to_ascii_lowercase().replace([' ', '-', '_'], "");
    match VENDORS.iter().find(|(n, _)| *n == key) {
        Some((n, text)) => parse(text, "toml", &format!("{n}.toml")),
        None => Err(Error::definition(
            DefinitionCode::UnknownDefinitions,
            format!(
                "definitions={name:?} is not a vendor preset ({}) nor a definition file{}",
                VENDORS.map(|(n, _)| n).join(", "),
                did_you_mean(&suggest(name, VENDORS.map(|(n, _)| n)))
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_has_a_formula_and_presets_parse() {
        let b = builtin();
        for k in super::super::KPIS {
            assert!(b.kpis.iter().any(|d| d.name == k.name), "{} has no formula", k.name);
        }
        assert_eq!(b.kpis.len(), super::super::KPIS.len());
        for (name, _) in VENDORS {
            let v = vendor(name);
            assert!(v.as_ref().is_ok_and(|v| !v.kpis.is_empty()), "{name}: {:?}", v.err());
        }
    }

    #[test]
    fn unknown_keys_are_located() {
        let yaml = "kpis:\n  - name: a\n    formula: likes\n    colour: red\n";
        let e = parse(yaml, "yaml", "k.yaml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("k.yaml:4:5:"), "{e}");
        assert!(e.contains("colour"), "{e}");
        let toml = "[[kpis]]\nname = \"a\"\nformula = \"likes\"\nunits = \"x\"\n";
        let e = parse(toml, "toml", "k.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("k.toml:4:1:"), "{e}");
        let json = "{\"kpis\": [{\"name\": \"a\", \"formula\": \"likes\", \"goal\": \"x\", \"typo\": 1}]}";
        let e = parse(json, "json", "k.json")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("k.json:1:"), "{e}");
        assert!(e.contains("typo"), "{e}");
    }
}
