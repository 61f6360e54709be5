//! KPIs written in the formula language (the user's own, a definition file's, a vendor
//! preset's): checked against the tables by `socialkpi_formula`, then compiled to the same
//! partial states as the built-ins (sums with their non-null counts, rule-1 ratio pairs,
//! followers-at-post sums) and to a finalisation over the merged states.

use super::{followers_at_post_names, nonnull_name, push_unique, ratio_names, sum_name, Metric, Origin, Origins};
use crate::catalog::{self, Definition};
use crate::error::DefinitionCode;
use crate::error::{formula_error, Error, Result};
use crate::schema::{Source, StateColumn};
use polars::prelude::*;
use socialkpi_formula::check::Lowerer;
use socialkpi_formula::{Agg, BinOp, Cond, Context, Native, Operand, Row, Sum, Table, Type};
use std::collections::{HashMap, HashSet};

/// How a custom KPI is finalised from the merged states.
#[derive(Debug, Clone)]
pub enum Value {
    Number(f64),
    /// A flow: 0 without rows (`rows`), null when no row reported a value (`n`), else `sum`;
    /// `money`: a sum of the posts' spend, conversions or revenue, null outside the posts'
    /// coverage (rule 7).
    Flow {
        rows: String,
        sum: String,
        n: String,
        money: bool,
    },
    /// A count, 0 where the group has no rows.
    Count(String),
    /// `num / den`, null for a zero or missing denominator.
    Ratio(String, String),
    /// A measure across tables the formula language names (`cost()`, `attributed(x)`,
    /// `last(followers)`, ...): finalised from the states of the table it reads.
    Measure(Native),
    Share(Box<Value>),
    Binary(BinOp, Box<Value>, Box<Value>),
    Neg(Box<Value>),
    Coalesce(Vec<Value>),
}

impl Value {
    /// Whether the value reads the measure of catalogue entry `name`.
    pub fn reads(&self, name: &str) -> bool {
        match self {
            Self::Measure(m) => m.builtin() == name,
            Self::Share(v) | Self::Neg(v) => v.reads(name),
            Self::Binary(_, a, b) => a.reads(name) || b.reads(name),
            Self::Coalesce(parts) => parts.iter().any(|p| p.reads(name)),
            Self::Number(_) | Self::Flow { .. } | Self::Count(_) | Self::Ratio(..) => false,
        }
    }

    /// Whether the value is made of numbers alone (it reads no table).
    fn is_constant(&self) -> bool {
        match self {
            Self::Number(_) => true,
            Self::Share(v) | Self::Neg(v) => v.is_constant(),
            Self::Binary(_, a, b) => a.is_constant() && b.is_constant(),
            Self::Coalesce(parts) => parts.iter().all(Self::is_constant),
            Self::Flow { .. } | Self::Count(_) | Self::Ratio(..) | Self::Measure(_) => false,
        }
    }
}

/// A checked and compiled custom KPI.
#[derive(Debug, Clone)]
pub struct CustomKpi {
    pub definition: Definition,
    pub value: Value,
}

/// A computed column that is a chain of `+` and `-` over other columns: (name, its terms as
/// (plus, column)).
pub type Linear = (String, Vec<(bool, String)>);

/// A condition column that compares a text column with a text (`content_type == 'video'`):
/// the posts pass may read the column from Parquet pages as values and row indices, test
/// each value once, and give each row its value's result, rather than compare every row's
/// text (`exec::derived::text_test`).
#[derive(Debug, Clone, PartialEq)]
pub struct TextTest {
    pub condition: String,
    pub column: String,
    pub text: String,
    /// `==`, else `!=`; a row without a value passes neither.
    pub equal: bool,
}

impl TextTest {
    /// The test of a condition, when it is one: a text column `==` or `!=` a text (its
    /// `condition` is named once its column is).
    fn of(cond: &Cond) -> Option<Self> {
        let Cond::Compare(op @ (BinOp::Eq | BinOp::Ne), a, b) = cond else {
            return None;
        };
        let (column, text) = match (a, b) {
            (Operand::TextColumn(c), Operand::Text(t)) | (Operand::Text(t), Operand::TextColumn(c)) => (c, t),
            _ => return None,
        };
        Some(Self {
            condition: String::new(),
            column: column.clone(),
            text: text.clone(),
            equal: *op == BinOp::Eq,
        })
    }

