//! `gik build … --icechunk DEST`: the run written into a virtual Icechunk repository.
//!
//! # Why
//!
//! The GIK method's own plan for its future is VirtualiZarr/Icechunk: a transactional zarr v3
//! store whose chunks are *virtual references* into the source buckets. One repository holds a
//! product's whole history (runs appended along `init_time`, as dynamical.org's forecast
//! datasets do), opens with `icechunk.Repository.open` + `xr.open_zarr(session.store, group=…)`,
//! and never copies a byte of GRIB2.
//!
//! # Layout (zarr v3)
//!
//! One group per variable, as in the manifests (`tp/accum/surface`), holding the data array
//! `tp(init_time, number, step, latitude, longitude)` (`float32`, one GRIB2 message per chunk,
//! decoded by the `gribberish` zarr codec from PyPI) and its coordinates: `init_time` (seconds
//! since 1970), `number` (0 = control), `step` (hours), `latitude`, `longitude`. The three
//! labelled axes are chunked one value per chunk and grow by value: a run with a new init
//! time, member or step appends it; a run built again replaces its own slot. The grid must not
//! change (a new grid is a new repository). Root attributes carry the CF conventions and the
//! product's credits (label, institution, attribution, licence).
//!
//! # Where chunks point
//!
//! Chunk locations are relative to a *named virtual chunk container*, one per product
//! (`vcc://gefs/gefs.20250801/00/…`), whose URL prefix is the product's public bucket
//! (`s3://noaa-gefs-pds/`, anonymous). So the repository does not depend on the mirror the
//! build read: a reader re-points the container (same name, another prefix) to read from a
//! mirror.
//!
//! # Transactions
//!
//! Each run is one commit on `main`. Builds writing to one folder take turns on it (an
//! advisory lock on the folder: Icechunk's local-filesystem storage is not safe for concurrent
//! commits). A commit that still loses a race (Icechunk's conflict error, the mechanism on
//! object stores) re-reads the new tip and redoes its transaction (its `init_time` index may
//! have moved), so no run is lost.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use gik_core::member::VariableMessages;
use gik_core::product::{reroot_url, Product};
use gik_core::time::RunTime;
use icechunk::config::{GcsCredentials, S3Credentials, S3Options};
use icechunk::format::manifest::{VirtualChunkLocation, VirtualChunkRef};
use icechunk::format::ByteRange;
use icechunk::repository::RepositoryErrorKind;
use icechunk::session::SessionErrorKind;
use icechunk::store::StoreErrorKind;
use icechunk::virtual_chunks::VirtualChunkContainer;
use icechunk::{ObjectStoreConfig, Repository, RepositoryConfig, Storage, Store};
use serde_json::{json, Value};
use tokio::sync::RwLock;

use crate::destination::{lock_folder, update_backoff};

/// The branch every run is committed to.
pub const BRANCH: &str = "main";

/// Times a build redoes its transaction after losing a commit race before giving up.
const MAX_ATTEMPTS: u32 = 30;

/// Name of the zarr codec that decodes one GRIB2 message (the `gribberish` PyPI package
/// registers it with zarr-python).
pub const GRIB_CODEC: &str = "gribberish";

/// What one run contributes: per member number, its variables with their messages.
pub type RunMessages = [(u16, Vec<VariableMessages>)];

/// What [`write_run`] did.
#[derive(Debug)]
pub struct IcechunkReport {
    /// The commit's snapshot id.
    pub snapshot: String,
    /// Commit attempts (1 when no other build committed meanwhile).
    pub attempts: u32,
    /// Virtual references written.
    pub references: usize,
}

