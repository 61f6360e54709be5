//! Syntax tree -> checked aggregate form ([`Agg`]), against the tables and the other KPIs.
//!
//! Three contexts, as KPIS.md's rules need them:
//! - the KPI level ([`Agg`]): values at the output grain. A bare column means its sum over
//!   posts; `a + b` and `a - b` of two sums is one sum of the rows' `a ⊕ b` (rule 3: a null
//!   term counts as 0 when the other is present); `a / b` of two sums is a ratio of sums over
//!   the rows where both are present (rule 1); anything else is arithmetic on the finalised
//!   values, and every division gives null for a zero or missing denominator (rule 2).
//! - the row level ([`Row`]), inside `sum`, `count`, `mean` and `per_post`: per-post values.
//! - conditions ([`Cond`]), after `where`.

use crate::syntax::{parse, BinOp, Kind, Node};
use crate::FormulaCode;
use crate::{suggest, FormulaError, Span};
use std::collections::HashMap;

/// Which table a column was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Posts,
    Accounts,
}

/// What a column holds, as far as formulas care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Number,
    Bool,
    Text,
    Time,
    Other,
}

/// What the checker may ask about the tables and the other KPIs.
pub trait Context {
    /// A column of posts, else of accounts.
    fn column(&self, name: &str) -> Option<(Table, Type)>;
    /// Every column name (for suggestions).
    fn columns(&self) -> Vec<String>;
    /// The formula of another KPI: the user's own first, then the catalogue.
    fn kpi(&self, name: &str) -> Option<String>;
    /// Every KPI name (for suggestions).
    fn kpis(&self) -> Vec<String>;
    /// Whether an attributed measure (conversions, revenue, leads) is counted from the
    /// posts' own column (else from another table).
    fn attributed_from_posts(&self, measure: &str) -> bool;
    /// Whether `name` is a column socialkpi knows (a canonical column of posts or accounts,
    /// such as `likes`), whether or not the tables given have it: a KPI of that name that
    /// reads its own name is missing the column, where another name refers to itself.
    fn known_column(&self, _name: &str) -> bool {
        false
    }
}

/// A per-post value.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    Column(String),
    Number(f64),
    /// The post's engagements (rule 3 over the engagement components of its platform).
    Eng,
    /// Rule 3: a null side counts as 0 when the other is present.
    Add(Box<Row>, Box<Row>),
    Sub(Box<Row>, Box<Row>),
    Mul(Box<Row>, Box<Row>),
    /// Null for a zero or missing denominator.
    Div(Box<Row>, Box<Row>),
    Neg(Box<Row>),
    Coalesce(Vec<Row>),
    /// The value where the condition holds, else null.
    Filter(Box<Cond>, Box<Row>),
}

/// A condition on a post.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Const(bool),
    /// A boolean column (true), or a number column (present and not 0).
    Column(String),
    Compare(BinOp, Operand, Operand),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Row(Row),
    Text(String),
    TextColumn(String),
}

/// Σ of a per-post value over the posts of a group and period; `domain`: the posts the sum
/// ranges over (a `where` filter), for "0 where none, null where none reported".
#[derive(Debug, Clone, PartialEq)]
pub struct Sum {
    pub row: Row,
    pub domain: Option<Cond>,
}

/// A measure the engine computes across tables, as the built-in KPI of the same rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Native {
    /// `last(followers)`: the last snapshot per account in the period, summed (rule 4).
    Followers,
    /// `first(followers)`: the snapshot the period starts from.
    FollowersStart,
    /// `attributed(x)`: conversions, revenue or leads, from the one table that counts them.
    Attributed(&'static str),
    /// `cost()`: post spend plus contract fees pro-rated by day.
    Cost,
    /// `prorated(posts_agreed)`: contract deliverables pro-rated by day.
    Agreed,
    /// `delivered()`: posts inside contract windows.
    Delivered,
    /// `referral(sessions)`: sessions from social sources.
    Referral,
    /// `traffic(sessions)`: sessions from all sources.
    Sessions,
    /// A daily flow of the accounts table, summed over days (mentions, profile visits).
    AccountsSum(&'static str),
}

impl Native {
    /// The built-in KPI whose states and finalisation this measure reuses.
    pub fn builtin(self) -> &'static str {
        match self {
            Self::Followers => "followers",
            Self::FollowersStart => "followers_start",
            Self::Attributed(m) => m,
            Self::Cost => "cost",
            Self::Agreed => "posts_agreed",
            Self::Delivered => "delivery_rate",
            Self::Referral => "referral_traffic",
            Self::Sessions => "website_traffic",
            Self::AccountsSum(m) => m,
        }
    }
}

