//! The posts pass's partial states: per-group sums, counts of present values and sums of
//! followers-at-post, added batch by batch.
//!
//! Every accumulator is a scatter loop `acc[group[row]] += value[row]`, and a random write per
//! row is what the pass costs; so the loops that visit every row are kept to one per column
//! read, whatever number of states reads it:
//! - the count of a column's present values is the group's rows less its missing ones, which
//!   a loop visits alone;
//! - a column's sum over the rows where another column is present (rule 1: both sides of a
//!   ratio over the same posts) is its sum less its sum over the rows where the other one is
//!   missing, which visits only those rows;
//! - likewise Σ value and Σ followers-at-post over the rows with both: the value's sum less
//!   where followers are unknown, and the followers' sum less where the value is missing;
//! - a column that is mostly missing (a filtered sum's) is visited at its present values only.
//!
//! Subtraction is exact for integer sums, and for sums of integral followers (below 2^53,
//! where doubles are integers); a sum of fractional values keeps a loop of its own.
//!
//! Integer sums add without checks: each summed column's bound on the sum of its absolute
//! values (`overflow::bound`, beside the loops) proves that none of them wraps, or the run
//! is an `integer_overflow` error.

use super::overflow;
use crate::error::{Error, Result};
use crate::plan::{CustomState, Linear, StateKind};
use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;
use rayon::prelude::*;
use std::borrow::Cow;

/// Sums per group in the value column's type.
enum Sums {
    Int(Vec<i64>),
    Float(Vec<f64>),
}

impl Sums {
    /// No sums yet, for values of `dtype` (the states add Int64 or Float64 columns).
    fn of(dtype: &DataType) -> Result<Self> {
        match dtype {
            DataType::Int64 => Ok(Sums::Int(Vec::new())),
            DataType::Float64 => Ok(Sums::Float(Vec::new())),
            other => Err(Error::Internal(format!("state over a {other} column"))),
        }
    }

    fn grow(&mut self, n: usize) {
        match self {
            Sums::Int(v) => grow(v, n),
            Sums::Float(v) => grow(v, n),
        }
    }
}

/// Per-group sums beside the count of rows added: a row's two updates touch one cache line
/// (rows visit their groups at random, and with many groups the sums live past L2).
enum Counted {
    Int(Vec<(i64, i64)>),
    Float(Vec<(f64, i64)>),
}

impl Counted {
    fn of(dtype: &DataType) -> Result<Self> {
        Ok(match Sums::of(dtype)? {
            Sums::Int(_) => Counted::Int(Vec::new()),
            Sums::Float(_) => Counted::Float(Vec::new()),
        })
    }

    fn grow(&mut self, n: usize) {
        match self {
            Counted::Int(v) => grow(v, n),
            Counted::Float(v) => grow(v, n),
        }
    }

    /// Counts the rows of `keep` (a count-only state; the sums stay zero).
    fn count(&mut self, keep: &Bitmap, groups: &[u32]) {
        match self {
            Counted::Int(v) => for_each_set(keep, |j| v[groups[j] as usize].1 += 1),
            Counted::Float(v) => for_each_set(keep, |j| v[groups[j] as usize].1 += 1),
        }
    }

    /// The sums (`sum`) or the counts, as a column.
    fn column(&self, name: &str, sum: bool) -> Column {
        let counts = |v: Vec<i64>| Column::new(name.into(), v);
        match (self, sum) {
            (Counted::Int(v), true) => Column::new(name.into(), v.iter().map(|p| p.0).collect::<Vec<_>>()),
            (Counted::Float(v), true) => Column::new(name.into(), v.iter().map(|p| p.0).collect::<Vec<_>>()),
            (Counted::Int(v), false) => counts(v.iter().map(|p| p.1).collect()),
            (Counted::Float(v), false) => counts(v.iter().map(|p| p.1).collect()),
        }
    }
}

/// One loop over each batch.
enum Task {
    /// Σ of a column's present values; with `counts`, the count of its missing values, or of
    /// its present ones when `sparse`.
    Dense {
        column: String,
        sums: Sums,
        counts: Option<Vec<i64>>,
        /// Set by the first batch with rows: most values missing (a filtered sum's column), so
        /// the loops visit the present ones only and count them.
        sparse: Option<bool>,
    },
    /// Σ and count of an integer column over the rows where it is present and every column
    /// of `mask` is missing.
    Without {
        column: String,
        mask: Vec<String>,
        /// Σ beside the count, per group.
        acc: Vec<(i64, i64)>,
    },
    /// The rows where every one of the columns is missing.
    AllMissing { columns: Vec<String>, counts: Vec<i64> },
    /// Σ followers-at-post where known.
    Followers { sums: Vec<f64> },
    /// Of an integer column: Σ of its values where followers-at-post is unknown, and Σ
    /// followers-at-post where the column is missing.
    FollowersWithout {
        column: String,
        values: Vec<i64>,
        followers: Vec<f64>,
    },
    /// Σ and count of a column's values (none: of rows) where a condition holds and, when
    /// given, the mask column has a value; the loop visits those rows only.
    Where {
        column: Option<String>,
        filter: String,
        mask: Option<String>,
        sums: Counted,
    },
    /// Σ and count of one column over another (rule 2: where both are present and the
    /// denominator is not 0) row by row, in one loop: the quotients are never a column.
    Quotient {
        num: String,
        den: String,
        sums: Vec<f64>,
        counts: Vec<i64>,
    },
    /// A state with a loop of its own (fractional values under a mask, means of rates).
    Own(Own),
}

/// How an output column comes from the tasks (indexes into them).
enum Output {
    /// A sum of terms, each a Dense sum less a Without sum when given, added or subtracted.
    Sum { name: String, terms: Vec<Term> },
    /// The rows less an AllMissing count.
    Present { name: String, missing: usize },
    /// The rows less a Dense missing count, less a Without count when given.
    Count {
        name: String,
        dense: usize,
        without: Option<usize>,
    },
    /// A Dense sum less a FollowersWithout values sum.
    Num { name: String, dense: usize, without: usize },
    /// The Followers sum less a FollowersWithout followers sum.
    Den {
        name: String,
        followers: usize,
        without: usize,
    },
    /// A Where task's sum, or its count.
    Where { name: String, task: usize, sum: bool },
    /// A Quotient task's sum, or its count.
    Quotient { name: String, task: usize, sum: bool },
    /// An Own state's columns.
    Own(usize),
}

/// A term of a sum: a Dense sum (less a Without sum), added when `plus`.
#[derive(Clone, Copy)]
struct Term {
    plus: bool,
    dense: usize,
    without: Option<usize>,
}

/// The states of the posts pass.
#[derive(Default)]
pub(super) struct States {
    tasks: Vec<Task>,
    outputs: Vec<Output>,
    /// Each Int64 column that a task sums, with the bound on the sum of its absolute values so
    /// far: below 2^63, no sum of its rows wraps (see `overflow`).
    bounds: Vec<(String, u128)>,
    /// The tasks in the order their loops run: by the column they read first, so that the
    /// loops over one column follow each other on a thread and the later ones find it still
    /// in cache (a batch's columns are far larger than a core's cache; the 50-formula report
    /// of `bench/formulas.py` measured 4% faster than in the KPIs' order).
    order: Vec<usize>,
}