/// Where the product's messages live, as an Icechunk virtual chunk container: its name (the
/// product's), its URL prefix (the public bucket) and how to read it.
pub fn container(product: &dyn Product) -> Result<VirtualChunkContainer> {
    let host = product.default_host();
    let (prefix, store) = match s3_bucket(host) {
        Some((bucket, region)) => (
            format!("s3://{bucket}/"),
            ObjectStoreConfig::S3(
                S3Options::default()
                    .with_region(region)
                    .with_anonymous(true),
            ),
        ),
        None => (
            format!("{}/", host.trim_end_matches('/')),
            ObjectStoreConfig::Http(Default::default()),
        ),
    };
    VirtualChunkContainer::new_named(product.name().to_string(), prefix, store)
        .map_err(|e| anyhow!("virtual chunk container for {}: {e}", product.name()))
}

/// Bucket and region of a virtual-hosted S3 URL (`https://{bucket}.s3[.{region}].amazonaws.com`).
fn s3_bucket(host: &str) -> Option<(String, String)> {
    let name = host.strip_prefix("https://")?.trim_end_matches('/');
    let (bucket, rest) = name.split_once(".s3")?;
    let region = match rest.strip_suffix(".amazonaws.com")? {
        "" => "us-east-1",
        r => r.strip_prefix('.')?,
    };
    Some((bucket.to_string(), region.to_string()))
}

/// Writes `run` of `product` (its messages per member) into the repository at `dest` (created
/// if needed) as one commit. `dest` is a folder, `file://…`, `s3://bucket/prefix` (the usual
/// `AWS_*` variables: `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, credentials) or
/// `gs://bucket/prefix` (`GOOGLE_*`).
pub async fn write_run(
    dest: &str,
    product: &dyn Product,
    run: RunTime,
    members: &RunMessages,
) -> Result<IcechunkReport> {
    let variables = collect(product, run, members)?;
    let storage = |e| anyhow!("{e}").context(format!("opening Icechunk storage at {dest}"));
    if let Some(rest) = dest.strip_prefix("s3://") {
        let (bucket, prefix) = bucket_and_prefix(rest);
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let endpoint = var("AWS_ENDPOINT").or_else(|| var("AWS_ENDPOINT_URL"));
        let mut options = S3Options::default()
            .with_allow_http(var("AWS_ALLOW_HTTP").is_some_and(|v| v == "true" || v == "1"));
        if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
            options = options.with_region(region);
        }
        if let Some(endpoint) = endpoint {
            options = options
                .with_endpoint_url(endpoint)
                .with_force_path_style(true);
        }
        let storage = icechunk::new_s3_object_store_storage(
            options,
            bucket,
            prefix,
            Some(S3Credentials::FromEnv),
            Vec::new(),
            Vec::new(),
        )
        .await
        .map_err(storage)?;
        return commit_run(storage, dest, product, run, &variables).await;
    }
    if let Some(rest) = dest.strip_prefix("gs://") {
        let (bucket, prefix) = bucket_and_prefix(rest);
        let storage = icechunk::storage::new_gcs_storage(
            bucket,
            prefix,
            Some(GcsCredentials::FromEnv),
            None,
            Vec::new(),
            Vec::new(),
        )
        .map_err(storage)?;
        return commit_run(storage, dest, product, run, &variables).await;
    }
    let path = dest.strip_prefix("file://").unwrap_or(dest);
    if path.contains("://") {
        bail!("--icechunk {dest}: expected a folder, file://, s3:// or gs://");
    }
    // Icechunk's local-filesystem storage is not safe for concurrent commits (its docs say
    // so): builds sharing a folder take turns on it, as `Destination` does for catalogs.
    let _lock = lock_folder(Path::new(path), "").await?;
    let storage = icechunk::new_local_filesystem_storage(Path::new(path))
        .await
        .map_err(storage)?;
    commit_run(storage, dest, product, run, &variables).await
}

/// `bucket/a/b` → (`bucket`, `a/b`); no prefix for a bare bucket.
fn bucket_and_prefix(rest: &str) -> (String, Option<String>) {
    let rest = rest.trim_end_matches('/');
    match rest.split_once('/') {
        Some((bucket, prefix)) => (bucket.to_string(), Some(prefix.to_string())),
        None => (rest.to_string(), None),
    }
}