/// A value at the output grain.
#[derive(Debug, Clone, PartialEq)]
pub enum Agg {
    Number(f64),
    Sum(Sum),
    /// `count()`: posts (where the condition holds).
    Rows(Option<Cond>),
    /// `count(x)`: posts where x is present.
    Present(Row),
    /// `mean(x)`, `per_post(x)`: the mean over posts where x is present.
    Mean(Row),
    /// Σ x / Σ followers-at-post over posts with both.
    AtFollowers(Row),
    /// The mean over posts of x / followers-at-post (posts with both, followers > 0).
    MeanAtFollowers(Row),
    /// Rule 1: Σ a / Σ b over the posts where both are present.
    Ratio(Sum, Sum),
    Native(Native),
    /// The value over the total of all groups in the same period.
    Share(Box<Agg>),
    /// Arithmetic on finalised values (`+ - * /`); division follows rule 2.
    Binary(BinOp, Box<Agg>, Box<Agg>),
    Neg(Box<Agg>),
    Coalesce(Vec<Agg>),
}

const FAP: &str = "followers_at_post";
const ENG: &str = "eng";
const AGGREGATES: [&str; 5] = ["sum", "count", "mean", "per_post", "last"];
const FUNCTIONS: [&str; 14] = [
    "sum",
    "count",
    "mean",
    "per_post",
    "last",
    "first",
    "coalesce",
    "share",
    "attributed",
    "cost",
    "prorated",
    "delivered",
    "referral",
    "traffic",
];

/// A formula with the KPIs it names written out may be at most this many levels deep (each
/// KPI reference is a level too): the checker, the compiler and polars walk the result
/// recursively, on threads whose stacks may be small (512 KiB).
pub const MAX_HEIGHT: usize = crate::syntax::MAX_HEIGHT;
/// A formula with the KPIs it names written out may have at most this many values, names and
/// operators: KPIs that each name the one before twice would otherwise double at every step.
pub const MAX_NODES: usize = 4_096;

fn err(code: FormulaCode, message: String, span: Span) -> FormulaError {
    FormulaError::at(code, message, span)
}

/// A checked KPI and the size of its formula with the KPIs it names written out.
struct Lowered {
    agg: Agg,
    height: usize,
    nodes: usize,
}

/// Checks formulas against a context, remembering each KPI it has checked (a catalogue of
/// KPIs that reference each other is checked once per KPI).
pub struct Lowerer<'c> {
    ctx: &'c dyn Context,
    done: HashMap<String, Lowered>,
    stack: Vec<String>,
    /// The level of the node being checked, counted from the requested KPI's root through
    /// the KPIs it names (which bounds the checker's own recursion too).
    level: usize,
    /// The deepest level reached below the KPI being checked.
    deepest: usize,
    /// Nodes checked since the requested KPI's root, referenced KPIs written out.
    nodes: usize,
}

/// Parses and checks one KPI's formula.
pub fn lower(name: &str, formula: &str, ctx: &dyn Context) -> Result<Agg, FormulaError> {
    Lowerer::new(ctx).formula(name, formula)
}

impl<'c> Lowerer<'c> {
    pub fn new(ctx: &'c dyn Context) -> Self {
        Self {
            ctx,
            done: HashMap::new(),
            stack: Vec::new(),
            level: 0,
            deepest: 0,
            nodes: 0,
        }
    }

    /// The checked form of KPI `name` defined by `formula`.
    pub fn formula(&mut self, name: &str, formula: &str) -> Result<Agg, FormulaError> {
        if let Some(done) = self.done.get(name) {
            return Ok(done.agg.clone());
        }
        if self.stack.is_empty() {
            // a requested KPI: its size is counted afresh
            (self.level, self.deepest, self.nodes) = (0, 0, 0);
        }
        let located = |mut e: FormulaError| {
            if e.kpi.is_none() {
                e.kpi = Some(name.to_string());
                e.formula = formula.to_string();
            }
            e
        };
        let node = parse(formula).map_err(located)?;
        let (base, nodes, deepest) = (self.level, self.nodes, self.deepest);
        self.deepest = base;
        self.stack.push(name.to_string());
        let out = self.agg(&node).map_err(located);
        self.stack.pop();
        let height = self.deepest - base;
        self.deepest = self.deepest.max(deepest);
        let out = out?;
        let lowered = Lowered {
            agg: out.clone(),
            height,
            nodes: self.nodes - nodes,
        };
        self.done.insert(name.to_string(), lowered);
        Ok(out)
    }

    /// Counts a node `height` levels tall with `nodes` nodes below the current level: an
    /// error once the requested KPI, its references written out, passes a limit.
    fn grow(&mut self, height: usize, nodes: usize, span: Span) -> Result<(), FormulaError> {
        let reach = self.level + height;
        self.deepest = self.deepest.max(reach);
        self.nodes += nodes;
        if reach > MAX_HEIGHT {
            return Err(err(
                FormulaCode::TooDeep,
                format!("{} is more than {MAX_HEIGHT} levels deep{}, counting each operator of a chain such as a + b + c and each KPI named as a level; name fewer KPIs in a chain, or shorten chains of operators", self.top(), self.through()),
                span,
            ));
        }
        if self.nodes > MAX_NODES {
            return Err(err(
                FormulaCode::TooLarge,
                format!("{} has more than {MAX_NODES} values, names and operators once the KPIs it names are written out{}; a KPI that names another twice doubles it", self.top(), self.through()),
                span,
            ));
        }
        Ok(())
    }

