//! A member manifest read by parts: the file's tail, then only the row groups of the view's
//! variable ([`gik_core::manifest::ManifestTail`]).
//!
//! Why: a member manifest holds the coordinates and metadata of every variable (a real-size
//! ECMWF member is ~200 KB for 15 variables), and a view shows one; reading them whole, a
//! 51-member ECMWF view read ~10 MB of manifests before its first message. Read by parts, a
//! 2 m temperature view reads ~22 KB per member (`cargo test -p gik-app manifest_fetch --
//! --nocapture` prints the figures).
//!
//! The requests, at most three and usually two:
//! 1. the last [`TAIL_BYTES`] (`Range: bytes=-N`): the footer and the root's row group, which
//!    the writer puts last; the file's length follows from the footer, so `Content-Range`
//!    (hidden from cross-origin pages unless exposed) is not needed;
//! 2. when the footer is longer than that, a longer tail: the footer and as much again;
//! 3. one Range request per span of row groups [`ManifestTail::ranges`] names (neighbouring
//!    row groups are one span), usually one: the variable's.
//!
//! Every file stays readable: a file shorter than the tail, or a server that answers the tail
//! request with the whole file (`200`), is read from that answer; a file without a row-group
//! index (older gik manifests, Python-written ones) is fetched whole.
//!
//! Every part must come from one version of the file (its `ETag`, [`crate::version`]): a file
//! replaced between two of the requests is an error naming it, never a manifest made of both.
//!
//! What was read is kept as one entry of the persistent store ([`Fetched::stored`]): the whole
//! file as it is, or the tail and the ranges behind a short header; [`from_stored`] rebuilds
//! the manifest from it without a request.
//!
//! Generic over the fetch function, so the whole flow is tested natively.

use std::future::Future;

use bytes::Bytes;
use gik_core::manifest::{ManifestError, ManifestTail};
use gik_core::member::MemberManifest;
use gik_core::origin::AllowedUrl;

use crate::data::{Answer, FetchFailure, Want, MAX_MANIFEST_BYTES};
use crate::version::{Changed, Parts, Version};

/// First read from the end of a manifest: a real-size ECMWF member's footer and root row group
/// take ~3 KB (~190 bytes per variable), so 8 KiB holds them for up to ~40 variables.
pub const TAIL_BYTES: u64 = 8 << 10;