    /// The condition as an expression (what `Compiler::cond` gives for it).
    fn expr(&self) -> Expr {
        let op = if self.equal { BinOp::Eq } else { BinOp::Ne };
        compare(
            op,
            col(self.column.as_str()).cast(DataType::String),
            lit(self.text.as_str()),
        )
    }
}

/// A state the posts pass adds up for custom KPIs, over a computed column.
#[derive(Debug, Clone)]
pub enum StateKind {
    /// Σ of the column's values (and their count) where the `mask` column has a value too,
    /// and where the `filter` condition column holds.
    Sum {
        sum: String,
        count: Option<String>,
        mask: Option<String>,
        filter: Option<String>,
    },
    /// The rows where the condition column holds.
    Rows {
        count: String,
    },
    AtFollowers {
        num: String,
        den: String,
    },
    MeanAtFollowers {
        sum: String,
        count: String,
    },
}

#[derive(Debug, Clone)]
pub struct CustomState {
    pub column: String,
    pub kind: StateKind,
}

/// What the KPIs' formulas need from the posts table: the states of plain columns, which
/// every formula over them shares (named as docs/states.md lists them), and the computed
/// columns and states of everything else.
#[derive(Debug, Clone, Default)]
pub struct CustomPosts {
    /// Computed per-post columns (name, expression over the coerced columns and the computed
    /// columns of lower levels, level): a level is added after the levels below it.
    pub computed: Vec<(String, Expr, usize)>,
    /// The computed columns that are conditions (Boolean, false where unknown).
    pub conditions: Vec<String>,
    /// The computed columns that are a chain of `+` and `-` over plain columns (rule 3), with
    /// their terms (plus, column): the pass may add such a column's sums up from its terms'
    /// instead of computing it. Columns that other computed columns read are not listed.
    pub linear: Vec<Linear>,
    /// Computed columns that are one plain column over another (name, numerator, denominator;
    /// rule 2), computed by a kernel before the expressions' levels.
    pub quotients: Vec<(String, String, String)>,
    /// The computed columns (quotients among them) that other computed columns read.
    pub computed_reads: Vec<String>,
    /// Conditions that compare a text column with a text, on columns the formulas read for
    /// nothing else (their columns are not in `plain`).
    pub text_tests: Vec<TextTest>,
    pub states: Vec<CustomState>,
    /// Σ of a plain column (or the engagements) with its non-null count.
    pub sums: Vec<Metric>,
    /// Σ a / Σ b over the posts where both plain columns are present (rule 1).
    pub ratios: Vec<(Metric, Metric)>,
    /// Σ of a plain column over Σ followers-at-post.
    pub at_followers: Vec<Metric>,
    /// The mean over posts of eng / reach (posts with reach > 0).
    pub per_post_engagement_rate: bool,
    /// Numeric columns read (coerced like counts).
    pub numeric: Vec<String>,
    /// Text and boolean columns read as they are (filters).
    pub plain: Vec<String>,
    /// Reads the engagement sum `eng`.
    pub eng: bool,
    /// Reads followers-at-post.
    pub followers_at_post: bool,
    /// Counts posts (`count()`).
    pub rows: bool,
    /// The first KPI whose formula reads posts (named in errors).
    pub reader: String,
}

impl CustomPosts {
    /// Whether no formula reads the posts table.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
            && self.sums.is_empty()
            && self.ratios.is_empty()
            && self.at_followers.is_empty()
            && !self.per_post_engagement_rate
            && !self.rows
    }
}

/// The tables' columns and types and the KPIs a formula may name.
pub struct Tables<'a> {
    pub posts: HashMap<String, Type>,
    pub accounts: HashMap<String, Type>,
    pub user: &'a [Definition],
    pub origins: Origins,
    /// The user's KPIs by name (a catalogue of thousands is looked up once per reference).
    by_name: HashMap<&'a str, &'a Definition>,
}

impl<'a> Tables<'a> {
    pub fn new(
        posts: HashMap<String, Type>,
        accounts: HashMap<String, Type>,
        user: &'a [Definition],
        origins: Origins,
    ) -> Self {
        // the first of equal names (check_names refuses different formulas under one name)
        let mut by_name = HashMap::with_capacity(user.len());
        for d in user {
            by_name.entry(d.name.as_str()).or_insert(d);
        }
        Self {
            posts,
            accounts,
            user,
            origins,
            by_name,
        }
    }
}

