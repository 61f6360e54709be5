//! Which KPIs a request computes and shows: names and goal presets expanded, every KPI
//! compiled from its formula (the caller's definitions, and the catalogue's for the
//! built-ins), and the built-in measures the formulas read added to what is computed.

use super::custom::{self, Compiler, Tables};
use super::usable::{usable, usable_traffic};
use super::{
    check_names, ColumnType, CustomKpi, CustomPosts, Definition, Given, Origins, OutputKpi, Request, Value, PERIOD,
};
use crate::catalog::{self, Kpi};
use crate::error::{did_you_mean, suggest, DefinitionCode, Error, Result};
use crate::ingest::presets::Kind;
use socialkpi_formula::check::Lowerer;
use std::collections::HashMap;

/// The KPIs of a request, compiled.
pub(super) struct Chosen {
    /// The built-in KPIs whose states are computed (asked for, or read by a formula).
    pub kpis: Vec<&'static Kpi>,
    /// The result's KPI columns, in the order asked.
    pub outputs: Vec<OutputKpi>,
    /// The definitions asked for (the caller's, and built-ins that read a redefined KPI).
    pub compiled: Vec<CustomKpi>,
    /// What the formulas need from the posts table.
    pub custom_posts: CustomPosts,
    /// Preset members left out because their inputs were not given.
    pub warnings: Vec<String>,
}

impl Chosen {
    /// The first definition asked for: the KPI named in errors no built-in explains.
    pub fn first_defined(&self) -> Option<&str> {
        self.compiled.first().map(|c| c.definition.name.as_str())
    }

    /// A built-in read only through a formula is named through that formula in errors
    /// (the text continues a `'`-quoted name).
    pub fn shown(&self, kpi: &str) -> String {
        let asked = self.outputs.iter().any(|o| o.name() == kpi);
        match self.compiled.iter().find(|c| c.value.reads(kpi)) {
            Some(c) if !asked => format!("{}' (through its measure '{kpi}')", c.definition.name),
            _ => format!("{kpi}'"),
        }
    }
}

/// Expands, checks and compiles the KPIs asked for.
pub(super) fn choose_kpis(req: &Request, given: &Given, o: Origins) -> Result<Chosen> {
    check_names(&req.custom)?;
    // built-ins that read a redefined KPI are computed from their formulas too
    let mut definitions = req.custom.clone();
    definitions.extend(custom::promoted(&req.kpis, &req.custom));
    let expanded = expand_kpis(&req.kpis, &definitions)?;
    let mut compiler = Compiler::default();
    let compiled = compile_definitions(req, &definitions, o, &mut compiler)?;
    let (mut kpis, warnings) = computable_kpis(expanded, given, &o)?;
    let builtins = compile_builtins(&kpis, given, o, &mut compiler)?;
    let outputs = order_outputs(&req.kpis, &compiled, &builtins);
    add_measures_read(&mut kpis, &compiler.builtins, &compiled, given, &o)?;
    check_output_names(&compiled, &req.by)?;
    let custom_posts = compiler.finish();
    if kpis.is_empty() && custom_posts.is_empty() && compiled.is_empty() {
        return Err(Error::definition(
            DefinitionCode::NoKpis,
            format!(
                "none of the requested KPIs can be computed from the tables given: {}",
                warnings.join("; ")
            ),
        ));
    }
    Ok(Chosen {
        kpis,
        outputs,
        compiled,
        custom_posts,
        warnings,
    })
}