impl States {
    /// The loops for `ops` over columns typed as in `schema`; `integral_followers` when every
    /// follower count of the snapshots is a whole number. A `linear` column (a chain of `+`
    /// and `-` over columns, rule 3) of integers is not read where its sums are its terms'
    /// sums: Σ (a + b) over the rows with either is Σ a + Σ b, and over the rows where a
    /// mask column is present too, each term less its sum where the mask is missing. A sum
    /// of a `quotients` column (name, numerator, denominator) over all its rows divides as
    /// it adds, and the column is not read.
    pub fn new(
        ops: Vec<CustomState>,
        schema: &Schema,
        integral_followers: bool,
        linear: &[Linear],
        quotients: &[(String, String, String)],
    ) -> Result<Self> {
        let mut states = States::default();
        let int = |c: &str| schema.get(c) == Some(&DataType::Int64);
        // a column's terms: its own when it is not linear over integers
        let terms = |c: &String| -> Vec<(bool, String)> {
            match linear.iter().find(|(name, _)| name == c) {
                Some((_, terms)) if terms.iter().all(|(_, t)| int(t)) => terms.clone(),
                _ => vec![(true, c.clone())],
            }
        };
        for CustomState { column, kind } in ops {
            // (num, den) of a column of quotients divided as they are added
            let quotient = quotients.iter().find(|(q, _, _)| *q == column).map(|(_, n, d)| (n, d));
            match (kind, quotient) {
                (
                    StateKind::Sum {
                        sum,
                        count,
                        mask,
                        filter: Some(filter),
                    },
                    _,
                ) => {
                    let task = states.filtered(Some(column), filter, mask, schema)?;
                    states.sum_and_count(sum, count, |name, sum| Output::Where { name, task, sum });
                }
                (
                    StateKind::Sum {
                        sum,
                        count,
                        mask: None,
                        filter: None,
                    },
                    Some((num, den)),
                ) => {
                    let task = states.quotient(num, den);
                    states.sum_and_count(sum, count, |name, sum| Output::Quotient { name, task, sum });
                }
                (StateKind::Rows { count }, _) => {
                    // (the column is the condition)
                    let task = states.filtered(None, column, None, schema)?;
                    states.outputs.push(Output::Where {
                        name: count,
                        task,
                        sum: false,
                    });
                }
                (
                    StateKind::Sum {
                        sum,
                        count,
                        mask,
                        filter: None,
                    },
                    _,
                ) if mask.is_none() || int(&column) => {
                    let mut parts = terms(&column);
                    if parts.len() > 1 && count.is_some() && mask.is_some() {
                        // the count of rows with both sides is not the terms' (it is read whole)
                        parts = vec![(true, column.clone())];
                    }
                    let split = parts.len() > 1;
                    let mask: Option<Vec<String>> = mask.map(|m| terms(&m).into_iter().map(|(_, c)| c).collect());
                    let mut sum_terms = Vec::new();
                    for (plus, c) in &parts {
                        let dense = states.dense(c, schema, count.is_some() && !split)?;
                        let without = mask.as_ref().map(|m| states.without(c, m));
                        sum_terms.push(Term {
                            plus: *plus,
                            dense,
                            without,
                        });
                    }
                    if let Some(name) = count {
                        if split {
                            let columns: Vec<String> = parts.iter().map(|(_, c)| c.clone()).collect();
                            let missing = states.find(
                                |t| matches!(t, Task::AllMissing { columns: c, .. } if *c == columns),
                                || Task::AllMissing {
                                    columns: columns.clone(),
                                    counts: Vec::new(),
                                },
                            );
                            states.outputs.push(Output::Present { name, missing });
                        } else {
                            let Term { dense, without, .. } = sum_terms[0];
                            states.outputs.push(Output::Count { name, dense, without });
                        }
                    }
                    states.outputs.push(Output::Sum {
                        name: sum,
                        terms: sum_terms,
                    });
                }
                (StateKind::AtFollowers { num, den }, _) if integral_followers && int(&column) => {
                    let dense = states.dense(&column, schema, false)?;
                    let followers = states.find(
                        |t| matches!(t, Task::Followers { .. }),
                        || Task::Followers { sums: Vec::new() },
                    );
                    let without = states.find(
                        |t| matches!(t, Task::FollowersWithout { column: c, .. } if *c == column),
                        || Task::FollowersWithout {
                            column: column.clone(),
                            values: Vec::new(),
                            followers: Vec::new(),
                        },
                    );
                    states.outputs.push(Output::Num {
                        name: num,
                        dense,
                        without,
                    });
                    states.outputs.push(Output::Den {
                        name: den,
                        followers,
                        without,
                    });
                }
                (kind, _) => {
                    states.tasks.push(Task::Own(Own::new(CustomState { column, kind })));
                    states.outputs.push(Output::Own(states.tasks.len() - 1));
                }
            }
        }
        let mut order: Vec<usize> = (0..states.tasks.len()).collect();
        order.sort_by_key(|&i| states.tasks[i].first_read());
        states.order = order;
        let summed: Vec<String> = states.summed().into_iter().map(String::from).collect();
        for column in summed {
            if int(&column) && !states.bounds.iter().any(|(c, _)| *c == column) {
                states.bounds.push((column, 0));
            }
        }
        Ok(states)
    }

    /// The columns whose values the tasks add up (not those they only test for presence).
    fn summed(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for task in &self.tasks {
            match task {
                Task::Dense { column, .. } | Task::Without { column, .. } | Task::FollowersWithout { column, .. } => {
                    out.push(column.as_str())
                }
                Task::Where { column: Some(c), .. } => out.push(c.as_str()),
                Task::Own(own) => match own.op.kind {
                    StateKind::Sum { .. } | StateKind::AtFollowers { .. } => out.push(own.op.column.as_str()),
                    StateKind::MeanAtFollowers { .. } | StateKind::Rows { .. } => {}
                },
                Task::Where { column: None, .. }
                | Task::AllMissing { .. }
                | Task::Followers { .. }
                | Task::Quotient { .. } => {}
            }
        }
        out
    }

    /// The index of the first task that `is`, made by `new` when there is none.
    fn find(&mut self, is: impl Fn(&Task) -> bool, new: impl FnOnce() -> Task) -> usize {
        match self.tasks.iter().position(is) {
            Some(i) => i,
            None => {
                self.tasks.push(new());
                self.tasks.len() - 1
            }
        }
    }

    fn dense(&mut self, column: &str, schema: &Schema, counted: bool) -> Result<usize> {
        let sums = Sums::of(schema.get(column).unwrap_or(&DataType::Null))?;
        let i = self.find(
            |t| matches!(t, Task::Dense { column: c, .. } if c == column),
            || Task::Dense {
                column: column.to_string(),
                sums,
                counts: None,
                sparse: None,
            },
        );
        if let Task::Dense { counts, .. } = &mut self.tasks[i] {
            if counted && counts.is_none() {
                *counts = Some(Vec::new());
            }
        }
        Ok(i)
    }

    /// The outputs of a task's sum and, when asked, its count (`output(name, sum)`).
    fn sum_and_count(&mut self, sum: String, count: Option<String>, output: impl Fn(String, bool) -> Output) {
        self.outputs.push(output(sum, true));
        if let Some(name) = count {
            self.outputs.push(output(name, false));
        }
    }

    /// The Quotient task of num / den.
    fn quotient(&mut self, num: &str, den: &str) -> usize {
        self.find(
            |t| matches!(t, Task::Quotient { num: n, den: d, .. } if n == num && d == den),
            || Task::Quotient {
                num: num.to_string(),
                den: den.to_string(),
                sums: Vec::new(),
                counts: Vec::new(),
            },
        )
    }