    /// The requested KPI, as errors of its size name it.
    fn top(&self) -> String {
        format!("KPI '{}'", self.stack.first().map_or("", String::as_str))
    }

    /// " through a -> b -> c ..." when the requested KPI is being checked through others.
    fn through(&self) -> String {
        if self.stack.len() < 2 {
            return String::new();
        }
        let shown: Vec<&str> = self.stack.iter().take(4).map(String::as_str).collect();
        let more = if self.stack.len() > 4 { " -> ..." } else { "" };
        format!(" through the KPIs it names ({}{more})", shown.join(" -> "))
    }

    /// Enters a node of a formula (one level deeper; see [`Self::grow`]).
    fn enter(&mut self, span: Span) -> Result<(), FormulaError> {
        self.grow(1, 1, span)?;
        self.level += 1;
        Ok(())
    }

    fn current(&self) -> &str {
        self.stack.last().map_or("", String::as_str)
    }

    fn unknown_name(&self, name: &str, span: Span, kpis_too: bool) -> FormulaError {
        let columns = self.ctx.columns();
        let kpis = if kpis_too { self.ctx.kpis() } else { Vec::new() };
        let current = self.current();
        let candidates = columns
            .iter()
            .chain(kpis.iter())
            .map(String::as_str)
            .chain([ENG, FAP])
            .filter(|c| *c != current);
        let what = if kpis_too { "column or KPI" } else { "column" };
        err(FormulaCode::UnknownName, format!("unknown {what} '{name}'"), span)
            .with_suggestions(suggest(name, candidates))
    }

    fn agg(&mut self, node: &Node) -> Result<Agg, FormulaError> {
        self.enter(node.span)?;
        let out = self.agg_node(node);
        self.level -= 1;
        out
    }

    fn agg_node(&mut self, node: &Node) -> Result<Agg, FormulaError> {
        match &node.kind {
            Kind::Number(v) => Ok(Agg::Number(*v)),
            Kind::Text(t) => Err(err(
                FormulaCode::TextInArithmetic,
                format!("text {t:?} can only be compared with a text column inside a where filter, e.g. sum(likes where platform == {t:?})"),
                node.span,
            )),
            Kind::Bool(_) => Err(err(
                FormulaCode::ConditionOutsideFilter,
                "true and false can only appear in a where filter".into(),
                node.span,
            )),
            Kind::Name(name) => self.agg_name(name, node.span),
            Kind::Neg(inner) => Ok(match self.agg(inner)? {
                Agg::Sum(s) => Agg::Sum(Sum {
                    row: Row::Neg(Box::new(s.row)),
                    domain: s.domain,
                }),
                Agg::Number(v) => Agg::Number(-v),
                other => Agg::Neg(Box::new(other)),
            }),
            Kind::Not(_) => Err(err(
                FormulaCode::ConditionOutsideFilter,
                "'not' makes a condition, which can only appear in a where filter, e.g. sum(likes where not sponsored)".into(),
                node.span,
            )),
            Kind::Binary(op, _, _) if !op.is_arithmetic() => Err(err(
                FormulaCode::ConditionOutsideFilter,
                format!("'{}' makes a condition, which can only appear in a where filter, e.g. sum(likes where reach > 0)", op.symbol()),
                node.span,
            )),
            Kind::Binary(BinOp::Div, num, den) if is_name(den, FAP) => match self.agg(num)? {
                Agg::Sum(s) => Ok(Agg::AtFollowers(s.row)),
                _ => Err(err(
                    FormulaCode::MisplacedFollowersAtPost,
                    "followers_at_post divides a sum of post values (e.g. eng / followers_at_post); the numerator here is not one".into(),
                    num.span,
                )),
            },
            Kind::Binary(op, a, b) => {
                let (a, b) = (self.agg(a)?, self.agg(b)?);
                Ok(combine(*op, a, b))
            }
            Kind::Call {
                name,
                name_span,
                args,
                filter,
            } => self.call(name, *name_span, args, filter.as_deref(), node.span),
        }
    }

