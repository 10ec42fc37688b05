//! Step lists as users write them (`0-240/3`, `36,39,42`, `0-48`), checked against a product.
//!
//! A step list is validated against [`Product::steps`] for one run, so a user asking for a step
//! the product does not publish learns it before any download. A range without a stride takes
//! every published step in the range, which is how "the product's own stride" is honoured even
//! when that stride changes along the forecast (ECMWF: 3 h to 144 h, then 6 h).

use crate::time::RunTime;
use crate::{Error, Result};

use super::Product;

/// Parses a step list for `product`'s `run`: `all` (or empty), or comma-separated items, each
/// `N`, `A-B` (every published step from A to B) or `A-B/S` (A, A+S, ... up to B). Every step
/// named must be published; the result is sorted without duplicates.
pub fn parse_steps(product: &dyn Product, run: RunTime, text: &str) -> Result<Vec<u32>> {
    let available = product.steps(run);
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("all") {
        return Ok(available);
    }
    let fail = |reason: String| Error::InvalidArgument {
        what: "step list",
        value: text.to_string(),
        reason: format!("{}: {reason}", product.name()),
    };
    let num = |s: &str, item: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| fail(format!("{item:?} is not N, A-B or A-B/S")))
    };
    let check = |step: u32| {
        if available.binary_search(&step).is_ok() {
            Ok(step)
        } else {
            Err(fail(format!(
                "step {step} is not published for the {run} run (steps: {})",
                describe_steps(&available)
            )))
        }
    };
    let mut out = Vec::new();
    for item in t.split(',').map(str::trim) {
        let (range, stride) = match item.split_once('/') {
            Some((r, s)) => (r, Some(num(s, item)?)),
            None => (item, None),
        };
        let Some((a, b)) = range.split_once('-') else {
            if stride.is_some() {
                return Err(fail(format!("{item:?}: a stride needs a range A-B/S")));
            }
            out.push(check(num(range, item)?)?);
            continue;
        };
        let (a, b) = (check(num(a, item)?)?, check(num(b, item)?)?);
        if a > b {
            return Err(fail(format!("range {item:?} is reversed")));
        }
        match stride {
            None => out.extend(available.iter().copied().filter(|s| (a..=b).contains(s))),
            Some(0) => return Err(fail(format!("{item:?}: stride must be positive"))),
            Some(s) => {
                let mut step = a;
                while step <= b {
                    out.push(check(step)?);
                    match step.checked_add(s) {
                        Some(next) => step = next,
                        None => break,
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Compact text of a step list in the syntax [`parse_steps`] reads: `0-144/3,150-360/6`.
pub fn describe_steps(steps: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        let start = steps[i];
        let gap = |k: usize| steps.get(k)?.checked_sub(*steps.get(k.checked_sub(1)?)?);
        let stride = gap(i + 1).filter(|s| *s > 0);
        let mut j = i + 1;
        if stride.is_some() {
            while j < steps.len() && gap(j) == stride {
                j += 1;
            }
        }
        let end = steps[j - 1];
        match (j - i, stride) {
            (1, _) | (_, None) => parts.push(start.to_string()),
            (2, _) => {
                parts.push(start.to_string());
                parts.push(end.to_string());
            }
            (_, Some(s)) => parts.push(format!("{start}-{end}/{s}")),
        }
        i = j;
    }
    parts.join(",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::product::{Ecmwf, Gefs};
    use crate::test_support::switch_day_run as run;

    #[test]
    fn lists_ranges_and_strides() {
        let g = Gefs::default();
        assert_eq!(parse_steps(&g, run(0), "0-240/3").unwrap(), g.steps(run(0)));
        assert_eq!(parse_steps(&g, run(0), "all").unwrap().len(), 81);
        assert_eq!(parse_steps(&g, run(0), "36, 42,39").unwrap(), [36, 39, 42]);
        assert_eq!(parse_steps(&g, run(0), "0-12").unwrap(), [0, 3, 6, 9, 12]);
        assert_eq!(
            parse_steps(&g, run(0), "0-24/6,3").unwrap(),
            [0, 3, 6, 12, 18, 24]
        );
        let e = Ecmwf::default();
        assert_eq!(
            parse_steps(&e, run(0), "138-162").unwrap(),
            [138, 141, 144, 150, 156, 162]
        );
        assert_eq!(parse_steps(&e, run(0), "0-360/24").unwrap().len(), 16);
    }

    #[test]
    fn rejects_unpublished_and_malformed() {
        let g = Gefs::default();
        let e = Ecmwf::default();
        for bad in [
            "1", "0-50", "0-241", "12-6", "0-12/0", "0-12/4", "x", "3/3", "0-", "-3",
        ] {
            assert!(parse_steps(&g, run(0), bad).is_err(), "{bad}");
        }
        let err = parse_steps(&e, run(6), "0-150").unwrap_err().to_string();
        assert!(err.contains("150") && err.contains("0-144/3"), "{err}");
        assert!(parse_steps(&e, run(0), "0-360/3").is_err());
    }

    #[test]
    fn describes_step_lists() {
        assert_eq!(
            describe_steps(&Ecmwf::default().steps(run(12))),
            "0-144/3,150-360/6"
        );
        assert_eq!(describe_steps(&Gefs::default().steps(run(18))), "0-240/3");
        assert_eq!(describe_steps(&[1, 5]), "1,5");
        assert_eq!(describe_steps(&[7]), "7");
        assert_eq!(describe_steps(&[]), "");
    }
}