impl Context for Tables<'_> {
    fn column(&self, name: &str) -> Option<(Table, Type)> {
        if let Some(t) = self.posts.get(name) {
            return Some((Table::Posts, *t));
        }
        self.accounts.get(name).map(|t| (Table::Accounts, *t))
    }
    fn columns(&self) -> Vec<String> {
        let mut names: Vec<String> = self.posts.keys().chain(self.accounts.keys()).cloned().collect();
        names.sort();
        names.dedup();
        names
    }
    fn kpi(&self, name: &str) -> Option<String> {
        if let Some(d) = self.by_name.get(name) {
            return Some(d.formula.clone());
        }
        catalog::formula(name).map(str::to_string)
    }
    fn kpis(&self) -> Vec<String> {
        self.user
            .iter()
            .map(|d| d.name.clone())
            .chain(catalog::KPIS.iter().map(|k| k.name.to_string()))
            .collect()
    }
    fn attributed_from_posts(&self, measure: &str) -> bool {
        self.origins.of(measure) == Some(Origin::Posts)
    }
    fn known_column(&self, name: &str) -> bool {
        use crate::ingest::presets::Kind;
        [Kind::Posts, Kind::Accounts]
            .iter()
            .any(|k| k.columns().iter().any(|(c, _)| *c == name))
    }
}

/// Compiles checked formulas into posts states and finalisations, sharing equal states.
#[derive(Default)]
pub struct Compiler {
    pub posts: CustomPosts,
    /// The built-in KPIs whose states the formulas read (engine measures).
    pub builtins: Vec<&'static str>,
    columns: HashMap<String, String>,
    /// Building a side of a ratio (see `ratio_column`).
    zero_outside: bool,
    /// The level of the computed column being built (1 + its computed operands' highest).
    level: usize,
    levels: HashMap<String, usize>,
    /// The names of `posts.states` and `posts.conditions` (looked up once per formula part).
    state_names: HashSet<String>,
    condition_names: HashSet<String>,
    /// Computed columns that other computed columns read (never added up from their terms).
    read: HashSet<String>,
}

fn lit_number(v: f64) -> Expr {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        lit(v as i64)
    } else {
        lit(v)
    }
}

impl Compiler {
    /// Checks and compiles one KPI.
    pub fn compile(&mut self, lowerer: &mut Lowerer<'_>, d: &Definition) -> Result<CustomKpi> {
        let agg = lowerer.formula(&d.name, &d.formula).map_err(formula_error)?;
        let value = self.value(&agg)?;
        if value.is_constant() {
            // a formula of numbers alone: one value per group of the posts
            self.posts.rows = true;
        }
        if self.posts.reader.is_empty() && !self.posts.is_empty() {
            self.posts.reader = d.name.clone();
        }
        Ok(CustomKpi {
            definition: d.clone(),
            value,
        })
    }

    /// What the formulas compiled so far need from the posts table.
    pub fn finish(mut self) -> CustomPosts {
        let read = self.read;
        self.posts.linear.retain(|(l, _)| !read.contains(l));
        // a test whose condition other columns read, or whose column they read as text, is
        // computed as the other conditions are: the column is then read whole
        let posts = &mut self.posts;
        let whole: Vec<String> = posts
            .text_tests
            .iter()
            .filter(|t| read.contains(&t.condition) || posts.plain.contains(&t.column))
            .map(|t| t.column.clone())
            .collect();
        posts.text_tests.retain(|t| !whole.contains(&t.column));
        for c in whole {
            push_unique(&mut posts.plain, c);
        }
        self.posts.computed_reads = read.into_iter().collect();
        self.posts.computed_reads.sort();
        self.posts
    }

    fn builtin(&mut self, name: &'static str) {
        if !self.builtins.contains(&name) {
            self.builtins.push(name);
        }
    }

