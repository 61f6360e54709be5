//! How a KPI adds up over time, for targets set over other periods than the report's
//! (docs/time.md, "Targets"): a flow's target is pro-rated by days, a ratio's or a
//! snapshot's applies as it is. Read from the KPI's compiled formula, built-in or not.

use super::{build, Dedupe, OutputKpi, Request, Value};
use socialkpi_formula::{BinOp, Native};

/// How a KPI's values over consecutive periods make the value of the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Adds up over consecutive periods: counts, sums, money, and a change over the period
    /// (`follower_growth`: the growths of consecutive periods add up to the growth of the whole).
    Flow,
    /// A ratio, a share, a mean or a constant: the value of a whole is not a sum of its parts.
    Ratio,
    /// A level at a point of the period (`followers`, `followers_start`).
    Snapshot,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flow => "flow",
            Self::Ratio => "ratio",
            Self::Snapshot => "snapshot",
        }
    }
}

/// The kind of a KPI of a report.
pub fn of(kpi: &OutputKpi) -> Kind {
    value(kpi.value())
}

/// The kind of a built-in KPI, from its formula compiled against tables that carry every
/// column the catalogue reads (None: not a built-in KPI).
pub fn builtin(name: &str) -> Option<Kind> {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let posts = names(&[
        "post_id",
        "account_id",
        "platform",
        "published_at",
        "impressions",
        "reach",
        "likes",
        "comments",
        "shares",
        "saves",
        "clicks",
        "profile_visits",
        "spend",
        "conversions",
        "revenue",
        "campaign",
    ]);
    let accounts = names(&["account_id", "platform", "date", "followers", "mentions", "leads"]);
    let contracts = names(&["account_id", "campaign", "start", "end", "posts_agreed", "fee"]);
    let traffic = names(&["date", "source", "sessions"]);
    let request = Request::new(vec![name.to_string()], Vec::new(), None, "UTC".into(), Dedupe::Error);
    let plan = build(
        &request,
        Some(&posts),
        Some(&accounts),
        Some(&contracts),
        Some(&traffic),
        None,
    )
    .ok()?;
    plan.outputs.first().map(of)
}

/// The kind of a compiled formula: sums and counts are flows, and so are sums and
/// differences of flows; a value scaled by a constant keeps its kind; the difference of two
/// snapshots is a change over the period (a flow); anything else is a ratio.
pub fn value(v: &Value) -> Kind {
    match v {
        Value::Flow { .. } | Value::Count(_) => Kind::Flow,
        Value::Measure(Native::Followers | Native::FollowersStart) => Kind::Snapshot,
        Value::Measure(_) => Kind::Flow,
        Value::Number(_) | Value::Ratio(..) | Value::Share(_) => Kind::Ratio,
        Value::Neg(a) => value(a),
        Value::Coalesce(parts) => {
            let mut kinds = parts.iter().map(value);
            let first = kinds.next().unwrap_or(Kind::Ratio);
            if kinds.all(|k| k == first) {
                first
            } else {
                Kind::Ratio
            }
        }
        Value::Binary(op, a, b) => {
            let (ka, kb) = (value(a), value(b));
            let constant = |x: &Value| matches!(x, Value::Number(_));
            match op {
                BinOp::Add | BinOp::Sub if ka == Kind::Flow && kb == Kind::Flow => Kind::Flow,
                BinOp::Sub if ka == Kind::Snapshot && kb == Kind::Snapshot => Kind::Flow,
                // scaled by a constant (a percentage, a unit), a value keeps its kind
                BinOp::Mul if constant(b) => ka,
                BinOp::Mul if constant(a) => kb,
                BinOp::Div if constant(b) => ka,
                _ => Kind::Ratio,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::KPIS;

    #[test]
    fn counts_and_money_are_flows_ratios_are_ratios_and_followers_are_snapshots() {
        for k in KPIS {
            let kind = builtin(k.name);
            let expected = match k.name {
                "followers" | "followers_start" => Kind::Snapshot,
                // money per result is a ratio of money and a count
                "cpm" | "cpc" | "cpe" | "cpa" => Kind::Ratio,
                _ if k.unit == "ratio" => Kind::Ratio,
                _ => Kind::Flow,
            };
            assert_eq!(kind, Some(expected), "{}", k.name);
        }
        assert_eq!(builtin("no_such_kpi"), None);
    }

    #[test]
    fn formulas_take_the_kind_of_their_parts() {
        let flow = || {
            Box::new(Value::Flow {
                rows: "rows".into(),
                sum: "s".into(),
                n: "n".into(),
                money: false,
            })
        };
        let number = || Box::new(Value::Number(2.0));
        let followers = || Box::new(Value::Measure(Native::Followers));
        let start = || Box::new(Value::Measure(Native::FollowersStart));
        assert_eq!(value(&Value::Binary(BinOp::Add, flow(), flow())), Kind::Flow);
        assert_eq!(value(&Value::Binary(BinOp::Mul, number(), flow())), Kind::Flow);
        assert_eq!(value(&Value::Binary(BinOp::Div, flow(), number())), Kind::Flow);
        assert_eq!(value(&Value::Binary(BinOp::Div, flow(), flow())), Kind::Ratio);
        assert_eq!(value(&Value::Binary(BinOp::Add, flow(), number())), Kind::Ratio);
        assert_eq!(value(&Value::Binary(BinOp::Sub, followers(), start())), Kind::Flow);
        assert_eq!(value(&followers()), Kind::Snapshot);
        assert_eq!(value(&Value::Binary(BinOp::Mul, followers(), number())), Kind::Snapshot);
        assert_eq!(value(&Value::Binary(BinOp::Add, followers(), start())), Kind::Ratio);
        assert_eq!(value(&Value::Binary(BinOp::Div, number(), flow())), Kind::Ratio);
        assert_eq!(value(&Value::Ratio("a".into(), "b".into())), Kind::Ratio);
        assert_eq!(value(&Value::Measure(Native::Cost)), Kind::Flow);
    }
}
