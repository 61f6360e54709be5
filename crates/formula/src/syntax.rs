//! Text -> syntax tree: a lexer and a recursive-descent parser with byte spans.
//!
//! ```text
//! formula := or
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | compare
//! compare := add (("==" | "=" | "!=" | "<" | "<=" | ">" | ">=") add)?
//! add     := mul (("+" | "-") mul)*
//! mul     := unary (("*" | "/") unary)*
//! unary   := "-" unary | primary
//! primary := number | "text" | 'text' | name | `quoted name` | true | false
//!          | name "(" [formula ("," formula)*] ["where" formula] ")" | "(" formula ")"
//! ```
//! `#` starts a comment that runs to the end of the line.

use crate::FormulaCode;
use crate::{FormulaError, Span};

/// Deeper nesting of parentheses, calls and prefix operators than this is refused (a parser
/// that recursed without limit would overflow its stack on hostile input).
pub const MAX_DEPTH: usize = 64;
/// Taller syntax trees than this are refused: every pass over a formula (the checker, the
/// compiler, polars) walks its tree recursively, and `a + b + c` is a tree two levels tall,
/// so a long chain of operators counts as much as nesting. KPI references count too (see
/// [`crate::check::MAX_HEIGHT`], the same limit over a formula with its KPIs written out).
pub const MAX_HEIGHT: usize = 128;
/// Longer formulas are refused.
pub const MAX_LEN: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::And => "and",
            Self::Or => "or",
        }
    }
    pub fn is_comparison(self) -> bool {
        matches!(self, Self::Eq | Self::Ne | Self::Lt | Self::Le | Self::Gt | Self::Ge)
    }
    pub fn is_arithmetic(self) -> bool {
        matches!(self, Self::Add | Self::Sub | Self::Mul | Self::Div)
    }
}

/// A node of the syntax tree and the bytes of the formula it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub span: Span,
    /// Levels of the tree this node is the root of (1 for a value or a name).
    pub height: usize,
}

impl Node {
    fn leaf(kind: Kind, span: Span) -> Self {
        Self { kind, span, height: 1 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Number(f64),
    Text(String),
    Bool(bool),
    /// A column or KPI name.
    Name(String),
    Neg(Box<Node>),
    Not(Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    /// `name(args where filter)`; `name_span` covers the function name.
    Call {
        name: String,
        name_span: Span,
        args: Vec<Node>,
        filter: Option<Box<Node>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Number(f64),
    Text(String),
    Name(String),
    /// A backquoted name: never a keyword.
    Quoted(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Self::Number(n) => format!("number {n}"),
            Self::Text(t) => format!("text {t:?}"),
            Self::Name(n) | Self::Quoted(n) => format!("'{n}'"),
            Self::Op(o) => format!("'{o}'"),
            Self::LParen => "'('".into(),
            Self::RParen => "')'".into(),
            Self::Comma => "','".into(),
            Self::End => "the end of the formula".into(),
        }
    }
}

fn lex(text: &str) -> Result<Vec<(Tok, Span)>, FormulaError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b')' | b',' | b'+' | b'-' | b'*' | b'/' => {
                i += 1;
                let tok = match c {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b',' => Tok::Comma,
                    b'+' => Tok::Op("+"),
                    b'-' => Tok::Op("-"),
                    b'*' => Tok::Op("*"),
                    _ => Tok::Op("/"),
                };
                out.push((tok, Span::new(start, i)));
            }
            b'=' | b'!' | b'<' | b'>' => {
                let two = bytes.get(i + 1) == Some(&b'=');
                let op = match (c, two) {
                    (b'=', true) | (b'=', false) => "==",
                    (b'!', true) => "!=",
                    (b'<', true) => "<=",
                    (b'>', true) => ">=",
                    (b'<', false) => "<",
                    (b'>', false) => ">",
                    _ => {
                        return Err(FormulaError::at(
                            FormulaCode::SyntaxError,
                            "'!' on its own is not an operator; write 'not x' or 'a != b'".into(),
                            Span::new(start, start + 1),
                        ))
                    }
                };
                i += if two { 2 } else { 1 };
                out.push((Tok::Op(op), Span::new(start, i)));
            }
            b'0'..=b'9' | b'.' => {
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.' || bytes[i] == b'_') {
                    i += 1;
                }
                if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                    let mut j = i + 1;
                    if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                        j += 1;
                    }
                    if j < bytes.len() && bytes[j].is_ascii_digit() {
                        i = j;
                        while i < bytes.len() && bytes[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                }
                let span = Span::new(start, i);
                let digits: String = text[start..i].chars().filter(|c| *c != '_').collect();
                let value = digits.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    FormulaError::at(
                        FormulaCode::SyntaxError,
                        format!("'{}' is not a number", &text[start..i]),
                        span,
                    )
                })?;
                out.push((Tok::Number(value), span));
            }
            b'"' | b'\'' | b'`' => {
                let quote = c;
                i += 1;
                let body = i;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                if i >= bytes.len() {
                    let what = if quote == b'`' { "quoted name" } else { "text" };
                    return Err(FormulaError::at(
                        FormulaCode::SyntaxError,
                        format!(
                            "the {what} that starts here is not closed; end it with {}",
                            quote as char
                        ),
                        Span::new(start, start + 1),
                    ));
                }
                let value = text[body..i].to_string();
                if quote == b'`' && value.contains('\0') {
                    // column names cross the Arrow C interface as C strings, which end at a NUL
                    return Err(FormulaError::at(
                        FormulaCode::SyntaxError,
                        "a name cannot contain the NUL character (\\0); rename the column".into(),
                        Span::new(start, i + 1),
                    ));
                }
                i += 1;
                let tok = if quote == b'`' {
                    Tok::Quoted(value)
                } else {
                    Tok::Text(value)
                };
                out.push((tok, Span::new(start, i)));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                out.push((Tok::Name(text[start..i].to_string()), Span::new(start, i)));
            }
            _ => {
                let ch = text[start..].chars().next().unwrap_or('?');
                let span = Span::new(start, start + ch.len_utf8());
                return Err(FormulaError::at(
                    FormulaCode::SyntaxError,
                    format!("unexpected character {ch:?}; names are letters, digits and _, quote other names with backquotes"),
                    span,
                ));
            }
        }
    }
    out.push((Tok::End, Span::new(text.len(), text.len())));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    pos: usize,
    depth: usize,
}