    /// The Where task of a column (none: of rows) under a condition and a mask.
    fn filtered(
        &mut self,
        column: Option<String>,
        filter: String,
        mask: Option<String>,
        schema: &Schema,
    ) -> Result<usize> {
        let sums = match &column {
            Some(c) => Counted::of(schema.get(c).unwrap_or(&DataType::Null))?,
            None => Counted::Int(Vec::new()),
        };
        Ok(self.find(
            |t| matches!(t, Task::Where { column: c, filter: f, mask: m, .. } if *c == column && *f == filter && *m == mask),
            || Task::Where {
                column: column.clone(),
                filter: filter.clone(),
                mask: mask.clone(),
                sums,
            },
        ))
    }

    /// The columns the tasks read from a batch.
    pub fn reads(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for task in &self.tasks {
            match task {
                Task::Dense { column, .. } | Task::FollowersWithout { column, .. } => out.push(column),
                Task::Without { column, mask, .. } => {
                    out.push(column);
                    out.extend(mask.iter().map(String::as_str));
                }
                Task::AllMissing { columns, .. } => out.extend(columns.iter().map(String::as_str)),
                Task::Quotient { num, den, .. } => out.extend([num.as_str(), den.as_str()]),
                Task::Where {
                    column, filter, mask, ..
                } => out.extend(
                    [column.as_deref(), Some(filter.as_str()), mask.as_deref()]
                        .into_iter()
                        .flatten(),
                ),
                Task::Own(own) => {
                    out.push(&own.op.column);
                    if let StateKind::Sum { mask: Some(mask), .. } = &own.op.kind {
                        out.push(mask);
                    }
                }
                Task::Followers { .. } => {}
            }
        }
        out
    }

    fn without(&mut self, column: &str, mask: &[String]) -> usize {
        self.find(
            |t| matches!(t, Task::Without { column: c, mask: m, .. } if c == column && m == mask),
            || Task::Without {
                column: column.to_string(),
                mask: mask.to_vec(),
                acc: Vec::new(),
            },
        )
    }

    /// Adds a batch; `groups` are its rows' groups, `n` the number of groups so far, `followers_at_post` the
    /// rows' followers-at-post (NaN where unknown) when a state needs them, and `unknown` the
    /// rows where they are unknown. `magnitudes`: the or of the magnitudes of columns whose
    /// values the batch's checks have read (their bounds need no pass of their own).
    pub fn add(
        &mut self,
        batch: &DataFrame,
        groups: &[u32],
        n: usize,
        followers_at_post: Option<&[f64]>,
        unknown: &[u32],
        magnitudes: &[(String, u64)],
    ) -> Result<()> {
        // the bounds beside the loops: on an error the sums are not used
        let (added, bounded) = rayon::join(
            || {
                // one task at a time, in `order`
                let mut tasks: Vec<Option<&mut Task>> = self.tasks.iter_mut().map(Some).collect();
                let ordered: Vec<&mut Task> = self.order.iter().filter_map(|&i| tasks.get_mut(i)?.take()).collect();
                ordered
                    .into_par_iter()
                    .with_max_len(1)
                    .try_for_each(|task| task.add(batch, groups, n, followers_at_post, unknown))
            },
            || {
                self.bounds.par_iter_mut().try_for_each(|(column, total)| {
                    let values = batch.column(column)?.as_materialized_series();
                    let or = magnitudes.iter().find(|(c, _)| c == column).map(|(_, or)| *or);
                    overflow::add_bound(total, overflow::bound(values.i64()?, or), column)
                })
            },
        );
        added.and(bounded)
    }

    /// The states' columns, `n` groups long; `rows` are the groups' rows.
    pub fn finish(mut self, n: usize, rows: &[i64]) -> Result<Vec<Column>> {
        let mut rows = rows.to_vec();
        rows.resize(n, 0);
        for task in &mut self.tasks {
            task.resize(n);
        }
        let tasks = &mut self.tasks;
        let mut out = Vec::new();
        for output in &self.outputs {
            match output {
                Output::Sum { name, terms } => {
                    let no_sum = || Error::Internal(format!("no sum for state '{name}'"));
                    if terms.len() > 1 {
                        // a chain of terms: bounded by its terms' bounds together
                        let mut total = 0u128;
                        let mut columns = Vec::new();
                        for term in terms {
                            if let Task::Dense { column, .. } = &tasks[term.dense] {
                                let b = self.bounds.iter().find(|(c, _)| c == column).map_or(0, |(_, b)| *b);
                                total = total.saturating_add(b);
                                columns.push(format!("'{column}'"));
                            }
                        }
                        if !overflow::fits(total) {
                            return Err(overflow::sum_error(&format!(
                                "the columns {} of posts added up",
                                columns.join(", ")
                            )));
                        }
                    }
                    if let [Term {
                        plus: true,
                        dense,
                        without: None,
                    }] = terms[..]
                    {
                        if let Task::Dense {
                            sums: Sums::Float(s), ..
                        } = &tasks[dense]
                        {
                            out.push(Column::new(name.into(), s));
                            continue;
                        }
                    }
                    let mut total = vec![0i64; n];
                    for term in terms {
                        let Task::Dense { sums: Sums::Int(s), .. } = &tasks[term.dense] else {
                            return Err(no_sum());
                        };
                        let w = match term.without.map(|w| &tasks[w]) {
                            Some(Task::Without { acc, .. }) => Some(acc),
                            Some(_) => return Err(no_sum()),
                            None => None,
                        };
                        for (g, t) in total.iter_mut().enumerate() {
                            let v = s[g].wrapping_sub(w.map_or(0, |w| w[g].0));
                            *t = if term.plus {
                                t.wrapping_add(v)
                            } else {
                                t.wrapping_sub(v)
                            };
                        }
                    }
                    out.push(Column::new(name.into(), total));
                }
                Output::Present { name, missing } => {
                    let Task::AllMissing { counts, .. } = &tasks[*missing] else {
                        return Err(Error::Internal(format!("no count for state '{name}'")));
                    };
                    let present: Vec<i64> = rows.iter().zip(counts).map(|(r, m)| r - m).collect();
                    out.push(Column::new(name.into(), present));
                }
                Output::Count { name, dense, without } => {
                    let Task::Dense {
                        counts: Some(counted),
                        sparse,
                        ..
                    } = &tasks[*dense]
                    else {
                        return Err(Error::Internal(format!("no count for state '{name}'")));
                    };
                    let mut counts: Vec<i64> = match sparse {
                        Some(true) => counted.clone(),
                        _ => rows.iter().zip(counted).map(|(r, m)| r - m).collect(),
                    };
                    if let Some(Task::Without { acc, .. }) = without.map(|w| &tasks[w]) {
                        counts.iter_mut().zip(acc).for_each(|(c, w)| *c -= w.1);
                    }
                    out.push(Column::new(name.into(), counts));
                }
                Output::Num { name, dense, without } => match (&tasks[*dense], &tasks[*without]) {
                    (Task::Dense { sums, .. }, Task::FollowersWithout { values, .. }) => {
                        let sums: Vec<i64> = match sums {
                            Sums::Int(s) => s.iter().zip(values).map(|(a, b)| a.wrapping_sub(*b)).collect(),
                            Sums::Float(_) => {
                                return Err(Error::Internal(format!("fractional sum for state '{name}'")))
                            }
                        };
                        out.push(Column::new(name.into(), sums));
                    }
                    _ => return Err(Error::Internal(format!("no sum for state '{name}'"))),
                },
                Output::Den {
                    name,
                    followers,
                    without,
                } => match (&tasks[*followers], &tasks[*without]) {
                    (Task::Followers { sums }, Task::FollowersWithout { followers, .. }) => {
                        let den: Vec<f64> = sums.iter().zip(followers).map(|(a, b)| a - b).collect();
                        out.push(Column::new(name.into(), den));
                    }
                    _ => return Err(Error::Internal(format!("no followers for state '{name}'"))),
                },
                Output::Where { name, task, sum } => match &tasks[*task] {
                    Task::Where { sums, .. } => out.push(sums.column(name, *sum)),
                    _ => return Err(Error::Internal(format!("no rows for state '{name}'"))),
                },
                Output::Quotient { name, task, sum } => match &tasks[*task] {
                    Task::Quotient { sums, counts, .. } => out.push(match sum {
                        true => Column::new(name.into(), sums),
                        false => Column::new(name.into(), counts),
                    }),
                    _ => return Err(Error::Internal(format!("no quotients for state '{name}'"))),
                },
                Output::Own(i) => match &mut tasks[*i] {
                    Task::Own(own) => out.extend(own.finish(n)),
                    _ => return Err(Error::Internal("a state without its loop".into())),
                },
            }
        }
        Ok(out)
    }
}

