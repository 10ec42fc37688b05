//! The read side of a manifest, like zarrs' `Array`: [`Manifest::array`] opens one array by
//! path and gives its metadata, the byte range of a chunk, and the values of an inline array.
//!
//! Readers (the app, `gik stream`, `gik validate`, the tests) never assemble keys such as
//! `{group}/step/0` by hand: the chunk key of an index comes from [`ChunkKey`], checked against
//! the array's chunk grid, and a coordinate is found as the array of its dimension's name in
//! the data array's group (the `grib_tree` layout, see [`super::ManifestBuilder`]).
//!
//! Decoding inline values accepts what zarr v2 itself would read for an uncompressed,
//! unfiltered array: any of the numeric [`DType`]s, any chunking (edge chunks cut to the
//! shape), missing chunks read as the fill value. Values are widened to `i64` or `f64`
//! ([`CoordValues`]); the number of elements is capped ([`MAX_INLINE_VALUES`]) so that a
//! hostile `shape` cannot make a reader allocate without bound.

use super::model::{check_chunk_index, join, split_key, ChunkKey, Manifest, MetadataFile};
use super::reference::{ByteRange, Reference};
use super::spec::CoordValues;
use super::zarr::{DType, FillValue, Order, ZArray, ZAttrs};
use super::ManifestError;

/// The most values [`Array::values`] decodes (coordinates are at most a few thousand).
pub const MAX_INLINE_VALUES: u64 = 1 << 24;

/// One array of a [`Manifest`], with its `.zarray` and `.zattrs` parsed.
#[derive(Debug, Clone)]
pub struct Array<'m> {
    manifest: &'m Manifest,
    path: String,
    zarray: ZArray,
    attrs: ZAttrs,
}

impl Manifest {
    /// Opens the array at `path` (`tp/accum/surface/tp`): fails when it has no `.zarray`, or
    /// when its `.zarray` or `.zattrs` cannot be parsed. An absent `.zattrs` reads as empty.
    pub fn array(&self, path: &str) -> Result<Array<'_>, ManifestError> {
        let zarray = self
            .zarray(path)?
            .ok_or_else(|| ManifestError::MissingKey {
                key: MetadataFile::ZArray.key_for(path),
            })?;
        let attrs = self.zattrs(path)?.unwrap_or_default();
        Ok(Array {
            manifest: self,
            path: path.to_owned(),
            zarray,
            attrs,
        })
    }
}

impl<'m> Array<'m> {
    /// Path of the array (`tp/accum/surface/tp`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Path of the group holding the array (`tp/accum/surface`; `""` for the root).
    pub fn group(&self) -> &str {
        split_key(&self.path).0
    }

    /// The parsed `.zarray`.
    pub fn metadata(&self) -> &ZArray {
        &self.zarray
    }

    /// The parsed `.zattrs` (empty when the array has none).
    pub fn attrs(&self) -> &ZAttrs {
        &self.attrs
    }

    /// The array's shape.
    pub fn shape(&self) -> &[u64] {
        &self.zarray.shape
    }

    /// The dimension names of `_ARRAY_DIMENSIONS` (empty when absent).
    pub fn dimensions(&self) -> &[String] {
        self.attrs.array_dimensions.as_deref().unwrap_or(&[])
    }

    /// Whether the chunks are GRIB2 messages (decoded through kerchunk's `grib` filter).
    pub fn is_grib(&self) -> bool {
        self.zarray.filters.as_ref().is_some_and(|f| !f.is_empty())
    }

