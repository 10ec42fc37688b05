//! `gik stream` from a regional subset: when the catalog's run has a subset (`gik build
//! --subset`) that holds the box, the members, the variables and the steps asked for, its
//! manifests are read instead of the run's, and only subset bytes are downloaded.
//!
//! Subset manifests name their GRIB2 files by paths relative to the catalog; they are made
//! absolute here (the catalog's URL, or a `file://` path for a catalog in a folder, read by
//! [`read_local_range`]).

use std::path::PathBuf;

use gik_core::catalog::RunEntry;
use gik_core::subset::{choose, is_relative};

use super::jobs::JobList;
use super::plan::{Mode, Plan};
use super::source::{CatalogLocation, ReadError};

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
pub(super) async fn read_local_range(
    path: &str,
    offset: u64,
    length: u64,
) -> Result<bytes::Bytes, ReadError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let error = |source| ReadError::Range {
        path: PathBuf::from(path),
        offset,
        length,
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(error)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(error)?;
    // What is read is capped by `length`; the first allocation also by 64 MiB.
    let capacity = usize::try_from(length.min(64 << 20)).unwrap_or(0);
    let mut buffer = Vec::with_capacity(capacity);
    file.take(length)
        .read_to_end(&mut buffer)
        .await
        .map_err(error)?;
    if buffer.len() as u64 != length {
        return Err(ReadError::Short {
            path: PathBuf::from(path),
            offset,
            length,
            found: buffer.len() as u64,
        });
    }
    Ok(bytes::Bytes::from(buffer))
}
