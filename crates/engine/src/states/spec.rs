//! What a set of states was made for: the request and the columns of its tables, enough to
//! plan any finalization of them again without the data.

use crate::error::{Error, InputCode, Result};
use crate::plan::{self, Calendar, ColumnType, Dedupe, Definition, Month, Request, Weekday};
use serde::{Deserialize, Serialize};

/// The request of `sk.partial`, as stored with its states (JSON in a states file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The KPIs asked for (names or goal presets, as given).
    pub kpis: Vec<String>,
    pub by: Vec<String>,
    pub every: Option<String>,
    pub tz: String,
    /// `"error"` or `"last"`.
    pub dedupe: String,
    pub sources: Vec<(String, String)>,
    /// Formula definitions: (name, formula, goal, unit, description).
    pub definitions: Vec<(String, String, String, String, String)>,
    pub engagement: Vec<(String, Vec<String>)>,
    pub max_staleness: Option<u32>,
    /// The columns of each table given (None: the table was not given).
    pub tables: Tables,
    /// Column kinds of posts and accounts (formulas are checked against them).
    pub posts_types: Vec<(String, String)>,
    pub accounts_types: Vec<(String, String)>,
    /// The calendar (states written before it was recorded were made with the default:
    /// Monday weeks, years from January).
    #[serde(default)]
    pub week_start: Weekday,
    #[serde(default)]
    pub fiscal_year_start: Month,
}

/// The columns of each table a request was made with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tables {
    pub posts: Option<Vec<String>>,
    pub accounts: Option<Vec<String>>,
    pub contracts: Option<Vec<String>>,
    pub traffic: Option<Vec<String>>,
    pub conversions: Option<Vec<String>>,
}

impl Tables {
    /// The plan of a request against these tables' columns.
    pub fn plan(&self, request: &Request) -> Result<plan::Plan> {
        plan::build(
            request,
            self.posts.as_deref(),
            self.accounts.as_deref(),
            self.contracts.as_deref(),
            self.traffic.as_deref(),
            self.conversions.as_deref(),
        )
    }
}

fn kind_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Number => "number",
        ColumnType::Bool => "bool",
        ColumnType::Text => "text",
        ColumnType::Time => "time",
        _ => "other",
    }
}

fn kind(name: &str) -> ColumnType {
    match name {
        "number" => ColumnType::Number,
        "bool" => ColumnType::Bool,
        "text" => ColumnType::Text,
        "time" => ColumnType::Time,
        _ => ColumnType::Other,
    }
}

impl Spec {
    /// The spec of a request over tables with these columns.
    pub fn of(request: &Request, tables: Tables) -> Self {
        let kinds = |types: &[(String, ColumnType)]| -> Vec<(String, String)> {
            types
                .iter()
                .map(|(n, t)| (n.clone(), kind_name(*t).to_string()))
                .collect()
        };
        Self {
            kpis: request.kpis.clone(),
            by: request.by.clone(),
            every: request.every.clone(),
            tz: request.tz.clone(),
            dedupe: match request.dedupe {
                Dedupe::Error => "error",
                Dedupe::Last => "last",
            }
            .to_string(),
            sources: request.sources.clone(),
            definitions: request
                .custom
                .iter()
                .map(|d| {
                    (
                        d.name.clone(),
                        d.formula.clone(),
                        d.goal.clone(),
                        d.unit.clone(),
                        d.description.clone(),
                    )
                })
                .collect(),
            engagement: request.engagement.clone(),
            max_staleness: request.max_staleness,
            tables,
            posts_types: kinds(&request.posts_types),
            accounts_types: kinds(&request.accounts_types),
            week_start: request.calendar.week_start,
            fiscal_year_start: request.calendar.fiscal_year_start,
        }
    }

