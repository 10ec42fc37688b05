//! Publishing a run without ever losing the published one: where a new manifest is written,
//! and how the catalog is merged and pointed at it.
//!
//! A manifest the catalog names is never overwritten with other content: a changed one is
//! written beside its usual path ([`ManifestWriter`]), the catalog is merged with a conditional
//! write ([`Destination::update`]), and only then is it moved back to its usual path and the
//! files no run names any more deleted ([`publish_catalog`]). So a build that dies half-way
//! leaves the published run as it was, and builds of other runs publishing at the same time
//! all land.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use gik_core::catalog::{Catalog, Publication, RunEntry, CATALOG_FILE};
use gik_core::time::RunTime;

use super::{manifest_path, BuildPlan, ENSEMBLE_FILE_TAG};
use crate::clock::now_iso;
use crate::destination::{Destination, Update};

/// Which manifest of a run: a member's, or the ensemble manifest.
pub(super) enum Slot {
    /// The manifest of the member of this name.
    Member(String),
    /// The ensemble manifest.
    Ensemble,
}

impl Slot {
    /// The name in the manifest's file name.
    fn file_tag(&self) -> &str {
        match self {
            Self::Member(name) => name,
            Self::Ensemble => ENSEMBLE_FILE_TAG,
        }
    }

    /// The catalog's path for this manifest in `entry`.
    fn path_in<'a>(&self, entry: &'a mut RunEntry) -> Option<&'a mut String> {
        match self {
            Self::Member(name) => entry.manifests.get_mut(name),
            Self::Ensemble => entry.ensemble.as_mut(),
        }
    }
}

/// A manifest written beside its usual path because the published run names that path
/// with other content.
pub(super) struct Moved {
    slot: Slot,
    beside: String,
    stable: String,
    bytes: Vec<u8>,
}

/// Writes a run's new manifests where they cannot disturb the published run, remembering the
/// ones that had to go beside their usual path.
pub(super) struct ManifestWriter<'a> {
    dest: &'a Destination,
    plan: &'a BuildPlan,
    /// The run as the catalog lists it before this build.
    published: Option<RunEntry>,
    moved: Vec<Moved>,
}

impl<'a> ManifestWriter<'a> {
    /// A writer for `plan`'s run at `dest`, reading what the catalog publishes of it now.
    pub(super) async fn open(dest: &'a Destination, plan: &'a BuildPlan) -> Result<Self> {
        let current = dest.get(CATALOG_FILE).await?;
        let catalog = parse_catalog(dest, current.as_deref())?;
        let published = catalog.run(plan.product.name(), Some(plan.run)).cloned();
        Ok(Self {
            dest,
            plan,
            published,
            moved: Vec::new(),
        })
    }

    /// Writes a new manifest at [`unpublished_path`], recording it when it had to go beside
    /// its usual path; returns where it was written.
    pub(super) async fn put(&mut self, slot: Slot, bytes: Vec<u8>) -> Result<String> {
        let (dest, name, run) = (self.dest, self.plan.product.name(), self.plan.run);
        let published = self.published.as_ref();
        let path = unpublished_path(dest, published, name, run, slot.file_tag(), &bytes).await?;
        let stable = manifest_path(name, run, slot.file_tag());
        if path == stable {
            dest.put(&path, bytes).await?;
        } else {
            dest.put(&path, bytes.clone()).await?;
            self.moved.push(Moved {
                slot,
                beside: path.clone(),
                stable,
                bytes,
            });
        }
        Ok(path)
    }

    /// The manifests written beside their usual path, for [`publish_catalog`].
    pub(super) fn into_moved(self) -> Vec<Moved> {
        self.moved
    }
}

/// Where a new manifest is written: at [`manifest_path`], unless the published run
/// names that path and the bytes there differ from `bytes`; then beside it, under a name
/// carrying a hash of `bytes`. So a manifest the catalog names is never overwritten with other
/// content, and a build that fails half-way leaves the published run intact.
async fn unpublished_path(
    dest: &Destination,
    published: Option<&RunEntry>,
    product: &str,
    run: RunTime,
    member: &str,
    bytes: &[u8],
) -> Result<String> {
    let stable = manifest_path(product, run, member);
    let in_use = published.is_some_and(|p| p.owned_paths().any(|m| m == stable));
    if !in_use || dest.get(&stable).await?.as_deref() == Some(bytes) {
        return Ok(stable);
    }
    // FNV-1a, not std's `DefaultHasher`: the name must not change with the toolchain.
    let tag = gik_core::fnv::fnv1a64(bytes.iter().copied());
    Ok(format!(
        "{}.{tag:016x}.parquet",
        stable.trim_end_matches(".parquet")
    ))
}

