//! Where the catalog and the manifests come from: a folder or an http(s) URL.
//!
//! Manifest paths in `catalog.json` are relative to the catalog, so one [`CatalogLocation`]
//! resolves both. For more than one member, the run's ensemble manifest (every member in one,
//! the catalog's `ensemble` field) is read instead of the member manifests: one file instead of
//! N. When the run has none, or it cannot be read (said in the log, naming the file), the member
//! manifests are read as before. A manifest that cannot be read becomes the reason every
//! message of its member is missing, not a failure of the whole stream.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use gik_core::catalog::{Catalog, RunEntry, CATALOG_FILE};
use gik_core::member::{EnsembleManifest, MemberManifest};

use crate::http::{FetchError, HttpClient, ObjectKind};
use crate::sources::{split_list, SourceSet};

/// Why a file beside the catalog, or a byte range of a local file, could not be read. Each
/// variant names the URL or the path, and the byte range when one was asked for.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The request failed (the error names the URL).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A local file could not be measured or read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A byte range of a local file could not be read.
    #[error("reading {} bytes {offset}+{length}: {source}", path.display())]
    Range {
        /// The file.
        path: PathBuf,
        /// First byte asked for.
        offset: u64,
        /// Bytes asked for.
        length: u64,
        /// The error.
        source: std::io::Error,
    },
    /// A local file is larger than the client's cap for its kind.
    #[error("{} is {size} bytes, more than the cap for a {kind} ({cap} bytes)", path.display())]
    OverCap {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// What it was read as.
        kind: ObjectKind,
        /// The cap for that kind.
        cap: u64,
    },
    /// A byte range runs past the end of a local file.
    #[error("{}: {length} bytes at {offset} asked, the file has {found}", path.display())]
    Short {
        /// The file.
        path: PathBuf,
        /// First byte asked for.
        offset: u64,
        /// Bytes asked for.
        length: u64,
        /// Bytes there were from `offset`.
        found: u64,
    },
}

/// The mirrors of `--source` (comma lists split), if any, as a [`SourceSet`] whose canonical
/// base is the first: messages are re-rooted on it, and read from each in turn.
pub(super) fn source_set(sources: &[String]) -> Result<Option<std::sync::Arc<SourceSet>>> {
    let list = split_list(sources);
    if list.is_empty() {
        return Ok(None);
    }
    Ok(Some(std::sync::Arc::new(
        SourceSet::new(&list, None).context("--source")?,
    )))
}

/// `client`, reading from the `--source` mirrors unless it already has sources.
pub(super) fn client_with_sources(client: &HttpClient, sources: &[String]) -> Result<HttpClient> {
    match (client.sources(), source_set(sources)?) {
        (None, Some(set)) => Ok(client.clone().with_sources(set)),
        _ => Ok(client.clone()),
    }
}

/// Where the catalog and the manifests (paths relative to it) are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogLocation {
    /// An http(s) base URL, without a trailing slash.
    Http {
        /// Base URL of the folder holding the catalog.
        base: String,
        /// File name of the catalog.
        file: String,
    },
    /// A local folder.
    Dir {
        /// The folder holding the catalog.
        dir: PathBuf,
        /// File name of the catalog.
        file: String,
    },
}

impl CatalogLocation {
    /// A folder, a `file://` URL or an http(s) URL, of the catalog's folder or of the catalog
    /// file itself (a name ending in `.json`).
    pub fn parse(text: &str) -> Self {
        let t = text.trim();
        if t.starts_with("http://") || t.starts_with("https://") {
            let t = t.trim_end_matches('/');
            if t.ends_with(".json") {
                if let Some((base, file)) = t.rsplit_once('/') {
                    return Self::Http {
                        base: base.to_string(),
                        file: file.to_string(),
                    };
                }
            }
            return Self::Http {
                base: t.to_string(),
                file: CATALOG_FILE.to_string(),
            };
        }
        let path = PathBuf::from(t.strip_prefix("file://").unwrap_or(t));
        if path.extension().is_some_and(|e| e == "json") && !path.is_dir() {
            let dir = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let file = path.file_name().map_or(CATALOG_FILE.to_string(), |f| {
                f.to_string_lossy().into_owned()
            });
            return Self::Dir { dir, file };
        }
        Self::Dir {
            dir: path,
            file: CATALOG_FILE.to_string(),
        }
    }