fn keyword(tok: &Tok, word: &str) -> bool {
    matches!(tok, Tok::Name(n) if n.eq_ignore_ascii_case(word))
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }
    fn span(&self) -> Span {
        self.toks[self.pos.min(self.toks.len() - 1)].1
    }
    fn bump(&mut self) -> (Tok, Span) {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn unexpected(&self, wanted: &str) -> FormulaError {
        FormulaError::at(
            FormulaCode::SyntaxError,
            format!("expected {wanted}, found {}", self.peek().describe()),
            self.span(),
        )
    }
    fn nest(&mut self) -> Result<(), FormulaError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FormulaError::at(
                FormulaCode::TooDeep,
                format!("the formula nests deeper than {MAX_DEPTH} levels"),
                self.span(),
            ));
        }
        Ok(())
    }

    fn binary(lhs: Node, op: BinOp, rhs: Node) -> Result<Node, FormulaError> {
        let span = lhs.span.join(rhs.span);
        let height = 1 + lhs.height.max(rhs.height);
        Self::tall(Node {
            kind: Kind::Binary(op, Box::new(lhs), Box::new(rhs)),
            span,
            height,
        })
    }

    /// The node, unless its tree is taller than [`MAX_HEIGHT`] (checked as the tree grows,
    /// so that no taller tree is ever built, nor dropped).
    fn tall(node: Node) -> Result<Node, FormulaError> {
        if node.height > MAX_HEIGHT {
            return Err(FormulaError::at(
                FormulaCode::TooDeep,
                format!(
                    "the formula is more than {MAX_HEIGHT} levels deep, counting each operator of a chain such as a + b + c as a level; shorten the chain"
                ),
                node.span,
            ));
        }
        Ok(node)
    }

    fn formula(&mut self) -> Result<Node, FormulaError> {
        self.nest()?;
        let mut lhs = self.and()?;
        while keyword(self.peek(), "or") {
            self.bump();
            let rhs = self.and()?;
            lhs = Self::binary(lhs, BinOp::Or, rhs)?;
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Node, FormulaError> {
        let mut lhs = self.not()?;
        while keyword(self.peek(), "and") {
            self.bump();
            let rhs = self.not()?;
            lhs = Self::binary(lhs, BinOp::And, rhs)?;
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Node, FormulaError> {
        if keyword(self.peek(), "not") {
            let (_, start) = self.bump();
            self.nest()?;
            let inner = self.not()?;
            self.depth -= 1;
            let span = start.join(inner.span);
            let height = inner.height + 1;
            return Self::tall(Node {
                kind: Kind::Not(Box::new(inner)),
                span,
                height,
            });
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Node, FormulaError> {
        let lhs = self.add()?;
        let op = match self.peek() {
            Tok::Op("==") => BinOp::Eq,
            Tok::Op("!=") => BinOp::Ne,
            Tok::Op("<") => BinOp::Lt,
            Tok::Op("<=") => BinOp::Le,
            Tok::Op(">") => BinOp::Gt,
            Tok::Op(">=") => BinOp::Ge,
            _ => return Ok(lhs),
        };
        self.bump();
        let rhs = self.add()?;
        if matches!(self.peek(), Tok::Op("==" | "!=" | "<" | "<=" | ">" | ">=")) {
            return Err(FormulaError::at(
                FormulaCode::SyntaxError,
                "comparisons do not chain; join them with 'and'".into(),
                self.span(),
            ));
        }
        Self::binary(lhs, op, rhs)
    }

    fn add(&mut self) -> Result<Node, FormulaError> {
        let mut lhs = self.mul()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => BinOp::Add,
                Tok::Op("-") => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.mul()?;
            lhs = Self::binary(lhs, op, rhs)?;
        }
    }

    fn mul(&mut self) -> Result<Node, FormulaError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => BinOp::Mul,
                Tok::Op("/") => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.unary()?;
            lhs = Self::binary(lhs, op, rhs)?;
        }
    }

    fn unary(&mut self) -> Result<Node, FormulaError> {
        if matches!(self.peek(), Tok::Op("-")) {
            let (_, start) = self.bump();
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            let span = start.join(inner.span);
            let height = inner.height + 1;
            return Self::tall(Node {
                kind: Kind::Neg(Box::new(inner)),
                span,
                height,
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, FormulaError> {
        let (tok, span) = self.bump();
        match tok {
            Tok::Number(v) => Ok(Node::leaf(Kind::Number(v), span)),
            Tok::Text(t) => Ok(Node::leaf(Kind::Text(t), span)),
            Tok::Quoted(n) => Ok(Node::leaf(Kind::Name(n), span)),
            Tok::LParen => {
                let inner = self.formula()?;
                if !matches!(self.peek(), Tok::RParen) {
                    return Err(self.unexpected("')' to close the '(' opened earlier"));
                }
                let (_, end) = self.bump();
                Ok(Node {
                    kind: inner.kind,
                    span: span.join(end),
                    height: inner.height,
                })
            }
            Tok::Name(n) if n.eq_ignore_ascii_case("true") || n.eq_ignore_ascii_case("false") => {
                Ok(Node::leaf(Kind::Bool(n.eq_ignore_ascii_case("true")), span))
            }
            Tok::Name(n) if ["and", "or", "not", "where"].iter().any(|k| n.eq_ignore_ascii_case(k)) => {
                self.pos -= 1;
                Err(self.unexpected("a value, a name or '('"))
            }
            Tok::Name(name) => {
                if !matches!(self.peek(), Tok::LParen) {
                    return Ok(Node::leaf(Kind::Name(name), span));
                }
                self.bump();
                let mut args = Vec::new();
                let mut filter = None;
                loop {
                    if keyword(self.peek(), "where") {
                        self.bump();
                        filter = Some(Box::new(self.formula()?));
                        break;
                    }
                    if matches!(self.peek(), Tok::RParen) && args.is_empty() {
                        break;
                    }
                    args.push(self.formula()?);
                    if matches!(self.peek(), Tok::Comma) {
                        self.bump();
                        continue;
                    }
                    if keyword(self.peek(), "where") {
                        continue;
                    }
                    break;
                }
                if !matches!(self.peek(), Tok::RParen) {
                    return Err(self.unexpected(&format!("',' or ')' in the arguments of {name}(...)")));
                }
                let (_, end) = self.bump();
                let height = 1 + args
                    .iter()
                    .chain(filter.as_deref())
                    .map(|a| a.height)
                    .max()
                    .unwrap_or(0);
                Self::tall(Node {
                    kind: Kind::Call {
                        name,
                        name_span: span,
                        args,
                        filter,
                    },
                    span: span.join(end),
                    height,
                })
            }
            other => {
                if other != Tok::End {
                    self.pos -= 1;
                }
                Err(self.unexpected("a value, a name or '('"))
            }
        }
    }
}

/// Parses a formula into its syntax tree.
pub fn parse(text: &str) -> Result<Node, FormulaError> {
    if text.len() > MAX_LEN {
        return Err(FormulaError::at(
            FormulaCode::TooLong,
            format!(
                "the formula is {} bytes long; formulas are limited to {MAX_LEN}",
                text.len()
            ),
            Span::new(0, 0),
        ));
    }
    let toks = lex(text)?;
    let mut p = Parser { toks, pos: 0, depth: 0 };
    if matches!(p.peek(), Tok::End) {
        return Err(FormulaError::at(
            FormulaCode::EmptyFormula,
            "the formula is empty".into(),
            p.span(),
        ));
    }
    let node = p.formula()?;
    if !matches!(p.peek(), Tok::End) {
        let hint = match p.peek() {
            Tok::RParen => "a ')' that closes nothing",
            Tok::LParen => "'(' after a value (a missing operator?)",
            _ => "more after a complete formula (a missing operator?)",
        };
        return Err(FormulaError::at(
            FormulaCode::SyntaxError,
            format!("unexpected {}: {hint}", p.peek().describe()),
            p.span(),
        ));
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: &Node) -> String {
        match &n.kind {
            Kind::Number(v) => format!("{v}"),
            Kind::Text(t) => format!("{t:?}"),
            Kind::Bool(b) => format!("{b}"),
            Kind::Name(s) => s.clone(),
            Kind::Neg(i) => format!("(-{})", shape(i)),
            Kind::Not(i) => format!("(not {})", shape(i)),
            Kind::Binary(op, a, b) => format!("({} {} {})", shape(a), op.symbol(), shape(b)),
            Kind::Call { name, args, filter, .. } => {
                let a: Vec<String> = args.iter().map(shape).collect();
                let f = filter
                    .as_ref()
                    .map(|f| format!(" where {}", shape(f)))
                    .unwrap_or_default();
                format!("{name}({}{f})", a.join(", "))
            }
        }
    }

    #[test]
    fn precedence_and_calls() {
        let p = |t: &str| parse(t).map(|n| shape(&n)).unwrap_or_else(|e| e.message);
        assert_eq!(p("a + b * c"), "(a + (b * c))");
        assert_eq!(p("(a + b) / c - 1"), "(((a + b) / c) - 1)");
        assert_eq!(p("-a * 2"), "((-a) * 2)");
        assert_eq!(
            p("sum(likes where sponsored and platform == 'ig')"),
            "sum(likes where (sponsored and (platform == \"ig\")))"
        );
        assert_eq!(p("count()"), "count()");
        assert_eq!(p("count(where x > 0)"), "count( where (x > 0))");
        assert_eq!(p("coalesce(a, b) # a comment"), "coalesce(a, b)");
        assert_eq!(p("`Post Likes` / 1_000"), "(Post Likes / 1000)");
        assert_eq!(p("1.5e3"), "1500");
    }

    #[test]
    fn errors_point_at_the_token() {
        let e = |t: &str| {
            parse(t)
                .err()
                .map(|e| (e.code.as_str(), e.span.start))
                .unwrap_or(("ok", 0))
        };
        assert_eq!(e("likes +"), ("syntax_error", 7));
        assert_eq!(e("(likes"), ("syntax_error", 6));
        assert_eq!(e("likes)"), ("syntax_error", 5));
        assert_eq!(e("a @ b"), ("syntax_error", 2));
        assert_eq!(e("'open"), ("syntax_error", 0));
        assert_eq!(e(""), ("empty_formula", 0));
        assert_eq!(e("a < b < c"), ("syntax_error", 6));
        let deep = "(".repeat(200) + "a" + &")".repeat(200);
        assert_eq!(e(&deep).0, "too_deep");
        let neg = "-".repeat(500) + "a";
        assert_eq!(e(&neg).0, "too_deep");
        // a chain of operators is as tall as it is long
        let chain = |n: usize| vec!["likes"; n].join(" + ");
        assert_eq!(e(&chain(MAX_HEIGHT)).0, "ok");
        assert_eq!(e(&chain(MAX_HEIGHT + 1)).0, "too_deep");
        assert_eq!(e(&vec!["a"; 3000].join("*")).0, "too_deep");
        let calls = "coalesce(".repeat(40) + "a, b" + &")".repeat(40);
        assert_eq!(parse(&calls).map(|n| n.height).ok(), Some(41));
        assert_eq!(e("`a\0b` + 1"), ("syntax_error", 0));
    }
}