    fn value(&mut self, agg: &Agg) -> Result<Value> {
        Ok(match agg {
            Agg::Number(v) => Value::Number(*v),
            Agg::Sum(s) => self.sum(s),
            Agg::Rows(None) => {
                self.posts.rows = true;
                Value::Count(StateColumn::Rows(Source::Posts).name())
            }
            Agg::Rows(Some(c)) => {
                let d = self.domain(c);
                Value::Count(d)
            }
            Agg::Present(row) => Value::Count(self.counted(row).1),
            Agg::Mean(Row::Div(num, den)) if matches!((&**num, &**den), (Row::Eng, Row::Column(r)) if r == "reach") => {
                // the per-post engagement rate by reach: a state of the posts pass of its own
                self.posts.per_post_engagement_rate = true;
                Value::Ratio(
                    StateColumn::PerPostEngagementRate.name(),
                    StateColumn::PerPostEngagementRateCount.name(),
                )
            }
            Agg::Mean(row) => {
                let (sum, n) = self.counted(row);
                Value::Ratio(sum, n)
            }
            Agg::Ratio(a, b)
                if a.domain.is_none() && b.domain.is_none() && plain(&a.row).is_some() && plain(&b.row).is_some() =>
            {
                // rule 1 over two plain columns: the pair of sums every such ratio shares
                let (Some(x), Some(y)) = (plain(&a.row), plain(&b.row)) else {
                    return Err(Error::Internal("a plain ratio without its columns".into()));
                };
                let (num, den) = ratio_names(&x, &y);
                push_unique(&mut self.posts.ratios, (x, y));
                Value::Ratio(num, den)
            }
            Agg::Ratio(a, b) => {
                let (ca, cb) = (self.ratio_column(&a.row), self.ratio_column(&b.row));
                let (num, den) = (
                    formula_state(&format!("{ca}/{cb}:rn")),
                    formula_state(&format!("{ca}/{cb}:rd")),
                );
                self.state(
                    &ca,
                    StateKind::Sum {
                        sum: num.clone(),
                        count: None,
                        mask: Some(cb.clone()),
                        filter: None,
                    },
                );
                self.state(
                    &cb,
                    StateKind::Sum {
                        sum: den.clone(),
                        count: None,
                        mask: Some(ca),
                        filter: None,
                    },
                );
                Value::Ratio(num, den)
            }
            Agg::AtFollowers(row) if plain(row).is_some() => {
                let m = plain(row).ok_or_else(|| Error::Internal("a plain value without its column".into()))?;
                let (num, den) = followers_at_post_names(&m);
                self.posts.followers_at_post = true;
                push_unique(&mut self.posts.at_followers, m);
                Value::Ratio(num, den)
            }
            Agg::AtFollowers(row) => {
                self.at_followers(row, ("fn", "fd"), |num, den| StateKind::AtFollowers { num, den })
            }
            Agg::MeanAtFollowers(row) => self.at_followers(row, ("ms", "mn"), |sum, count| {
                StateKind::MeanAtFollowers { sum, count }
            }),
            Agg::Native(n) => {
                self.builtin(n.builtin());
                Value::Measure(*n)
            }
            Agg::Share(a) => Value::Share(Box::new(self.value(a)?)),
            Agg::Binary(op, a, b) => Value::Binary(*op, Box::new(self.value(a)?), Box::new(self.value(b)?)),
            Agg::Neg(a) => Value::Neg(Box::new(self.value(a)?)),
            Agg::Coalesce(parts) => Value::Coalesce(parts.iter().map(|p| self.value(p)).collect::<Result<_>>()?),
        })
    }

    fn sum(&mut self, s: &Sum) -> Value {
        let (sum, n) = self.counted(&s.row);
        let rows = match &s.domain {
            Some(d) => self.domain(d),
            None => StateColumn::Rows(Source::Posts).name(),
        };
        let money = matches!(unfiltered(&s.row).1, Row::Column(c) if MONEY_COLUMNS.contains(&c.as_str()));
        Value::Flow { rows, sum, n, money }
    }

    /// Σ of a per-post value with the count of posts that have it: (sum, count) state names.
    /// A `where` filter around the value is not computed into it: the state adds the value
    /// over the rows where the condition holds.
    fn counted(&mut self, row: &Row) -> (String, String) {
        if let Some(m) = plain(row) {
            // a plain column's sum and count: the states every KPI over the column shares
            let names = (sum_name(&m), nonnull_name(&m));
            push_unique(&mut self.posts.sums, m);
            return names;
        }
        let (conds, row) = unfiltered(row);
        let c = self.column(row);
        let filter = self.condition(conds);
        let tag = match &filter {
            Some(f) => format!("{c}@{f}"),
            None => c.clone(),
        };
        let (sum, n) = (formula_state(&format!("{tag}:s")), formula_state(&format!("{tag}:n")));
        let kind = StateKind::Sum {
            sum: sum.clone(),
            count: Some(n.clone()),
            mask: None,
            filter,
        };
        self.state(&c, kind);
        (sum, n)
    }

