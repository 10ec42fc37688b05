//! Rainfall windows: per-member window totals and exceedance counts, as messages arrive.
//!
//! Why its own module: the windows of the `rain-probability` preset share messages (GEFS's 6-h
//! buckets, ECMWF's running totals), so a field must stay until every window needing it is done
//! and no longer; the bookkeeping is here with its own test.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Result};
use gik_core::product::AccumulationPlan;
use gik_core::stats::EnsembleAccumulator;

/// Combines precipitation messages into window totals per member as they arrive, and counts
/// exceedances per window; every field is dropped as soon as the windows that need it are done.
pub(super) struct RainState {
    plans: Vec<AccumulationPlan>,
    /// Distinct steps of each plan.
    plan_steps: Vec<Vec<u32>>,
    /// Windows using each step.
    windows_of: BTreeMap<u32, Vec<usize>>,
    thresholds: Vec<f32>,
    members: usize,
    points: usize,
    /// `(member, step)` → field (None: missing) and windows still needing it.
    fields: HashMap<(usize, u32), Pending>,
    /// `[member][window]` → steps still to arrive.
    pending: Vec<Vec<usize>>,
    accumulators: Vec<Option<EnsembleAccumulator>>,
    done: Vec<usize>,
}

/// A member's field at a step (None: missing), and how many windows still need it.
type Pending = (Option<Vec<f32>>, usize);

/// A field for the writer: variable, `[outer, step]`, values.
type Output = (usize, [usize; 2], Vec<f32>);

impl RainState {
    pub fn new(
        plans: Vec<AccumulationPlan>,
        thresholds: Vec<f32>,
        members: usize,
        points: usize,
    ) -> Self {
        let plan_steps: Vec<Vec<u32>> = plans.iter().map(AccumulationPlan::steps).collect();
        let mut windows_of: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (w, steps) in plan_steps.iter().enumerate() {
            for &s in steps {
                windows_of.entry(s).or_default().push(w);
            }
        }
        let pending = vec![plan_steps.iter().map(Vec::len).collect(); members];
        let windows = plans.len();
        Self {
            plans,
            plan_steps,
            windows_of,
            thresholds,
            members,
            points,
            fields: HashMap::new(),
            pending,
            accumulators: (0..windows).map(|_| None).collect(),
            done: vec![0; windows],
        }
    }

    /// The distinct steps to read, ascending.
    pub fn steps(&self) -> Vec<u32> {
        self.windows_of.keys().copied().collect()
    }

    /// Takes one member's field at `step` (None: missing); returns what can now be written.
    pub fn add(
        &mut self,
        member: usize,
        step: u32,
        field: Option<Vec<f32>>,
    ) -> Result<Vec<Output>> {
        let windows = self.windows_of.get(&step).cloned().unwrap_or_default();
        self.fields.insert((member, step), (field, windows.len()));
        let mut out = Vec::new();
        for w in windows {
            let Some(left) = self.pending.get_mut(member).and_then(|p| p.get_mut(w)) else {
                continue;
            };
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.finish(member, w, &mut out)?;
            }
        }
        Ok(out)
    }

    fn finish(&mut self, member: usize, w: usize, out: &mut Vec<Output>) -> Result<()> {
        let Some(plan) = self.plans.get(w) else {
            return Ok(());
        };
        let terms: Option<Vec<&[f32]>> = plan
            .terms
            .iter()
            .map(|t| {
                self.fields
                    .get(&(member, t.step))
                    .and_then(|(f, _)| f.as_deref())
            })
            .collect();
        let total = match terms {
            Some(fields) => plan.combine(&fields)?,
            None => vec![f32::NAN; self.points],
        };
        for step in self.plan_steps.get(w).into_iter().flatten() {
            if let Some(entry) = self.fields.get_mut(&(member, *step)) {
                entry.1 = entry.1.saturating_sub(1);
                if entry.1 == 0 {
                    self.fields.remove(&(member, *step));
                }
            }
        }
        let points = self.points;
        let thresholds = self.thresholds.clone();
        let acc = self
            .accumulators
            .get_mut(w)
            .ok_or_else(|| anyhow!("no window {w}"))?
            .get_or_insert_with(|| EnsembleAccumulator::new(points, &thresholds));
        acc.add(&total)?;
        out.push((0, [member, w], total));
        if let Some(done) = self.done.get_mut(w) {
            *done += 1;
            if *done == self.members {
                if let Some(acc) = self.accumulators.get_mut(w).and_then(Option::take) {
                    for t in 0..self.thresholds.len() {
                        out.push((1, [t, w], acc.probability(t)?));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use gik_core::product::{precipitation_plan, product_by_name, Hosts};
    use gik_core::time::RunTime;

    fn run() -> RunTime {
        RunTime::parse("20250801", "00").unwrap()
    }

    #[test]
    fn rain_state_combines_and_counts() {
        let gefs = product_by_name("gefs", &Hosts::default()).unwrap();
        let plans = vec![
            precipitation_plan(gefs.as_ref(), run(), 0, 12).unwrap(),
            precipitation_plan(gefs.as_ref(), run(), 6, 12).unwrap(),
        ];
        let mut s = RainState::new(plans, vec![1.0], 2, 2);
        assert_eq!(s.steps(), [6, 12]);
        // Member 0: 6 h bucket 2 mm / 0 mm, 12 h bucket 1 mm / 0.5 mm.
        let out = s.add(0, 12, Some(vec![1.0, 0.5])).unwrap();
        assert_eq!(out, [(0, [0, 1], vec![1.0, 0.5])]);
        let out = s.add(0, 6, Some(vec![2.0, 0.0])).unwrap();
        assert_eq!(out, [(0, [0, 0], vec![3.0, 0.5])]);
        assert!(s.fields.is_empty());
        // Member 1 misses step 6: NaN in window 0, and the probabilities leave it out.
        let out = s.add(1, 6, None).unwrap();
        assert!(out.is_empty());
        let out = s.add(1, 12, Some(vec![4.0, 4.0])).unwrap();
        let windows: Vec<_> = out.iter().map(|o| (o.0, o.1)).collect();
        assert_eq!(
            windows,
            [(0, [1, 0]), (1, [0, 0]), (0, [1, 1]), (1, [0, 1])]
        );
        assert!(out[0].2.iter().all(|v| v.is_nan()));
        assert_eq!(out[1].2, [100.0, 0.0]);
        assert_eq!(out[3].2, [50.0, 50.0]);
        assert!(s.fields.is_empty());
    }
}
