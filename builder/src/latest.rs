//! `gik latest`: the newest run whose index files are all published — probed, not guessed.

use anyhow::{bail, Result};
use futures::stream::{self, StreamExt};
use gik_core::product::Product;
use gik_core::time::RunTime;

use crate::http::HttpClient;

/// The run at or before `now` with the product's run hours, going back `max_runs` runs, whose
/// every member × step index file answers. Returns the run and how many files were probed.
pub async fn latest_complete_run(
    product: &dyn Product,
    client: &HttpClient,
    now: RunTime,
    max_runs: usize,
) -> Result<RunTime> {
    let mut candidate = floor_to_run(product, now);
    for _ in 0..max_runs {
        let mut urls = Vec::new();
        for member in product.members() {
            for step in product.steps(candidate) {
                urls.push(product.index_url(candidate, member, step)?);
            }
        }
        urls.sort();
        urls.dedup();
        // Cheapest first: the last step of every member is published last.
        urls.reverse();
        let failure = stream::iter(urls.iter())
            .map(|url| async move { client.head_size(url).await.err() })
            .buffer_unordered(256)
            .filter_map(futures::future::ready)
            .boxed()
            .next()
            .await;
        match failure {
            None => return Ok(candidate),
            // Not a missing file but a source that does not answer: probing older runs
            // would only repeat it.
            Some(e) if !e.is_not_found() => {
                bail!("{}: probing the {candidate} run: {e}", product.name())
            }
            Some(_) => {}
        }
        tracing::info!(run = %candidate, "incomplete; trying the previous run");
        candidate = previous_run(product, candidate);
    }
    bail!(
        "{}: no complete run in the last {max_runs} runs before {now}",
        product.name()
    )
}

fn floor_to_run(product: &dyn Product, t: RunTime) -> RunTime {
    let hour = product
        .run_hours()
        .iter()
        .copied()
        .filter(|&h| h <= t.hour)
        .max();
    match hour {
        Some(h) => RunTime { hour: h, ..t },
        None => previous_run(product, RunTime { hour: 0, ..t }),
    }
}

fn previous_run(product: &dyn Product, t: RunTime) -> RunTime {
    match product
        .run_hours()
        .iter()
        .copied()
        .filter(|&h| h < t.hour)
        .max()
    {
        Some(h) => RunTime { hour: h, ..t },
        None => {
            let day = t.days_before(1);
            RunTime {
                hour: product.run_hours().iter().copied().max().unwrap_or(0),
                ..day
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gik_core::product::Gefs;

    #[test]
    fn run_arithmetic() {
        let gefs = Gefs::default();
        let t = RunTime::new(2025, 8, 1, 5).unwrap();
        assert_eq!(floor_to_run(&gefs, t), RunTime::new(2025, 8, 1, 0).unwrap());
        assert_eq!(
            previous_run(&gefs, RunTime::new(2025, 8, 1, 0).unwrap()),
            RunTime::new(2025, 7, 31, 18).unwrap()
        );
        assert_eq!(
            previous_run(&gefs, RunTime::new(2025, 8, 1, 12).unwrap()),
            RunTime::new(2025, 8, 1, 6).unwrap()
        );
    }
}