    /// A followers-at-post state over a per-post value, finalised as the ratio of its two sums.
    fn at_followers(&mut self, row: &Row, tags: (&str, &str), kind: fn(String, String) -> StateKind) -> Value {
        // Σ x / Σ followers-at-post is a ratio (posts outside a filter count as 0); the mean
        // over posts of x / followers-at-post ranges over the filtered posts only
        let ratio = tags.0 == "fn";
        let c = self.column_as(row, ratio);
        let (a, b) = (
            formula_state(&format!("{c}:{}", tags.0)),
            formula_state(&format!("{c}:{}", tags.1)),
        );
        self.posts.followers_at_post = true;
        self.state(&c, kind(a.clone(), b.clone()));
        Value::Ratio(a, b)
    }

    /// The count of posts where a condition holds (a state over its condition column).
    fn domain(&mut self, c: &Cond) -> String {
        let filter = self.condition(vec![c]).unwrap_or_default();
        let count = formula_state(&format!("{filter}:s"));
        self.state(&filter, StateKind::Rows { count: count.clone() });
        count
    }

    /// The condition column of the conditions that all hold (None for none), computed once
    /// for equal conditions.
    fn condition(&mut self, conds: Vec<&Cond>) -> Option<String> {
        let mut all = conds.into_iter().cloned();
        let first = all.next()?;
        let cond = all.fold(first, |a, b| Cond::And(Box::new(a), Box::new(b)));
        let key = format!("where {cond:?}");
        let test = TextTest::of(&cond);
        let name = self.computed(key, |me| match &test {
            // (its column is not marked `plain`: see `finish`)
            Some(t) => t.expr(),
            None => me.cond(&cond),
        });
        if self.condition_names.insert(name.clone()) {
            self.posts.conditions.push(name.clone());
            if let Some(test) = test {
                self.posts.text_tests.push(TextTest {
                    condition: name.clone(),
                    ..test
                });
            }
        }
        Some(name)
    }

    fn state(&mut self, column: &str, kind: StateKind) {
        if self.state_names.insert(state_name(&kind).to_string()) {
            self.posts.states.push(CustomState {
                column: column.to_string(),
                kind,
            });
        }
    }

    /// The computed column of a per-post value (equal values share one).
    fn column(&mut self, row: &Row) -> String {
        self.column_as(row, false)
    }

    /// The computed column of a side of a ratio: posts outside a `where` filter count as 0
    /// there, so that they stay in the other side's sum (`sum(eng where sponsored) / eng` is
    /// the sponsored posts' share of all engagements, not 1).
    fn ratio_column(&mut self, row: &Row) -> String {
        self.column_as(row, true)
    }

    /// A plain column or the engagements are their own column; another value is a computed
    /// column, shared by equal values (filters give 0 or null outside by `zero_outside`).
    fn column_as(&mut self, row: &Row, zero_outside: bool) -> String {
        if let Some(c) = self.plain_value(row) {
            return c;
        }
        let key = if has_filter(row) {
            format!("{zero_outside} {row:?}")
        } else {
            format!("{row:?}")
        };
        if let Some(name) = self.columns.get(&key) {
            return name.clone();
        }
        if let Row::Div(a, b) = row {
            if let (Some(x), Some(y)) = (self.plain_value(a), self.plain_value(b)) {
                let name = self.register(key, 0);
                self.posts.quotients.push((name.clone(), x, y));
                return name;
            }
        }
        let name = self.computed(key, |me| {
            let saved = me.zero_outside;
            me.zero_outside = zero_outside;
            let expr = me.row(row);
            me.zero_outside = saved;
            expr
        });
        if let Some(terms) = linear_terms(row) {
            self.posts.linear.push((name.clone(), terms));
        }
        name
    }

    /// The column of a plain column or of the engagements (registered as read), else None.
    fn plain_value(&mut self, row: &Row) -> Option<String> {
        match row {
            Row::Column(c) => {
                self.numeric(c);
                Some(c.clone())
            }
            Row::Eng => {
                self.posts.eng = true;
                Some(super::ENG.to_string())
            }
            _ => None,
        }
    }

    /// The computed column `build` makes, named once for its `key`.
    fn computed(&mut self, key: String, build: impl FnOnce(&mut Self) -> Expr) -> String {
        if let Some(name) = self.columns.get(&key) {
            return name.clone();
        }
        let saved = self.level;
        self.level = 0;
        let expr = build(self);
        let level = self.level;
        self.level = saved;
        let name = self.register(key, level);
        self.posts
            .computed
            .push((name.clone(), expr.alias(name.as_str()), level));
        name
    }