    /// Another array of the same group, by name (`step` next to `tp`).
    pub fn sibling(&self, name: &str) -> Result<Array<'m>, ManifestError> {
        self.manifest.array(&join(self.group(), name))
    }

    /// The coordinate array of dimension `dim`: the array named `dim` in the same group, as
    /// xarray finds it. Fails when `dim` is not one of this array's dimensions.
    pub fn coordinate(&self, dim: &str) -> Result<Array<'m>, ManifestError> {
        if !self.dimensions().iter().any(|d| d == dim) {
            return Err(ManifestError::BadValue {
                key: MetadataFile::ZAttrs.key_for(&self.path),
                reason: format!(
                    "{dim:?} is not a dimension of the array (it has {:?})",
                    self.dimensions()
                ),
            });
        }
        self.sibling(dim)
    }

    /// The key of chunk `index`, checked against the chunk grid.
    pub fn chunk_key(&self, index: &[u64]) -> Result<ChunkKey, ManifestError> {
        let grid = self
            .zarray
            .chunk_grid_shape()
            .ok_or_else(|| self.bad_metadata("shape and chunks have different lengths"))?;
        check_chunk_index(index, &grid).map_err(|reason| ManifestError::BadKey {
            key: format!("{}/{index:?}", self.path),
            reason,
        })?;
        ChunkKey::new(self.path.clone(), index.to_vec())
    }

    /// The reference stored for chunk `index`; `None` when the chunk is absent (it reads as
    /// the fill value).
    pub fn chunk_reference(&self, index: &[u64]) -> Result<Option<&'m Reference>, ManifestError> {
        let key = self.chunk_key(index)?;
        Ok(self.manifest.get(&key.to_string()))
    }

    /// The byte range of chunk `index` (one GRIB2 message for a data array); `None` when the
    /// chunk is absent (not published). A chunk stored any other way is an error naming its key.
    pub fn chunk(&self, index: &[u64]) -> Result<Option<&'m ByteRange>, ManifestError> {
        let key = self.chunk_key(index)?;
        match self.manifest.get(&key.to_string()) {
            None => Ok(None),
            Some(Reference::Range(range)) => Ok(Some(range)),
            Some(_) => Err(ManifestError::BadValue {
                key: key.to_string(),
                reason: "expected a [url, offset, length] reference".to_owned(),
            }),
        }
    }

    /// Every value of an array stored inline (a coordinate), in C order, widened to `i64` for
    /// integer types and `f64` for floating-point ones.
    ///
    /// Fails, naming the key, when the array is compressed or filtered (a GRIB2 data array is
    /// decoded by [`crate::grib`], not here), when a chunk is not inline or has the wrong size,
    /// when a chunk is missing and the fill value is `null` for an integer type, or when the
    /// array holds more than [`MAX_INLINE_VALUES`] values.
    pub fn values(&self) -> Result<CoordValues, ManifestError> {
        let z = &self.zarray;
        if z.compressor.is_some() || self.is_grib() {
            return Err(self.bad_metadata("compressed or filtered: its values are not inline"));
        }
        let shape = z.shape.clone();
        let chunk_shape: Vec<u64> = z.chunks.iter().map(|c| c.get()).collect();
        let grid = z
            .chunk_grid_shape()
            .ok_or_else(|| self.bad_metadata("shape and chunks have different lengths"))?;
        if z.order == Order::F && shape.len() > 1 {
            return Err(self.bad_metadata("Fortran order is not supported"));
        }
        let total = shape
            .iter()
            .try_fold(1u64, |a, &s| a.checked_mul(s))
            .filter(|&n| n <= MAX_INLINE_VALUES)
            .ok_or_else(|| {
                self.bad_metadata(&format!(
                    "shape {shape:?} holds over {MAX_INLINE_VALUES} values"
                ))
            })?;
        let chunk_len = chunk_shape
            .iter()
            .try_fold(1u64, |a, &s| a.checked_mul(s))
            .filter(|&n| n <= MAX_INLINE_VALUES)
            .ok_or_else(|| self.bad_metadata("chunks are too large"))?;
        let mut out = Values::new(z.dtype, total as usize);
        for chunk_index in grid_indices(&grid) {
            let key = ChunkKey::new(self.path.clone(), chunk_index.clone())?.to_string();
            let chunk = match self.manifest.get(&key) {
                Some(Reference::Inline(bytes)) => {
                    let expected = chunk_len.saturating_mul(z.dtype.size());
                    if bytes.len() as u64 != expected {
                        return Err(ManifestError::BadValue {
                            key,
                            reason: format!(
                                "inline chunk has {} bytes, expected {expected}",
                                bytes.len()
                            ),
                        });
                    }
                    Chunk::Bytes(bytes)
                }
                None => Chunk::Fill,
                Some(_) => {
                    return Err(ManifestError::BadValue {
                        key,
                        reason: "expected inline chunk bytes".to_owned(),
                    })
                }
            };
            out.copy_chunk(&chunk, &chunk_index, &chunk_shape, &shape, &z.fill_value)
                .map_err(|reason| ManifestError::BadValue { key, reason })?;
        }
        Ok(out.finish())
    }

    fn bad_metadata(&self, reason: &str) -> ManifestError {
        ManifestError::BadValue {
            key: MetadataFile::ZArray.key_for(&self.path),
            reason: reason.to_owned(),
        }
    }
}

/// Every index of a chunk grid, in C order (`[]` once for a scalar).
fn grid_indices(grid: &[u64]) -> impl Iterator<Item = Vec<u64>> + '_ {
    let count: u64 = grid.iter().product();
    (0..count).map(move |mut n| {
        let mut index = vec![0; grid.len()];
        for (slot, &g) in index.iter_mut().zip(grid).rev() {
            *slot = n % g;
            n /= g;
        }
        index
    })
}

/// One chunk's contents: raw little-endian bytes, or absent (the fill value).
enum Chunk<'a> {
    Bytes(&'a [u8]),
    Fill,
}

/// The values being assembled.
enum Values {
    Int(DType, Vec<i64>),
    Float(DType, Vec<f64>),
}