/// Expands names and presets; explicit names are strict, preset members whose table or
/// column is absent are left out and reported. A name `custom` defines is not a built-in.
fn expand_kpis(names: &[String], custom: &[Definition]) -> Result<Vec<(&'static Kpi, bool)>> {
    let mut out: Vec<(&'static Kpi, bool)> = Vec::new();
    if names.is_empty() {
        return Err(Error::definition(DefinitionCode::NoKpis, "no KPIs were asked for; pass kpis=[...] with names from sk.catalog() or a goal preset such as \"engagement\""));
    }
    for name in names {
        if custom.iter().any(|d| &d.name == name) {
            continue;
        }
        if let Some(k) = catalog::find(name) {
            if let Some(slot) = out.iter_mut().find(|(o, _)| o.name == k.name) {
                slot.1 = true;
            } else {
                out.push((k, true));
            }
        } else if let Some(members) = catalog::preset(name) {
            for m in members.iter().filter(|m| !custom.iter().any(|d| d.name == **m)) {
                if let Some(k) = catalog::find(m) {
                    if !out.iter().any(|(o, _)| o.name == k.name) {
                        out.push((k, false));
                    }
                }
            }
        } else {
            let names = catalog::KPIS
                .iter()
                .map(|k| k.name)
                .chain(catalog::PRESETS.iter().map(|(p, _)| *p))
                .chain(custom.iter().map(|d| d.name.as_str()));
            // a table's column (`video_views`, which exports map from Views) is no KPI of its own
            let column = [Kind::Posts, Kind::Accounts, Kind::Traffic]
                .iter()
                .any(|kind| kind.columns().iter().any(|(c, _)| *c == name));
            let hint = match column {
                true => format!("; '{name}' is a column: its total is the KPI sk.KPI(\"{name}\", \"sum({name})\")"),
                false => did_you_mean(&suggest(name, names)),
            };
            return Err(Error::definition(
                DefinitionCode::UnknownKpi,
                format!("unknown KPI '{name}'{hint}; sk.catalog() lists every KPI and the presets awareness, engagement, traffic, leads, conversion, content"),
            ));
        }
    }
    Ok(out)
}

/// A name, or a goal preset's members, that a definition replaces.
fn defined<'d>(name: &str, definitions: &'d [Definition]) -> Vec<&'d Definition> {
    match definitions.iter().find(|d| d.name == name) {
        Some(d) => vec![d],
        None => catalog::preset(name)
            .unwrap_or(&[])
            .iter()
            .filter_map(|m| definitions.iter().find(|d| d.name == *m))
            .collect(),
    }
}

/// The definitions asked for, checked against the tables' column types and compiled to
/// posts states and engine measures, in the order asked.
fn compile_definitions(
    req: &Request,
    definitions: &[Definition],
    o: Origins,
    compiler: &mut Compiler,
) -> Result<Vec<CustomKpi>> {
    let tables = Tables::new(
        req.posts_types.iter().map(flag_of_integers).collect(),
        req.accounts_types.iter().cloned().collect(),
        &req.custom,
        o,
    );
    let mut lowerer = Lowerer::new(&tables);
    let mut compiled: Vec<CustomKpi> = Vec::new();
    for name in &req.kpis {
        for d in defined(name, definitions) {
            if !compiled.iter().any(|c| c.definition.name == d.name) {
                compiled.push(compiler.compile(&mut lowerer, d)?);
            }
        }
    }
    Ok(compiled)
}

/// Whether a built-in KPI can be computed from the tables given (names only).
fn computable(kpi: &Kpi, given: &Given, o: &Origins) -> Result<()> {
    usable(kpi, given.posts, given.accounts, given.contracts, o).and_then(|()| usable_traffic(kpi, given.traffic, o))
}