    /// Names the computed column of `key` (at `level`), once.
    fn register(&mut self, key: String, level: usize) -> String {
        let name = format!("__k{}", self.columns.len());
        self.columns.insert(key, name.clone());
        self.levels.insert(name.clone(), level);
        name
    }

    /// An operand that an expression reads more than once (rule 3 reads each term twice, a
    /// division its denominator three times): a computed column of its own unless it is a
    /// plain column or number, so that nested formulas grow linearly, not exponentially.
    fn operand_expr(&mut self, row: &Row) -> Expr {
        if matches!(row, Row::Column(_) | Row::Number(_) | Row::Eng) {
            return self.row(row);
        }
        let name = self.column_as(row, self.zero_outside);
        // read by another computed column: it is computed, whatever the states do
        self.read.insert(name.clone());
        let level = self.levels.get(&name).copied().unwrap_or(0);
        self.level = self.level.max(level + 1);
        col(name.as_str())
    }

    fn numeric(&mut self, c: &str) {
        if !self.posts.numeric.iter().any(|x| x == c) {
            self.posts.numeric.push(c.to_string());
        }
    }

    fn plain(&mut self, c: &str) {
        if !self.posts.plain.iter().any(|x| x == c) {
            self.posts.plain.push(c.to_string());
        }
    }

    fn row(&mut self, row: &Row) -> Expr {
        let null = || lit(NULL);
        match row {
            Row::Column(c) => {
                self.numeric(c);
                col(c.as_str())
            }
            Row::Number(v) => lit_number(*v),
            Row::Eng => {
                self.posts.eng = true;
                col(super::ENG)
            }
            Row::Add(..) | Row::Sub(..) => {
                // rule 3 over the whole chain of terms: null only when every term is null
                let mut terms = Vec::new();
                chain(row, true, &mut terms);
                let exprs: Vec<(bool, Expr)> = terms
                    .into_iter()
                    .map(|(plus, t)| (plus, self.operand_expr(t)))
                    .collect();
                crate::expr::rule3(exprs).unwrap_or_else(null)
            }
            Row::Mul(a, b) => crate::expr::arithmetic(BinOp::Mul, self.inline(a), self.inline(b)),
            Row::Div(a, b) => {
                let (x, y) = (self.inline(a), self.operand_expr(b));
                crate::expr::ratio(x, y)
            }
            Row::Neg(a) => crate::expr::arithmetic(BinOp::Sub, lit(0), self.inline(a)),
            Row::Coalesce(parts) => {
                let exprs: Vec<Expr> = parts.iter().map(|p| self.inline(p)).collect();
                coalesce(&exprs)
            }
            Row::Filter(c, r) => {
                let c = self.inline_cond(c);
                let outside = if self.zero_outside { lit(0) } else { null() };
                when(c).then(self.inline(r)).otherwise(outside)
            }
        }
    }

    /// A part of an expression: inline, unless it is taller than [`INLINE_HEIGHT`], then a
    /// computed column of its own (a formula with its KPIs written out may nest a hundred
    /// levels, and polars walks an expression recursively, on a stack that may be small).
    fn inline(&mut self, row: &Row) -> Expr {
        if row_height(row) > INLINE_HEIGHT {
            self.operand_expr(row)
        } else {
            self.row(row)
        }
    }

    /// A part of a condition, as [`Self::inline`] does for values.
    fn inline_cond(&mut self, c: &Cond) -> Expr {
        if cond_height(c) <= INLINE_HEIGHT {
            return self.cond(c);
        }
        let name = self.computed(format!("where {c:?}"), |me| me.cond(c));
        let level = self.levels.get(&name).copied().unwrap_or(0);
        self.level = self.level.max(level + 1);
        col(name.as_str())
    }

    fn cond(&mut self, c: &Cond) -> Expr {
        match c {
            Cond::Const(b) => lit(*b),
            Cond::Column(name) => {
                // a number holds where it is not 0
                self.plain(name);
                col(name.as_str()).cast(DataType::Boolean).fill_null(lit(false))
            }
            Cond::Compare(op, a, b) => {
                let (x, y) = (self.operand(a), self.operand(b));
                compare(*op, x, y)
            }
            Cond::And(a, b) => self.inline_cond(a).and(self.inline_cond(b)),
            Cond::Or(a, b) => self.inline_cond(a).or(self.inline_cond(b)),
            Cond::Not(a) => self.inline_cond(a).not(),
        }
    }

