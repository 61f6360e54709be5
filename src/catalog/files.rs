//! Definition files: KPIs written in the formula language, with per-platform engagement
//! components, read from YAML, TOML or JSON with serde (strict: an unknown key is an error
//! with its line and column). The built-in catalogue and the vendor presets are such files,
//! shipped with the package (python/socialkpi/definitions/).

use crate::error::{did_you_mean, suggest, Error, Result};
use crate::plan::Definition;
use serde::Deserialize;
use socialkpi_formula::line_col;
use std::sync::OnceLock;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKpi {
    name: String,
    formula: String,
    #[serde(default)]
    goal: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    engagement: Option<std::collections::BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    kpis: Vec<FileKpi>,
}

/// The formats a definition file can be written in.
pub const FORMATS: [&str; 3] = ["yaml", "toml", "json"];

fn located(origin: &str, line: usize, column: usize, message: &str) -> Error {
    Error::definition("invalid_definitions", format!("{origin}:{line}:{column}: {message}"))
}

/// Parses a definition file's text; `origin` names it in errors (a path, or a preset).
pub fn parse(text: &str, format: &str, origin: &str) -> Result<Definitions> {
    let file: File = match format {
        "toml" => toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            located(origin, line, column, e.message())
        })?,
        "json" => serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            located(origin, e.line().max(1), e.column().max(1), &message)
        })?,
        "yaml" | "yml" => serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            located(origin, line, column, &message)
        })?,
        other => {
            return Err(Error::definition(
                "unknown_format",
                format!(
                    "{origin}: definition files are YAML (.yaml, .yml), TOML (.toml) or JSON (.json), not {other:?}"
                ),
            ))
        }
    };
    // platforms as the canonical values are written (lower case); a component counted once
    let mut engagement: Vec<(String, Vec<String>)> = Vec::new();
    for (platform, comps) in file.engagement.unwrap_or_default() {
        let platform = platform.to_lowercase();
        if engagement.iter().any(|(p, _)| *p == platform) {
            return Err(Error::definition(
                "invalid_definitions",
                format!("{origin}: engagement names platform '{platform}' twice"),
            ));
        }
        let mut set: Vec<String> = Vec::new();
        for c in comps {
            if !set.contains(&c) {
                set.push(c);
            }
        }
        engagement.push((platform, set));
    }
    // `default` last: it applies to every platform not named before it
    engagement.sort_by_key(|(p, _)| p == "default");
    for (platform, comps) in &engagement {
        if comps.is_empty() {
            return Err(Error::definition(
                "invalid_definitions",
                format!("{origin}: engagement.{platform} lists no components; list the interaction columns that count, e.g. [\"likes\", \"comments\"]"),
            ));
        }
        for c in comps {
            let simple = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !c.split('|').all(simple) {
                return Err(Error::definition(
                    "invalid_definitions",
                    format!("{origin}: engagement.{platform} component {c:?} is not a column name (write a column, or 'a|b' for a, else b)"),
                ));
            }
        }
    }
    let kpis: Vec<Definition> = file
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
    crate::plan::check_names(&kpis).map_err(|e| Error::definition(e.code(), format!("{origin}: {e}")))?;
    for k in &kpis {
        crate::plan::check_syntax(&k.name, &k.formula)?;
    }
    Ok(Definitions {
        name: file.name.unwrap_or_default(),
        description: file.description.unwrap_or_default(),
        source: file.source.unwrap_or_default(),
        engagement,
        kpis,
    })
}

const BUILTIN: &str = include_str!("../../python/socialkpi/definitions/builtin.toml");
/// Vendor presets: (name, file text).
pub const VENDORS: [(&str, &str); 4] = [
    (
        "rivaliq",
        include_str!("../../python/socialkpi/definitions/rivaliq.toml"),
    ),
    (
        "socialinsider",
        include_str!("../../python/socialkpi/definitions/socialinsider.toml"),
    ),
    (
        "hypeauditor",
        include_str!("../../python/socialkpi/definitions/hypeauditor.toml"),
    ),
    ("later", include_str!("../../python/socialkpi/definitions/later.toml")),
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
            "unknown_definitions",
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
