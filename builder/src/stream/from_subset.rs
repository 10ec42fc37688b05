//! `gik stream` from a regional subset: when the catalog's run has a subset (`gik build
//! --subset`) that holds the box, the members, the variables and the steps asked for, its
//! manifests are read instead of the run's, and only subset bytes are downloaded.
//!
//! Subset manifests name their GRIB2 files by paths relative to the catalog; they are made
//! absolute here (the catalog's URL, or a `file://` path for a catalog in a folder, read by
//! [`read_local_range`]).

use anyhow::{Context, Result};
use gik_core::catalog::RunEntry;
use gik_core::subset::{choose, is_relative};

use super::jobs::JobList;
use super::plan::{Mode, Plan};
use super::source::CatalogLocation;

/// The subset chosen for a plan: its name and its run entry (members, manifests).
pub(super) struct Chosen {
    /// Subset name.
    pub name: String,
    /// The subset as a run.
    pub entry: RunEntry,
}

/// The subset of `entry` to read `plan` from, if one has everything it needs.
pub(super) fn choose_for(plan: &Plan, entry: &RunEntry, members: &[String]) -> Option<Chosen> {
    let variables: Vec<String> = plan
        .source_vars()
        .iter()
        .map(|v| v.spec.request.clone())
        .collect();
    let mut steps: Vec<u32> = match &plan.mode {
        Mode::Fields { steps, .. } => steps.clone(),
        Mode::Rain { plans, .. } => plans.iter().flat_map(|p| p.steps()).collect(),
    };
    steps.sort_unstable();
    steps.dedup();
    let (name, subset) = choose(entry, &plan.bbox, members, &variables, &steps)?;
    tracing::info!(subset = name, "reading the run's subset");
    Some(Chosen {
        name: name.to_string(),
        entry: subset.run.clone(),
    })
}

/// Makes the subset's relative message URLs absolute against the catalog's location.
pub(super) fn localise(jobs: &mut JobList, location: &CatalogLocation) {
    for job in &mut jobs.jobs {
        if let Ok(loc) = &mut job.source {
            if is_relative(&loc.url) {
                loc.url = match location {
                    CatalogLocation::Http { .. } => location.describe(&loc.url),
                    CatalogLocation::Dir { .. } => {
                        format!("file://{}", location.describe(&loc.url))
                    }
                };
            }
        }
    }
}

/// `length` bytes at `offset` of a local file (a subset next to a catalog in a folder).
pub(super) async fn read_local_range(path: &str, offset: u64, length: u64) -> Result<bytes::Bytes> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {path}"))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .with_context(|| format!("{path}: seeking to {offset}"))?;
    let capacity = usize::try_from(length).context("range too large")?;
    let mut buffer = Vec::with_capacity(capacity.min(64 << 20));
    file.take(length)
        .read_to_end(&mut buffer)
        .await
        .with_context(|| format!("reading {path} bytes {offset}+{length}"))?;
    if buffer.len() as u64 != length {
        anyhow::bail!(
            "{path}: {length} bytes at {offset} asked, the file has {}",
            buffer.len()
        );
    }
    Ok(bytes::Bytes::from(buffer))
}
