//! Zarr v2 metadata documents (`.zarray`, `.zattrs`, `.zgroup`) as typed serde structs.
//!
//! Python's zarr is picky about these documents, and some mistakes only show when a user opens
//! the data (see `docs/MANIFEST_FORMAT.md`, "Encoding facts"): a `fill_value` of `null` reads missing
//! chunks as zeros, a `dtype` that disagrees with the GRIB codec's `dtype` gives "cannot reshape
//! array", a missing field makes zarr refuse the array. Typing every field (the zarrs approach:
//! `zarr_format` can only be 2, chunk sizes are non-zero, `dtype` is an enum) makes those
//! documents impossible to write wrongly, and a test pins the exact JSON.
//!
//! Field order in the structs is the order of the JSON that gik writes.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU64;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Free-form attributes (`.zattrs` content other than the keys gik manages).
pub type Attrs = BTreeMap<String, Value>;

/// The `zarr_format` field: always the number 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZarrFormat2;

impl Serialize for ZarrFormat2 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(2)
    }
}

impl<'de> Deserialize<'de> for ZarrFormat2 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(deserializer)?;
        if v == 2 {
            Ok(Self)
        } else {
            Err(de::Error::custom(format!(
                "zarr_format must be 2, found {v}"
            )))
        }
    }
}

/// Element type of an array, in numpy's little-endian notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    /// `<f4`, numpy `float32`.
    Float32,
    /// `<f8`, numpy `float64`.
    Float64,
    /// `|i1`, numpy `int8`.
    Int8,
    /// `<i2`, numpy `int16`.
    Int16,
    /// `<i4`, numpy `int32`.
    Int32,
    /// `<i8`, numpy `int64`.
    Int64,
    /// `|u1`, numpy `uint8`.
    UInt8,
    /// `<u2`, numpy `uint16`.
    UInt16,
    /// `<u4`, numpy `uint32`.
    UInt32,
    /// `<u8`, numpy `uint64`.
    UInt64,
}

impl DType {
    const ALL: [DType; 10] = [
        DType::Float32,
        DType::Float64,
        DType::Int8,
        DType::Int16,
        DType::Int32,
        DType::Int64,
        DType::UInt8,
        DType::UInt16,
        DType::UInt32,
        DType::UInt64,
    ];

    /// The zarr `dtype` string, e.g. `<f4`.
    pub fn zarr_str(self) -> &'static str {
        match self {
            Self::Float32 => "<f4",
            Self::Float64 => "<f8",
            Self::Int8 => "|i1",
            Self::Int16 => "<i2",
            Self::Int32 => "<i4",
            Self::Int64 => "<i8",
            Self::UInt8 => "|u1",
            Self::UInt16 => "<u2",
            Self::UInt32 => "<u4",
            Self::UInt64 => "<u8",
        }
    }

    /// The numpy name, e.g. `float32` (what the kerchunk `grib` filter's `dtype` holds).
    pub fn numpy_name(self) -> &'static str {
        match self {
            Self::Float32 => "float32",
            Self::Float64 => "float64",
            Self::Int8 => "int8",
            Self::Int16 => "int16",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::UInt8 => "uint8",
            Self::UInt16 => "uint16",
            Self::UInt32 => "uint32",
            Self::UInt64 => "uint64",
        }
    }

    /// Parses a zarr `dtype` string. Single-byte types are accepted with any byte-order mark.
    pub fn from_zarr_str(s: &str) -> Option<Self> {
        match s {
            "<i1" | ">i1" => return Some(Self::Int8),
            "<u1" | ">u1" => return Some(Self::UInt8),
            _ => {}
        }
        Self::ALL.into_iter().find(|d| d.zarr_str() == s)
    }

    /// Parses a numpy type name such as `float64`.
    pub fn from_numpy_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.numpy_name() == s)
    }

    /// Size of one element in bytes.
    pub fn size(self) -> u64 {
        match self {
            Self::Int8 | Self::UInt8 => 1,
            Self::Int16 | Self::UInt16 => 2,
            Self::Float32 | Self::Int32 | Self::UInt32 => 4,
            Self::Float64 | Self::Int64 | Self::UInt64 => 8,
        }
    }

    /// Whether this is a floating-point type (which then gets a `"NaN"` fill value).
    pub fn is_float(self) -> bool {
        matches!(self, Self::Float32 | Self::Float64)
    }

    /// The fill value gik writes for this type: `NaN` for floats, `null` otherwise.
    pub fn default_fill_value(self) -> FillValue {
        if self.is_float() {
            FillValue::NaN
        } else {
            FillValue::Null
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.zarr_str())
    }
}

