//! A definition file's text -> its KPIs and engagement components, checked for size, names
//! and formula syntax. Only serde and the formula crate, no engine: the fuzzer compiles this
//! file on its own (fuzz/fuzz_targets/definitions.rs), and `files` turns what it reads into
//! the engine's types and errors.
//!
//! Every resource the text controls is bounded: its length ([`MAX_BYTES`]), the KPIs it
//! defines ([`MAX_KPIS`]), and what YAML anchors and aliases expand it to ([`MAX_EXPANDED`]:
//! a thousand aliases of one large mapping would otherwise copy it a thousand times).

use crate::error::DefinitionCode;
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::Deserialize;
use socialkpi_formula::{line_col, FormulaError};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// The longest definition file read, in bytes.
pub const MAX_BYTES: usize = 4 << 20;
/// The most KPIs one definition file (or one call) defines.
pub const MAX_KPIS: usize = 10_000;
/// What a YAML file may expand to once its aliases are written out: the bytes of its values
/// plus [`VALUE_BYTES`] for each value.
pub const MAX_EXPANDED: usize = 32 << 20;
/// What each value of a YAML file counts towards [`MAX_EXPANDED`] beyond its text (about
/// what holding it takes).
pub const VALUE_BYTES: usize = 24;
/// Definition files nest 4 levels deep (the file, `kpis`, a KPI, its fields): deeper values
/// are refused by the typed reading before it reads them, so they need no measuring.
const MEASURED_DEPTH: usize = 8;

/// A KPI as a file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileKpi {
    pub name: String,
    pub formula: String,
    #[serde(default)]
    pub goal: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
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
    engagement: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    kpis: Vec<FileKpi>,
}

/// What a definition file defines, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub name: String,
    pub description: String,
    pub source: String,
    /// Engagement components per platform (lower case; `default` last).
    pub engagement: Vec<(String, Vec<String>)>,
    pub kpis: Vec<FileKpi>,
}

/// Why a definition file was refused: a stable code and a message naming the file, or a
/// formula's error (its KPI and formula set).
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    File { code: DefinitionCode, message: String },
    Formula(FormulaError),
}

impl Problem {
    fn file(code: DefinitionCode, message: String) -> Self {
        Self::File { code, message }
    }
}

fn located(origin: &str, line: usize, column: usize, message: &str) -> Problem {
    Problem::file(
        DefinitionCode::InvalidDefinitions,
        format!("{origin}:{line}:{column}: {message}"),
    )
}

/// Parses a definition file's text (`format`: yaml, yml, toml or json); `origin` names it in
/// errors (a path, or a preset).
pub fn parse(text: &str, format: &str, origin: &str) -> Result<Parsed, Problem> {
    if text.len() > MAX_BYTES {
        return Err(Problem::file(
            DefinitionCode::FileTooLarge,
            format!(
                "{origin}: the definition file is {} bytes; definition files are limited to {MAX_BYTES} bytes ({} MiB)",
                text.len(),
                MAX_BYTES >> 20
            ),
        ));
    }
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
        "yaml" | "yml" => {
            check_expansion(text, origin)?;
            serde_yaml_ng::from_str(text).map_err(|e| {
                let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                let message = e.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message).to_string();
                located(origin, line, column, &message)
            })?
        }
        other => {
            return Err(Problem::file(
                DefinitionCode::UnknownFormat,
                format!(
                    "{origin}: definition files are YAML (.yaml, .yml), TOML (.toml) or JSON (.json), not {other:?}"
                ),
            ))
        }
    };
    if file.kpis.len() > MAX_KPIS {
        return Err(Problem::file(
            DefinitionCode::TooManyKpis,
            format!(
                "{origin}: the file defines {} KPIs; a definition file is limited to {MAX_KPIS}",
                file.kpis.len()
            ),
        ));
    }
    let engagement = engagement(file.engagement.unwrap_or_default(), origin)?;
    check_names(file.kpis.iter().map(|k| (k.name.as_str(), k.formula.as_str())))
        .map_err(|(code, message)| Problem::file(code, format!("{origin}: {message}")))?;
    for k in &file.kpis {
        check_syntax(&k.name, &k.formula).map_err(Problem::Formula)?;
    }
    Ok(Parsed {
        name: file.name.unwrap_or_default(),
        description: file.description.unwrap_or_default(),
        source: file.source.unwrap_or_default(),
        engagement,
        kpis: file.kpis,
    })
}