/// The rows of a batch where `column` has a value (None: all of them), as one bitmap.
pub(super) fn validity(column: &Column) -> Option<Bitmap> {
    let s = column.as_materialized_series();
    if s.null_count() == 0 {
        return None;
    }
    let present = s.is_not_null();
    let present = present.rechunk();
    let bits = present.downcast_iter().next().map(|a| a.values().clone());
    bits
}

/// The rows of a batch where every one of `columns` is missing, as one bitmap (None: no row).
fn all_missing(batch: &DataFrame, columns: &[String]) -> Result<Option<Bitmap>> {
    let mut out: Option<Bitmap> = None;
    for c in columns {
        let Some(valid) = validity(batch.column(c)?) else {
            return Ok(None);
        };
        let missing = !&valid;
        out = Some(match out {
            Some(acc) => &acc & &missing,
            None => missing,
        });
    }
    Ok(out)
}

/// The rows of a batch where a Boolean column is true (a null is not), as one bitmap.
pub(super) fn truth(column: &Column) -> Result<Bitmap> {
    let ca = column.as_materialized_series().bool()?.rechunk();
    let bits = match ca.downcast_iter().next() {
        Some(arr) => match arr.validity() {
            Some(valid) => arr.values() & valid,
            None => arr.values().clone(),
        },
        None => Bitmap::new(),
    };
    Ok(bits)
}

/// Calls `f` with the index of every set bit, in order.
fn for_each_set(bits: &Bitmap, mut f: impl FnMut(usize)) {
    for_each_word(bits, |base, mut w| {
        while w != 0 {
            f(base + w.trailing_zeros() as usize);
            w &= w - 1;
        }
    });
}

/// Calls `f` with each 64-bit word of the bitmap and the index of its first bit, in order
/// (the last words' bits past the bitmap's end are 0; their first index may be past it too).
fn for_each_word(bits: &Bitmap, mut f: impl FnMut(usize, u64)) {
    let mut words = bits.fast_iter_u64();
    let mut base = 0usize;
    for w in &mut words {
        f(base, w);
        base += 64;
    }
    let ([lo, hi], _) = words.remainder();
    f(base, lo);
    f(base + 64, hi);
}

fn grow<T: Clone + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}

impl Task {
    /// The column whose values the task reads first (its condition's, for a count of rows).
    fn first_read(&self) -> &str {
        match self {
            Task::Dense { column, .. } | Task::Without { column, .. } | Task::FollowersWithout { column, .. } => column,
            Task::Where { column, filter, .. } => column.as_deref().unwrap_or(filter),
            Task::Quotient { num, .. } => num,
            Task::AllMissing { columns, .. } => columns.first().map_or("", String::as_str),
            Task::Followers { .. } => "",
            Task::Own(own) => &own.op.column,
        }
    }

    fn resize(&mut self, n: usize) {
        match self {
            Task::Dense { sums, counts, .. } => {
                sums.grow(n);
                if let Some(c) = counts {
                    grow(c, n);
                }
            }
            Task::Without { acc, .. } => grow(acc, n),
            Task::AllMissing { counts, .. } => grow(counts, n),
            Task::Followers { sums } => grow(sums, n),
            Task::FollowersWithout { values, followers, .. } => {
                grow(values, n);
                grow(followers, n);
            }
            Task::Where { sums, .. } => sums.grow(n),
            Task::Quotient { sums, counts, .. } => {
                grow(sums, n);
                grow(counts, n);
            }
            Task::Own(_) => {}
        }
    }

    fn add(
        &mut self,
        batch: &DataFrame,
        groups: &[u32],
        n: usize,
        followers_at_post: Option<&[f64]>,
        unknown: &[u32],
    ) -> Result<()> {
        let needs_followers_at_post =
            || followers_at_post.ok_or_else(|| Error::Internal("followers-at-post state without followers".into()));
        self.resize(n);
        match self {
            Task::Dense {
                column,
                sums,
                counts,
                sparse,
            } => {
                let values = batch.column(column)?.as_materialized_series();
                if sparse.is_none() && !values.is_empty() {
                    *sparse = Some(2 * values.null_count() > values.len());
                }
                let sparse = sparse.unwrap_or(false);
                match sums {
                    Sums::Int(s) => dense(s, counts.as_deref_mut(), sparse, values.i64()?, groups),
                    Sums::Float(s) => dense(s, counts.as_deref_mut(), sparse, values.f64()?, groups),
                }
            }
            Task::Without { column, mask, acc } => {
                if let Some(missing) = all_missing(batch, mask)? {
                    let values = batch.column(column)?.as_materialized_series();
                    counted_where(acc, values.i64()?, groups, &missing);
                }
            }
            Task::Where {
                column,
                filter,
                mask,
                sums,
            } => {
                let mut keep = truth(batch.column(filter)?)?;
                if let Some(valid) = mask.as_ref().map(|m| batch.column(m)).transpose()?.and_then(validity) {
                    keep = &keep & &valid;
                }
                let Some(column) = column else {
                    sums.count(&keep, groups);
                    return Ok(());
                };
                let values = batch.column(column)?.as_materialized_series();
                match sums {
                    Counted::Int(s) => counted_where(s, values.i64()?, groups, &keep),
                    Counted::Float(s) => counted_where(s, values.f64()?, groups, &keep),
                }
            }
            Task::AllMissing { columns, counts } => {
                if let Some(missing) = all_missing(batch, columns)? {
                    for_each_set(&missing, |j| counts[groups[j] as usize] += 1);
                }
            }
            Task::Followers { sums } => {
                for (&at, &g) in needs_followers_at_post()?.iter().zip(groups) {
                    sums[g as usize] += if at.is_nan() { 0.0 } else { at };
                }
            }
            Task::FollowersWithout {
                column,
                values,
                followers,
            } => {
                let followers_at_post = needs_followers_at_post()?;
                let ca = batch.column(column)?.as_materialized_series().i64()?;
                // chunk by chunk (a copy into one chunk would cost more than the loops);
                // `unknown` is in row order, so each chunk takes the next run of it
                let (mut offset, mut next) = (0usize, 0usize);
                for arr in ca.downcast_iter() {
                    let (v, valid, end) = (arr.values().as_slice(), arr.validity(), offset + arr.len());
                    let taken = unknown[next..].partition_point(|&j| (j as usize) < end);
                    for &j in &unknown[next..next + taken] {
                        let (row, j) = (j as usize, j as usize - offset);
                        if valid.is_none_or(|b| b.get_bit(j)) {
                            values[groups[row] as usize] += v[j];
                        }
                    }
                    next += taken;
                    if let Some(valid) = valid.filter(|b| b.unset_bits() > 0) {
                        for_each_set(&!valid, |j| {
                            let row = offset + j;
                            let at = followers_at_post[row];
                            if !at.is_nan() {
                                followers[groups[row] as usize] += at;
                            }
                        });
                    }
                    offset = end;
                }
            }
            Task::Quotient { num, den, sums, counts } => {
                let num = batch.column(num)?.as_materialized_series();
                let den = batch.column(den)?.as_materialized_series();
                add_quotients(sums, counts, num, den, groups)?;
            }
            Task::Own(own) => own.add(batch, groups, n, followers_at_post)?,
        }
        Ok(())
    }
}