    /// Where `relative` is (URL or path), for messages.
    pub fn describe(&self, relative: &str) -> String {
        match self {
            Self::Http { base, .. } => format!("{base}/{relative}"),
            Self::Dir { dir, .. } => dir.join(relative).display().to_string(),
        }
    }

    /// Reads a file relative to the catalog's folder, refusing one larger than the client's cap
    /// for its kind ([`crate::http::BodyLimits`]) — a folder is input like a URL.
    pub async fn read(
        &self,
        client: &HttpClient,
        relative: &str,
        kind: ObjectKind,
    ) -> Result<bytes::Bytes, ReadError> {
        match self {
            Self::Http { base, .. } => Ok(client
                .get_object(&format!("{base}/{relative}"), kind)
                .await?),
            Self::Dir { dir, .. } => {
                let path = dir.join(relative);
                let cap = client.limits().for_kind(kind);
                let io = |source| ReadError::Io {
                    path: path.clone(),
                    source,
                };
                let size = tokio::fs::metadata(&path).await.map_err(io)?.len();
                if size > cap {
                    return Err(ReadError::OverCap {
                        path,
                        size,
                        kind,
                        cap,
                    });
                }
                let data = tokio::fs::read(&path).await.map_err(io)?;
                Ok(bytes::Bytes::from(data))
            }
        }
    }

    /// Reads and parses the catalog.
    pub async fn catalog(&self, client: &HttpClient) -> Result<Catalog> {
        let file = match self {
            Self::Http { file, .. } | Self::Dir { file, .. } => file.clone(),
        };
        let bytes = self
            .read(client, &file, ObjectKind::Catalog)
            .await
            .with_context(|| format!("reading the catalog {}", self.describe(&file)))?;
        Catalog::from_json(&bytes).with_context(|| format!("catalog {}", self.describe(&file)))
    }
}

/// Why a member's manifest cannot be had: the reason every message of the member is missing.
#[derive(Clone, Debug, thiserror::Error)]
pub(super) enum ManifestUnavailable {
    /// The run's catalog entry names no manifest for the member.
    #[error("no manifest for {member} in the catalog")]
    NotInCatalog {
        /// The member's name.
        member: String,
    },
    /// The manifest could not be read (missing, over its cap, the network failed).
    #[error("manifest {location}: {source}")]
    Unreadable {
        /// Where the manifest is (URL or path).
        location: String,
        /// Why it could not be read (shared by every message of the member).
        source: Arc<ReadError>,
    },
    /// The manifest was read but is not a member manifest (or the ensemble manifest does not
    /// hold the member).
    #[error("manifest {location}: {source}")]
    Invalid {
        /// Where the manifest is (URL or path).
        location: String,
        /// What is wrong with it.
        source: Arc<gik_core::Error>,
    },
}

/// A member's manifest, or why it cannot be had.
pub(super) type ManifestResult = Result<MemberManifest, ManifestUnavailable>;

/// A member to read the manifest of: its number (0 = control) and its name.
#[derive(Clone, Copy, Debug)]
pub(super) struct MemberToRead<'a> {
    /// Member number (0 = control): a value of the ensemble manifest's `number` coordinate.
    pub number: u32,
    /// Member name, its key in the catalog's `manifests`.
    pub name: &'a str,
}

