//! The report's calendar (docs/time.md): the day its weeks start on (`week_start`) and the
//! month its fiscal years start in (`fiscal_year_start`, which also sets the quarters). Every
//! period is labelled by its first day.

use super::Period;
use crate::error::{did_you_mean, suggest, Error, QueryCode, Result};
use serde::{Deserialize, Serialize};

/// The first day of a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    #[default]
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub const NAMES: [&'static str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    const ALL: [Self; 7] = [
        Self::Monday,
        Self::Tuesday,
        Self::Wednesday,
        Self::Thursday,
        Self::Friday,
        Self::Saturday,
        Self::Sunday,
    ];

    /// A weekday's name, in any case, or its first three letters.
    pub fn parse(text: &str) -> Result<Self> {
        let key = text.trim().to_ascii_lowercase();
        let found = Self::NAMES
            .iter()
            .position(|n| *n == key || (key.len() == 3 && n.starts_with(key.as_str())));
        match found {
            Some(i) => Ok(Self::ALL[i]),
            None => Err(Error::query(
                QueryCode::UnknownWeekStart,
                format!(
                    "week_start={text:?} is not a day of the week; use \"monday\" (the default, ISO weeks), \"sunday\", \"saturday\" or another weekday's name{}",
                    did_you_mean(&suggest(&key, Self::NAMES))
                ),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// A month of the year, 1 to 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Month(u32);

impl Default for Month {
    fn default() -> Self {
        Self(1)
    }
}

impl TryFrom<u32> for Month {
    type Error = String;
    fn try_from(n: u32) -> std::result::Result<Self, String> {
        if (1..=12).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!("{n} is not a month (1 to 12)"))
        }
    }
}

impl From<Month> for u32 {
    fn from(m: Month) -> u32 {
        m.0
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl Month {
    /// A month's number (1 to 12), its name in any case, or its first three letters.
    pub fn parse(text: &str) -> Result<Self> {
        let key = text.trim().to_ascii_lowercase();
        let by_number = key.parse::<u32>().ok().and_then(|n| Self::try_from(n).ok());
        let by_name = MONTHS
            .iter()
            .position(|n| *n == key || (key.len() == 3 && n.starts_with(key.as_str())))
            .map(|i| Self(i as u32 + 1));
        by_number.or(by_name).ok_or_else(|| {
            Error::query(
                QueryCode::UnknownFiscalYearStart,
                format!(
                    "fiscal_year_start={text:?} is not a month; use a month's number 1 to 12 (1, the default: years from January; 4: from April) or its name (\"april\"){}",
                    did_you_mean(&suggest(&key, MONTHS))
                ),
            )
        })
    }

    pub fn number(self) -> u32 {
        self.0
    }
}

/// When weeks, quarters and years start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Calendar {
    pub week_start: Weekday,
    pub fiscal_year_start: Month,
}

impl Calendar {
    pub fn parse(week_start: &str, fiscal_year_start: &str) -> Result<Self> {
        Ok(Self {
            week_start: Weekday::parse(week_start)?,
            fiscal_year_start: Month::parse(fiscal_year_start)?,
        })
    }

    /// The first day of the period of `every` that holds `day` (days since 1970-01-01).
    pub fn period_start(self, day: i64, every: Period) -> i64 {
        // months since the first fiscal month of year 0
        let fiscal = |d: i64, months: i64| {
            let (y, m, _) = civil(d);
            let index = y * 12 + i64::from(m) - 1 - i64::from(self.fiscal_year_start.0 - 1);
            let first = index.div_euclid(months) * months + i64::from(self.fiscal_year_start.0 - 1);
            days(first.div_euclid(12), (first.rem_euclid(12) + 1) as u32, 1)
        };
        match every {
            Period::Day => day,
            // 1970-01-01 was a Thursday, three days after a Monday
            Period::Week => day - (day + 3 - self.week_start as i64).rem_euclid(7),
            Period::Month => {
                let (y, m, _) = civil(day);
                days(y, m, 1)
            }
            Period::Quarter => fiscal(day, 3),
            Period::Year => fiscal(day, 12),
        }
    }

    /// The week-year and the week number of `day`. ISO 8601's rule with the calendar's first
    /// weekday: a week belongs to the year that holds its fourth day, so week 1 is the week
    /// holding January 4th (with Monday, exactly ISO weeks).
    pub fn week_number(self, day: i64) -> (i64, i64) {
        let fourth = self.period_start(day, Period::Week) + 3;
        let (year, _, _) = civil(fourth);
        (year, (fourth - days(year, 1, 1)) / 7 + 1)
    }

    /// The first day of week `week` of week-year `year`.
    pub fn week_of(self, year: i64, week: i64) -> i64 {
        self.period_start(days(year, 1, 4), Period::Week) + (week - 1) * 7
    }

    /// The weeks of a week-year: 52 or 53.
    pub fn weeks_in(self, year: i64) -> i64 {
        self.week_number(self.week_of(year + 1, 1) - 1).1
    }

    /// Whether periods of `from` in this calendar fall whole into periods of `to` in
    /// `other`, given that they do in one calendar (days into any week; months into any
    /// quarter and year; quarters into years and quarters of a fiscal start 0, 3, 6 or 9
    /// months away; weeks and years only into their own calendar's; anything into one period).
    pub fn fits(self, other: Calendar, from: Option<Period>, to: Option<Period>) -> bool {
        let apart = (i64::from(self.fiscal_year_start.0) - i64::from(other.fiscal_year_start.0)).rem_euclid(12);
        if to.is_none() {
            return true;
        }
        match from {
            None | Some(Period::Day | Period::Month) => true,
            Some(Period::Week) => self.week_start == other.week_start,
            Some(Period::Quarter) => apart % 3 == 0,
            Some(Period::Year) => apart == 0,
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of days since 1970-01-01 (`civil_from_days`).
pub fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(week_start: &str, fiscal: &str) -> Calendar {
        Calendar::parse(week_start, fiscal).expect("a calendar")
    }

    #[test]
    fn names_parse_and_bad_ones_are_typed_errors() {
        assert_eq!(Weekday::parse("Sunday").ok(), Some(Weekday::Sunday));
        assert_eq!(Weekday::parse(" sat ").ok(), Some(Weekday::Saturday));
        assert_eq!(Month::parse("4").ok(), Some(Month(4)));
        assert_eq!(Month::parse("April").ok(), Some(Month(4)));
        assert_eq!(Month::parse("sep").ok(), Some(Month(9)));
        let code = |r: Result<Calendar>| r.err().map(|e| e.code());
        assert_eq!(code(Calendar::parse("sundy", "1")), Some("unknown_week_start"));
        assert_eq!(code(Calendar::parse("su", "1")), Some("unknown_week_start"));
        for bad in ["0", "13", "-1", "", "1.5", "ap", "Aprill"] {
            assert_eq!(
                code(Calendar::parse("monday", bad)),
                Some("unknown_fiscal_year_start"),
                "{bad:?}"
            );
        }
        assert!(serde_json::from_str::<Month>("13").is_err());
        assert_eq!(serde_json::from_str::<Month>("7").ok(), Some(Month(7)));
        assert_eq!(
            serde_json::to_string(&Weekday::Sunday).ok().as_deref(),
            Some("\"sunday\"")
        );
    }

    #[test]
    fn periods_start_where_the_calendar_says() {
        let d = |y, m, dd| days(y, m, dd);
        let iso = Calendar::default();
        // 2026-03-05 is a Thursday
        assert_eq!(iso.period_start(d(2026, 3, 5), Period::Week), d(2026, 3, 2));
        assert_eq!(
            cal("sunday", "1").period_start(d(2026, 3, 5), Period::Week),
            d(2026, 3, 1)
        );
        assert_eq!(
            cal("saturday", "1").period_start(d(2026, 3, 7), Period::Week),
            d(2026, 3, 7)
        );
        assert_eq!(
            cal("friday", "1").period_start(d(2026, 3, 5), Period::Week),
            d(2026, 2, 27)
        );
        let april = cal("monday", "april");
        assert_eq!(april.period_start(d(2026, 3, 31), Period::Year), d(2025, 4, 1));
        assert_eq!(april.period_start(d(2026, 4, 1), Period::Year), d(2026, 4, 1));
        assert_eq!(april.period_start(d(2026, 3, 31), Period::Quarter), d(2026, 1, 1));
        assert_eq!(april.period_start(d(2026, 6, 30), Period::Quarter), d(2026, 4, 1));
        let feb = cal("monday", "2");
        assert_eq!(feb.period_start(d(2026, 1, 31), Period::Quarter), d(2025, 11, 1));
        assert_eq!(feb.period_start(d(2026, 1, 31), Period::Year), d(2025, 2, 1));
        assert_eq!(feb.period_start(d(1969, 1, 15), Period::Year), d(1968, 2, 1));
        // every day's period holds it and the period's start is its own period's start
        for c in [iso, april, feb, cal("sunday", "11")] {
            for day in d(1999, 1, 1)..d(2001, 3, 1) {
                for every in [Period::Week, Period::Quarter, Period::Year] {
                    let s = c.period_start(day, every);
                    assert!(s <= day && day - s < 366, "{day} {every:?}");
                    assert_eq!(c.period_start(s, every), s);
                }
            }
        }
    }

    #[test]
    fn week_numbers_are_iso_for_monday_and_iso_like_otherwise() {
        let iso = Calendar::default();
        assert_eq!(iso.week_number(days(2026, 12, 31)), (2026, 53));
        assert_eq!(iso.week_number(days(2027, 1, 3)), (2026, 53));
        assert_eq!(iso.week_number(days(2027, 1, 4)), (2027, 1));
        assert_eq!(iso.weeks_in(2026), 53);
        assert_eq!(iso.weeks_in(2025), 52);
        assert_eq!(iso.week_of(2026, 1), days(2025, 12, 29));
        let sunday = cal("sunday", "1");
        // Sunday weeks: week 1 of 2026 holds Jan 4 (a Sunday), so it starts on it, and 2025
        // (from Sunday 2024-12-29) has 53 weeks
        assert_eq!(sunday.week_of(2026, 1), days(2026, 1, 4));
        assert_eq!(sunday.week_of(2025, 1), days(2024, 12, 29));
        assert_eq!(sunday.week_number(days(2026, 1, 3)), (2025, 53));
        assert_eq!(sunday.weeks_in(2025), 53);
        assert_eq!(sunday.weeks_in(2026), 52);
        for c in [iso, sunday, cal("saturday", "1"), cal("wednesday", "1")] {
            for year in 1990..2040 {
                let n = c.weeks_in(year);
                assert!(n == 52 || n == 53);
                assert_eq!(c.week_of(year + 1, 1) - c.week_of(year, 1), 7 * n);
                assert_eq!(c.week_number(c.week_of(year, n)), (year, n));
            }
        }
    }

    #[test]
    fn coarser_periods_fit_across_calendars() {
        let (jan, apr, may) = (cal("monday", "1"), cal("monday", "4"), cal("monday", "5"));
        let (q, y) = (Some(Period::Quarter), Some(Period::Year));
        assert!(jan.fits(apr, q, q));
        assert!(jan.fits(apr, q, y));
        assert!(!jan.fits(may, q, y));
        assert!(!jan.fits(apr, y, y));
        assert!(jan.fits(apr, y, None));
        assert!(jan.fits(may, Some(Period::Month), q));
        let sunday = cal("sunday", "1");
        assert!(jan.fits(sunday, Some(Period::Day), Some(Period::Week)));
        assert!(!jan.fits(sunday, Some(Period::Week), Some(Period::Week)));
        assert!(jan.fits(sunday, Some(Period::Week), None));
    }
}