impl Serialize for DType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.zarr_str())
    }
}

impl<'de> Deserialize<'de> for DType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::from_zarr_str(&s)
            .ok_or_else(|| de::Error::custom(format!("unsupported zarr dtype {s:?}")))
    }
}

/// Serde adapter writing a [`DType`] as its numpy name (`float64`).
mod numpy_name {
    use super::DType;
    use serde::de::{self, Deserialize, Deserializer};
    use serde::ser::Serializer;

    pub fn serialize<S: Serializer>(d: &DType, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(d.numpy_name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DType, D::Error> {
        let s = String::deserialize(deserializer)?;
        DType::from_numpy_name(&s)
            .ok_or_else(|| de::Error::custom(format!("unsupported numpy dtype {s:?}")))
    }
}

/// Memory layout of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Order {
    /// Row-major (the last dimension varies fastest). The only layout gik writes.
    #[default]
    C,
    /// Column-major.
    F,
}

/// The `fill_value` of an array.
///
/// Non-finite floats are written as the JSON strings `"NaN"`, `"Infinity"`, `"-Infinity"`, as
/// zarr does: strict JSON has no bare `NaN`, and `serde_json` would silently write `null`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FillValue {
    /// `null`: no fill value (missing chunks read as zeros or garbage in Python).
    #[default]
    Null,
    /// `"NaN"`.
    NaN,
    /// `"Infinity"`.
    Infinity,
    /// `"-Infinity"`.
    NegInfinity,
    /// A finite number.
    Number(serde_json::Number),
}

impl Serialize for FillValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::NaN => serializer.serialize_str("NaN"),
            Self::Infinity => serializer.serialize_str("Infinity"),
            Self::NegInfinity => serializer.serialize_str("-Infinity"),
            Self::Number(n) => n.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for FillValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Null => Ok(Self::Null),
            Value::Number(n) => Ok(Self::Number(n)),
            Value::String(s) => match s.as_str() {
                "NaN" => Ok(Self::NaN),
                "Infinity" => Ok(Self::Infinity),
                "-Infinity" => Ok(Self::NegInfinity),
                _ => Err(de::Error::custom(format!("unsupported fill_value {s:?}"))),
            },
            other => Err(de::Error::custom(format!("unsupported fill_value {other}"))),
        }
    }
}

/// A numcodecs codec configuration (`{"id": ..., ...}`), as found in `compressor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Codec {
    /// Codec id, e.g. `zlib`.
    pub id: String,
    /// The other fields of the configuration.
    #[serde(flatten)]
    pub config: serde_json::Map<String, Value>,
}

/// The `id` of the kerchunk GRIB codec: always `"grib"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GribCodecId;

impl Serialize for GribCodecId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("grib")
    }
}

impl<'de> Deserialize<'de> for GribCodecId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s == "grib" {
            Ok(Self)
        } else {
            Err(de::Error::custom(format!(
                "unsupported filter id {s:?} (only \"grib\")"
            )))
        }
    }
}

/// The kerchunk `grib` filter: decodes one whole GRIB2 message into an array of `dtype`.
///
/// Its `dtype` must match the array's `dtype` (`<f4` with `float32`), else Python fails with
/// "cannot reshape array".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GribFilter {
    /// Always `grib`.
    pub id: GribCodecId,
    /// Variable name handed to the codec (only `latitude`/`longitude` change its behaviour).
    pub var: String,
    /// Output type, written as a numpy name (`float64`).
    #[serde(with = "numpy_name")]
    pub dtype: DType,
}

impl GribFilter {
    /// A `grib` filter for variable `var` decoding to `dtype`.
    pub fn new(var: impl Into<String>, dtype: DType) -> Self {
        Self {
            id: GribCodecId,
            var: var.into(),
            dtype,
        }
    }
}

/// Key separator in chunk keys (`dimension_separator`, optional in zarr v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DimensionSeparator {
    /// `0.0.0` (the default, and what gik writes).
    #[serde(rename = ".")]
    Dot,
    /// `0/0/0`.
    #[serde(rename = "/")]
    Slash,
}