    fn agg_name(&mut self, name: &str, span: Span) -> Result<Agg, FormulaError> {
        if name == ENG {
            return Ok(Agg::Sum(Sum {
                row: Row::Eng,
                domain: None,
            }));
        }
        if name == FAP {
            return Err(err(
                FormulaCode::MisplacedFollowersAtPost,
                "followers_at_post is a per-post value: divide a sum by it (eng / followers_at_post) or use it in per_post(x / followers_at_post)".into(),
                span,
            ));
        }
        let own = name == self.current();
        if !own {
            if let Some(pos) = self.stack.iter().position(|k| k == name) {
                let mut cycle: Vec<&str> = self.stack[pos..].iter().map(String::as_str).collect();
                cycle.push(name);
                return Err(err(
                    FormulaCode::CircularReference,
                    format!("KPI '{}' refers back to itself: {}", name, cycle.join(" -> ")),
                    span,
                ));
            }
            if let Some(done) = self.done.get(name) {
                let (agg, height, nodes) = (done.agg.clone(), done.height, done.nodes);
                self.grow(height, nodes, span)?;
                return Ok(agg);
            }
            if let Some(formula) = self.ctx.kpi(name) {
                return self.formula(name, &formula);
            }
        }
        match self.ctx.column(name) {
            Some((Table::Posts, Type::Number | Type::Bool)) => Ok(Agg::Sum(Sum {
                row: Row::Column(name.to_string()),
                domain: None,
            })),
            Some((Table::Posts, t)) => Err(not_numeric(name, t, span)),
            Some((Table::Accounts, _)) => self.accounts_column(name, span),
            None if own && !self.ctx.known_column(name) => Err(err(
                FormulaCode::CircularReference,
                format!("KPI '{name}' refers to itself: {name} -> {name}; inside a KPI's own formula its name means the column of that name, and no table given has one"),
                span,
            )),
            None if own => Err(missing_own_column(name, span, self.ctx)),
            None => Err(self.unknown_name(name, span, true)),
        }
    }

    fn accounts_column(&self, name: &str, span: Span) -> Result<Agg, FormulaError> {
        match name {
            "mentions" => Ok(Agg::Native(Native::AccountsSum("mentions"))),
            "profile_visits" => Ok(Agg::Native(Native::AccountsSum("profile_visits"))),
            "followers" => Err(err(
                FormulaCode::SnapshotColumn,
                "'followers' is a daily snapshot of the accounts table and is never summed over time (rule 4); use last(followers), first(followers) or followers_at_post".into(),
                span,
            )),
            _ => Err(err(
                FormulaCode::UnsupportedColumn,
                format!("'{name}' is a column of accounts, not posts; formulas sum posts columns, read follower snapshots with last(followers), and sum the accounts' mentions and profile_visits"),
                span,
            )),
        }
    }