/// Adds a batch's present values into per-group sums and, when asked, counts its missing
/// values, or (`sparse`) visits the present ones only and counts those.
fn dense<T: NumericNative>(
    sums: &mut [T],
    mut counts: Option<&mut [i64]>,
    sparse: bool,
    ca: &ChunkedArray<impl PolarsNumericType<Native = T>>,
    groups: &[u32],
) {
    let mut offset = 0usize;
    for arr in ca.downcast_iter() {
        let values = arr.values().as_slice();
        let len = values.len();
        let gs = &groups[offset..offset + len];
        match (arr.validity().filter(|v| v.unset_bits() > 0), sparse) {
            (Some(valid), true) => match counts.as_deref_mut() {
                Some(counts) => for_each_set(valid, |j| {
                    let g = gs[j] as usize;
                    sums[g] += values[j];
                    counts[g] += 1;
                }),
                None => for_each_set(valid, |j| sums[gs[j] as usize] += values[j]),
            },
            (None, true) => {
                for (v, &g) in values.iter().zip(gs) {
                    sums[g as usize] += *v;
                }
                if let Some(counts) = counts.as_deref_mut() {
                    for &g in gs {
                        counts[g as usize] += 1;
                    }
                }
            }
            (None, false) => {
                for (v, &g) in values.iter().zip(gs) {
                    sums[g as usize] += *v;
                }
            }
            (Some(valid), false) => {
                // branch-free: a missing value adds zero
                for ((v, &g), bit) in values.iter().zip(gs).zip(valid.iter()) {
                    sums[g as usize] += if bit { *v } else { T::default() };
                }
                if let Some(missing) = counts.as_deref_mut() {
                    for_each_set(&!valid, |j| missing[gs[j] as usize] += 1);
                }
            }
        }
        offset += len;
    }
}

/// Adds a batch's present values at the rows of `keep` into per-group sums, each beside its
/// count (a `where` condition's rows, or the rows where a mask is missing).
fn counted_where<T: NumericNative>(
    acc: &mut [(T, i64)],
    ca: &ChunkedArray<impl PolarsNumericType<Native = T>>,
    groups: &[u32],
    keep: &Bitmap,
) {
    let mut offset = 0usize;
    for arr in ca.downcast_iter() {
        let len = arr.len();
        let rows = keep.clone().sliced(offset, len);
        let rows = match arr.validity().filter(|v| v.unset_bits() > 0) {
            Some(valid) => valid & &rows,
            None => rows,
        };
        let (values, gs) = (arr.values().as_slice(), &groups[offset..offset + len]);
        for_each_set(&rows, |j| {
            let a = &mut acc[gs[j] as usize];
            a.0 += values[j];
            a.1 += 1;
        });
        offset += len;
    }
}

/// Adds num / den of each row where both are present and den is not 0 (as
/// `derived::quotients` computes a post's quotient) into per-group sums and counts, in row
/// order (the sums are those of the quotients' column, bit for bit).
fn add_quotients(sums: &mut [f64], counts: &mut [i64], num: &Series, den: &Series, groups: &[u32]) -> Result<()> {
    let acc = (sums, counts, groups);
    match (num.dtype(), den.dtype()) {
        (DataType::Int64, DataType::Int64) => quotient_loop(acc, num.i64()?, den.i64()?),
        (DataType::Float64, DataType::Int64) => quotient_loop(acc, num.f64()?, den.i64()?),
        (DataType::Int64, DataType::Float64) => quotient_loop(acc, num.i64()?, den.f64()?),
        _ => {
            let (num, den) = (num.cast(&DataType::Float64)?, den.cast(&DataType::Float64)?);
            quotient_loop(acc, num.f64()?, den.f64()?)
        }
    }
}

/// A column's value as a double.
trait Double: Copy {
    fn double(self) -> f64;
}

impl Double for i64 {
    fn double(self) -> f64 {
        self as f64
    }
}

impl Double for f64 {
    fn double(self) -> f64 {
        self
    }
}

/// `add_quotients` over typed columns: 64 rows at a time, each row's sum and count added
/// branch-free under the word of rows where both values are present.
fn quotient_loop<A, B>(
    (sums, counts, groups): (&mut [f64], &mut [i64], &[u32]),
    num: &ChunkedArray<A>,
    den: &ChunkedArray<B>,
) -> Result<()>
where
    A: PolarsNumericType,
    B: PolarsNumericType,
    A::Native: Double,
    B::Native: Double,
{
    let lengths = |chunks: &[ArrayRef]| chunks.iter().map(|a| a.len()).collect::<Vec<_>>();
    // (columns of one batch are chunked alike; others are put in one chunk each)
    let (num, den) = match lengths(num.chunks()) == lengths(den.chunks()) {
        true => (Cow::Borrowed(num), Cow::Borrowed(den)),
        false => (
            Cow::Owned(num.rechunk().into_owned()),
            Cow::Owned(den.rechunk().into_owned()),
        ),
    };
    let mut offset = 0usize;
    for (a, b) in num.downcast_iter().zip(den.downcast_iter()) {
        let len = a.len();
        let (x, y) = (a.values().as_slice(), b.values().as_slice());
        let gs = groups
            .get(offset..offset + len)
            .ok_or_else(|| Error::Internal("rows without groups".into()))?;
        let valid = match (a.validity(), b.validity()) {
            (Some(p), Some(q)) => Some(p & q),
            (Some(p), None) | (None, Some(p)) => Some(p.clone()),
            (None, None) => None,
        };
        let mut add = |start: usize, word: u64| {
            let end = (start + 64).min(len);
            for j in start..end {
                let d = y[j].double();
                let take = (word >> (j - start)) & 1 == 1 && d != 0.0;
                let g = gs[j] as usize;
                sums[g] += if take { x[j].double() / d } else { 0.0 };
                counts[g] += i64::from(take);
            }
        };
        // (a word starting past the chunk adds nothing)
        match &valid {
            Some(bits) => for_each_word(bits, &mut add),
            None => (0..len).step_by(64).for_each(|start| add(start, u64::MAX)),
        }
        offset += len;
    }
    Ok(())
}

/// A state with its own loop: a fractional sum under a mask, Σ value and Σ followers-at-post
/// over fractional values or followers, the mean of a follower rate.
struct Own {
    op: CustomState,
    sums: Option<Sums>,
    counts: Vec<i64>,
    followers: Vec<f64>,
}