/// A `.zarray` document.
///
/// All eight fields are always written (`compressor` and `filters` as `null` when absent),
/// because zarr 2 refuses arrays with missing fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZArray {
    /// Always 2.
    pub zarr_format: ZarrFormat2,
    /// Array shape (`[]` for a scalar).
    pub shape: Vec<u64>,
    /// Chunk shape, one non-zero entry per dimension.
    pub chunks: Vec<NonZeroU64>,
    /// Element type.
    pub dtype: DType,
    /// Compressor, `null` for GRIB messages and inline coordinates.
    pub compressor: Option<Codec>,
    /// Value of elements whose chunk is missing.
    #[serde(default)]
    pub fill_value: FillValue,
    /// Memory layout.
    #[serde(default)]
    pub order: Order,
    /// Filter chain (`[grib]` for data arrays, `null` for inline coordinates).
    pub filters: Option<Vec<GribFilter>>,
    /// Chunk key separator; absent means `.`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimension_separator: Option<DimensionSeparator>,
}

impl ZArray {
    /// An array of `shape` split into `chunks`, with the fill value gik uses for `dtype`, no
    /// compressor, no filters and C order.
    pub fn new(shape: Vec<u64>, chunks: Vec<NonZeroU64>, dtype: DType) -> Self {
        Self {
            zarr_format: ZarrFormat2,
            shape,
            chunks,
            dtype,
            compressor: None,
            fill_value: dtype.default_fill_value(),
            order: Order::C,
            filters: None,
            dimension_separator: None,
        }
    }

    /// Sets the filter chain.
    #[must_use]
    pub fn with_filters(mut self, filters: Option<Vec<GribFilter>>) -> Self {
        self.filters = filters;
        self
    }

    /// Sets the fill value.
    #[must_use]
    pub fn with_fill_value(mut self, fill_value: FillValue) -> Self {
        self.fill_value = fill_value;
        self
    }

    /// Sets the memory layout.
    #[must_use]
    pub fn with_order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Number of chunks along each dimension (`ceil(shape / chunks)`), or `None` when `shape`
    /// and `chunks` have different lengths.
    pub fn chunk_grid_shape(&self) -> Option<Vec<u64>> {
        if self.shape.len() != self.chunks.len() {
            return None;
        }
        Some(
            self.shape
                .iter()
                .zip(&self.chunks)
                .map(|(&s, c)| s.div_ceil(c.get()))
                .collect(),
        )
    }

    /// Size in bytes of one uncompressed chunk, or `None` on overflow.
    pub fn chunk_size_bytes(&self) -> Option<u64> {
        self.chunks
            .iter()
            .try_fold(self.dtype.size(), |acc, c| acc.checked_mul(c.get()))
    }
}

/// A `.zattrs` document: the two attributes the xarray mapping depends on, plus the rest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ZAttrs {
    /// xarray's dimension names for an array (required on every array, absent on groups).
    #[serde(
        rename = "_ARRAY_DIMENSIONS",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub array_dimensions: Option<Vec<String>>,
    /// Space-separated names of the non-dimension coordinates (`time valid_time`); without it
    /// xarray turns `time` and `valid_time` into data variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<String>,
    /// Every other attribute (`units`, `long_name`, `GRIB_*`...).
    #[serde(flatten)]
    pub other: Attrs,
}

impl ZAttrs {
    /// Attributes of an array with these dimension names.
    pub fn for_array<I, S>(dims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            array_dimensions: Some(dims.into_iter().map(Into::into).collect()),
            ..Self::default()
        }
    }

    /// Sets the `coordinates` attribute.
    #[must_use]
    pub fn with_coordinates(mut self, coordinates: impl Into<String>) -> Self {
        self.coordinates = Some(coordinates.into());
        self
    }

    /// Adds one free-form attribute.
    #[must_use]
    pub fn with_attr(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.other.insert(key.into(), value.into());
        self
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.array_dimensions.is_none() && self.coordinates.is_none() && self.other.is_empty()
    }
}