    fn call(
        &mut self,
        name: &str,
        name_span: Span,
        args: &[Node],
        filter: Option<&Node>,
        span: Span,
    ) -> Result<Agg, FormulaError> {
        let arity = |n: usize, usage: &str| -> Result<(), FormulaError> {
            if args.len() != n {
                return Err(err(
                    FormulaCode::WrongArguments,
                    format!("{name}() takes {n} argument{}: {usage}", if n == 1 { "" } else { "s" }),
                    span,
                ));
            }
            Ok(())
        };
        let no_filter = |what: &str| -> Result<(), FormulaError> {
            match filter {
                Some(f) => Err(err(
                    FormulaCode::MisplacedFilter,
                    format!("{what} takes no where filter"),
                    f.span,
                )),
                None => Ok(()),
            }
        };
        let word = |node: &Node, allowed: &[&'static str], usage: &str| -> Result<&'static str, FormulaError> {
            match &node.kind {
                Kind::Name(n) => allowed.iter().find(|a| **a == n.as_str()).copied(),
                _ => None,
            }
            .ok_or_else(|| {
                err(
                    FormulaCode::WrongArguments,
                    format!("{name}() takes {usage}"),
                    node.span,
                )
            })
        };
        let lname = name.to_ascii_lowercase();
        match lname.as_str() {
            "sum" => {
                arity(1, "sum(x) or sum(x where condition)")?;
                let row = self.row(&args[0])?;
                Ok(Agg::Sum(match filter {
                    Some(f) => {
                        let c = self.cond(f)?;
                        Sum {
                            row: Row::Filter(Box::new(c.clone()), Box::new(row)),
                            domain: Some(c),
                        }
                    }
                    None => Sum { row, domain: None },
                }))
            }
            "count" => {
                if args.len() > 1 {
                    return arity(1, "count(), count(x), or either with a where filter").map(|_| Agg::Number(0.0));
                }
                let cond = filter.map(|f| self.cond(f)).transpose()?;
                match args.first() {
                    None => Ok(Agg::Rows(cond)),
                    Some(a) => {
                        let row = self.row(a)?;
                        Ok(Agg::Present(filtered(row, cond)))
                    }
                }
            }
            "mean" | "per_post" => {
                arity(1, &format!("{name}(x) or {name}(x where condition)"))?;
                let cond = filter.map(|f| self.cond(f)).transpose()?;
                if let Kind::Binary(BinOp::Div, num, den) = &args[0].kind {
                    if is_name(den, FAP) {
                        let row = self.row(num)?;
                        return Ok(Agg::MeanAtFollowers(filtered(row, cond)));
                    }
                }
                let row = self.row(&args[0])?;
                Ok(Agg::Mean(filtered(row, cond)))
            }
            "last" | "first" => {
                arity(1, &format!("{name}(followers)"))?;
                no_filter(&format!("{name}()"))?;
                word(
                    &args[0],
                    &["followers"],
                    &format!("the snapshot column followers: {name}(followers)"),
                )?;
                Ok(Agg::Native(if lname == "last" {
                    Native::Followers
                } else {
                    Native::FollowersStart
                }))
            }
            "attributed" => {
                arity(1, "attributed(conversions), attributed(revenue) or attributed(leads)")?;
                no_filter("attributed()")?;
                let m = word(
                    &args[0],
                    &["conversions", "revenue", "leads"],
                    "conversions, revenue or leads",
                )?;
                Ok(if m != "leads" && self.ctx.attributed_from_posts(m) {
                    Agg::Sum(Sum {
                        row: Row::Column(m.to_string()),
                        domain: None,
                    })
                } else {
                    Agg::Native(Native::Attributed(m))
                })
            }
            "cost" | "delivered" => {
                arity(0, &format!("{name}()"))?;
                no_filter(&format!("{name}()"))?;
                Ok(Agg::Native(if lname == "cost" {
                    Native::Cost
                } else {
                    Native::Delivered
                }))
            }
            "prorated" => {
                arity(1, "prorated(posts_agreed)")?;
                no_filter("prorated()")?;
                word(&args[0], &["posts_agreed"], "the contract column posts_agreed")?;
                Ok(Agg::Native(Native::Agreed))
            }
            "referral" | "traffic" => {
                arity(1, &format!("{name}(sessions)"))?;
                no_filter(&format!("{name}()"))?;
                word(&args[0], &["sessions"], "the traffic column sessions")?;
                Ok(Agg::Native(if lname == "referral" {
                    Native::Referral
                } else {
                    Native::Sessions
                }))
            }
            "share" => {
                arity(1, "share(x), x's share of the period's total over all groups")?;
                no_filter("share()")?;
                Ok(Agg::Share(Box::new(self.agg(&args[0])?)))
            }
            "coalesce" => {
                if args.len() < 2 {
                    return Err(err(
                        FormulaCode::WrongArguments,
                        "coalesce() takes two or more arguments".into(),
                        span,
                    ));
                }
                no_filter("coalesce()")?;
                let parts = args.iter().map(|a| self.agg(a)).collect::<Result<Vec<_>, _>>()?;
                Ok(Agg::Coalesce(parts))
            }
            _ => Err(unknown_function(name, name_span)),
        }
    }

    fn row(&mut self, node: &Node) -> Result<Row, FormulaError> {
        self.enter(node.span)?;
        let out = self.row_node(node);
        self.level -= 1;
        out
    }

    fn row_node(&mut self, node: &Node) -> Result<Row, FormulaError> {
        match &node.kind {
            Kind::Number(v) => Ok(Row::Number(*v)),
            Kind::Text(t) => Err(err(
                FormulaCode::TextInArithmetic,
                format!("text {t:?} can only be compared with a text column in a where filter"),
                node.span,
            )),
            Kind::Bool(_) | Kind::Not(_) => Err(err(
                FormulaCode::ConditionOutsideFilter,
                "a condition can only appear after where".into(),
                node.span,
            )),
            Kind::Name(name) => self.row_name(name, node.span),
            Kind::Neg(inner) => Ok(Row::Neg(Box::new(self.row(inner)?))),
            Kind::Binary(op, a, b) => {
                if !op.is_arithmetic() {
                    return Err(err(
                        FormulaCode::ConditionOutsideFilter,
                        format!(
                            "'{}' makes a condition; put it after where: sum(x where a {} b)",
                            op.symbol(),
                            op.symbol()
                        ),
                        node.span,
                    ));
                }
                let (a, b) = (Box::new(self.row(a)?), Box::new(self.row(b)?));
                Ok(match op {
                    BinOp::Add => Row::Add(a, b),
                    BinOp::Sub => Row::Sub(a, b),
                    BinOp::Mul => Row::Mul(a, b),
                    _ => Row::Div(a, b),
                })
            }
            Kind::Call {
                name, name_span, args, ..
            } => {
                let lname = name.to_ascii_lowercase();
                if lname == "coalesce" {
                    if args.len() < 2 {
                        return Err(err(
                            FormulaCode::WrongArguments,
                            "coalesce() takes two or more arguments".into(),
                            node.span,
                        ));
                    }
                    let parts = args.iter().map(|a| self.row(a)).collect::<Result<Vec<_>, _>>()?;
                    return Ok(Row::Coalesce(parts));
                }
                if FUNCTIONS.contains(&lname.as_str()) {
                    let what = if AGGREGATES.contains(&lname.as_str()) {
                        "an aggregate"
                    } else {
                        "a measure at the output grain"
                    };
                    return Err(err(
                        FormulaCode::MixedAggregate,
                        format!("{name}(...) is {what} and cannot appear inside a per-post expression; compute it at the KPI level, e.g. sum(likes) / {name}(...)"),
                        node.span,
                    ));
                }
                Err(unknown_function(name, *name_span))
            }
        }
    }

    fn row_name(&self, name: &str, span: Span) -> Result<Row, FormulaError> {
        if name == ENG {
            return Ok(Row::Eng);
        }
        if name == FAP {
            return Err(err(
                FormulaCode::MisplacedFollowersAtPost,
                "followers_at_post can only divide: per_post(x / followers_at_post), or a sum over it at the KPI level (eng / followers_at_post)".into(),
                span,
            ));
        }
        match self.ctx.column(name) {
            Some((Table::Posts, Type::Number | Type::Bool)) => Ok(Row::Column(name.to_string())),
            Some((Table::Posts, t)) => Err(not_numeric(name, t, span)),
            Some((Table::Accounts, _)) => Err(err(
                FormulaCode::UnsupportedColumn,
                format!("'{name}' is a column of accounts, not posts; per-post expressions read posts columns"),
                span,
            )),
            None if name == self.current() => Err(missing_own_column(name, span, self.ctx)),
            None if self.ctx.kpi(name).is_some() => Err(err(
                FormulaCode::MixedAggregate,
                format!("'{name}' is a KPI (a value per group and period) and cannot appear inside a per-post expression; use it at the KPI level, or the columns it sums"),
                span,
            )),
            None => Err(self.unknown_name(name, span, false)),
        }
    }

    fn cond(&mut self, node: &Node) -> Result<Cond, FormulaError> {
        self.enter(node.span)?;
        let out = self.cond_node(node);
        self.level -= 1;
        out
    }

    fn cond_node(&mut self, node: &Node) -> Result<Cond, FormulaError> {
        match &node.kind {
            Kind::Bool(b) => Ok(Cond::Const(*b)),
            Kind::Not(inner) => Ok(Cond::Not(Box::new(self.cond(inner)?))),
            Kind::Binary(BinOp::And, a, b) => Ok(Cond::And(Box::new(self.cond(a)?), Box::new(self.cond(b)?))),
            Kind::Binary(BinOp::Or, a, b) => Ok(Cond::Or(Box::new(self.cond(a)?), Box::new(self.cond(b)?))),
            Kind::Binary(op, a, b) if op.is_comparison() => {
                let (x, y) = (self.operand(a)?, self.operand(b)?);
                let text = |o: &Operand| !matches!(o, Operand::Row(_));
                match (text(&x), text(&y)) {
                    (true, true) if matches!(op, BinOp::Eq | BinOp::Ne) => {}
                    (true, true) => {
                        return Err(err(
                            FormulaCode::TextComparison,
                            format!("text is compared with == or !=, not '{}'", op.symbol()),
                            node.span,
                        ))
                    }
                    (false, false) => {}
                    _ => {
                        return Err(err(
                            FormulaCode::TypeMismatch,
                            "a text value is compared with a number; compare text columns with text ('instagram') and numbers with numbers".into(),
                            node.span,
                        ))
                    }
                }
                Ok(Cond::Compare(*op, x, y))
            }
            Kind::Name(name) => match self.ctx.column(name) {
                Some((Table::Posts, Type::Bool | Type::Number)) => Ok(Cond::Column(name.clone())),
                Some((Table::Posts, Type::Text)) => Err(err(
                    FormulaCode::NotACondition,
                    format!("column '{name}' holds text; compare it: {name} == 'yes'"),
                    node.span,
                )),
                Some((Table::Posts, t)) => Err(not_numeric(name, t, node.span)),
                Some((Table::Accounts, _)) => Err(err(
                    FormulaCode::UnsupportedColumn,
                    format!("'{name}' is a column of accounts; filters read posts columns"),
                    node.span,
                )),
                None => Err(self.unknown_name(name, node.span, false)),
            },
            _ => Err(err(
                FormulaCode::NotACondition,
                "a where filter needs a condition, such as sponsored, reach > 0 or platform == 'instagram'".into(),
                node.span,
            )),
        }
    }

    fn operand(&mut self, node: &Node) -> Result<Operand, FormulaError> {
        match &node.kind {
            Kind::Text(t) => Ok(Operand::Text(t.clone())),
            // `sponsored == true`: booleans compare as 1 and 0
            Kind::Bool(b) => Ok(Operand::Row(Row::Number(f64::from(u8::from(*b))))),
            Kind::Name(name) if matches!(self.ctx.column(name), Some((Table::Posts, Type::Text))) => {
                Ok(Operand::TextColumn(name.clone()))
            }
            _ => Ok(Operand::Row(self.row(node)?)),
        }
    }
}

fn is_name(node: &Node, name: &str) -> bool {
    matches!(&node.kind, Kind::Name(n) if n == name)
}

fn filtered(row: Row, cond: Option<Cond>) -> Row {
    match cond {
        Some(c) => Row::Filter(Box::new(c), Box::new(row)),
        None => row,
    }
}

/// `a op b` at the KPI level: sums combine row by row where the rules allow it.
fn combine(op: BinOp, a: Agg, b: Agg) -> Agg {
    match (op, a, b) {
        (BinOp::Add | BinOp::Sub, Agg::Sum(x), Agg::Sum(y)) => {
            let row = if op == BinOp::Add {
                Row::Add(Box::new(x.row), Box::new(y.row))
            } else {
                Row::Sub(Box::new(x.row), Box::new(y.row))
            };
            let domain = match (x.domain, y.domain) {
                (Some(p), Some(q)) => Some(Cond::Or(Box::new(p), Box::new(q))),
                _ => None,
            };
            Agg::Sum(Sum { row, domain })
        }
        (BinOp::Div, Agg::Sum(x), Agg::Sum(y)) => Agg::Ratio(x, y),
        (BinOp::Mul, Agg::Sum(x), Agg::Number(v)) | (BinOp::Mul, Agg::Number(v), Agg::Sum(x)) => Agg::Sum(Sum {
            row: Row::Mul(Box::new(x.row), Box::new(Row::Number(v))),
            domain: x.domain,
        }),
        (op, a, b) => Agg::Binary(op, Box::new(a), Box::new(b)),
    }
}

fn not_numeric(name: &str, t: Type, span: Span) -> FormulaError {
    let message = match t {
        Type::Text => format!("column '{name}' holds text and cannot be used in arithmetic; compare it in a where filter instead, e.g. sum(likes where {name} == '...')"),
        Type::Time => format!("column '{name}' holds dates or times, which formulas do not read; choose the periods with every=... and filter the posts by date before computing"),
        _ => format!("column '{name}' holds values that are not numbers and cannot be used in a formula"),
    };
    err(FormulaCode::NotNumeric, message, span)
}

/// A KPI that reads a column of its own name that no table has (`likes` is `sum(likes)`).
fn missing_own_column(name: &str, span: Span, ctx: &dyn Context) -> FormulaError {
    err(
        FormulaCode::MissingColumn,
        format!("KPI '{name}' reads column '{name}', which the tables given do not have; add the column, or pass the table that carries it"),
        span,
    )
    .with_suggestions(suggest(name, ctx.columns().iter().map(String::as_str)))
}

fn unknown_function(name: &str, span: Span) -> FormulaError {
    err(FormulaCode::UnknownFunction, format!("unknown function '{name}'"), span)
        .with_suggestions(suggest(name, FUNCTIONS))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ctx;
    impl Context for Ctx {
        fn column(&self, name: &str) -> Option<(Table, Type)> {
            match name {
                "likes" | "comments" | "reach" | "impressions" | "clicks" | "shares" => {
                    Some((Table::Posts, Type::Number))
                }
                "sponsored" => Some((Table::Posts, Type::Bool)),
                "platform" => Some((Table::Posts, Type::Text)),
                "followers" | "mentions" => Some((Table::Accounts, Type::Number)),
                _ => None,
            }
        }
        fn columns(&self) -> Vec<String> {
            ["likes", "comments", "reach", "platform", "sponsored"]
                .map(String::from)
                .to_vec()
        }
        fn kpi(&self, name: &str) -> Option<String> {
            match name {
                "engagements" => Some("eng".into()),
                "a" => Some("b + 1".into()),
                "b" => Some("a * 2".into()),
                "likes" => Some("sum(likes)".into()),
                _ => None,
            }
        }
        fn kpis(&self) -> Vec<String> {
            vec!["engagements".into()]
        }
        fn attributed_from_posts(&self, _: &str) -> bool {
            false
        }
        fn known_column(&self, name: &str) -> bool {
            name == "saves"
        }
    }

    fn code(formula: &str) -> &'static str {
        lower("x", formula, &Ctx).err().map_or("ok", |e| e.code.as_str())
    }

