//! Where manifests and the catalog are published: a local folder, `file://`, `s3://` or `gs://`.
//!
//! All destinations go through the `object_store` crate, so the pipeline is written once.
//! Credentials come only from the environment (`AWS_*` for any S3-compatible endpoint,
//! `GOOGLE_*` for GCS). Every object is written in one operation: a local file is written to a
//! temporary name and renamed by `object_store`, an S3/GCS object is replaced by a single PUT, so
//! a reader never sees half a file.
//!
//! Objects that several writers change (the catalog) go through [`Destination::update`], a
//! read-modify-write that never loses another writer's change: on S3 and GCS a conditional PUT
//! (`If-Match` the ETag read, or `If-None-Match: *` for a new object; GCS generations), retried
//! with a fresh read and merge when another writer got there first; in a local folder an
//! exclusive advisory lock on the folder holding the object (released by the OS if the process
//! dies), held from the read to the rename.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{GetResult, ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::http::{MAX_CATALOG_BYTES, MAX_MANIFEST_BYTES};

/// Attempts of a conditional write before [`Destination::update`] gives up.
const MAX_UPDATE_ATTEMPTS: u32 = 64;

/// The largest object gik reads back from a destination (its catalog, a manifest it compares):
/// the larger of the caps on what it reads over HTTP. A destination is shared with other
/// writers, so what it holds is input like any other.
pub const MAX_READ_BACK_BYTES: u64 = if MAX_MANIFEST_BYTES > MAX_CATALOG_BYTES {
    MAX_MANIFEST_BYTES
} else {
    MAX_CATALOG_BYTES
};

/// The body of `result`, refused (without reading further) once it is larger than
/// [`MAX_READ_BACK_BYTES`].
async fn read_capped(result: GetResult, relative: &str, display: &str) -> Result<Bytes> {
    let declared = result.meta.size;
    let too_large = |size: u64| {
        anyhow!(
            "{relative} in {display} is {size} bytes, more than gik reads back from a \
             destination ({MAX_READ_BACK_BYTES} bytes)"
        )
    };
    if declared > MAX_READ_BACK_BYTES {
        return Err(too_large(declared));
    }
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    let mut chunks = result.into_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.with_context(|| format!("reading {relative} from {display}"))?;
        let size = body.len() as u64 + chunk.len() as u64;
        if size > MAX_READ_BACK_BYTES {
            return Err(too_large(size));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// What the `modify` function of [`Destination::update`] decided.
#[derive(Debug)]
pub enum Update<T> {
    /// Write these bytes (only if nobody changed the object since it was read), then return
    /// the value.
    Write(Vec<u8>, T),
    /// Leave the object as it is and return the value.
    Keep(T),
}

/// An opened destination: a store and the prefix inside it.
#[derive(Clone)]
pub struct Destination {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    /// The folder of a local destination (where lock files go); `None` for object stores.
    local_root: Option<PathBuf>,
    /// The destination as the user gave it, for messages.
    pub display: String,
}

impl Destination {
    /// Opens `dest`: a path, `file:///abs/path`, `s3://bucket/prefix` or `gs://bucket/prefix`.
    pub fn open(dest: &str) -> Result<Self> {
        Self::open_with_options(dest, &[])
    }

    /// Like [`Destination::open`], with store options that take precedence over the
    /// environment, named as the environment variables are (any case): `AWS_ENDPOINT`,
    /// `AWS_ALLOW_HTTP`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`… for `s3://`, `GOOGLE_*` for `gs://`.
    /// For an S3-compatible server on a test machine without touching the process environment.
    /// A local destination takes no options.
    pub fn open_with_options(dest: &str, options: &[(&str, &str)]) -> Result<Self> {
        let mut local_root = None;
        let (store, prefix): (Arc<dyn ObjectStore>, StorePath) = if let Some(rest) =
            dest.strip_prefix("s3://")
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let mut builder = object_store::aws::AmazonS3Builder::from_env();
            for (key, value) in options {
                let key: object_store::aws::AmazonS3ConfigKey = key
                    .to_ascii_lowercase()
                    .parse()
                    .with_context(|| format!("{dest}: unknown S3 option {key}"))?;
                builder = builder.with_config(key, *value);
            }
            let store = builder
                .with_bucket_name(bucket)
                .build()
                .with_context(|| format!("opening {dest} (AWS_* environment)"))?;
            (Arc::new(store), StorePath::from(prefix))
        } else if let Some(rest) = dest.strip_prefix("gs://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let mut builder = object_store::gcp::GoogleCloudStorageBuilder::from_env();
            for (key, value) in options {
                let key: object_store::gcp::GoogleConfigKey = key
                    .to_ascii_lowercase()
                    .parse()
                    .with_context(|| format!("{dest}: unknown GCS option {key}"))?;
                builder = builder.with_config(key, *value);
            }
            let store = builder
                .with_bucket_name(bucket)
                .build()
                .with_context(|| format!("opening {dest} (GOOGLE_* environment)"))?;
            (Arc::new(store), StorePath::from(prefix))
        } else {
            if let Some((key, _)) = options.first() {
                bail!("{dest}: a local destination takes no options (got {key})");
            }
            let path = dest.strip_prefix("file://").unwrap_or(dest);
            if path.contains("://") {
                bail!("unsupported destination {dest}: use a folder, file://, s3:// or gs://");
            }
            std::fs::create_dir_all(path).with_context(|| format!("creating {path}"))?;
            let root = std::fs::canonicalize(path).with_context(|| format!("opening {path}"))?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&root)
                .with_context(|| format!("opening {}", root.display()))?;
            local_root = Some(root);
            (Arc::new(store), StorePath::default())
        };
        Ok(Self {
            store,
            prefix,
            local_root,
            display: dest.to_string(),
        })
    }

    fn path(&self, relative: &str) -> StorePath {
        relative
            .split('/')
            .filter(|p| !p.is_empty())
            .fold(self.prefix.clone(), |p, part| p.child(part))
    }

    /// Writes `bytes` at `relative` in one operation.
    pub async fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&self.path(relative), PutPayload::from(Bytes::from(bytes)))
            .await
            .with_context(|| format!("writing {relative} to {}", self.display))?;
        Ok(())
    }

    /// Reads `relative`, or `None` if it does not exist.
    pub async fn get(&self, relative: &str) -> Result<Option<Bytes>> {
        match self.store.get(&self.path(relative)).await {
            Ok(r) => Ok(Some(read_capped(r, relative, &self.display).await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {relative} from {}", self.display)),
        }
    }

    /// Deletes `relative` (missing is fine).
    pub async fn delete(&self, relative: &str) -> Result<()> {
        match self.store.delete(&self.path(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting {relative}")),
        }
    }

    /// Read-modify-write of `relative`, safe against other writers doing the same at the same
    /// time (see the module docs): `modify` gets the current bytes (`None`: no object) and may
    /// be called again with newer bytes if another writer changed the object meanwhile, so it
    /// must be a pure merge of its own change into what it is given.
    pub async fn update<T>(
        &self,
        relative: &str,
        mut modify: impl FnMut(Option<&[u8]>) -> Result<Update<T>>,
    ) -> Result<T> {
        if let Some(root) = &self.local_root {
            let _lock = lock_folder(root, relative).await?;
            let current = self.get(relative).await?;
            return match modify(current.as_deref())? {
                Update::Write(bytes, value) => {
                    self.put(relative, bytes).await?;
                    Ok(value)
                }
                Update::Keep(value) => Ok(value),
            };
        }
        let path = self.path(relative);
        for attempt in 0..MAX_UPDATE_ATTEMPTS {
            let (current, version) = match self.store.get(&path).await {
                Ok(r) => {
                    let version = UpdateVersion {
                        e_tag: r.meta.e_tag.clone(),
                        version: r.meta.version.clone(),
                    };
                    let bytes = read_capped(r, relative, &self.display).await?;
                    (Some(bytes), Some(version))
                }
                Err(object_store::Error::NotFound { .. }) => (None, None),
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("reading {relative} from {}", self.display))
                }
            };
            let (bytes, value) = match modify(current.as_deref())? {
                Update::Write(bytes, value) => (bytes, value),
                Update::Keep(value) => return Ok(value),
            };
            let mode = match version {
                Some(v) => PutMode::Update(v),
                None => PutMode::Create,
            };
            let opts = PutOptions::from(mode);
            match self
                .store
                .put_opts(&path, PutPayload::from(Bytes::from(bytes)), opts)
                .await
            {
                Ok(_) => return Ok(value),
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. },
                ) => {
                    tracing::info!(
                        object = relative,
                        attempt,
                        "another writer changed it first; reading and merging again"
                    );
                    tokio::time::sleep(update_backoff(attempt)).await;
                }
                Err(object_store::Error::NotImplemented) => bail!(
                    "{}: the store does not support conditional writes, which {relative} needs \
                     so that concurrent builds do not lose each other's runs",
                    self.display
                ),
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("writing {relative} to {}", self.display))
                }
            }
        }
        bail!(
            "writing {relative} to {}: another writer changed it {MAX_UPDATE_ATTEMPTS} times in \
             a row; giving up",
            self.display
        )
    }
}

