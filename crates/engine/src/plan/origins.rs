//! Where conversions, revenue and leads are counted from: one table per measure.

use super::has;

/// The table a measure (conversions, revenue, leads) is counted from: one per measure, so
/// that nothing is counted twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Posts,
    Accounts,
    Traffic,
    Events,
}

/// Where each attributed measure comes from (None: no table given carries it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origins {
    pub conversions: Option<Origin>,
    pub revenue: Option<Origin>,
    pub leads: Option<Origin>,
}

impl Origins {
    /// Conversion events first, then the posts' own column, then traffic's (then accounts').
    pub(super) fn choose(
        p: Option<&[String]>,
        a: Option<&[String]>,
        t: Option<&[String]>,
        e: Option<&[String]>,
    ) -> Self {
        let has_col = |cols: Option<&[String]>, c: &str| cols.is_some_and(|cols| has(cols, c));
        let pick = |events: bool, order: &[(Option<&[String]>, Origin)], column: &str| {
            if events {
                return Some(Origin::Events);
            }
            order.iter().find(|(cols, _)| has_col(*cols, column)).map(|(_, o)| *o)
        };
        Self {
            conversions: pick(e.is_some(), &[(p, Origin::Posts), (t, Origin::Traffic)], "conversions"),
            revenue: pick(
                has_col(e, "value"),
                &[(p, Origin::Posts), (t, Origin::Traffic)],
                "revenue",
            ),
            leads: pick(e.is_some(), &[(t, Origin::Traffic), (a, Origin::Accounts)], "leads"),
        }
    }

    /// The origin of the measure a KPI reads (None when it reads none, or none is given).
    pub fn of(&self, kpi: &str) -> Option<Origin> {
        match measure(kpi)? {
            "conversions" => self.conversions,
            "revenue" => self.revenue,
            _ => self.leads,
        }
    }
}

/// The attributed measure a KPI reads: the first of its catalogue inputs that is conversions,
/// revenue or leads (None for a KPI that reads none).
pub fn measure(kpi: &str) -> Option<&'static str> {
    const ATTRIBUTED: [&str; 3] = ["conversions", "revenue", "leads"];
    crate::catalog::find(kpi)?
        .inputs
        .iter()
        .copied()
        .find(|i| ATTRIBUTED.contains(i))
}
