//! Ensemble statistics over decoded fields: mean, spread and exceedance probability.
//!
//! Members arrive one at a time (over the network in the app, message by message in the stream
//! job), so the statistics are an accumulator: [`EnsembleAccumulator::add`] one member's field,
//! read the statistics at any point. That gives the app its "maps sharpen as members arrive"
//! behaviour and keeps memory at a few arrays whatever the member count.
//!
//! Conventions, applied point by point:
//! - a NaN value (missing point, or a member that failed) is left out of that point's counts;
//! - spread is the population standard deviation (numpy's default `ddof=0`);
//! - the probability of exceeding a threshold is the percentage of members whose value is
//!   strictly greater than it.

use crate::{Error, Result};

/// Running statistics of an ensemble on one grid.
#[derive(Clone, Debug)]
pub struct EnsembleAccumulator {
    thresholds: Vec<f32>,
    members: usize,
    count: Vec<u32>,
    sum: Vec<f64>,
    sum_squares: Vec<f64>,
    exceed: Vec<Vec<u32>>,
}

impl EnsembleAccumulator {
    /// An empty accumulator for fields of `points` values, counting exceedances of each of
    /// `thresholds`.
    pub fn new(points: usize, thresholds: &[f32]) -> Self {
        Self {
            thresholds: thresholds.to_vec(),
            members: 0,
            count: vec![0; points],
            sum: vec![0.0; points],
            sum_squares: vec![0.0; points],
            exceed: vec![vec![0; points]; thresholds.len()],
        }
    }

    /// Adds one member's field. Fails if the field does not have the grid's number of points.
    pub fn add(&mut self, field: &[f32]) -> Result<()> {
        if field.len() != self.count.len() {
            return Err(Error::Stats(format!(
                "member field has {} points, the ensemble grid {}",
                field.len(),
                self.count.len()
            )));
        }
        for (i, &v) in field.iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            self.count[i] += 1;
            let v64 = f64::from(v);
            self.sum[i] += v64;
            self.sum_squares[i] += v64 * v64;
            for (t, &threshold) in self.thresholds.iter().enumerate() {
                if v > threshold {
                    self.exceed[t][i] += 1;
                }
            }
        }
        self.members += 1;
        Ok(())
    }

    /// Number of members added so far.
    pub fn members(&self) -> usize {
        self.members
    }

    /// The thresholds whose exceedances are counted.
    pub fn thresholds(&self) -> &[f32] {
        &self.thresholds
    }

    /// Ensemble mean at each point (NaN where no member has a value).
    pub fn mean(&self) -> Vec<f32> {
        self.count
            .iter()
            .zip(&self.sum)
            .map(|(&n, &s)| {
                if n == 0 {
                    f32::NAN
                } else {
                    (s / f64::from(n)) as f32
                }
            })
            .collect()
    }

    /// Ensemble spread (population standard deviation) at each point.
    pub fn spread(&self) -> Vec<f32> {
        self.count
            .iter()
            .zip(self.sum.iter().zip(&self.sum_squares))
            .map(|(&n, (&s, &ss))| {
                if n == 0 {
                    return f32::NAN;
                }
                let n = f64::from(n);
                let mean = s / n;
                ((ss / n - mean * mean).max(0.0)).sqrt() as f32
            })
            .collect()
    }

    /// Percentage (0–100) of members above threshold number `index` at each point.
    pub fn probability(&self, index: usize) -> Result<Vec<f32>> {
        let exceed = self.exceed.get(index).ok_or_else(|| {
            Error::Stats(format!(
                "no threshold number {index} ({} counted)",
                self.thresholds.len()
            ))
        })?;
        Ok(exceed
            .iter()
            .zip(&self.count)
            .map(|(&e, &n)| {
                if n == 0 {
                    f32::NAN
                } else {
                    100.0 * e as f32 / n as f32
                }
            })
            .collect())
    }
}

/// Ensemble mean of complete member fields (see [`EnsembleAccumulator`] for conventions).
pub fn mean(members: &[&[f32]]) -> Result<Vec<f32>> {
    Ok(accumulate(members, &[])?.mean())
}

/// Ensemble spread (population standard deviation) of member fields.
pub fn spread(members: &[&[f32]]) -> Result<Vec<f32>> {
    Ok(accumulate(members, &[])?.spread())
}

/// Percentage of members strictly above `threshold` at each point.
pub fn exceedance_probability(members: &[&[f32]], threshold: f32) -> Result<Vec<f32>> {
    accumulate(members, &[threshold])?.probability(0)
}

fn accumulate(members: &[&[f32]], thresholds: &[f32]) -> Result<EnsembleAccumulator> {
    let points = members
        .first()
        .map(|m| m.len())
        .ok_or_else(|| Error::Stats("no members".into()))?;
    let mut acc = EnsembleAccumulator::new(points, thresholds);
    for m in members {
        acc.add(m)?;
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked_three_members() {
        let a = [1.0, 0.0, f32::NAN];
        let b = [3.0, 0.0, 2.0];
        let c = [5.0, 12.0, f32::NAN];
        let members: [&[f32]; 3] = [&a, &b, &c];
        assert_eq!(mean(&members).unwrap(), vec![3.0, 4.0, 2.0]);
        let s = spread(&members).unwrap();
        assert!((s[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert!((s[1] - 32f32.sqrt()).abs() < 1e-5);
        assert_eq!(s[2], 0.0);
        let p = exceedance_probability(&members, 2.0).unwrap();
        assert!((p[0] - 200.0 / 3.0).abs() < 1e-4);
        assert!((p[1] - 100.0 / 3.0).abs() < 1e-4);
        // Only one member has a value at the third point, and 2.0 is not above 2.0.
        assert_eq!(p[2], 0.0);
    }

    #[test]
    fn all_missing_point_is_nan_and_sizes_must_agree() {
        let a = [f32::NAN];
        let mut acc = EnsembleAccumulator::new(1, &[1.0]);
        acc.add(&a).unwrap();
        assert!(acc.mean()[0].is_nan());
        assert!(acc.probability(0).unwrap()[0].is_nan());
        assert!(acc.probability(1).is_err());
        assert!(acc.add(&[1.0, 2.0]).is_err());
        assert!(mean(&[]).is_err());
        assert_eq!(acc.members(), 1);
    }
}