impl Values {
    fn new(dtype: DType, len: usize) -> Self {
        if dtype.is_float() {
            Self::Float(dtype, vec![f64::NAN; len])
        } else {
            Self::Int(dtype, vec![0; len])
        }
    }

    /// Copies the elements of chunk `chunk_index` that lie inside `shape` to their place.
    fn copy_chunk(
        &mut self,
        chunk: &Chunk<'_>,
        chunk_index: &[u64],
        chunk_shape: &[u64],
        shape: &[u64],
        fill: &FillValue,
    ) -> Result<(), String> {
        let fill_float = match fill {
            FillValue::Null | FillValue::NaN => f64::NAN,
            FillValue::Infinity => f64::INFINITY,
            FillValue::NegInfinity => f64::NEG_INFINITY,
            FillValue::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        };
        let fill_int = match fill {
            FillValue::Number(n) => n.as_i64(),
            _ => None,
        };
        for (n, within) in grid_indices(chunk_shape).enumerate() {
            let mut flat = 0u64;
            let mut inside = true;
            for ((&c, &w), (&cs, &s)) in chunk_index
                .iter()
                .zip(&within)
                .zip(chunk_shape.iter().zip(shape))
            {
                let at = c * cs + w;
                inside &= at < s;
                flat = flat * s + at;
            }
            if !inside {
                continue;
            }
            let flat = flat as usize;
            match (&mut *self, chunk) {
                (Self::Float(dtype, out), Chunk::Bytes(b)) => out[flat] = float_at(*dtype, b, n),
                (Self::Float(_, out), Chunk::Fill) => out[flat] = fill_float,
                (Self::Int(dtype, out), Chunk::Bytes(b)) => out[flat] = int_at(*dtype, b, n)?,
                (Self::Int(_, out), Chunk::Fill) => {
                    out[flat] = fill_int
                        .ok_or_else(|| "missing chunk and no integer fill_value".to_owned())?;
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> CoordValues {
        match self {
            Self::Int(_, v) => CoordValues::I64(v),
            Self::Float(_, v) => CoordValues::F64(v),
        }
    }
}

/// The `N` bytes of element `n`, zero-filled if out of range (sizes are checked before).
fn element<const N: usize>(bytes: &[u8], n: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(n * N..(n + 1) * N) {
        out.copy_from_slice(src);
    }
    out
}

fn float_at(dtype: DType, bytes: &[u8], n: usize) -> f64 {
    match dtype {
        DType::Float32 => f64::from(f32::from_le_bytes(element(bytes, n))),
        _ => f64::from_le_bytes(element(bytes, n)),
    }
}

fn int_at(dtype: DType, bytes: &[u8], n: usize) -> Result<i64, String> {
    Ok(match dtype {
        DType::Int8 => i64::from(i8::from_le_bytes(element(bytes, n))),
        DType::Int16 => i64::from(i16::from_le_bytes(element(bytes, n))),
        DType::Int32 => i64::from(i32::from_le_bytes(element(bytes, n))),
        DType::UInt8 => i64::from(u8::from_le_bytes(element(bytes, n))),
        DType::UInt16 => i64::from(u16::from_le_bytes(element(bytes, n))),
        DType::UInt32 => i64::from(u32::from_le_bytes(element(bytes, n))),
        DType::UInt64 => {
            let v = u64::from_le_bytes(element(bytes, n));
            i64::try_from(v).map_err(|_| format!("value {v} does not fit in int64"))?
        }
        _ => i64::from_le_bytes(element(bytes, n)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ArraySpec, CoordSpec, GroupSpec, ManifestBuilder};

    fn meta(text: &str) -> Reference {
        Reference::Metadata(text.to_owned())
    }

    fn built() -> Manifest {
        let spec = ArraySpec::new(
            vec![GroupSpec::new("tp"), GroupSpec::new("accum")],
            "tp",
            DType::Float32,
        )
        .with_stacked_dim("step", 2)
        .with_grid_dim("latitude", 3)
        .with_grid_dim("longitude", 2)
        .with_coord(CoordSpec::step_hours(vec![6, 12]))
        .with_coord(CoordSpec::latitude(vec![10.0, 9.5, 9.0]))
        .with_coord(CoordSpec::longitude(vec![30.0, 30.5]))
        .with_coord(CoordSpec::time(1_584_144_000))
        .with_chunk(vec![1], ByteRange::new("s3://b/f012", 100, 50));
        let mut b = ManifestBuilder::new();
        b.add_array(&spec).unwrap();
        b.build().unwrap()
    }

    #[test]
    fn metadata_chunks_and_coordinates() {
        let m = built();
        let tp = m.array("tp/accum/tp").unwrap();
        assert_eq!(tp.group(), "tp/accum");
        assert_eq!(tp.shape(), [2, 3, 2]);
        assert_eq!(tp.dimensions(), ["step", "latitude", "longitude"]);
        assert!(tp.is_grib());
        assert_eq!(
            tp.chunk(&[1, 0, 0]).unwrap(),
            Some(&ByteRange::new("s3://b/f012", 100, 50))
        );
        assert_eq!(tp.chunk(&[0, 0, 0]).unwrap(), None);
        for bad in [&[2, 0, 0][..], &[0, 1, 0], &[0, 0]] {
            assert!(
                matches!(tp.chunk(bad), Err(ManifestError::BadKey { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            tp.coordinate("step").unwrap().values().unwrap(),
            CoordValues::I64(vec![6, 12])
        );
        assert_eq!(
            tp.coordinate("latitude").unwrap().values().unwrap(),
            CoordValues::F64(vec![10.0, 9.5, 9.0])
        );
        assert_eq!(
            tp.sibling("time").unwrap().values().unwrap(),
            CoordValues::I64(vec![1_584_144_000])
        );
        assert!(tp.coordinate("time").is_err());
        assert!(tp.values().is_err(), "a GRIB2 array has no inline values");
        assert!(matches!(
            m.array("tp/accum/nope"),
            Err(ManifestError::MissingKey { key }) if key == "tp/accum/nope/.zarray"
        ));
        // A chunk that is not a byte range is an error naming its key.
        let mut m = m.clone();
        m.insert("tp/accum/tp/0.0.0", Reference::inline(vec![0u8; 24]))
            .unwrap();
        let err = m
            .array("tp/accum/tp")
            .unwrap()
            .chunk(&[0, 0, 0])
            .unwrap_err();
        assert!(err.to_string().contains("tp/accum/tp/0.0.0"), "{err}");
    }

    /// What kerchunk's `scan_grib` writes for a float `step` in several chunks, a `<f4`, an
    /// unsigned, a missing chunk read as the fill value.
    #[test]
    fn other_dtypes_chunkings_and_fill() {
        let m = Manifest::from_refs([
            (
                "s/.zarray",
                meta(r#"{"zarr_format":2,"shape":[5],"chunks":[2],"dtype":"<f8","compressor":null,"fill_value":-1.5,"order":"C","filters":null}"#),
            ),
            (
                "s/0",
                Reference::inline([0.0f64, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()),
            ),
            (
                "s/2",
                Reference::inline([12.0f64, 99.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()),
            ),
            (
                "g/.zarray",
                meta(r#"{"zarr_format":2,"shape":[2,3],"chunks":[1,2],"dtype":"<u2","compressor":null,"fill_value":7,"order":"C","filters":null}"#),
            ),
            ("g/0.0", Reference::inline(vec![1u8, 0, 2, 0])),
            ("g/0.1", Reference::inline(vec![3u8, 0, 0xff, 0xff])),
            ("g/1.1", Reference::inline(vec![6u8, 0, 0, 0])),
            (
                "f/.zarray",
                meta(r#"{"zarr_format":2,"shape":[2],"chunks":[2],"dtype":"<f4","compressor":null,"fill_value":"NaN","order":"C","filters":null}"#),
            ),
            (
                "f/0",
                Reference::inline([0.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()),
            ),
            (
                "n/.zarray",
                meta(r#"{"zarr_format":2,"shape":[2],"chunks":[2],"dtype":"<i8","compressor":null,"fill_value":null,"order":"C","filters":null}"#),
            ),
            (
                "big/.zarray",
                meta(r#"{"zarr_format":2,"shape":[4294967296,4294967296],"chunks":[1,1],"dtype":"<f8","compressor":null,"fill_value":null,"order":"C","filters":null}"#),
            ),
            ("short/.zarray", meta(r#"{"zarr_format":2,"shape":[2],"chunks":[2],"dtype":"<i4","compressor":null,"fill_value":null,"order":"C","filters":null}"#)),
            ("short/0", Reference::inline(vec![1u8, 0, 0])),
        ])
        .unwrap();
        assert_eq!(
            m.array("s").unwrap().values().unwrap(),
            CoordValues::F64(vec![0.0, 3.0, -1.5, -1.5, 12.0])
        );
        assert_eq!(
            m.array("g").unwrap().values().unwrap(),
            CoordValues::I64(vec![1, 2, 3, 7, 7, 6])
        );
        assert_eq!(
            m.array("f").unwrap().values().unwrap(),
            CoordValues::F64(vec![0.5, -2.0])
        );
        for (path, needle) in [("n", "n/0"), ("big", "big/.zarray"), ("short", "short/0")] {
            let err = m.array(path).unwrap().values().unwrap_err().to_string();
            assert!(err.contains(needle), "{path}: {err}");
        }
    }
}
