//! # gik-core
//!
//! Everything the builder, the browser app and the stream jobs share. This crate knows the
//! *formats* and the *products*; it never opens a socket, a terminal or a DOM node, so it builds
//! unchanged for the host and for `wasm32-unknown-unknown`.
//!
//! The data path, and which module owns each step:
//!
//! 1. [`index`] parses the small index file published beside each GRIB2 file (NOAA `.idx`,
//!    ECMWF `.index`) into typed [`index::IndexRecord`]s: which message sits at which bytes.
//! 2. [`product`] knows GEFS and ECMWF IFS ENS: where their files live, which members and steps
//!    exist, how users name variables, and how accumulated precipitation must be combined.
//! 3. [`manifest`] turns records into a kerchunk-style zarr reference manifest (one parquet per
//!    member) and reads it back.
//! 4. [`grib`] decodes the bytes of one GRIB2 message (fetched with an HTTP Range request) into a
//!    grid and `f32` values.
//! 5. [`geo`] cuts decoded fields to a box ([`geo::BBox`], [`geo::CropMap`]), the same way for
//!    the browser's maps and `gik stream`'s files.
//! 6. [`stats`] computes ensemble statistics (mean, spread, exceedance probability) over decoded
//!    fields.
//!
//! Invariant for the whole crate: bad input is an [`Error`] naming the thing that was bad, never
//! a panic (a panic in wasm kills the page).

pub mod catalog;
mod error;
pub mod fnv;
pub mod geo;
pub mod grib;
pub mod icpac;
pub mod identity;
pub mod index;
pub mod manifest;
pub mod member;
pub mod origin;
pub mod product;
pub mod stats;
pub mod subset;
pub mod time;

#[cfg(test)]
pub(crate) mod test_support;

pub use error::{Error, Result};