/// Starts a stored entry holding a tail and ranges (a whole file starts with `PAR1`).
const PARTS_MAGIC: &[u8; 4] = b"GIKP";

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestFetchError {
    /// A request failed (or was cancelled).
    #[error("{0}")]
    Fetch(FetchFailure),
    /// The bytes are not a member manifest (or not the parts of one).
    #[error("{0}")]
    Manifest(#[from] gik_core::Error),
    /// The footer or the row groups to read are over the manifest size cap.
    #[error("{what} of {bytes} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// The footer, or the row groups.
        what: &'static str,
        /// Their size.
        bytes: u64,
        /// [`MAX_MANIFEST_BYTES`].
        limit: u64,
    },
    /// The file was replaced between two of the requests.
    #[error("{0}")]
    Changed(#[from] Changed),
    /// A stored entry that [`Fetched::stored`] did not write.
    #[error("not a stored manifest entry")]
    Stored,
}

impl From<ManifestError> for ManifestFetchError {
    fn from(e: ManifestError) -> Self {
        Self::Manifest(e.into())
    }
}

/// The key of the manifest at `url` read for `array`, in the caches (in memory and
/// persistent): a manifest read by parts holds only that array's group.
pub fn cache_key(url: &AllowedUrl, array: &str) -> String {
    format!("manifest {url} {array}")
}

/// A member manifest read from the network.
#[derive(Debug)]
pub struct Fetched {
    /// The manifest: the groups of the array asked for and the root (the whole manifest when
    /// the file was read whole).
    pub manifest: MemberManifest,
    /// What was read, for the persistent store ([`from_stored`] reads it back).
    pub stored: Vec<u8>,
    /// The version of the file every part came from.
    pub version: Version,
}

/// The requests of one manifest read, and the versions of the file they answered from (one
/// version: a file replaced between two requests is [`ManifestFetchError::Changed`]).
struct Requests<F> {
    fetch: F,
    parts: Parts,
}

impl<F, Fut> Requests<F>
where
    F: FnMut(Want) -> Fut,
    Fut: Future<Output = Result<Answer, FetchFailure>>,
{
    async fn get(&mut self, want: Want) -> Result<Vec<u8>, ManifestFetchError> {
        let answer = (self.fetch)(want)
            .await
            .map_err(ManifestFetchError::Fetch)?;
        self.parts.check(&answer.version)?;
        Ok(answer.bytes)
    }

    /// What was read, as a whole file's manifest; stored as it is.
    fn whole(&self, file: Vec<u8>) -> Result<Fetched, ManifestFetchError> {
        Ok(Fetched {
            manifest: MemberManifest::from_parquet(&file)?,
            stored: file,
            version: self.version(),
        })
    }

    fn version(&self) -> Version {
        self.parts.version().cloned().unwrap_or_default()
    }
}

/// Reads the member manifest holding `array` with `fetch` (one HTTP request per call), first
/// reading `tail` bytes from its end (see the module documentation).
pub async fn fetch_member<F, Fut>(
    array: &str,
    tail: u64,
    fetch: F,
) -> Result<Fetched, ManifestFetchError>
where
    F: FnMut(Want) -> Fut,
    Fut: Future<Output = Result<Answer, FetchFailure>>,
{
    let max = MAX_MANIFEST_BYTES;
    let mut requests = Requests {
        fetch,
        parts: Parts::new(),
    };
    let mut end = requests.get(Want::Tail { length: tail, max }).await?;
    if end.len() as u64 != tail {
        // The whole file: shorter than the tail, or a server that ignored `Range`.
        return requests.whole(end);
    }
    let footer = ManifestTail::footer_size(&end)?;
    if footer > tail {
        if footer > max {
            return Err(too_large("the footer", footer));
        }
        // The footer and, as the first read meant to, the root's row group before it.
        let length = footer.saturating_add(tail);
        end = requests.get(Want::Tail { length, max }).await?;
        if end.len() as u64 != length {
            return requests.whole(end);
        }
    }
    let end = Bytes::from(end);
    let footer = ManifestTail::new(end.clone())?;
    let Some(ranges) = footer.ranges(&[array]) else {
        let file = requests.get(Want::Whole { max }).await?;
        return requests.whole(file);
    };
    let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    if total > max {
        return Err(too_large("the row groups", total));
    }
    let mut parts = Vec::with_capacity(ranges.len());
    for r in ranges {
        let want = Want::Range {
            offset: r.start,
            length: r.end - r.start,
        };
        parts.push((r.start, Bytes::from(requests.get(want).await?)));
    }
    let stored = encode_parts(&end, &parts);
    let manifest = MemberManifest::from_parts(&footer, &[array], parts)?;
    Ok(Fetched {
        manifest,
        stored,
        version: requests.version(),
    })
}

/// The manifest holding `array` from an entry [`Fetched::stored`] wrote.
pub fn from_stored(array: &str, stored: &[u8]) -> Result<MemberManifest, ManifestFetchError> {
    let Some(mut rest) = stored.strip_prefix(PARTS_MAGIC) else {
        return Ok(MemberManifest::from_parquet(stored)?);
    };
    let (_, end) = next_part(&mut rest).ok_or(ManifestFetchError::Stored)?;
    let mut parts = Vec::new();
    while !rest.is_empty() {
        parts.push(next_part(&mut rest).ok_or(ManifestFetchError::Stored)?);
    }
    let footer = ManifestTail::new(end)?;
    Ok(MemberManifest::from_parts(&footer, &[array], parts)?)
}

/// The next `(offset, bytes)` of an entry [`encode_parts`] wrote; `None` when it is cut short.
fn next_part(rest: &mut &[u8]) -> Option<(u64, Bytes)> {
    let (head, tail) = rest.split_at_checked(16)?;
    let (offset, len) = head.split_at(8);
    let offset = u64::from_le_bytes(offset.try_into().ok()?);
    let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
    let (bytes, tail) = tail.split_at_checked(len)?;
    *rest = tail;
    Some((offset, Bytes::copy_from_slice(bytes)))
}

fn too_large(what: &'static str, bytes: u64) -> ManifestFetchError {
    ManifestFetchError::TooLarge {
        what,
        bytes,
        limit: MAX_MANIFEST_BYTES,
    }
}

/// A stored entry of a tail and ranges: [`PARTS_MAGIC`], then for the tail and each range its
/// offset and length (`u64` little-endian) and its bytes.
fn encode_parts(tail: &Bytes, parts: &[(u64, Bytes)]) -> Vec<u8> {
    let size: usize = parts.iter().map(|(_, b)| 16 + b.len()).sum();
    let mut out = Vec::with_capacity(PARTS_MAGIC.len() + 16 + tail.len() + size);
    out.extend_from_slice(PARTS_MAGIC);
    for (offset, bytes) in std::iter::once((0, tail)).chain(parts.iter().map(|(o, b)| (*o, b))) {
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use gik_core::manifest::{write_parquet, Manifest, Reference};

    use super::*;
    use crate::prefix::tests::run;

    /// A server of one file: answers as the mirror and S3 do (a suffix range gives the last
    /// bytes, or the whole file when it is shorter), or, with `ignores_range`, like a server
    /// that drops `Range` (`200` with the whole file, which the fetch layer refuses for a
    /// plain range). Records what it was asked.
    struct Server {
        file: Vec<u8>,
        ignores_range: bool,
        asked: RefCell<Vec<Want>>,
    }

    impl Server {
        fn new(file: Vec<u8>) -> Self {
            Self {
                file,
                ignores_range: false,
                asked: RefCell::new(Vec::new()),
            }
        }

        fn answer(&self, want: Want) -> Result<Vec<u8>, FetchFailure> {
            self.asked.borrow_mut().push(want);
            let len = self.file.len() as u64;
            let (a, b) = match want {
                Want::Whole { .. } => (0, len),
                Want::Tail { .. } if self.ignores_range => (0, len),
                Want::Tail { length, .. } => (len.saturating_sub(length), len),
                Want::Range { .. } if self.ignores_range => {
                    return Err(FetchFailure::RangeIgnored { url: "u".into() })
                }
                Want::Range { offset, length } => (offset, (offset + length).min(len)),
            };
            Ok(self.file[a as usize..b as usize].to_vec())
        }

        fn read(&self, array: &str, tail: u64) -> Result<Fetched, ManifestFetchError> {
            run(fetch_member(array, tail, |want| {
                std::future::ready(self.answer(want).map(|bytes| tagged(bytes, TAG)))
            }))
        }

        fn bytes_sent(&self) -> u64 {
            self.asked
                .borrow()
                .iter()
                .map(|w| self.answer_len(*w))
                .sum()
        }

        fn answer_len(&self, want: Want) -> u64 {
            let len = self.file.len() as u64;
            match want {
                Want::Whole { .. } => len,
                Want::Tail { .. } if self.ignores_range => len,
                Want::Tail { length, .. } => length.min(len),
                Want::Range { length, .. } => length,
            }
        }
    }

    const URL: &str = "https://mirror.example/m/ens01.parquet";
    const TAG: &str = "\"v1\"";

    /// `bytes` as answered by [`URL`] with the `ETag` `etag`.
    fn tagged(bytes: Vec<u8>, etag: &str) -> Answer {
        Answer {
            bytes,
            version: Version::new(URL, Some(etag.to_string())),
        }
    }

    /// A member-like manifest: root attributes and `n` variables of 40 chunk references and a
    /// 2 KB coordinate each (not compressible).
    fn manifest(n: usize) -> Manifest {
        let meta = |t: &str| Reference::Metadata(t.to_owned());
        let mut refs = vec![
            (".zgroup".to_owned(), meta(r#"{"zarr_format":2}"#)),
            (".zattrs".to_owned(), meta(r#"{"gik_layout_version":1}"#)),
        ];
        let mut seed = 7u32;
        for v in 0..n {
            let name = format!("v{v:02}");
            for step in 0..40 {
                refs.push((
                    format!("{name}/instant/surface/{name}/{step}.0.0"),
                    Reference::range(format!("s3://b/f{step:03}"), step * 1000, 999),
                ));
            }
            let noise: Vec<u8> = (0..2048)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            refs.push((
                format!("{name}/instant/surface/latitude/0"),
                Reference::inline(noise),
            ));
        }
        Manifest::from_refs(refs).unwrap()
    }

    /// The keys of `m` under the top-level group of `array`, and the root's.
    fn group_of(m: &Manifest, array: &str) -> Manifest {
        let group = format!("{}/", array.split('/').next().unwrap());
        Manifest::from_refs(
            m.iter()
                .filter(|(k, _)| !k.contains('/') || k.starts_with(&group))
                .map(|(k, r)| (k.clone(), r.clone())),
        )
        .unwrap()
    }

    const ARRAY: &str = "v03/instant/surface/v03";

    #[test]
    fn a_variable_costs_the_tail_and_one_range() {
        let m = manifest(15);
        let server = Server::new(write_parquet(&m).unwrap());
        let fetched = server.read(ARRAY, TAIL_BYTES).unwrap();
        assert_eq!(fetched.manifest.manifest(), &group_of(&m, ARRAY));
        let asked = server.asked.borrow().clone();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(matches!(
            asked[0],
            Want::Tail {
                length: TAIL_BYTES,
                ..
            }
        ));
        assert!(matches!(asked[1], Want::Range { .. }));
        let (read, whole) = (server.bytes_sent(), server.file.len() as u64);
        println!("15 variables: read {read} of {whole} bytes in 2 requests");
        assert!(read * 3 < whole, "read {read} of {whole} bytes");
        assert_eq!(fetched.version, Version::new(URL, Some(TAG.to_string())));
        // What is stored reads back to the same manifest.
        let again = from_stored(ARRAY, &fetched.stored).unwrap();
        assert_eq!(again.manifest(), fetched.manifest.manifest());
        // The last variable's row group lies in the tail: one request.
        let last = Server::new(server.file.clone());
        let fetched = last.read("v14/instant/surface/v14", TAIL_BYTES).unwrap();
        assert_eq!(
            fetched.manifest.manifest(),
            &group_of(&m, "v14/instant/surface/v14")
        );
        assert_eq!(last.asked.borrow().len(), 1);
        let stored = from_stored("v14/instant/surface/v14", &fetched.stored).unwrap();
        assert_eq!(stored.manifest(), fetched.manifest.manifest());
    }

    #[test]
    fn a_footer_longer_than_the_tail_takes_a_second_tail() {
        let m = manifest(15);
        let server = Server::new(write_parquet(&m).unwrap());
        let fetched = server.read(ARRAY, 1000).unwrap();
        assert_eq!(fetched.manifest.manifest(), &group_of(&m, ARRAY));
        let asked = server.asked.borrow().clone();
        assert_eq!(asked.len(), 3, "{asked:?}");
        assert!(matches!(asked[1], Want::Tail { length, .. } if length > 2000));
    }

    #[test]
    fn small_files_and_servers_ignoring_range_are_read_from_one_answer() {
        let m = manifest(1);
        let small = Server::new(write_parquet(&m).unwrap());
        assert!((small.file.len() as u64) < TAIL_BYTES);
        let fetched = small.read("v00/instant/surface/v00", TAIL_BYTES).unwrap();
        assert_eq!(fetched.manifest.manifest(), &m);
        assert_eq!(small.asked.borrow().len(), 1);
        assert_eq!(fetched.stored, small.file);

        let m = manifest(15);
        let mut server = Server::new(write_parquet(&m).unwrap());
        server.ignores_range = true;
        let fetched = server.read(ARRAY, TAIL_BYTES).unwrap();
        assert_eq!(fetched.manifest.manifest(), &m);
        assert_eq!(server.asked.borrow().len(), 1);
        assert_eq!(from_stored(ARRAY, &fetched.stored).unwrap().manifest(), &m);
    }

    #[test]
    fn files_without_an_index_are_read_whole() {
        // Written by gik before manifests were laid out by group.
        let old = include_bytes!("../../core/src/manifest/testdata/gik_small.parquet");
        let server = Server::new(old.to_vec());
        let footer = ManifestTail::footer_size(old).unwrap();
        let fetched = server.read("tp/tp", footer + 10).unwrap();
        let whole = gik_core::manifest::read_parquet(old).unwrap();
        assert_eq!(fetched.manifest.manifest(), &whole);
        let asked = server.asked.borrow().clone();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(matches!(asked[1], Want::Whole { .. }));
        assert_eq!(fetched.stored, old);
    }

    #[test]
    fn a_file_replaced_between_its_requests_is_an_error_naming_it() {
        let server = Server::new(write_parquet(&manifest(15)).unwrap());
        // The tail is of one version, the row group of the next.
        let got = run(fetch_member(ARRAY, TAIL_BYTES, |want| {
            let n = server.asked.borrow().len();
            let etag = format!("\"v{n}\"");
            std::future::ready(server.answer(want).map(|bytes| tagged(bytes, &etag)))
        }));
        let err = got.unwrap_err();
        assert!(matches!(err, ManifestFetchError::Changed(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("{URL} changed while it was read (ETag \"v0\" → \"v1\")")
        );
        assert_eq!(server.asked.borrow().len(), 2);
    }

    #[test]
    fn failures_are_errors() {
        // A request that fails is the error.
        let failed = run(fetch_member(ARRAY, TAIL_BYTES, |_| {
            std::future::ready(Err(FetchFailure::NotFound { url: "u".into() }))
        }));
        assert!(matches!(
            failed,
            Err(ManifestFetchError::Fetch(FetchFailure::NotFound { .. }))
        ));
        // Garbage at the end of the file, of every length around the tail's.
        let mut file = write_parquet(&manifest(15)).unwrap();
        let n = file.len();
        for b in &mut file[n - 3000..] {
            *b = b.wrapping_mul(31).wrapping_add(7);
        }
        for tail in [8, 100, 3000, TAIL_BYTES] {
            assert!(Server::new(file.clone()).read(ARRAY, tail).is_err());
        }
        // Stored entries that are not one.
        let good = Server::new(write_parquet(&manifest(15)).unwrap())
            .read(ARRAY, TAIL_BYTES)
            .unwrap()
            .stored;
        for cut in [0, 4, 10, 20, good.len() / 2, good.len() - 1] {
            assert!(from_stored(ARRAY, &good[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = PARTS_MAGIC.to_vec();
        huge.extend_from_slice(&[0; 8]);
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            from_stored(ARRAY, &huge),
            Err(ManifestFetchError::Stored)
        ));
    }
}