/// Adds a batch's values into per-group sums, and counts and followers-at-post sums when
/// asked for.
fn add_own<T: NumericNative>(
    sums: &mut [T],
    mut counts: Option<&mut [i64]>,
    followers: &mut [f64],
    ca: &ChunkedArray<impl PolarsNumericType<Native = T>>,
    groups: &[u32],
    mask: Option<&Bitmap>,
    followers_at_post: Option<&[f64]>,
) {
    let mut offset = 0usize;
    for arr in ca.downcast_iter() {
        let values = arr.values().as_slice();
        let len = values.len();
        let gs = &groups[offset..offset + len];
        // the rows to add: a value present, and the mask column's value present, as one bitmap
        let valid = arr.validity().filter(|v| v.unset_bits() > 0);
        let keep: Option<Bitmap> = match (valid, mask) {
            (None, None) => None,
            (Some(v), None) => Some(v.clone()),
            (None, Some(m)) => Some(m.clone().sliced(offset, len)),
            (Some(v), Some(m)) => Some(v & &m.clone().sliced(offset, len)),
        };
        match (keep, followers_at_post, counts.as_deref_mut()) {
            (None, None, None) => {
                for (v, &g) in values.iter().zip(gs) {
                    sums[g as usize] += *v;
                }
            }
            (None, None, Some(counts)) => {
                for (v, &g) in values.iter().zip(gs) {
                    sums[g as usize] += *v;
                    counts[g as usize] += 1;
                }
            }
            (Some(keep), None, None) => {
                for ((v, &g), bit) in values.iter().zip(gs).zip(keep.iter()) {
                    sums[g as usize] += if bit { *v } else { T::default() };
                }
            }
            (Some(keep), None, Some(counts)) => {
                for ((v, &g), bit) in values.iter().zip(gs).zip(keep.iter()) {
                    sums[g as usize] += if bit { *v } else { T::default() };
                    counts[g as usize] += i64::from(bit);
                }
            }
            (keep, Some(f), _) => {
                let f = &f[offset..offset + len];
                for (j, ((v, &g), &at)) in values.iter().zip(gs).zip(f).enumerate() {
                    if at.is_nan() || keep.as_ref().is_some_and(|k| !k.get_bit(j)) {
                        continue;
                    }
                    followers[g as usize] += at;
                    sums[g as usize] += *v;
                }
            }
        }
        offset += len;
    }
}

impl Own {
    fn new(op: CustomState) -> Self {
        Self {
            op,
            sums: None,
            counts: Vec::new(),
            followers: Vec::new(),
        }
    }

    fn add(&mut self, batch: &DataFrame, groups: &[u32], n: usize, followers_at_post: Option<&[f64]>) -> Result<()> {
        let column = &self.op.column;
        let mask = match &self.op.kind {
            StateKind::Sum { mask, .. } => mask.as_ref().map(|m| batch.column(m)).transpose()?,
            StateKind::AtFollowers { .. } | StateKind::MeanAtFollowers { .. } => None,
            StateKind::Rows { .. } => return Err(Error::Internal("a row count with a loop of its own".into())),
        };
        let followers_at_post = match self.op.kind {
            StateKind::AtFollowers { .. } | StateKind::MeanAtFollowers { .. } => Some(
                followers_at_post.ok_or_else(|| Error::Internal("followers-at-post state without followers".into()))?,
            ),
            StateKind::Sum { .. } | StateKind::Rows { .. } => None,
        };
        if let (StateKind::MeanAtFollowers { .. }, Some(followers_at_post)) = (&self.op.kind, followers_at_post) {
            let values = batch
                .column(column)?
                .as_materialized_series()
                .cast(&DataType::Float64)?;
            let sums = match &mut self.sums {
                Some(Sums::Float(v)) => v,
                _ => {
                    self.sums = Some(Sums::Float(Vec::new()));
                    match &mut self.sums {
                        Some(Sums::Float(v)) => v,
                        _ => return Err(Error::Internal("mean state without sums".into())),
                    }
                }
            };
            sums.resize(n, 0.0);
            self.counts.resize(n, 0);
            let mut offset = 0usize;
            for arr in values.f64()?.downcast_iter() {
                for (j, v) in arr.iter().enumerate() {
                    let (row, at) = (offset + j, followers_at_post[offset + j]);
                    if let Some(v) = v {
                        if at > 0.0 {
                            let g = groups[row] as usize;
                            sums[g] += v / at;
                            self.counts[g] += 1;
                        }
                    }
                }
                offset += arr.len();
            }
            return Ok(());
        }
        let values = batch.column(column)?.as_materialized_series();
        let mask = mask.and_then(validity);
        if self.sums.is_none() {
            self.sums = Some(Sums::of(values.dtype())?);
        }
        let counted = matches!(self.op.kind, StateKind::Sum { count: Some(_), .. });
        self.counts.resize(if counted { n } else { 0 }, 0);
        self.followers
            .resize(if followers_at_post.is_some() { n } else { 0 }, 0.0);
        let counts = counted.then_some(self.counts.as_mut_slice());
        match &mut self.sums {
            Some(Sums::Int(sums)) => {
                sums.resize(n, 0);
                add_own(
                    sums,
                    counts,
                    &mut self.followers,
                    values.i64()?,
                    groups,
                    mask.as_ref(),
                    followers_at_post,
                );
            }
            Some(Sums::Float(sums)) => {
                sums.resize(n, 0.0);
                add_own(
                    sums,
                    counts,
                    &mut self.followers,
                    values.f64()?,
                    groups,
                    mask.as_ref(),
                    followers_at_post,
                );
            }
            None => return Err(Error::Internal("state without sums".into())),
        }
        Ok(())
    }