    #[test]
    fn ratios_of_sums_and_combined_sums() {
        let agg = lower("x", "(likes + comments) / reach", &Ctx);
        assert!(matches!(
            agg,
            Ok(Agg::Ratio(
                Sum {
                    row: Row::Add(_, _),
                    ..
                },
                Sum {
                    row: Row::Column(_),
                    ..
                }
            ))
        ));
        assert!(matches!(
            lower("x", "engagements / reach", &Ctx),
            Ok(Agg::Ratio(Sum { row: Row::Eng, .. }, _))
        ));
        assert!(matches!(
            lower("x", "eng / followers_at_post", &Ctx),
            Ok(Agg::AtFollowers(Row::Eng))
        ));
        assert!(matches!(
            lower("x", "per_post(eng / followers_at_post)", &Ctx),
            Ok(Agg::MeanAtFollowers(Row::Eng))
        ));
        assert!(matches!(lower("x", "likes * 100", &Ctx), Ok(Agg::Sum(_))));
        assert!(matches!(
            lower("x", "last(followers) - first(followers)", &Ctx),
            Ok(Agg::Binary(BinOp::Sub, _, _))
        ));
        assert!(matches!(lower("x", "share(mentions)", &Ctx), Ok(Agg::Share(_))));
        assert!(matches!(
            lower("x", "sum(likes where sponsored and platform == 'ig')", &Ctx),
            Ok(Agg::Sum(Sum { domain: Some(_), .. }))
        ));
    }

