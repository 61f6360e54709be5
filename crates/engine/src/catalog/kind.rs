//! How a KPI adds up over time, for targets set over other periods than the report's
//! (docs/time.md, "Targets"): a flow's target is pro-rated by days, a ratio's or a
//! snapshot's applies as it is.

use crate::plan::{OutputKpi, Value};
use socialkpi_formula::BinOp;

/// How a KPI's values over consecutive periods make the value of the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Adds up over consecutive periods: counts, sums, money, and `follower_growth` (a change
    /// over the period: the growths of consecutive periods add up to the growth of the whole).
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

/// The built-in KPIs that add up over time.
const FLOWS: &[&str] = &[
    "posts",
    "impressions",
    "reach",
    "profile_visits",
    "follower_growth",
    "likes",
    "comments",
    "shares",
    "saves",
    "clicks",
    "engagements",
    "mentions",
    "referral_traffic",
    "website_traffic",
    "leads",
    "conversions",
    "revenue",
    "cost",
    "posts_agreed",
];

const SNAPSHOTS: &[&str] = &["followers", "followers_start"];

/// The kind of a built-in KPI (an unknown name is a ratio: its target applies as it is).
pub fn builtin(name: &str) -> Kind {
    if FLOWS.contains(&name) {
        Kind::Flow
    } else if SNAPSHOTS.contains(&name) {
        Kind::Snapshot
    } else {
        Kind::Ratio
    }
}

/// The kind of a KPI of a report.
pub fn of(kpi: &OutputKpi) -> Kind {
    match kpi {
        OutputKpi::Builtin(k) => builtin(k.name),
        OutputKpi::Custom(c) => value(&c.value),
    }
}

/// The kind of a compiled formula: sums and counts are flows, and so are sums and
/// differences of flows; a value scaled by a constant keeps its kind; the difference of two snapshots is
/// a change over the period (a flow, like `follower_growth`); anything else is a ratio.
pub fn value(v: &Value) -> Kind {
    match v {
        Value::Flow { .. } | Value::Count(_) | Value::Delivered => Kind::Flow,
        Value::Number(_) | Value::Ratio(..) | Value::Share(_) => Kind::Ratio,
        Value::Builtin(name) => builtin(name),
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
    fn flows_are_counts_or_money_of_the_catalogue_and_ratios_are_not_flows() {
        for name in FLOWS.iter().chain(SNAPSHOTS) {
            let kpi = KPIS.iter().find(|k| k.name == *name);
            assert!(kpi.is_some_and(|k| k.unit == "count" || k.unit == "money"), "{name}");
        }
        for k in KPIS {
            if k.unit == "ratio" {
                assert_eq!(builtin(k.name), Kind::Ratio, "{}", k.name);
            }
        }
        // the cost-per KPIs are money but ratios
        for name in ["cpm", "cpc", "cpe", "cpa"] {
            assert_eq!(builtin(name), Kind::Ratio);
        }
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
        let followers = || Box::new(Value::Builtin("followers"));
        let start = || Box::new(Value::Builtin("followers_start"));
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
        assert_eq!(value(&Value::Builtin("cost")), Kind::Flow);
    }
}