/// The manifests of `members` (in that order), from the run's ensemble manifest when there
/// is more than one member and the run has one that can be read, else from the member
/// manifests. A manifest that cannot be had is the reason why, for every message of its
/// member.
pub(super) async fn read_manifests(
    client: &HttpClient,
    location: &CatalogLocation,
    entry: &RunEntry,
    members: &[MemberToRead<'_>],
) -> Vec<ManifestResult> {
    if let (Some(path), true) = (&entry.ensemble, members.len() > 1) {
        match read_parquet(client, location, path, EnsembleManifest::from_parquet).await {
            Ok(ensemble) => return members_of_ensemble(&ensemble, location, path, entry, members),
            Err(e) => tracing::warn!(
                file = %location.describe(path),
                error = %e,
                "the ensemble manifest cannot be read: reading the member manifests instead"
            ),
        }
    }
    read_member_manifests(client, location, entry, members).await
}

/// Every member's manifest read out of the run's ensemble manifest (at `path`).
fn members_of_ensemble(
    ensemble: &EnsembleManifest,
    location: &CatalogLocation,
    path: &str,
    entry: &RunEntry,
    members: &[MemberToRead<'_>],
) -> Vec<ManifestResult> {
    members
        .iter()
        .map(|member| {
            manifest_path(entry, member)?;
            ensemble
                .member(member.number)
                .map_err(|e| ManifestUnavailable::Invalid {
                    location: location.describe(path),
                    source: Arc::new(e),
                })
        })
        .collect()
}

/// Reads the member manifests named in the run's catalog entry, 16 at a time.
async fn read_member_manifests(
    client: &HttpClient,
    location: &CatalogLocation,
    entry: &RunEntry,
    members: &[MemberToRead<'_>],
) -> Vec<ManifestResult> {
    stream::iter(members.iter())
        .map(|member| async move {
            let path = manifest_path(entry, member)?;
            read_parquet(client, location, path, MemberManifest::from_parquet).await
        })
        .buffered(16)
        .collect()
        .await
}

/// The path of `member`'s manifest in the run's catalog entry: a member without one has no
/// manifest, whichever file its messages would be read from.
fn manifest_path<'e>(
    entry: &'e RunEntry,
    member: &MemberToRead<'_>,
) -> Result<&'e str, ManifestUnavailable> {
    entry
        .manifests
        .get(member.name)
        .map(String::as_str)
        .ok_or_else(|| ManifestUnavailable::NotInCatalog {
            member: member.name.to_owned(),
        })
}

/// Reads the manifest at `path` (relative to the catalog) and parses it with `parse`.
async fn read_parquet<T>(
    client: &HttpClient,
    location: &CatalogLocation,
    path: &str,
    parse: fn(&[u8]) -> gik_core::Result<T>,
) -> Result<T, ManifestUnavailable> {
    let bytes = location
        .read(client, path, ObjectKind::Manifest)
        .await
        .map_err(|e| ManifestUnavailable::Unreadable {
            location: location.describe(path),
            source: Arc::new(e),
        })?;
    parse(&bytes).map_err(|e| ManifestUnavailable::Invalid {
        location: location.describe(path),
        source: Arc::new(e),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::http::{BodyLimits, RetryConfig};

    /// A catalog folder is input like a URL: a manifest or catalog over the client's cap for
    /// its kind is refused by its size, naming the file.
    #[tokio::test]
    async fn files_in_a_catalog_folder_are_capped_by_kind() {
        let dir = std::env::temp_dir().join(format!("gik-source-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("m.parquet"), [0u8; 11]).unwrap();
        std::fs::write(dir.join(CATALOG_FILE), [b' '; 11]).unwrap();
        let client = HttpClient::new(1, RetryConfig::default())
            .unwrap()
            .with_limits(BodyLimits {
                manifest: 10,
                catalog: 10,
                ..BodyLimits::default()
            });
        let location = CatalogLocation::parse(dir.to_str().unwrap());
        let err = location
            .read(&client, "m.parquet", ObjectKind::Manifest)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("m.parquet") && err.contains("cap for a manifest (10 bytes)"),
            "{err}"
        );
        let err = format!("{:#}", location.catalog(&client).await.unwrap_err());
        assert!(err.contains("cap for a catalog"), "{err}");
        let roomy = HttpClient::new(1, RetryConfig::default()).unwrap();
        let bytes = location
            .read(&roomy, "m.parquet", ObjectKind::Manifest)
            .await;
        assert_eq!(bytes.unwrap().len(), 11);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn catalog_locations() {
        assert_eq!(
            CatalogLocation::parse("http://h:1/pub/"),
            CatalogLocation::Http {
                base: "http://h:1/pub".into(),
                file: "catalog.json".into()
            }
        );
        assert_eq!(
            CatalogLocation::parse("https://h/pub/cat.json"),
            CatalogLocation::Http {
                base: "https://h/pub".into(),
                file: "cat.json".into()
            }
        );
        assert_eq!(
            CatalogLocation::parse("/tmp/x/catalog.json"),
            CatalogLocation::Dir {
                dir: "/tmp/x".into(),
                file: "catalog.json".into()
            }
        );
        assert_eq!(
            CatalogLocation::parse("file:///tmp/x"),
            CatalogLocation::Dir {
                dir: "/tmp/x".into(),
                file: "catalog.json".into()
            }
        );
        assert_eq!(
            CatalogLocation::parse("/tmp/x").describe("a/b.parquet"),
            "/tmp/x/a/b.parquet"
        );
    }
}