/// A `.zgroup` document: `{"zarr_format":2}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ZGroup {
    /// Always 2.
    pub zarr_format: ZarrFormat2,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(v: u64) -> NonZeroU64 {
        NonZeroU64::new(v).unwrap()
    }

    /// The exact `.zarray` of the minimal manifest of `docs/MANIFEST_FORMAT.md`.
    #[test]
    fn zarray_exact_json_matches_interop() {
        let z = ZArray::new(
            vec![2, 721, 1440],
            vec![nz(1), nz(721), nz(1440)],
            DType::Float64,
        )
        .with_filters(Some(vec![GribFilter::new("tp", DType::Float64)]));
        assert_eq!(
            serde_json::to_string(&z).unwrap(),
            r#"{"zarr_format":2,"shape":[2,721,1440],"chunks":[1,721,1440],"dtype":"<f8","compressor":null,"fill_value":"NaN","order":"C","filters":[{"id":"grib","var":"tp","dtype":"float64"}]}"#
        );
    }

    #[test]
    fn coordinate_zarray_has_null_fill_and_filters() {
        let z = ZArray::new(vec![2], vec![nz(2)], DType::Int64);
        assert_eq!(
            serde_json::to_string(&z).unwrap(),
            r#"{"zarr_format":2,"shape":[2],"chunks":[2],"dtype":"<i8","compressor":null,"fill_value":null,"order":"C","filters":null}"#
        );
    }

    #[test]
    fn zarray_parses_kerchunk_output() {
        // Verbatim from kerchunk's grib_tree output (zarr_tree_store.json fixture).
        let text = r#"{"chunks":[1,1,721,1440],"compressor":null,"dtype":"<f8","fill_value":null,"filters":[{"dtype":"float64","id":"grib","var":"u"}],"order":"C","shape":[2,3,721,1440],"zarr_format":2}"#;
        let z: ZArray = serde_json::from_str(text).unwrap();
        assert_eq!(z.shape, vec![2, 3, 721, 1440]);
        assert_eq!(z.chunk_grid_shape(), Some(vec![2, 3, 1, 1]));
        assert_eq!(z.fill_value, FillValue::Null);
        assert_eq!(z.filters, Some(vec![GribFilter::new("u", DType::Float64)]));
        assert_eq!(z.chunk_size_bytes(), Some(721 * 1440 * 8));
    }

    #[test]
    fn zarray_rejects_wrong_format_and_zero_chunks() {
        let bad_format = r#"{"zarr_format":3,"shape":[1],"chunks":[1],"dtype":"<f8","compressor":null,"fill_value":null,"order":"C","filters":null}"#;
        assert!(serde_json::from_str::<ZArray>(bad_format).is_err());
        let zero_chunk = r#"{"zarr_format":2,"shape":[1],"chunks":[0],"dtype":"<f8","compressor":null,"fill_value":null,"order":"C","filters":null}"#;
        assert!(serde_json::from_str::<ZArray>(zero_chunk).is_err());
        let bad_dtype = r#"{"zarr_format":2,"shape":[1],"chunks":[1],"dtype":"<c16","compressor":null,"fill_value":null,"order":"C","filters":null}"#;
        assert!(serde_json::from_str::<ZArray>(bad_dtype).is_err());
    }

    #[test]
    fn fill_values_round_trip() {
        for (fv, json) in [
            (FillValue::NaN, r#""NaN""#),
            (FillValue::Infinity, r#""Infinity""#),
            (FillValue::NegInfinity, r#""-Infinity""#),
            (FillValue::Null, "null"),
            (FillValue::Number(0.into()), "0"),
        ] {
            assert_eq!(serde_json::to_string(&fv).unwrap(), json);
            assert_eq!(serde_json::from_str::<FillValue>(json).unwrap(), fv);
        }
    }

    #[test]
    fn zattrs_exact_json() {
        let a = ZAttrs::for_array(["step", "latitude", "longitude"])
            .with_coordinates("time valid_time");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"_ARRAY_DIMENSIONS":["step","latitude","longitude"],"coordinates":"time valid_time"}"#
        );
        let s = ZAttrs::for_array(["step"])
            .with_attr("units", "hours")
            .with_attr("dtype", "timedelta64[ns]");
        let back: ZAttrs = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            serde_json::to_string(&ZGroup::default()).unwrap(),
            r#"{"zarr_format":2}"#
        );
    }

    #[test]
    fn dtype_strings() {
        for d in DType::ALL {
            assert_eq!(DType::from_zarr_str(d.zarr_str()), Some(d));
            assert_eq!(DType::from_numpy_name(d.numpy_name()), Some(d));
        }
        assert_eq!(DType::from_zarr_str(">f8"), None);
        assert_eq!(DType::from_zarr_str("<u1"), Some(DType::UInt8));
    }
}