/// Writes the run into the repository in `storage` as one commit on [`BRANCH`]; when another
/// writer committed first (Icechunk's conflict error), redoes the transaction on the new tip.
async fn commit_run(
    storage: Arc<dyn Storage + Send + Sync>,
    dest: &str,
    product: &dyn Product,
    run: RunTime,
    variables: &[Variable],
) -> Result<IcechunkReport> {
    let mut config = RepositoryConfig::default();
    config
        .set_virtual_chunk_container(container(product)?)
        .map_err(|e| anyhow!("{e}"))?;
    let message = format!("gik build {} {run}", product.name());
    let mut attempt = 0;
    loop {
        attempt += 1;
        let repo = match Repository::open_or_create(Arc::clone(&storage))
            .config(config.clone())
            .execute()
            .await
        {
            Ok(repo) => repo,
            // Another build created or updated the repository while this one opened it
            // (S3's conditional writes refused ours): open it again.
            // A prefix holding something else than a repository stays unclean: a few tries
            // only for that one.
            Err(e)
                if is_race(&e.kind)
                    && attempt
                        < if matches!(e.kind, RepositoryErrorKind::ParentDirectoryNotClean) {
                            3
                        } else {
                            MAX_ATTEMPTS
                        } =>
            {
                tracing::info!(
                    attempt,
                    "{dest}: another build updated the repository; reopening"
                );
                tokio::time::sleep(update_backoff(attempt)).await;
                continue;
            }
            Err(e) => {
                return Err(anyhow!(e).context(format!("opening the Icechunk repository {dest}")))
            }
        };
        let session = repo
            .writable_session(BRANCH)
            .await
            .with_context(|| format!("{dest}: opening branch {BRANCH}"))?;
        let session = Arc::new(RwLock::new(session));
        let store = Store::from_session(Arc::clone(&session)).await;
        let references = write_variables(&store, product, run, variables)
            .await
            .with_context(|| format!("{dest}: writing {} {run}", product.name()))?;
        let mut properties = BTreeMap::new();
        properties.insert("gik_product".to_string(), json!(product.name()));
        properties.insert("gik_run".to_string(), json!(run.iso_after_hours(0.0)));
        let result = session
            .write()
            .await
            .commit(&message)
            .properties(properties)
            .execute()
            .await;
        match result {
            Ok(snapshot) => {
                return Ok(IcechunkReport {
                    snapshot: snapshot.to_string(),
                    attempts: attempt,
                    references,
                })
            }
            Err(e)
                if matches!(e.kind, SessionErrorKind::Conflict { .. })
                    || matches!(&e.kind, SessionErrorKind::RepositoryError(k) if is_race(k)) =>
            {
                if attempt >= MAX_ATTEMPTS {
                    bail!("{dest}: {message} lost {attempt} commit races to other builds");
                }
                tracing::info!(
                    attempt,
                    "{dest}: another build committed first; redoing {message}"
                );
                tokio::time::sleep(update_backoff(attempt)).await;
            }
            Err(e) => return Err(anyhow!(e).context(format!("{dest}: committing {message}"))),
        }
    }
}

/// Whether a repository error is another writer's update winning a race (the repository's info
/// object, its config or a branch changed under us): worth redoing, not a failure.
fn is_race(kind: &RepositoryErrorKind) -> bool {
    matches!(
        kind,
        RepositoryErrorKind::RepoInfoUpdated
            // Two builds found no repository and both created one: the loser reopens it.
            | RepositoryErrorKind::ParentDirectoryNotClean
            | RepositoryErrorKind::ConfigWasUpdated
            | RepositoryErrorKind::Conflict { .. }
    )
}