    /// The state's columns, `n` groups long.
    fn finish(&mut self, n: usize) -> Vec<Column> {
        let sums = match self.sums.take() {
            Some(Sums::Int(mut v)) => {
                v.resize(n, 0);
                Sums::Int(v)
            }
            Some(Sums::Float(mut v)) => {
                v.resize(n, 0.0);
                Sums::Float(v)
            }
            None => Sums::Int(vec![0; n]),
        };
        let column = |name: &str, sums: Sums| match sums {
            Sums::Int(v) => Column::new(name.into(), v),
            Sums::Float(v) => Column::new(name.into(), v),
        };
        let mut counts = std::mem::take(&mut self.counts);
        counts.resize(n, 0);
        match &self.op.kind {
            StateKind::Sum { sum, count, .. } => {
                let mut out = vec![column(sum, sums)];
                if let Some(name) = count {
                    out.push(Column::new(name.into(), counts));
                }
                out
            }
            StateKind::AtFollowers { num, den } => {
                let mut followers = std::mem::take(&mut self.followers);
                followers.resize(n, 0.0);
                vec![column(num, sums), Column::new(den.into(), followers)]
            }
            StateKind::MeanAtFollowers { sum, count } => vec![column(sum, sums), Column::new(count.into(), counts)],
            StateKind::Rows { count } => vec![Column::new(count.into(), counts)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers (xorshift).
    fn numbers(seed: u64, n: usize) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect()
    }

    fn column(seed: u64, n: usize, missing_every: u64) -> Vec<Option<i64>> {
        numbers(seed, n)
            .into_iter()
            .map(|x| (x % missing_every != 0).then_some((x % 1000) as i64))
            .collect()
    }

    fn get(columns: &[Column], name: &str) -> Vec<f64> {
        let c = columns.iter().find(|c| c.name() == name).expect(name);
        let s = c.as_materialized_series().cast(&DataType::Float64).expect("cast");
        s.f64().expect("f64").into_no_null_iter().collect()
    }

    /// Sums over a chain `a - b` (rule 3) added up from its terms equal the sums over the
    /// computed column, which then is not read.
    #[test]
    fn linear_columns_add_up_from_their_terms() -> Result<()> {
        let n = 3_000;
        let groups: Vec<u32> = numbers(5, n).into_iter().map(|x| (x % 23) as u32).collect();
        let (a, b, c) = (column(21, n, 3), column(23, n, 4), column(29, n, 5));
        let l: Vec<Option<i64>> = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x.is_some() || y.is_some()).then(|| x.unwrap_or(0) - y.unwrap_or(0)))
            .collect();
        let batch = DataFrame::new(
            n,
            vec![
                Column::new("a".into(), &a),
                Column::new("b".into(), &b),
                Column::new("c".into(), &c),
                Column::new("l".into(), &l),
            ],
        )?;
        let sum = |column: &str, name: &str, count: Option<&str>, mask: Option<&str>| CustomState {
            column: column.into(),
            kind: StateKind::Sum {
                sum: name.into(),
                count: count.map(Into::into),
                mask: mask.map(Into::into),
                filter: None,
            },
        };
        let ops = || {
            vec![
                sum("l", "s:l", Some("n:l"), None),
                sum("l", "r:l", None, Some("c")),
                sum("c", "r:c", Some("rn:c"), Some("l")),
                sum("l", "rl:l", Some("rln:l"), Some("l")),
            ]
        };
        let mut rows = vec![0i64; 23];
        for &g in &groups {
            rows[g as usize] += 1;
        }
        let linear = vec![("l".to_string(), vec![(true, "a".to_string()), (false, "b".to_string())])];
        let mut split = States::new(ops(), batch.schema(), false, &linear, &[])?;
        let mut whole = States::new(ops(), batch.schema(), false, &[], &[])?;
        // the count of a chain with a mask needs the chain itself
        assert!(split.reads().contains(&"l"));
        let without_masked: Vec<CustomState> = ops().into_iter().take(3).collect();
        assert!(!States::new(without_masked, batch.schema(), false, &linear, &[])?
            .reads()
            .contains(&"l"));
        split.add(&batch, &groups, 23, None, &[], &[])?;
        whole.add(&batch, &groups, 23, None, &[], &[])?;
        let (split, whole) = (split.finish(23, &rows)?, whole.finish(23, &rows)?);
        for name in ["s:l", "n:l", "r:l", "r:c", "rn:c", "rl:l", "rln:l"] {
            assert_eq!(get(&split, name), get(&whole, name), "{name}");
        }
        Ok(())
    }

