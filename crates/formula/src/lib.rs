//! The KPI formula language of socialkpi.
//!
//! A formula is parsed ([`parse`]) into a syntax tree and checked against the tables and
//! the other KPIs ([`lower`]) into a [`check::Agg`]: aggregates over posts (Σ, counts,
//! means over posts, followers-at-post ratios), the engine's cross-table measures, and
//! arithmetic on the finalised values. The engine (the `socialkpi` crate) turns that into
//! partial states and finalisation expressions; this crate has no engine dependency so it
//! can be fuzzed on its own (see fuzz/).

// Errors are the rare path, and carry the formula and the names close to a typo.
#![allow(clippy::result_large_err)]

pub mod check;
pub mod codes;
pub mod syntax;

pub use check::{lower, Agg, Cond, Context, Native, Operand, Row, Sum, Table, Type};
pub use codes::FormulaCode;
pub use syntax::{parse, BinOp, Kind, Node};

/// Bytes `start..end` of a formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
    pub fn join(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A formula that cannot be parsed or checked: a stable code, a message, where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct FormulaError {
    pub code: FormulaCode,
    pub message: String,
    pub span: Span,
    /// The closest names, when a name was not found.
    pub suggestions: Vec<String>,
    /// The KPI whose formula holds the error (set by [`lower`] for referenced KPIs).
    pub kpi: Option<String>,
    /// The formula text the span points into.
    pub formula: String,
}

impl FormulaError {
    pub fn at(code: FormulaCode, message: String, span: Span) -> Self {
        Self {
            code,
            message,
            span,
            suggestions: Vec::new(),
            kpi: None,
            formula: String::new(),
        }
    }

    pub fn with_suggestions(mut self, suggestions: Vec<String>) -> Self {
        self.suggestions = suggestions;
        self
    }

    /// Line and column (1-based, columns in characters) of the error's start.
    pub fn position(&self) -> (usize, usize) {
        line_col(&self.formula, self.span.start)
    }

    /// `message at L:C; did you mean 'x'?`, the formula's line, and a caret under the token.
    pub fn render(&self) -> String {
        let (line, column) = self.position();
        let whose = self.kpi.as_ref().map(|k| format!(" in KPI '{k}'")).unwrap_or_default();
        let mut out = format!(
            "{}{whose} at {line}:{column}{}",
            self.message,
            did_you_mean(&self.suggestions)
        );
        if let Some(text) = self.formula.lines().nth(line - 1).or(Some("")) {
            let start = column - 1;
            let width = self.formula[self.span.start.min(self.formula.len())..self.span.end.min(self.formula.len())]
                .chars()
                .take_while(|c| *c != '\n')
                .count()
                .max(1);
            out.push_str(&format!("\n    {text}\n    {}{}", " ".repeat(start), "^".repeat(width)));
        }
        out
    }
}

/// Line and column (1-based, columns in characters) of byte `offset` of `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Closest names to `name` among `candidates`, for "did you mean" hints.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let lower = name.to_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| {
            let cl = c.to_lowercase();
            let d = if cl == lower { 0 } else { edit_distance(&lower, &cl) };
            (d, c)
        })
        .filter(|(d, c)| *d <= 2.max(name.len() / 3) || (!lower.is_empty() && c.to_lowercase().contains(&lower)))
        .collect();
    scored.sort();
    scored.dedup();
    scored.into_iter().take(3).map(|(_, c)| c.to_string()).collect()
}

/// "; did you mean 'a'?" or "" when nothing is close.
pub fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean '{one}'?"),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("'{s}'")).collect();
            format!("; did you mean one of {}?", quoted.join(", "))
        }
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_caret_under_the_token() {
        let mut e = FormulaError::at(
            FormulaCode::UnknownName,
            "unknown column 'like'".into(),
            Span::new(1, 5),
        )
        .with_suggestions(vec!["likes".into()]);
        e.formula = "(like + comments) / reach".into();
        assert_eq!(
            e.render(),
            "unknown column 'like' at 1:2; did you mean 'likes'?\n    (like + comments) / reach\n     ^^^^"
        );
        e.formula = "sum(x)\n + é + like".into();
        e.span = Span::new(14, 18);
        assert_eq!(e.position(), (2, 7));
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(suggest("like", ["likes", "comments"]), vec!["likes".to_string()]);
        assert!(suggest("zzzzzz", ["likes"]).is_empty());
    }
}