/// One variable of the run, all members together.
struct Variable {
    /// Group path (`tp/accum/surface`).
    group: String,
    /// Data array name (`tp`).
    name: String,
    /// Attributes of the data array.
    attrs: Value,
    latitudes: Vec<f64>,
    longitudes: Vec<f64>,
    /// Steps of the variable's axis in this run (hours).
    steps: Vec<u32>,
    /// (member number, step, container-relative path, offset, length).
    chunks: Vec<(u16, u32, String, u64, u64)>,
}

/// Groups the run's messages by variable, with chunk paths relative to the container.
fn collect(product: &dyn Product, run: RunTime, members: &RunMessages) -> Result<Vec<Variable>> {
    let mut by_name: BTreeMap<String, Variable> = BTreeMap::new();
    for (number, vars) in members {
        for v in vars {
            let spec = &v.spec;
            let entry = match by_name.entry(spec.request.clone()) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let (Some(latitudes), Some(longitudes)) =
                        (v.grid.latitudes(), v.grid.longitudes())
                    else {
                        bail!(
                            "{}: grid template 3.{} has no regular latitude/longitude axes",
                            spec.request,
                            v.grid.template
                        );
                    };
                    let mut attrs = json!({
                        "units": spec.units,
                        "long_name": spec.long_name,
                        "GRIB_stepType": spec.step_type.as_str(),
                        "GRIB_typeOfLevel": spec.type_of_level,
                        "gik_variable": spec.request,
                    });
                    if let Some(level) = spec.level {
                        attrs["GRIB_level"] = json!(level);
                    }
                    if let Some(standard) = product.standard_name(spec) {
                        attrs["standard_name"] = json!(standard);
                    }
                    e.insert(Variable {
                        group: spec.zarr_path(),
                        name: spec.cf_name.clone(),
                        attrs,
                        latitudes,
                        longitudes,
                        steps: v.steps.clone(),
                        chunks: Vec::new(),
                    })
                }
            };
            for m in &v.messages {
                let path = reroot_url(product, run, &m.range.url, "")
                    .ok_or_else(|| {
                        anyhow!(
                            "{}: {} is not a file of run {run}",
                            spec.request,
                            m.range.url
                        )
                    })?
                    .trim_start_matches('/')
                    .to_string();
                entry
                    .chunks
                    .push((*number, m.step, path, m.range.offset, m.range.length));
            }
        }
    }
    Ok(by_name.into_values().collect())
}

/// Writes every variable of the run into the session behind `store`; returns the number of
/// virtual references written.
async fn write_variables(
    store: &Store,
    product: &dyn Product,
    run: RunTime,
    variables: &[Variable],
) -> Result<usize> {
    let credits = product.credits();
    let root = json!({
        "Conventions": "CF-1.8",
        "title": format!("{} ensemble forecasts (virtual, GRIB2 messages in place)", credits.label),
        "institution": credits.institution,
        "source": credits.label,
        "attribution": credits.attribution,
        "licence": credits.licence,
        "gik_product": product.name(),
        "gik_grib_codec": GRIB_CODEC,
    });
    set_json(store, "zarr.json", &group_meta(&root)).await?;
    let mut references = 0;
    for v in variables {
        let mut prefix = String::new();
        for part in v.group.split('/') {
            prefix = if prefix.is_empty() {
                part.to_string()
            } else {
                format!("{prefix}/{part}")
            };
            let key = format!("{prefix}/zarr.json");
            if !exists(store, &key).await? {
                set_json(store, &key, &group_meta(&json!({}))).await?;
            }
        }
        references += write_variable(store, product, run, v).await?;
    }
    Ok(references)
}