    #[test]
    fn bad_formulas_have_codes_and_places() {
        assert_eq!(code("like / reach"), "unknown_name");
        let e = lower("x", "(like + comments) / reach", &Ctx).err();
        assert_eq!(e.as_ref().map(|e| e.position()), Some((1, 2)));
        assert_eq!(e.map(|e| e.suggestions), Some(vec!["likes".to_string()]));
        assert_eq!(code("a"), "circular_reference");
        assert_eq!(
            lower("saves", "saves * 2", &Ctx).err().map(|e| e.code.as_str()),
            Some("missing_column")
        );
        assert_eq!(
            lower("missing", "missing + 1", &Ctx).err().map(|e| e.code.as_str()),
            Some("circular_reference")
        );
        assert_eq!(code("sum(likes where sponsored == true)"), "ok");
        assert_eq!(code("sum(likes + sum(comments))"), "mixed_aggregate");
        assert_eq!(code("sum(engagements)"), "mixed_aggregate");
        assert_eq!(code("likes / platform"), "not_numeric");
        assert_eq!(code("summ(likes)"), "unknown_function");
        assert_eq!(code("sum(likes, comments)"), "wrong_arguments");
        assert_eq!(code("sum(likes where platform)"), "not_a_condition");
        assert_eq!(code("sum(likes where platform > 'a')"), "text_comparison");
        assert_eq!(code("sum(likes where platform == 1)"), "type_mismatch");
        assert_eq!(code("likes > 0"), "condition_outside_filter");
        assert_eq!(code("followers"), "snapshot_column");
        assert_eq!(code("followers_at_post"), "misplaced_followers_at_post");
        assert_eq!(code("last(likes)"), "wrong_arguments");
    }

