//! Definitions: formulas, definition files, vendor presets and the catalogue.

use super::*;
use socialkpi_engine::error::DefinitionCode;

/// A catalogue row: (name, goal, definition, formula, unit, inputs, rule).
type CatalogRow = (String, String, String, String, String, Vec<String>, String);

/// A KPI definition as it crosses: (name, formula, goal, unit, description).
pub(super) type DefinitionRow = (String, String, String, String, String);

pub(super) fn definition((name, formula, goal, unit, description): DefinitionRow) -> plan::Definition {
    plan::Definition {
        name,
        formula,
        goal,
        unit,
        description,
    }
}

fn definition_row(d: &plan::Definition) -> DefinitionRow {
    (
        d.name.clone(),
        d.formula.clone(),
        d.goal.clone(),
        d.unit.clone(),
        d.description.clone(),
    )
}

/// A definition set as it crosses: (name, description, source, engagement, kpis).
type DefinitionsRow = (String, String, String, Vec<(String, Vec<String>)>, Vec<DefinitionRow>);

fn definitions_row(d: catalog::files::Definitions) -> DefinitionsRow {
    let kpis = d.kpis.iter().map(definition_row).collect();
    (d.name, d.description, d.source, d.engagement, kpis)
}

/// Checks a formula's syntax (sk.KPI reports it at once; columns are checked at compute).
#[pyfunction]
pub fn check_formula(name: &str, formula: &str) -> PyResult<()> {
    Ok(plan::check_syntax(name, formula)?)
}

/// Parses a definition file's text (`format`: yaml, toml or json; `origin` names it).
#[pyfunction]
pub fn parse_definitions(py: Python<'_>, text: &str, format: &str, origin: &str) -> PyResult<DefinitionsRow> {
    // other Python threads run while a large file is read
    let parsed = py.detach(|| catalog::files::parse(text, format, origin))?;
    Ok(definitions_row(parsed))
}

/// A vendor preset's definitions, or the built-in catalogue's (`"socialkpi"`).
#[pyfunction]
pub fn vendor_definitions(name: &str) -> PyResult<DefinitionsRow> {
    if name == "socialkpi" {
        return Ok(definitions_row(catalog::files::builtin().clone()));
    }
    Ok(definitions_row(catalog::files::vendor(name)?))
}

/// The vendor presets' names.
#[pyfunction]
pub fn vendor_names() -> Vec<&'static str> {
    catalog::files::VENDORS.iter().map(|(n, _)| *n).collect()
}

/// Checks and plans KPIs against column types without data (sk.plan_kpis): the time to
/// parse, check and compile a catalogue, and its errors.
#[pyfunction]
#[pyo3(signature = (kpis, custom, posts_types, accounts_types=Vec::new(), engagement=Vec::new()))]
pub fn plan_kpis(
    kpis: Vec<String>,
    custom: Vec<DefinitionRow>,
    posts_types: Vec<(String, String)>,
    accounts_types: Vec<(String, String)>,
    engagement: Vec<(String, Vec<String>)>,
) -> PyResult<usize> {
    let mut request = Request::new(kpis, Vec::new(), None, "UTC".into(), Dedupe::Error);
    request.custom = custom.into_iter().map(definition).collect();
    request.engagement = engagement;
    request.posts_types = typed(posts_types);
    request.accounts_types = typed(accounts_types);
    let pcols: Vec<String> = request.posts_types.iter().map(|(n, _)| n.clone()).collect();
    let acols: Vec<String> = request.accounts_types.iter().map(|(n, _)| n.clone()).collect();
    let accounts = (!acols.is_empty()).then_some(acols.as_slice());
    let plan = plan::build(&request, Some(&pcols), accounts, None, None, None)?;
    Ok(plan.outputs.len())
}

/// The catalogue as rows: (name, goal, definition, unit, inputs, rule).
#[pyfunction]
pub fn catalog_rows() -> Vec<CatalogRow> {
    catalog::KPIS
        .iter()
        .map(|k| {
            (
                k.name.into(),
                k.goal.into(),
                k.definition.into(),
                catalog::formula(k.name).unwrap_or("").into(),
                k.unit.into(),
                k.inputs.iter().map(|s| s.to_string()).collect(),
                k.rule.into(),
            )
        })
        .collect()
}

/// The default source table: (source or host, platform).
#[pyfunction]
pub fn source_table() -> Vec<(String, String)> {
    socialkpi_engine::sources::DEFAULT
        .iter()
        .map(|(s, p)| (s.to_string(), p.to_string()))
        .collect()
}

/// Goal presets: name -> KPI names.
#[pyfunction]
pub fn presets() -> Vec<(String, Vec<String>)> {
    catalog::PRESETS
        .iter()
        .map(|(p, ks)| (p.to_string(), ks.iter().map(|s| s.to_string()).collect()))
        .collect()
}

/// How a built-in KPI adds up over time: `flow`, `ratio` or `snapshot` (docs/time.md,
/// Targets); `ratio` for a name the catalogue does not have (its target applies as it is).
#[pyfunction]
pub fn kpi_kind(name: &str) -> &'static str {
    plan::kind::builtin(name).unwrap_or(plan::kind::Kind::Ratio).as_str()
}

/// The definition of one KPI in words.
#[pyfunction]
pub fn explain(name: &str) -> PyResult<String> {
    match catalog::find(name) {
        Some(k) => Ok(catalog::explain(k)),
        None => {
            let names = catalog::KPIS.iter().map(|k| k.name);
            Err(Error::definition(
                DefinitionCode::UnknownKpi,
                format!(
                    "unknown KPI '{name}'{}; sk.catalog() lists every KPI",
                    socialkpi_engine::error::did_you_mean(&socialkpi_engine::error::suggest(name, names))
                ),
            )
            .into())
        }
    }
}