/// Merges `entry` into the catalog at `dest` (conditionally, merging again if another build
/// published meanwhile). Manifests written beside their usual path are then moved there: once
/// the catalog names the new ones, the usual paths are free, so they are rewritten and the
/// catalog pointed back at them (a second conditional write). Last, the manifests no run names
/// any more are deleted: those of runs trimmed by `keep_runs` or replaced, the ones moved, or
/// this build's own if the published run was kept.
///
/// Builds of *different* runs may run concurrently; two builds of the same run with different
/// content at the same time are not coordinated beyond the catalog merge (the later one wins).
pub(super) async fn publish_catalog(
    plan: &BuildPlan,
    dest: &Destination,
    entry: RunEntry,
    moved: Vec<Moved>,
) -> Result<Publication> {
    let written: Vec<String> = entry.owned_paths().map(str::to_string).collect();
    let (publication, mut referenced) = merge_run(plan, dest, entry).await?;
    let mut stale: Vec<String> = publication
        .dropped
        .iter()
        .chain(&publication.replaced)
        .flat_map(|r| r.owned_paths().map(str::to_string))
        .collect();
    if publication.kept.is_some() {
        stale.extend(written);
    } else if !moved.is_empty() {
        referenced = move_back(plan, dest, &moved).await?;
        stale.extend(moved.into_iter().map(|m| m.beside));
    }
    // The catalog no longer names these (or never did): no reader can reach them.
    for path in stale {
        if !referenced.contains(&path) {
            dest.delete(&path).await?;
        }
    }
    Ok(publication)
}

/// The first conditional write of [`publish_catalog`]: `entry` merged into the catalog (unless
/// the published run is kept); returns what the merge did and every path the catalog names.
async fn merge_run(
    plan: &BuildPlan,
    dest: &Destination,
    entry: RunEntry,
) -> Result<(Publication, BTreeSet<String>)> {
    let credit = plan.product.credits();
    let product = plan.product.name();
    dest.update(CATALOG_FILE, |current| {
        let mut catalog = parse_catalog(dest, current)?;
        let publication =
            catalog.publish(product, &credit, entry.clone(), plan.keep_runs, plan.force);
        let referenced = owned_paths(&catalog);
        if publication.kept.is_some() {
            return Ok(Update::Keep((publication, referenced)));
        }
        catalog.generated_at = now_iso();
        Ok(Update::Write(catalog.to_json()?, (publication, referenced)))
    })
    .await
}

/// The second conditional write of [`publish_catalog`]: the `moved` manifests rewritten at
/// their usual paths and the catalog pointed back at them; returns every path the catalog
/// names.
async fn move_back(
    plan: &BuildPlan,
    dest: &Destination,
    moved: &[Moved],
) -> Result<BTreeSet<String>> {
    let (product, run) = (plan.product.name(), plan.run);
    for m in moved {
        dest.put(&m.stable, m.bytes.clone()).await?;
    }
    dest.update(CATALOG_FILE, |current| {
        let mut catalog = parse_catalog(dest, current)?;
        let mut changed = false;
        if let Some(entry) = catalog.run_mut(product, run) {
            for m in moved {
                if let Some(path) = m.slot.path_in(entry) {
                    if *path == m.beside {
                        path.clone_from(&m.stable);
                        changed = true;
                    }
                }
            }
        }
        let referenced = owned_paths(&catalog);
        if !changed {
            return Ok(Update::Keep(referenced));
        }
        catalog.generated_at = now_iso();
        Ok(Update::Write(catalog.to_json()?, referenced))
    })
    .await
}

/// The catalog in `current` (a new one if there is none).
fn parse_catalog(dest: &Destination, current: Option<&[u8]>) -> Result<Catalog> {
    match current {
        Some(bytes) => Catalog::from_json(bytes)
            .with_context(|| format!("reading {CATALOG_FILE} at {}", dest.display)),
        None => Ok(Catalog::new()),
    }
}

/// Every manifest path `catalog` names.
fn owned_paths(catalog: &Catalog) -> BTreeSet<String> {
    catalog
        .manifest_paths()
        .into_iter()
        .map(str::to_string)
        .collect()
}