    #[test]
    fn a_kpi_named_like_a_column_reads_the_column() {
        assert!(matches!(lower("likes", "likes * 2", &Ctx), Ok(Agg::Sum(_))));
        assert!(matches!(
            lower("y", "likes", &Ctx),
            Ok(Agg::Sum(Sum {
                row: Row::Column(_),
                ..
            }))
        ));
    }

    /// KPIs k0 = likes and k{i} = `step` with `{p}` standing for k{i-1}.
    struct Chain(&'static str);
    impl Context for Chain {
        fn column(&self, name: &str) -> Option<(Table, Type)> {
            (name == "likes").then_some((Table::Posts, Type::Number))
        }
        fn columns(&self) -> Vec<String> {
            vec!["likes".into()]
        }
        fn kpi(&self, name: &str) -> Option<String> {
            let i: usize = name.strip_prefix('k')?.parse().ok()?;
            Some(if i == 0 {
                "likes".into()
            } else {
                self.0.replace("{p}", &format!("k{}", i - 1))
            })
        }
        fn kpis(&self) -> Vec<String> {
            Vec::new()
        }
        fn attributed_from_posts(&self, _: &str) -> bool {
            false
        }
    }

    /// Lowers `k{n}` of a chain on a thread of a small stack, in one go or (`each`) after
    /// every KPI before it, as a catalogue is checked; the error code, or "ok".
    fn chain(step: &'static str, n: usize, each: bool) -> &'static str {
        let run = move || {
            let ctx = Chain(step);
            let mut lowerer = Lowerer::new(&ctx);
            let first = if each { 0 } else { n };
            for i in first..=n {
                let name = format!("k{i}");
                let formula = ctx.kpi(&name).unwrap_or_default();
                if let Err(e) = lowerer.formula(&name, &formula) {
                    return e.code.as_str();
                }
            }
            "ok"
        };
        // debug builds take several times the stack of release ones
        let worker = std::thread::Builder::new().stack_size(8 << 20).spawn(run);
        worker.map_or("spawn failed", |w| w.join().unwrap_or("panicked"))
    }

    #[test]
    fn chains_of_kpis_are_bounded() {
        assert_eq!(chain("{p} + 1", 60, false), "ok");
        assert_eq!(chain("{p} + 1", 2_000, false), "too_deep");
        assert_eq!(chain("{p} + 1", 2_000, true), "too_deep");
        assert_eq!(chain("{p}", 2_000, false), "too_deep");
        assert_eq!(chain("-{p}", 2_000, true), "too_deep");
        // each KPI names the one before twice: 2^n leaves
        assert_eq!(chain("{p} + {p}", 8, false), "ok");
        assert_eq!(chain("{p} + {p}", 12, false), "too_large");
        assert_eq!(chain("{p} * {p}", 12, true), "too_large");
        assert_eq!(chain("{p} / {p}", 40, true), "too_large");
    }

    #[test]
    fn heights_count_references_as_written_out() {
        // k3 = ((likes + 1) + 1) + 1: the same height whether or not k2 was checked first
        let ctx = Chain("{p} + 1");
        let mut fresh = Lowerer::new(&ctx);
        assert!(fresh.formula("k3", "k2 + 1").is_ok());
        let fresh = (fresh.deepest, fresh.nodes);
        let mut cached = Lowerer::new(&ctx);
        assert!(cached.formula("k2", "k1 + 1").is_ok());
        assert!(cached.formula("k3", "k2 + 1").is_ok());
        assert_eq!((cached.deepest, cached.nodes), fresh);
        assert_eq!(fresh, (7, 10));
    }
}