/// An exclusive lock on the folder holding `relative` in `root`, held while the returned handle
/// is open: an advisory `flock` on the directory itself, so nothing is added to the published
/// tree. Waits for another process's lock; the OS releases it if that process dies.
pub(crate) async fn lock_folder(root: &std::path::Path, relative: &str) -> Result<std::fs::File> {
    let dir = match relative.rsplit_once('/') {
        Some((dir, _)) => root.join(dir),
        None => root.to_path_buf(),
    };
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let handle = std::fs::File::open(&dir)
            .with_context(|| format!("opening {} to lock it", dir.display()))?;
        handle
            .lock()
            .with_context(|| format!("locking {}", dir.display()))?;
        Ok(handle)
    })
    .await
    .context("waiting for a folder lock")?
}

/// Wait before conditional-write attempt `attempt + 1`: the HTTP client's jittered exponential
/// backoff from 10 ms to 1 s, so that writers that collided do not collide again.
pub(crate) fn update_backoff(attempt: u32) -> Duration {
    let config = crate::http::RetryConfig {
        max_retries: MAX_UPDATE_ATTEMPTS,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_secs(1),
        ..crate::http::RetryConfig::default()
    };
    crate::http::backoff(&config, attempt + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A catalog in a shared destination larger than gik reads back is refused by its declared
    /// size, before any of it is read (the file is sparse: nothing is written or read).
    #[tokio::test]
    async fn an_oversized_object_is_refused_without_reading_it() {
        let dir = std::env::temp_dir().join(format!("gik-dest-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join("catalog.json")).unwrap();
        file.set_len(MAX_READ_BACK_BYTES + 1).unwrap();
        drop(file);
        let dest = Destination::open(dir.to_str().unwrap()).unwrap();
        let err = dest.get("catalog.json").await.unwrap_err().to_string();
        assert!(
            err.contains("catalog.json") && err.contains("more than gik reads back"),
            "{err}"
        );
        let err = dest
            .update("catalog.json", |_| Ok(Update::Keep(())))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than gik reads back"), "{err}");
        // A small object still reads.
        std::fs::write(dir.join("small.json"), b"{}").unwrap();
        assert_eq!(
            dest.get("small.json").await.unwrap().unwrap().as_ref(),
            b"{}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
