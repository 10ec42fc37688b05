//! Precipitation over a window `[start, end]` hours, from messages that were accumulated
//! differently by each product.
//!
//! Why this needs care: GEFS `APCP` restarts its accumulation every 6 hours (f003 holds 0–3 h,
//! f006 0–6 h, f009 6–9 h, f012 6–12 h, ...), while ECMWF `tp` accumulates from the start of the
//! run. Summing the wrong messages double counts or misses rain, silently. So one function,
//! [`precipitation_plan`], names exactly which messages to read and with which sign, and
//! [`AccumulationPlan::combine`] applies it; nothing else in gik adds precipitation fields.

use crate::index::ForecastTime;
use crate::time::RunTime;
use crate::{Error, Result};

use super::Product;

/// How a product accumulates precipitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccumulationKind {
    /// The accumulation restarts every `period_hours` hours after the run: the message at step
    /// `s` holds the window from the last restart (`period_hours * floor((s - 1) / period_hours)`)
    /// to `s`. GEFS: 6.
    ResettingBuckets {
        /// Hours between restarts.
        period_hours: u32,
    },
    /// The message at step `s` holds the window `0..s` (ECMWF `tp`).
    FromRunStart,
}

/// A product's precipitation: which variable and how it accumulates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accumulation {
    /// The precipitation variable, as the product's users write it (`APCP:surface`, `tp`).
    pub variable: &'static str,
    /// How messages accumulate.
    pub kind: AccumulationKind,
    /// Factor from the data's unit to mm (`kg m**-2`: 1; `m`: 1000).
    pub scale_to_mm: f32,
}

/// Whether a term is added or subtracted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// Added.
    Plus,
    /// Subtracted.
    Minus,
}

impl Sign {
    /// `1.0` or `-1.0`.
    pub fn factor(self) -> f64 {
        match self {
            Self::Plus => 1.0,
            Self::Minus => -1.0,
        }
    }
}

/// One message to read: the precipitation message of `step`, which holds the accumulation over
/// `window` (hours after the run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    /// Forecast step (hours) of the file holding the message.
    pub step: u32,
    /// Accumulation window the message holds, `(start, end)` hours; `end == step`.
    pub window: (u32, u32),
    /// Added or subtracted.
    pub sign: Sign,
}

impl Term {
    /// Whether an index record's forecast time is this term's message: a window equal to
    /// [`window`](Term::window), or — for windows starting at the run, which some indexes
    /// write as a plain step — a lead time equal to [`step`](Term::step).
    pub fn matches_time(&self, time: &ForecastTime) -> bool {
        match *time {
            ForecastTime::Window {
                start_minutes,
                end_minutes,
                ..
            } => {
                u64::from(start_minutes) == u64::from(self.window.0) * 60
                    && u64::from(end_minutes) == u64::from(self.window.1) * 60
            }
            ForecastTime::Lead { minutes } => {
                self.window.0 == 0 && u64::from(minutes) == u64::from(self.step) * 60
            }
            ForecastTime::Analysis => false,
        }
    }
}

/// Exactly which messages to combine, and how, for precipitation over `window`.
#[derive(Clone, Debug, PartialEq)]
pub struct AccumulationPlan {
    /// The precipitation variable, as the product's users write it.
    pub variable: &'static str,
    /// The requested window, hours after the run.
    pub window: (u32, u32),
    /// Messages to read; `combine` expects fields in this order.
    pub terms: Vec<Term>,
    /// Factor from the data's unit to mm.
    pub scale_to_mm: f32,
}

impl AccumulationPlan {
    /// The distinct steps whose files must be read, ascending.
    pub fn steps(&self) -> Vec<u32> {
        let mut steps: Vec<u32> = self.terms.iter().map(|t| t.step).collect();
        steps.sort_unstable();
        steps.dedup();
        steps
    }

    /// Combines decoded fields (one per term, in order, all the same length) into precipitation
    /// in mm: `scale_to_mm * Σ sign·field`. Negative results — packing noise in differences of
    /// accumulations — are clipped to 0; NaN (missing) propagates.
    pub fn combine(&self, fields: &[&[f32]]) -> Result<Vec<f32>> {
        let invalid = |reason: String| Error::InvalidArgument {
            what: "precipitation fields",
            value: format!(
                "{} fields for window {}-{} h",
                fields.len(),
                self.window.0,
                self.window.1
            ),
            reason,
        };
        if fields.len() != self.terms.len() {
            return Err(invalid(format!("the plan has {} terms", self.terms.len())));
        }
        let len = fields.first().map_or(0, |f| f.len());
        if let Some((i, f)) = fields.iter().enumerate().find(|(_, f)| f.len() != len) {
            return Err(invalid(format!(
                "field {i} (step {}) has {} values, field 0 has {len}",
                self.terms.get(i).map_or(0, |t| t.step),
                f.len()
            )));
        }
        let scale = f64::from(self.scale_to_mm);
        let out = (0..len)
            .map(|p| {
                let sum: f64 = self
                    .terms
                    .iter()
                    .zip(fields)
                    .map(|(t, f)| t.sign.factor() * f.get(p).map_or(f64::NAN, |v| f64::from(*v)))
                    .sum();
                let mm = (sum * scale) as f32;
                if mm < 0.0 {
                    0.0
                } else {
                    mm
                }
            })
            .collect();
        Ok(out)
    }
}