    fn operand(&mut self, o: &Operand) -> Expr {
        match o {
            Operand::Row(r) => self.inline(r),
            Operand::Text(t) => lit(t.as_str()),
            Operand::TextColumn(c) => {
                self.plain(c);
                col(c.as_str()).cast(DataType::String)
            }
        }
    }
}

/// A comparison, false where either side is unknown.
fn compare(op: BinOp, x: Expr, y: Expr) -> Expr {
    let cmp = match op {
        BinOp::Eq => x.eq(y),
        BinOp::Ne => x.neq(y),
        BinOp::Lt => x.lt(y),
        BinOp::Le => x.lt_eq(y),
        BinOp::Gt => x.gt(y),
        _ => x.gt_eq(y),
    };
    cmp.fill_null(lit(false))
}

/// The state column of a formula's computed value, by the name the compiler gives it.
fn formula_state(name: &str) -> String {
    StateColumn::Formula(name.to_string()).name()
}

/// The metric of a plain column or of the engagements, unfiltered; None for anything else.
fn plain(row: &Row) -> Option<Metric> {
    match row {
        Row::Column(c) => Some(Metric::Column(c.clone())),
        Row::Eng => Some(Metric::Eng),
        _ => None,
    }
}

/// Parts of a per-post expression taller than this are computed as columns of their own.
const INLINE_HEIGHT: usize = 16;

/// The levels of a per-post value's tree.
fn row_height(row: &Row) -> usize {
    match row {
        Row::Column(_) | Row::Number(_) | Row::Eng => 1,
        Row::Add(a, b) | Row::Sub(a, b) | Row::Mul(a, b) | Row::Div(a, b) => 1 + row_height(a).max(row_height(b)),
        Row::Neg(a) => 1 + row_height(a),
        Row::Coalesce(parts) => 1 + parts.iter().map(row_height).max().unwrap_or(0),
        Row::Filter(c, r) => 1 + cond_height(c).max(row_height(r)),
    }
}

/// The levels of a condition's tree.
fn cond_height(c: &Cond) -> usize {
    let operand = |o: &Operand| match o {
        Operand::Row(r) => row_height(r),
        Operand::Text(_) | Operand::TextColumn(_) => 1,
    };
    match c {
        Cond::Const(_) | Cond::Column(_) => 1,
        Cond::Compare(_, a, b) => 1 + operand(a).max(operand(b)),
        Cond::And(a, b) | Cond::Or(a, b) => 1 + cond_height(a).max(cond_height(b)),
        Cond::Not(a) => 1 + cond_height(a),
    }
}

/// The name a state's first output goes by (equal names are one state).
fn state_name(kind: &StateKind) -> &str {
    match kind {
        StateKind::Sum { sum, .. } | StateKind::MeanAtFollowers { sum, .. } => sum,
        StateKind::Rows { count } => count,
        StateKind::AtFollowers { num, .. } => num,
    }
}

/// The conditions of the `where` filters around a value, and the value inside them.
/// The posts' columns whose sums are flows of rule 7 (unknown outside the posts' coverage).
const MONEY_COLUMNS: [&str; 3] = ["spend", "conversions", "revenue"];

fn unfiltered(row: &Row) -> (Vec<&Cond>, &Row) {
    match row {
        Row::Filter(c, inner) => {
            let (mut conds, inner) = unfiltered(inner);
            conds.insert(0, c);
            (conds, inner)
        }
        _ => (Vec::new(), row),
    }
}

/// Whether a value has a `where` filter anywhere in it.
fn has_filter(row: &Row) -> bool {
    match row {
        Row::Filter(..) => true,
        Row::Column(_) | Row::Number(_) | Row::Eng => false,
        Row::Add(a, b) | Row::Sub(a, b) | Row::Mul(a, b) | Row::Div(a, b) => has_filter(a) || has_filter(b),
        Row::Neg(a) => has_filter(a),
        Row::Coalesce(parts) => parts.iter().any(has_filter),
    }
}