    /// The request again, for other KPIs, dimensions or a period (None: the spec's own).
    pub fn request(
        &self,
        kpis: Option<Vec<String>>,
        by: Option<Vec<String>>,
        every: Option<Option<String>>,
    ) -> Request {
        let dedupe = if self.dedupe == "last" {
            Dedupe::Last
        } else {
            Dedupe::Error
        };
        let mut request = Request::new(
            kpis.unwrap_or_else(|| self.kpis.clone()),
            by.unwrap_or_else(|| self.by.clone()),
            every.unwrap_or_else(|| self.every.clone()),
            self.tz.clone(),
            dedupe,
        );
        request.sources = self.sources.clone();
        request.custom = self
            .definitions
            .iter()
            .map(|(name, formula, goal, unit, description)| Definition {
                name: name.clone(),
                formula: formula.clone(),
                goal: goal.clone(),
                unit: unit.clone(),
                description: description.clone(),
            })
            .collect();
        request.engagement = self.engagement.clone();
        request.max_staleness = self.max_staleness;
        let types = |kinds: &[(String, String)]| kinds.iter().map(|(n, k)| (n.clone(), kind(k))).collect();
        request.posts_types = types(&self.posts_types);
        request.accounts_types = types(&self.accounts_types);
        request.calendar = Calendar {
            week_start: self.week_start,
            fiscal_year_start: self.fiscal_year_start,
        };
        request
    }

    /// The plan of a request against the spec's tables.
    pub fn plan(&self, request: &Request) -> Result<plan::Plan> {
        self.tables.plan(request)
    }

    /// The first part in which two specs differ, in words (None: they are the same).
    pub fn difference(&self, other: &Spec) -> Option<String> {
        let parts: [(&str, bool); 12] = [
            ("kpis", self.kpis == other.kpis),
            ("by", self.by == other.by),
            ("every", self.every == other.every),
            ("tz", self.tz == other.tz),
            ("week_start", self.week_start == other.week_start),
            ("fiscal_year_start", self.fiscal_year_start == other.fiscal_year_start),
            ("definitions", self.definitions == other.definitions),
            ("engagement", self.engagement == other.engagement),
            ("dedupe", self.dedupe == other.dedupe),
            ("sources", self.sources == other.sources),
            ("max_staleness", self.max_staleness == other.max_staleness),
            ("tables", self.tables_given() == other.tables_given()),
        ];
        let (part, _) = parts.into_iter().find(|(_, same)| !same)?;
        // (as the Python arguments read: None, "1d", 7)
        let optional = |v: Option<String>| v.map_or_else(|| "None".to_string(), |v| format!("{v:?}"));
        let show = |s: &Spec| -> String {
            match part {
                "kpis" => format!("{:?}", s.kpis),
                "by" => format!("{:?}", s.by),
                "every" => optional(s.every.clone()),
                "tz" => format!("{:?}", s.tz),
                "week_start" => format!("{:?}", s.week_start.name()),
                "fiscal_year_start" => format!("{}", s.fiscal_year_start.number()),
                "definitions" => format!("{:?}", s.definitions.iter().map(|d| &d.0).collect::<Vec<_>>()),
                "engagement" => format!("{:?}", s.engagement),
                "dedupe" => format!("{:?}", s.dedupe),
                "sources" => format!("{} additions", s.sources.len()),
                "max_staleness" => s.max_staleness.map_or_else(|| "None".to_string(), |d| d.to_string()),
                _ => format!("{:?}", s.tables_given()),
            }
        };
        Some(format!("{part} ({} vs {})", show(self), show(other)))
    }

    /// Which tables were given.
    pub fn tables_given(&self) -> Vec<&'static str> {
        let t = &self.tables;
        [
            ("posts", t.posts.is_some()),
            ("accounts", t.accounts.is_some()),
            ("contracts", t.contracts.is_some()),
            ("traffic", t.traffic.is_some()),
            ("conversions", t.conversions.is_some()),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| name)
        .collect()
    }

    /// A hash of everything the spec asks: states (and memos) of equal hashes are of one request.
    pub fn request_hash(&self) -> Result<u64> {
        Ok(crate::ids::stable_hash(self.to_json()?.as_bytes()))
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Internal(format!("states spec: {e}")))
    }

    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| {
            Error::input(
                InputCode::NotAStatesFile,
                format!("the states' spec does not read: {e}"),
            )
        })
    }
}