/// The plan for precipitation from `start_h` to `end_h` hours after `run`.
///
/// GEFS (6-hour buckets): the window is tiled with whole buckets (the `6k+6` message holds
/// `6k..6k+6`); a start inside a bucket takes that bucket minus its first part (`f(6k+6) −
/// f(6k+3)`), an end inside a bucket takes the partial message (`f(6k+3)` holds `6k..6k+3`).
/// ECMWF (from run start): `tp(end) − tp(start)`, with `tp(0) = 0` needing no message.
///
/// Errors when `run` is not a run of the product, when `start_h >= end_h`, when either is not a published step of `run`, or when a
/// needed message's step is not published.
pub fn precipitation_plan(
    product: &dyn Product,
    run: RunTime,
    start_h: u32,
    end_h: u32,
) -> Result<AccumulationPlan> {
    let acc = product.precipitation();
    let steps = product.steps(run);
    let fail = |reason: String| Error::Product {
        product: product.name().to_string(),
        reason,
    };
    if !product.run_hours().contains(&run.hour) {
        return Err(fail(format!("no run at {:02}z", run.hour)));
    }
    if start_h >= end_h {
        return Err(fail(format!(
            "precipitation window {start_h}-{end_h} h: the start must be before the end"
        )));
    }
    for h in [start_h, end_h] {
        if steps.binary_search(&h).is_err() {
            return Err(fail(format!(
                "precipitation window {start_h}-{end_h} h: {h} h is not a step of the {run} run (steps: {})",
                super::describe_steps(&steps)
            )));
        }
    }
    let term = |step: u32, from: u32, sign| Term {
        step,
        window: (from, step),
        sign,
    };
    let mut terms = Vec::new();
    match acc.kind {
        AccumulationKind::FromRunStart => {
            terms.push(term(end_h, 0, Sign::Plus));
            if start_h > 0 {
                terms.push(term(start_h, 0, Sign::Minus));
            }
        }
        AccumulationKind::ResettingBuckets { period_hours: p } => {
            if p == 0 {
                return Err(fail("accumulation period of 0 h".to_string()));
            }
            let mut t = start_h;
            let into_bucket = start_h % p;
            if into_bucket > 0 {
                // Start inside the bucket [b, b+p): (b..x) − (b..start), x = bucket end or end_h.
                let bucket = start_h - into_bucket;
                let x = end_h.min(bucket + p);
                terms.push(term(x, bucket, Sign::Plus));
                terms.push(term(start_h, bucket, Sign::Minus));
                t = x;
            }
            while t + p <= end_h {
                terms.push(term(t + p, t, Sign::Plus));
                t += p;
            }
            if t < end_h {
                terms.push(term(end_h, t, Sign::Plus));
            }
        }
    }
    if let Some(missing) = terms.iter().find(|t| steps.binary_search(&t.step).is_err()) {
        return Err(fail(format!(
            "precipitation window {start_h}-{end_h} h needs step {} h, which is not published",
            missing.step
        )));
    }
    Ok(AccumulationPlan {
        variable: acc.variable,
        window: (start_h, end_h),
        terms,
        scale_to_mm: acc.scale_to_mm,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::index::Statistic;
    use crate::product::{Ecmwf, Gefs};
    use crate::test_support::switch_day_run as run;

    fn plus(step: u32, from: u32) -> Term {
        Term {
            step,
            window: (from, step),
            sign: Sign::Plus,
        }
    }

    fn minus(step: u32, from: u32) -> Term {
        Term {
            step,
            window: (from, step),
            sign: Sign::Minus,
        }
    }

    fn gefs(a: u32, b: u32) -> Vec<Term> {
        precipitation_plan(&Gefs::default(), run(0), a, b)
            .unwrap()
            .terms
    }

    fn ecmwf(hour: u32, a: u32, b: u32) -> Result<AccumulationPlan> {
        precipitation_plan(&Ecmwf::default(), run(hour), a, b)
    }

    #[test]
    fn gefs_hand_worked_windows() {
        assert_eq!(
            gefs(0, 24),
            [plus(6, 0), plus(12, 6), plus(18, 12), plus(24, 18)]
        );
        assert_eq!(
            gefs(3, 27),
            [
                plus(6, 0),
                minus(3, 0),
                plus(12, 6),
                plus(18, 12),
                plus(24, 18),
                plus(27, 24)
            ]
        );
        assert_eq!(
            gefs(24, 48),
            [plus(30, 24), plus(36, 30), plus(42, 36), plus(48, 42)]
        );
        assert_eq!(gefs(0, 3), [plus(3, 0)]);
        assert_eq!(gefs(3, 6), [plus(6, 0), minus(3, 0)]);
        assert_eq!(gefs(9, 15), [plus(12, 6), minus(9, 6), plus(15, 12)]);
        assert_eq!(gefs(234, 240), [plus(240, 234)]);
        let plan = precipitation_plan(&Gefs::default(), run(0), 3, 27).unwrap();
        assert_eq!(plan.steps(), [3, 6, 12, 18, 24, 27]);
        assert_eq!((plan.variable, plan.scale_to_mm), ("APCP:surface", 1.0));
    }

    /// Every hour of every window is counted exactly once.
    #[test]
    fn gefs_never_double_counts() {
        let steps = Gefs::default().steps(run(0));
        for (i, &a) in steps.iter().enumerate() {
            for &b in steps.iter().skip(i + 1).step_by(5) {
                let mut cover = vec![0i32; 241];
                for t in gefs(a, b) {
                    let f = if t.sign == Sign::Plus { 1 } else { -1 };
                    assert_eq!(t.window.1, t.step);
                    assert!(t.window.0 % 6 == 0 && t.step - t.window.0 <= 6, "{t:?}");
                    for h in t.window.0..t.window.1 {
                        cover[h as usize] += f;
                    }
                }
                for (h, c) in cover.iter().enumerate() {
                    let want = i32::from((a as usize..b as usize).contains(&h));
                    assert_eq!(*c, want, "window {a}-{b}, hour {h}");
                }
            }
        }
    }

    #[test]
    fn ecmwf_hand_worked_windows() {
        let p = ecmwf(0, 24, 48).unwrap();
        assert_eq!(p.terms, [plus(48, 0), minus(24, 0)]);
        assert_eq!((p.variable, p.scale_to_mm), ("tp", 1000.0));
        assert_eq!(ecmwf(0, 0, 24).unwrap().terms, [plus(24, 0)]);
        assert_eq!(
            ecmwf(0, 141, 150).unwrap().terms,
            [plus(150, 0), minus(141, 0)]
        );
        assert_eq!(
            ecmwf(6, 141, 144).unwrap().terms,
            [plus(144, 0), minus(141, 0)]
        );
        // 165 is not a step at 00z (6-hourly after 144), and 06z stops at 144.
        assert!(ecmwf(0, 141, 165).is_err());
        assert!(ecmwf(6, 141, 165).is_err());
        assert!(ecmwf(6, 141, 150).is_err());
        assert!(ecmwf(0, 300, 360).is_ok());
    }

    #[test]
    fn invalid_windows() {
        let g = Gefs::default();
        for (a, b) in [(24, 24), (24, 12), (1, 6), (0, 7), (0, 243)] {
            let err = precipitation_plan(&g, run(0), a, b)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("gefs:") && err.contains(&format!("{a}-{b}")),
                "{err}"
            );
        }
        assert!(precipitation_plan(&g, RunTime::new(2026, 5, 12, 3).unwrap(), 0, 6).is_err());
    }

    #[test]
    fn combine_in_mm_with_clipping() {
        let p = ecmwf(0, 24, 48).unwrap();
        let tp48 = [0.0100_f32, 0.0020, f32::NAN, 0.0050];
        let tp24 = [0.0040_f32, 0.0021, 0.0010, 0.0050];
        let mm = p.combine(&[&tp48, &tp24]).unwrap();
        assert!((mm[0] - 6.0).abs() < 1e-3, "{mm:?}");
        assert_eq!(mm[1], 0.0); // -0.0001 m of packing noise
        assert!(mm[2].is_nan());
        assert_eq!(mm[3], 0.0);
        let g = precipitation_plan(&Gefs::default(), run(0), 3, 9).unwrap();
        assert_eq!(g.terms, [plus(6, 0), minus(3, 0), plus(9, 6)]);
        let out = g
            .combine(&[&[5.0, 1.0], &[2.0, 1.0001], &[0.5, 0.0]])
            .unwrap();
        assert_eq!(out[0], 3.5);
        assert_eq!(out[1], 0.0);
        assert!(g.combine(&[&[1.0], &[1.0]]).is_err());
        assert!(g.combine(&[&[1.0], &[1.0], &[1.0, 2.0]]).is_err());
        assert_eq!(g.combine(&[&[], &[], &[]]).unwrap(), Vec::<f32>::new());
    }

    #[test]
    fn terms_match_index_times() {
        let t = plus(12, 6);
        assert!(t.matches_time(&ForecastTime::window_hours(6, 12, Statistic::Accumulation)));
        assert!(!t.matches_time(&ForecastTime::window_hours(0, 12, Statistic::Accumulation)));
        assert!(!t.matches_time(&ForecastTime::hours(12)));
        let tp = plus(24, 0);
        assert!(tp.matches_time(&ForecastTime::hours(24)));
        assert!(tp.matches_time(&ForecastTime::window_hours(0, 24, Statistic::Accumulation)));
        assert!(!tp.matches_time(&ForecastTime::Analysis));
    }
}