    /// A column's loops run one after another, whichever KPIs asked for them, so that the
    /// later ones find the column in cache; every task runs once.
    #[test]
    fn loops_over_one_column_follow_each_other() -> Result<()> {
        let schema = Schema::from_iter(
            ["a", "b", "c"]
                .map(|c| Field::new(c.into(), DataType::Int64))
                .into_iter()
                .chain([Field::new("f".into(), DataType::Boolean)]),
        );
        let sum = |column: &str, name: &str, mask: Option<&str>, filter: Option<&str>| CustomState {
            column: column.into(),
            kind: StateKind::Sum {
                sum: name.into(),
                count: None,
                mask: mask.map(Into::into),
                filter: filter.map(Into::into),
            },
        };
        let ops = vec![
            sum("a", "s:a", None, None),
            sum("b", "s:b", None, None),
            sum("a", "w:a", None, Some("f")),
            sum("c", "s:c", None, None),
            sum("a", "r:a", Some("b"), None),
            sum("b", "w:b", None, Some("f")),
        ];
        let states = States::new(ops, &schema, false, &[], &[])?;
        let firsts: Vec<&str> = states.order.iter().map(|&i| states.tasks[i].first_read()).collect();
        assert_eq!(firsts, ["a", "a", "a", "b", "b", "c"]);
        let mut seen = states.order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..states.tasks.len()).collect::<Vec<_>>());
        Ok(())
    }

    /// Sums and counts of a column over another, divided as they are added, equal those over
    /// the quotients' column (`derived::quotients`), bit for bit: zero and missing
    /// denominators, missing numerators, integer and fractional numerators, in two chunks.
    #[test]
    fn quotients_divided_as_they_add_equal_sums_of_their_column() -> Result<()> {
        let n = 2_000;
        let groups: Vec<u32> = numbers(11, n).into_iter().map(|x| (x % 17) as u32).collect();
        let half = |v: Vec<Option<i64>>, name: &str| -> Result<Column> {
            let mut s = Series::new(name.into(), &v[..n / 2]);
            s.append(&Series::new(name.into(), &v[n / 2..]))?;
            Ok(s.into_column())
        };
        // denominators: every 4th missing, some zeros (x % 1000 < 50)
        let den: Vec<Option<i64>> = column(31, n, 4)
            .into_iter()
            .map(|v| v.map(|v| if v < 50 { 0 } else { v }))
            .collect();
        let num = column(37, n, 3);
        let frac: Vec<Option<f64>> = column(41, n, 5)
            .into_iter()
            .map(|v| v.map(|v| v as f64 / 7.0))
            .collect();
        let mut frac_column = Series::new("f".into(), &frac[..n / 2]);
        frac_column.append(&Series::new("f".into(), &frac[n / 2..]))?;
        let mut batch = DataFrame::new(n, vec![half(num, "a")?, half(den, "d")?, frac_column.into_column()])?;
        assert_eq!(batch.column("a")?.as_materialized_series().n_chunks(), 2);
        let quotients = vec![
            ("q".to_string(), "a".to_string(), "d".to_string()),
            ("r".to_string(), "f".to_string(), "d".to_string()),
        ];
        for q in super::super::derived::quotients(&batch, &quotients)? {
            batch.with_column(q.into_column())?;
        }
        let sum = |column: &str| CustomState {
            column: column.into(),
            kind: StateKind::Sum {
                sum: format!("s:{column}"),
                count: Some(format!("n:{column}")),
                mask: None,
                filter: None,
            },
        };
        let ops = || vec![sum("q"), sum("r")];
        let mut divided = States::new(ops(), batch.schema(), false, &[], &quotients)?;
        assert!(!divided.reads().contains(&"q") && divided.reads().contains(&"d"));
        let mut summed = States::new(ops(), batch.schema(), false, &[], &[])?;
        let mut rows = vec![0i64; 17];
        for &g in &groups {
            rows[g as usize] += 1;
        }
        divided.add(&batch, &groups, 17, None, &[], &[])?;
        summed.add(&batch, &groups, 17, None, &[], &[])?;
        let (divided, summed) = (divided.finish(17, &rows)?, summed.finish(17, &rows)?);
        for name in ["s:q", "n:q", "s:r", "n:r"] {
            let (a, b) = (get(&divided, name), get(&summed, name));
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{name}"
            );
        }
        assert!(get(&divided, "n:q").iter().sum::<f64>() > 0.0);
        Ok(())
    }

    #[test]
    fn set_bits_are_visited_in_order_at_any_offset() {
        let bits: Vec<bool> = numbers(7, 300).into_iter().map(|x| x % 3 == 0).collect();
        let bitmap = Bitmap::from_iter(bits.iter().copied());
        for offset in [0, 1, 63, 64, 65, 130] {
            let sliced = bitmap.clone().sliced(offset, 300 - offset);
            let mut seen = Vec::new();
            for_each_set(&sliced, |j| seen.push(j));
            let want: Vec<usize> = (0..300 - offset).filter(|&j| bits[offset + j]).collect();
            assert_eq!(seen, want, "offset {offset}");
        }
    }

    /// Sums, counts and sums under masks, by subtraction, equal the direct ones; so do Σ value
    /// and Σ followers-at-post over posts with both.
    #[test]
    fn states_by_subtraction_equal_direct_sums() -> Result<()> {
        let n = 5_000;
        let groups: Vec<u32> = numbers(3, n).into_iter().map(|x| (x % 37) as u32).collect();
        let a = column(11, n, 5);
        let b = column(13, n, 3);
        let f: Vec<Option<f64>> = numbers(17, n)
            .into_iter()
            .map(|x| (x % 4 != 0).then_some((x % 5000) as f64))
            .collect();
        let followers_at_post: Vec<f64> = f.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
        // two batches, the second with more groups than the first
        let half = n / 2;
        let batch = |lo: usize, hi: usize| -> Result<DataFrame> {
            Ok(DataFrame::new(
                hi - lo,
                vec![
                    Column::new("a".into(), &a[lo..hi]),
                    Column::new("b".into(), &b[lo..hi]),
                    Column::new(
                        "x".into(),
                        a[lo..hi].iter().map(|v| v.map(|v| v as f64 / 3.0)).collect::<Vec<_>>(),
                    ),
                    // a condition, unknown at some rows
                    Column::new(
                        "c".into(),
                        (lo..hi).map(|j| (j % 7 != 0).then_some(j % 3 == 0)).collect::<Vec<_>>(),
                    ),
                    // mostly missing (a filtered sum's column), all present in the second batch
                    Column::new(
                        "m".into(),
                        (lo..hi)
                            .map(|j| (j % 4 == 0 || lo > 0).then_some(j as i64))
                            .collect::<Vec<_>>(),
                    ),
                ],
            )?)
        };
        let first = batch(0, half)?;
        let ops = vec![
            CustomState {
                column: "a".into(),
                kind: StateKind::Sum {
                    sum: "s:a".into(),
                    count: Some("n:a".into()),
                    mask: None,
                    filter: None,
                },
            },
            CustomState {
                column: "a".into(),
                kind: StateKind::Sum {
                    sum: "r:a".into(),
                    count: Some("rn:a".into()),
                    mask: Some("b".into()),
                    filter: None,
                },
            },
            CustomState {
                column: "b".into(),
                kind: StateKind::Sum {
                    sum: "r:b".into(),
                    count: None,
                    mask: Some("a".into()),
                    filter: None,
                },
            },
            CustomState {
                column: "x".into(),
                kind: StateKind::Sum {
                    sum: "r:x".into(),
                    count: None,
                    mask: Some("b".into()),
                    filter: None,
                },
            },
            CustomState {
                column: "a".into(),
                kind: StateKind::AtFollowers {
                    num: "f:a".into(),
                    den: "fd:a".into(),
                },
            },
            CustomState {
                column: "x".into(),
                kind: StateKind::AtFollowers {
                    num: "f:x".into(),
                    den: "fd:x".into(),
                },
            },
            CustomState {
                column: "m".into(),
                kind: StateKind::Sum {
                    sum: "s:m".into(),
                    count: Some("n:m".into()),
                    mask: None,
                    filter: None,
                },
            },
            CustomState {
                column: "a".into(),
                kind: StateKind::Sum {
                    sum: "w:a".into(),
                    count: Some("wn:a".into()),
                    mask: None,
                    filter: Some("c".into()),
                },
            },
            CustomState {
                column: "x".into(),
                kind: StateKind::Sum {
                    sum: "wm:x".into(),
                    count: Some("wmn:x".into()),
                    mask: Some("b".into()),
                    filter: Some("c".into()),
                },
            },
            CustomState {
                column: "c".into(),
                kind: StateKind::Rows { count: "rows:c".into() },
            },
        ];
        let mut states = States::new(ops, first.schema(), true, &[], &[])?;
        let g1: Vec<u32> = groups[..half].iter().map(|g| g % 20).collect();
        let mut rows = vec![0i64; 37];
        for &g in &g1 {
            rows[g as usize] += 1;
        }
        let unknown = |followers_at_post: &[f64]| -> Vec<u32> {
            (0..followers_at_post.len() as u32)
                .filter(|&j| followers_at_post[j as usize].is_nan())
                .collect()
        };
        states.add(
            &first,
            &g1,
            20,
            Some(&followers_at_post[..half]),
            &unknown(&followers_at_post[..half]),
            &[],
        )?;
        for &g in &groups[half..] {
            rows[g as usize] += 1;
        }
        // the second batch in two chunks, as batches read from pages come: each task walks them
        let mut second = batch(half, half + 777)?;
        second.vstack_mut(&batch(half + 777, n)?)?;
        assert_eq!(second.column("a")?.as_materialized_series().n_chunks(), 2);
        states.add(
            &second,
            &groups[half..],
            37,
            Some(&followers_at_post[half..]),
            &unknown(&followers_at_post[half..]),
            &[],
        )?;
        let out = states.finish(37, &rows)?;

        let all: Vec<u32> = g1.iter().chain(&groups[half..]).copied().collect();
        let direct = |keep: &dyn Fn(usize) -> bool, value: &dyn Fn(usize) -> f64| {
            let mut acc = vec![0.0; 37];
            for (j, &g) in all.iter().enumerate() {
                if keep(j) {
                    acc[g as usize] += value(j);
                }
            }
            acc
        };
        let av = |j: usize| a[j].unwrap_or(0) as f64;
        let (has_a, has_b, has_f) = (
            |j: usize| a[j].is_some(),
            |j: usize| b[j].is_some(),
            |j: usize| f[j].is_some(),
        );
        assert_eq!(get(&out, "s:a"), direct(&has_a, &av));
        assert_eq!(get(&out, "n:a"), direct(&has_a, &|_| 1.0));
        assert_eq!(get(&out, "r:a"), direct(&|j| has_a(j) && has_b(j), &av));
        assert_eq!(get(&out, "rn:a"), direct(&|j| has_a(j) && has_b(j), &|_| 1.0));
        assert_eq!(
            get(&out, "r:b"),
            direct(&|j| has_a(j) && has_b(j), &|j| b[j].unwrap_or(0) as f64)
        );
        assert_eq!(get(&out, "f:a"), direct(&|j| has_a(j) && has_f(j), &av));
        assert_eq!(
            get(&out, "fd:a"),
            direct(&|j| has_a(j) && has_f(j), &|j| followers_at_post[j])
        );
        let has_m = |j: usize| j % 4 == 0 || j >= half;
        assert_eq!(get(&out, "s:m"), direct(&has_m, &|j| j as f64));
        assert_eq!(get(&out, "n:m"), direct(&has_m, &|_| 1.0));
        let holds = |j: usize| j % 7 != 0 && j % 3 == 0;
        assert_eq!(get(&out, "w:a"), direct(&|j| has_a(j) && holds(j), &av));
        assert_eq!(get(&out, "wn:a"), direct(&|j| has_a(j) && holds(j), &|_| 1.0));
        assert_eq!(get(&out, "rows:c"), direct(&holds, &|_| 1.0));
        let (x, kept) = (|j: usize| av(j) / 3.0, |j: usize| has_a(j) && has_b(j) && holds(j));
        assert_eq!(get(&out, "wm:x"), direct(&kept, &x));
        assert_eq!(get(&out, "wmn:x"), direct(&kept, &|_| 1.0));
        // fractional values keep their own loops: the same sums, in row order
        assert_eq!(get(&out, "r:x"), direct(&|j| has_a(j) && has_b(j), &x));
        assert_eq!(get(&out, "f:x"), direct(&|j| has_a(j) && has_f(j), &x));
        Ok(())
    }
}