/// Platforms as the canonical values are written (lower case), each component counted once,
/// `default` last (it applies to every platform not named before it).
fn engagement(file: BTreeMap<String, Vec<String>>, origin: &str) -> Result<Vec<(String, Vec<String>)>, Problem> {
    let mut platforms: HashSet<String> = HashSet::new();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (platform, comps) in file {
        let platform = platform.to_lowercase();
        if !platforms.insert(platform.clone()) {
            return Err(Problem::file(
                DefinitionCode::InvalidDefinitions,
                format!("{origin}: engagement names platform '{platform}' twice"),
            ));
        }
        let mut seen: HashSet<&str> = HashSet::new();
        let mut set: Vec<String> = Vec::new();
        for c in &comps {
            if seen.insert(c.as_str()) {
                set.push(c.clone());
            }
        }
        out.push((platform, set));
    }
    out.sort_by_key(|(p, _)| p == "default");
    for (platform, comps) in &out {
        if comps.is_empty() {
            return Err(Problem::file(
                DefinitionCode::InvalidDefinitions,
                format!("{origin}: engagement.{platform} lists no components; list the interaction columns that count, e.g. [\"likes\", \"comments\"]"),
            ));
        }
        for c in comps {
            let simple = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !c.split('|').all(simple) {
                return Err(Problem::file(
                    DefinitionCode::InvalidDefinitions,
                    format!("{origin}: engagement.{platform} component {c:?} is not a column name (write a column, or 'a|b' for a, else b)"),
                ));
            }
        }
    }
    Ok(out)
}

/// Checks KPI names (name, formula): each a valid name, none defined twice with different
/// formulas. Linear in the number of KPIs. Errors are (code, message).
pub fn check_names<'a>(kpis: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), (DefinitionCode, String)> {
    let mut formulas: HashMap<&str, &str> = HashMap::new();
    for (name, formula) in kpis {
        let keyword = ["and", "or", "not", "where", "true", "false"]
            .iter()
            .any(|k| name.eq_ignore_ascii_case(k));
        let digit_first = name.chars().next().is_some_and(|c| c.is_ascii_digit());
        if name.is_empty() || keyword || digit_first || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err((
                DefinitionCode::InvalidName,
                format!(
                    "KPI name {name:?} must be letters, digits and _, not start with a digit and not be a keyword of the language (it becomes a column of the result, and other formulas name it)"
                ),
            ));
        }
        match formulas.get(name) {
            Some(earlier) if *earlier != formula => {
                return Err((
                    DefinitionCode::DuplicateKpi,
                    format!("KPI '{name}' is defined twice with different formulas"),
                ))
            }
            Some(_) => {}
            None => {
                formulas.insert(name, formula);
            }
        }
    }
    Ok(())
}

/// Parses a formula alone (no tables); the error names the KPI and holds the formula.
pub fn check_syntax(name: &str, formula: &str) -> Result<(), FormulaError> {
    socialkpi_formula::parse(formula).map(|_| ()).map_err(|mut e| {
        e.kpi = Some(name.to_string());
        e.formula = formula.to_string();
        e
    })
}

/// Refuses a YAML text whose aliases expand it past [`MAX_EXPANDED`], before the typed
/// reading copies each alias's value. Other errors are left to the typed reading, which
/// locates them.
fn check_expansion(text: &str, origin: &str) -> Result<(), Problem> {
    let budget = Budget {
        left: Cell::new(MAX_EXPANDED),
        spent: Cell::new(false),
    };
    let measured = Measure {
        budget: &budget,
        depth: 0,
    }
    .deserialize(serde_yaml_ng::Deserializer::from_str(text));
    if measured.is_err() && budget.spent.get() {
        return Err(Problem::file(
            DefinitionCode::FileTooLarge,
            format!(
                "{origin}: the YAML file's anchors and aliases expand it to more than {} MiB (its values' text plus {VALUE_BYTES} bytes per value); write the values out, or use fewer aliases",
                MAX_EXPANDED >> 20
            ),
        ));
    }
    Ok(())
}

struct Budget {
    left: Cell<usize>,
    spent: Cell<bool>,
}

/// Walks a YAML document as a reading of it would, aliases expanded, adding up what its
/// values take without keeping any, and stops once the budget is spent.
struct Measure<'b> {
    budget: &'b Budget,
    depth: usize,
}