/// The terms (plus, column) of a value that is a chain of `+` and `-` over plain columns and
/// the engagements, or None.
fn linear_terms(row: &Row) -> Option<Vec<(bool, String)>> {
    if !matches!(row, Row::Add(..) | Row::Sub(..)) {
        return None;
    }
    let mut terms = Vec::new();
    chain(row, true, &mut terms);
    terms
        .into_iter()
        .map(|(plus, t)| match t {
            Row::Column(c) => Some((plus, c.clone())),
            Row::Eng => Some((plus, super::ENG.to_string())),
            _ => None,
        })
        .collect()
}

/// The terms of a chain of `+` and `-` with their signs (`a - (b + c)` is a, -b, -c).
fn chain<'r>(row: &'r Row, plus: bool, out: &mut Vec<(bool, &'r Row)>) {
    match row {
        Row::Add(a, b) => {
            chain(a, plus, out);
            chain(b, plus, out);
        }
        Row::Sub(a, b) => {
            chain(a, plus, out);
            chain(b, !plus, out);
        }
        other => out.push((plus, other)),
    }
}

/// The KPI names a set of definitions defines, checked for repeats and clashes (in linear
/// time: a catalogue may hold thousands), and their number bounded.
pub fn check_names(defs: &[Definition]) -> Result<()> {
    use crate::catalog::parse::MAX_KPIS;
    if defs.len() > MAX_KPIS {
        return Err(Error::definition(
            DefinitionCode::TooManyKpis,
            format!("{} KPIs were defined; a call is limited to {MAX_KPIS}", defs.len()),
        ));
    }
    crate::catalog::parse::check_names(defs.iter().map(|d| (d.name.as_str(), d.formula.as_str())))
        .map_err(|(code, message)| Error::definition(code, message))
}

/// Parses a formula alone (no tables): for `sk.KPI(...)`, which reports syntax errors at once.
pub fn check_syntax(name: &str, formula: &str) -> Result<()> {
    crate::catalog::parse::check_syntax(name, formula).map_err(formula_error)
}

/// Names a formula mentions (columns and KPIs alike; unparseable formulas mention none).
fn mentions(formula: &str) -> Vec<String> {
    fn walk(node: &socialkpi_formula::Node, out: &mut Vec<String>) {
        use socialkpi_formula::Kind;
        match &node.kind {
            Kind::Name(n) => out.push(n.clone()),
            Kind::Neg(a) | Kind::Not(a) => walk(a, out),
            Kind::Binary(_, a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Kind::Call { args, filter, .. } => {
                args.iter().for_each(|a| walk(a, out));
                if let Some(f) = filter {
                    walk(f, out);
                }
            }
            Kind::Number(_) | Kind::Text(_) | Kind::Bool(_) => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(node) = socialkpi_formula::parse(formula) {
        walk(&node, &mut out);
    }
    out
}

/// Whether built-in KPI `name`'s formula reads, directly or through other built-ins, a KPI
/// that `custom` redefines.
fn reads_redefined(name: &str, custom: &[Definition], seen: &mut Vec<String>) -> bool {
    if seen.iter().any(|s| s == name) {
        return false;
    }
    seen.push(name.to_string());
    let Some(formula) = catalog::formula(name) else {
        return false;
    };
    mentions(formula).iter().filter(|m| m.as_str() != name).any(|m| {
        custom.iter().any(|d| &d.name == m) || (catalog::find(m).is_some() && reads_redefined(m, custom, seen))
    })
}

/// The built-in KPIs asked for (by name or through a goal preset) whose formulas read a KPI
/// the caller redefined: they are computed from their formulas, so that they read the new
/// definition (`frequency` with a redefined `reach`).
pub fn promoted(requested: &[String], custom: &[Definition]) -> Vec<Definition> {
    if custom.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Definition> = Vec::new();
    let names = requested.iter().flat_map(|n| match catalog::preset(n) {
        Some(members) => members.iter().map(|m| m.to_string()).collect(),
        None => vec![n.clone()],
    });
    for name in names {
        let Some(kpi) = catalog::find(&name) else { continue };
        if custom.iter().any(|d| d.name == name) || out.iter().any(|d| d.name == name) {
            continue;
        }
        if reads_redefined(&name, custom, &mut Vec::new()) {
            out.push(Definition {
                name: kpi.name.to_string(),
                formula: catalog::formula(kpi.name).unwrap_or("").to_string(),
                goal: kpi.goal.to_string(),
                unit: kpi.unit.to_string(),
                description: kpi.definition.to_string(),
            });
        }
    }
    out
}
