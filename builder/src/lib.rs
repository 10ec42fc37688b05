//! The native half of gik: fetching index files and messages over HTTP, building and
//! publishing member manifests, and the checks around them. The `gik` binary (`main.rs`) is a
//! thin command line over this library; tests drive the library directly.
//!
//! | module | job |
//! |---|---|
//! | [`http`] | one shared HTTP client: bounded concurrency, timeouts, retries with backoff |
//! | [`sources`] | several mirrors of a product tried in order per request, counted per source |
//! | [`clock`] | the wall clock, read in one place |
//! | [`build`] | `gik build`: index files → member manifests → catalog |
//! | [`fetch_limits`] | what the builder does with untrusted sizes from index files (bounded header reads, sub-fields) |
//! | [`destination`] | folder / `file://` / `s3://` / `gs://` through `object_store`, atomic writes |
//! | [`doctor`] | `gik doctor`: which sources work today, for the builder and from a browser |
//! | [`latest`] | the newest run whose index files are all published |
//! | [`validate`] | a published manifest's structure and references |
//! | [`tasks`] | a batch engine task's share of a backfill |
//! | [`inspect`] | `gik inspect` listings |
//! | `stream` | `gik stream`: the messages a job needs → one cropped CF NetCDF-4 file (cargo feature `stream`, on by default; it links libnetcdf, so batch images for `gik build` leave it out) |
//! | [`progress`] | progress bar or log lines |
//! | [`subset`] | `gik build --subset`: a run's messages cropped to a named box, published as GRIB2 with their own manifests |

pub mod build;
pub mod clock;
pub mod destination;
pub mod doctor;
pub mod fetch_limits;
pub mod http;
#[cfg(feature = "icechunk")]
pub mod icechunk;
pub mod inspect;
pub mod latest;
pub mod progress;
pub mod sources;
#[cfg(feature = "stream")]
pub mod stream;
#[allow(clippy::too_many_arguments)]
pub mod subset;
pub mod tasks;
pub mod validate;