/// Writes one variable: grows its axes as needed, then sets this run's references.
async fn write_variable(
    store: &Store,
    product: &dyn Product,
    run: RunTime,
    v: &Variable,
) -> Result<usize> {
    let g = &v.group;
    let (ni, nj) = (v.longitudes.len() as u64, v.latitudes.len() as u64);

    // The grid: written once, then it must not change.
    for (name, values, units) in [
        ("latitude", &v.latitudes, "degrees_north"),
        ("longitude", &v.longitudes, "degrees_east"),
    ] {
        let key = format!("{g}/{name}/c/0");
        let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        match read(store, &key).await? {
            Some(old) if old.as_ref() != bytes.as_slice() => bail!(
                "{g}: the {name} axis differs from the repository's (a new grid needs a new \
                 repository)"
            ),
            Some(_) => {}
            None => {
                let attrs = json!({"units": units, "standard_name": name, "long_name": name});
                let meta = array_meta(
                    &[values.len() as u64],
                    &[values.len() as u64],
                    "float64",
                    &[name],
                    &attrs,
                );
                set_json(store, &format!("{g}/{name}/zarr.json"), &meta).await?;
                store.set(&key, Bytes::from(bytes)).await?;
            }
        }
    }

    // The labelled axes, by value.
    let init = axis_index(
        store,
        g,
        "init_time",
        run.unix_seconds(),
        &json!({
            "units": "seconds since 1970-01-01 00:00:00",
            "calendar": "proleptic_gregorian",
            "standard_name": "forecast_reference_time",
            "long_name": "initial time of forecast",
        }),
    )
    .await?;
    let number_attrs = json!({
        "standard_name": "realization",
        "long_name": "ensemble member numerical id",
        "units": "1",
    });
    let step_attrs = json!({
        "units": "hours",
        "standard_name": "forecast_period",
        "long_name": "time since forecast_reference_time",
    });
    let mut numbers = BTreeMap::new();
    let mut member_numbers: Vec<u16> = v.chunks.iter().map(|c| c.0).collect();
    member_numbers.sort_unstable();
    member_numbers.dedup();
    for n in member_numbers {
        let i = axis_index(store, g, "number", i64::from(n), &number_attrs).await?;
        numbers.insert(n, i);
    }
    let mut steps = BTreeMap::new();
    for &s in &v.steps {
        let i = axis_index(store, g, "step", i64::from(s), &step_attrs).await?;
        steps.insert(s, i);
    }
    let shape = [
        axis_len(store, g, "init_time").await?,
        axis_len(store, g, "number").await?,
        axis_len(store, g, "step").await?,
        nj,
        ni,
    ];

    // The data array, resized to the axes.
    let array = format!("{g}/{}", v.name);
    let mut attrs = v.attrs.clone();
    attrs["coordinates"] = json!("init_time number step latitude longitude");
    let mut meta = array_meta(
        &shape,
        &[1, 1, 1, nj, ni],
        "float32",
        &["init_time", "number", "step", "latitude", "longitude"],
        &attrs,
    );
    meta["fill_value"] = json!("NaN");
    meta["codecs"] = json!([{"name": GRIB_CODEC, "configuration": {"var": v.name}}]);
    set_json(store, &format!("{array}/zarr.json"), &meta).await?;

    // A run built again: clear its old references first.
    for n in 0..shape[1] {
        for s in 0..shape[2] {
            let key = format!("{array}/c/{init}/{n}/{s}/0/0");
            if exists(store, &key).await? {
                store.delete(&key).await?;
            }
        }
    }
    let mut written = 0;
    for (number, step, path, offset, length) in &v.chunks {
        let (Some(n), Some(s)) = (numbers.get(number), steps.get(step)) else {
            continue;
        };
        let location = VirtualChunkLocation::from_vcc_path(product.name(), path)
            .map_err(|e| anyhow!("{path}: {e}"))?;
        let reference = VirtualChunkRef {
            location,
            offset: *offset,
            length: *length,
            checksum: None,
        };
        store
            .set_virtual_ref(&format!("{array}/c/{init}/{n}/{s}/0/0"), reference, true)
            .await?;
        written += 1;
    }
    Ok(written)
}