/// The built-ins asked for that the tables can give; a preset's member that they cannot is
/// left out with a warning, a KPI named explicitly is an error.
fn computable_kpis(
    expanded: Vec<(&'static Kpi, bool)>,
    given: &Given,
    o: &Origins,
) -> Result<(Vec<&'static Kpi>, Vec<String>)> {
    let mut kpis = Vec::new();
    let mut warnings = Vec::new();
    for (kpi, explicit) in expanded {
        match computable(kpi, given, o) {
            Ok(()) => kpis.push(kpi),
            Err(e) if explicit => return Err(e),
            Err(e) => warnings.push(format!("{} was left out of the preset: {e}", kpi.name)),
        }
    }
    Ok((kpis, warnings))
}

/// Every built-in KPI asked for, compiled from its catalogue formula as a caller's KPI is.
fn compile_builtins(
    kpis: &[&'static Kpi],
    given: &Given,
    o: Origins,
    compiler: &mut Compiler,
) -> Result<Vec<(&'static Kpi, Value)>> {
    let tables = Tables::new(
        catalogue_columns(given.posts),
        given
            .accounts
            .unwrap_or(&[])
            .iter()
            .map(|c| (c.clone(), ColumnType::Number))
            .collect(),
        &[],
        o,
    );
    let mut lowerer = Lowerer::new(&tables);
    let mut builtins = Vec::with_capacity(kpis.len());
    for k in kpis {
        let definition = Definition {
            name: k.name.to_string(),
            formula: catalog::formula(k.name).unwrap_or_default().to_string(),
            goal: k.goal.to_string(),
            unit: k.unit.to_string(),
            description: k.definition.to_string(),
        };
        builtins.push((*k, compiler.compile(&mut lowerer, &definition)?.value));
    }
    Ok(builtins)
}

/// The result's KPI columns in the order asked, a preset's members in the preset's order,
/// each once; a definition takes the place of the built-in of its name.
fn order_outputs(names: &[String], compiled: &[CustomKpi], builtins: &[(&'static Kpi, Value)]) -> Vec<OutputKpi> {
    let builtin = |name: &str| {
        builtins
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, v)| OutputKpi::Builtin(k, v.clone()))
    };
    let mut outputs: Vec<OutputKpi> = Vec::new();
    let mut push = |out: OutputKpi| {
        if !outputs.iter().any(|o| o.name() == out.name()) {
            outputs.push(out);
        }
    };
    for name in names {
        if let Some(c) = compiled.iter().find(|c| &c.definition.name == name) {
            push(OutputKpi::Custom(c.clone()));
        } else if let Some(out) = builtin(name) {
            push(out);
        } else if let Some(members) = catalog::preset(name) {
            for m in members {
                match compiled.iter().find(|c| c.definition.name == *m) {
                    Some(c) => push(OutputKpi::Custom(c.clone())),
                    None => {
                        if let Some(out) = builtin(m) {
                            push(out);
                        }
                    }
                }
            }
        }
    }
    outputs
}

/// The built-in measures formulas read (cost, followers, ...) are computed, not shown; one
/// the tables cannot give is an error naming the formula that reads it.
fn add_measures_read(
    kpis: &mut Vec<&'static Kpi>,
    read: &[&'static str],
    compiled: &[CustomKpi],
    given: &Given,
    o: &Origins,
) -> Result<()> {
    for name in read {
        let Some(kpi) = catalog::find(name) else {
            return Err(Error::Internal(format!(
                "engine measure '{name}' is not in the catalogue"
            )));
        };
        if kpis.iter().any(|k| k.name == kpi.name) {
            continue;
        }
        let reader = compiled
            .first()
            .map_or(String::new(), |c| format!("KPI '{}' reads {name}: ", c.definition.name));
        computable(kpi, given, o).map_err(|e| match e {
            Error::Schema { code, message } => Error::schema(code, format!("{reader}{message}")),
            Error::Query { code, message } => Error::query(code, format!("{reader}{message}")),
            other => other,
        })?;
        kpis.push(kpi);
    }
    Ok(())
}

/// A defined KPI may not take the name of another column of the result.
fn check_output_names(compiled: &[CustomKpi], by: &[String]) -> Result<()> {
    for c in compiled {
        let name = &c.definition.name;
        if by.contains(name) || name == PERIOD {
            return Err(Error::definition(
                DefinitionCode::InvalidName,
                format!(
                    "KPI '{name}' has the name of a column of the result ({}); name the KPI otherwise",
                    if name == PERIOD {
                        "the period"
                    } else {
                        "a by= dimension"
                    }
                ),
            ));
        }
    }
    Ok(())
}

/// The posts' columns the built-in formulas read, as numbers (`exec` reads and checks them
/// as counts and money, whatever their type).
fn catalogue_columns(posts_cols: Option<&[String]>) -> HashMap<String, ColumnType> {
    use crate::ingest::presets::{Kind, Value as Read};
    posts_cols
        .unwrap_or(&[])
        .iter()
        .filter(|c| {
            Kind::Posts
                .columns()
                .iter()
                .any(|(name, read)| name == c && matches!(read, Read::Count | Read::Money))
        })
        .map(|c| (c.clone(), ColumnType::Number))
        .collect()
}

/// `sponsored` given as 0/1 integers is the yes/no it means (read as Boolean, see
/// `exec::posts::read`).
fn flag_of_integers((name, t): &(String, ColumnType)) -> (String, ColumnType) {
    match t {
        ColumnType::Number if name == "sponsored" => (name.clone(), ColumnType::Bool),
        _ => (name.clone(), *t),
    }
}