impl<'b> Measure<'b> {
    fn charge<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        let cost = bytes.saturating_add(VALUE_BYTES);
        match self.budget.left.get().checked_sub(cost) {
            Some(left) => {
                self.budget.left.set(left);
                Ok(())
            }
            None => {
                self.budget.spent.set(true);
                Err(E::custom("the definition file expands past its limit"))
            }
        }
    }

    fn child(&self) -> Measure<'b> {
        Measure {
            budget: self.budget,
            depth: self.depth + 1,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Measure<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.depth > MEASURED_DEPTH {
            // no definition file goes this deep: the typed reading stops at it
            return Err(de::Error::custom("nested deeper than a definition file goes"));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Measure<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.charge(v.len())
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.charge(v.len())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.child().deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.child().deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.charge(0)?;
        while seq.next_element_seed(self.child())?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.charge(0)?;
        while map.next_key_seed(self.child())?.is_some() {
            map.next_value_seed(self.child())?;
        }
        Ok(())
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // a tagged value (`!tag value`): the tag, then the value
        let ((), variant) = data.variant_seed(self.child())?;
        variant.newtype_variant_seed(self.child())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str, format: &str) -> &'static str {
        match parse(text, format, "t") {
            Ok(_) => "ok",
            Err(Problem::File { code, .. }) => code.as_str(),
            Err(Problem::Formula(e)) => e.code.as_str(),
        }
    }

    #[test]
    fn aliases_expand_within_a_budget() {
        let big = "x".repeat(100_000);
        let kpi = format!("  - &k {{name: a, formula: likes, description: \"{big}\"}}\n");
        let few = format!("kpis:\n{kpi}{}", "  - *k\n".repeat(10));
        assert_eq!(code(&few, "yaml"), "ok");
        let many = format!("kpis:\n{kpi}{}", "  - *k\n".repeat(3_000));
        assert_eq!(code(&many, "yaml"), "file_too_large");
        // nested aliases (a billion laughs) in a place the typed reading refuses anyway
        let mut laughs = String::from("a0: &a0 [\"lol\"]\n");
        for i in 1..30 {
            laughs.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*a{}", i - 1); 9].join(", ")
            ));
        }
        let laughs = format!(
            "engagement:\n{}",
            laughs.lines().map(|l| format!("  {l}\n")).collect::<String>()
        );
        assert_ne!(code(&laughs, "yaml"), "ok");
        let engagement = format!(
            "engagement:\n  default: &c [{}]\n{}",
            vec!["likes"; 2_000].join(", "),
            (0..2_000).map(|i| format!("  p{i}: *c\n")).collect::<String>()
        );
        assert_eq!(code(&engagement, "yaml"), "file_too_large");
    }

    #[test]
    fn sizes_and_counts_are_bounded() {
        assert_eq!(code(&" ".repeat(MAX_BYTES + 1), "toml"), "file_too_large");
        let kpis: String = (0..=MAX_KPIS)
            .map(|i| format!("[[kpis]]\nname = \"k{i}\"\nformula = \"likes\"\n"))
            .collect();
        assert_eq!(code(&kpis, "toml"), "too_many_kpis");
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        for format in ["yaml", "json", "toml"] {
            let text = match format {
                "toml" => format!("name = {deep}"),
                "json" => format!("{{\"kpis\": {deep}}}"),
                _ => format!("kpis: {deep}"),
            };
            assert_eq!(code(&text, format), "invalid_definitions", "{format}");
        }
    }

    #[test]
    fn names_are_checked_in_linear_time() {
        let many: Vec<(String, String)> = (0..200_000).map(|i| (format!("k{i}"), "likes".to_string())).collect();
        let started = std::time::Instant::now();
        assert!(check_names(many.iter().map(|(n, f)| (n.as_str(), f.as_str()))).is_ok());
        assert!(started.elapsed().as_secs() < 5);
        let twice = [("a", "likes"), ("b", "x"), ("a", "likes"), ("a", "reach")];
        assert_eq!(check_names(twice).err().map(|e| e.0.as_str()), Some("duplicate_kpi"));
        assert_eq!(
            check_names([("1a", "x")]).err().map(|e| e.0.as_str()),
            Some("invalid_name")
        );
        assert_eq!(
            check_names([("a\u{0}b", "x")]).err().map(|e| e.0.as_str()),
            Some("invalid_name")
        );
    }
}