/// The index of `value` on the labelled axis `{group}/{name}` (an `int64` array, one value per
/// chunk), appending it (and creating the axis) when absent.
async fn axis_index(
    store: &Store,
    group: &str,
    name: &str,
    value: i64,
    attrs: &Value,
) -> Result<u64> {
    let len = axis_len(store, group, name).await?;
    for i in 0..len {
        let key = format!("{group}/{name}/c/{i}");
        let Some(bytes) = read(store, &key).await? else {
            continue;
        };
        let found = <[u8; 8]>::try_from(bytes.as_ref())
            .map(i64::from_le_bytes)
            .map_err(|_| anyhow!("{key}: {} bytes, expected one int64", bytes.len()))?;
        if found == value {
            return Ok(i);
        }
    }
    let meta = array_meta(&[len + 1], &[1], "int64", &[name], attrs);
    set_json(store, &format!("{group}/{name}/zarr.json"), &meta).await?;
    store
        .set(
            &format!("{group}/{name}/c/{len}"),
            Bytes::copy_from_slice(&value.to_le_bytes()),
        )
        .await?;
    Ok(len)
}

/// Length of the 1-D array `{group}/{name}` (0 when absent).
async fn axis_len(store: &Store, group: &str, name: &str) -> Result<u64> {
    let key = format!("{group}/{name}/zarr.json");
    let Some(bytes) = read(store, &key).await? else {
        return Ok(0);
    };
    let meta: Value = serde_json::from_slice(&bytes).with_context(|| format!("{key}: not JSON"))?;
    meta["shape"][0]
        .as_u64()
        .ok_or_else(|| anyhow!("{key}: no 1-D shape"))
}

/// A zarr v3 group's `zarr.json`.
fn group_meta(attrs: &Value) -> Value {
    json!({"zarr_format": 3, "node_type": "group", "attributes": attrs})
}

/// A zarr v3 array's `zarr.json`: regular chunks, `/`-separated keys, little-endian bytes.
fn array_meta(
    shape: &[u64],
    chunks: &[u64],
    data_type: &str,
    dims: &[&str],
    attrs: &Value,
) -> Value {
    json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": attrs,
        "dimension_names": dims,
    })
}

async fn set_json(store: &Store, key: &str, doc: &Value) -> Result<()> {
    let bytes = serde_json::to_vec(doc).with_context(|| format!("{key}: serializing"))?;
    store
        .set(key, Bytes::from(bytes))
        .await
        .with_context(|| format!("setting {key}"))
}

async fn exists(store: &Store, key: &str) -> Result<bool> {
    store
        .exists(key)
        .await
        .with_context(|| format!("looking up {key}"))
}

/// The value of `key`, `None` when absent (or its array is).
async fn read(store: &Store, key: &str) -> Result<Option<Bytes>> {
    if let Some((node, _)) = key.split_once("/c/") {
        if !exists(store, &format!("{node}/zarr.json")).await? {
            return Ok(None);
        }
    }
    match store.get(key, &ByteRange::ALL).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if matches!(e.kind, StoreErrorKind::NotFound(_)) => Ok(None),
        Err(e) => Err(anyhow!(e).context(format!("reading {key}"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn public_buckets_become_named_s3_containers() {
        assert_eq!(
            s3_bucket("https://noaa-gefs-pds.s3.amazonaws.com"),
            Some(("noaa-gefs-pds".into(), "us-east-1".into()))
        );
        assert_eq!(
            s3_bucket("https://ecmwf-forecasts.s3.eu-central-1.amazonaws.com"),
            Some(("ecmwf-forecasts".into(), "eu-central-1".into()))
        );
        assert_eq!(s3_bucket("http://127.0.0.1:8080/b"), None);
        for name in ["gefs", "ecmwf"] {
            let product = gik_core::product::product_by_name(name, &Default::default()).unwrap();
            let c = container(product.as_ref()).unwrap();
            assert_eq!(c.name.as_deref(), Some(name));
            assert!(c.url_prefix().starts_with("s3://"), "{}", c.url_prefix());
        }
    }
}
