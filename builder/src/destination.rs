//! Where manifests and the catalog are published: a local folder, `file://`, `s3://` or `gs://`.
//!
//! All destinations go through the `object_store` crate, so the pipeline is written once.
//! Credentials come only from the environment (`AWS_*` for any S3-compatible endpoint,
//! `GOOGLE_*` for GCS). Every object is written in one operation: a local file is written to a
//! temporary name and renamed by `object_store`, an S3/GCS object is replaced by a single PUT, so
//! a reader never sees half a file.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};

/// An opened destination: a store and the prefix inside it.
#[derive(Clone)]
pub struct Destination {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
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
            (Arc::new(store), StorePath::default())
        };
        Ok(Self {
            store,
            prefix,
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
            Ok(r) => Ok(Some(
                r.bytes()
                    .await
                    .with_context(|| format!("reading {relative}"))?,
            )),
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
}
