//! What a caller tells the [`ManifestBuilder`](super::ManifestBuilder): one data array, the
//! groups above it, where its GRIB2 messages are, and its coordinates.
//!
//! These are plain descriptions with no product knowledge: the product module decides that the
//! groups are `tp`/`accum`/`surface`, that the stacked dimension is `step`, and which attributes
//! to copy from the index. The constructors of [`CoordSpec`] (`time`, `step_hours`,
//! `valid_time`, `latitude`, `longitude`) encode the cfgrib conventions Python's xarray relies
//! on (units, `timedelta64[ns]` steps), so every product writes them the same way.

use serde_json::Value;

use super::model::join;
use super::reference::ByteRange;
use super::zarr::{Attrs, DType};
use super::ManifestError;

/// Units of `time` and `valid_time`.
pub const SECONDS_SINCE_EPOCH: &str = "seconds since 1970-01-01T00:00:00";

/// One group on the path to an array, with the attributes of its `.zattrs`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// Group name (one key segment, e.g. `tp`, `accum`, `surface`).
    pub name: String,
    /// Attributes (kerchunk writes e.g. `{"stepType": "accum"}`).
    pub attrs: Attrs,
}

impl GroupSpec {
    /// A group without attributes.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            attrs: Attrs::new(),
        }
    }

    /// Adds an attribute.
    #[must_use]
    pub fn with_attr(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attrs.insert(key.into(), value.into());
        self
    }
}

/// A named dimension and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dim {
    /// Dimension name (`step`, `latitude`...).
    pub name: String,
    /// Number of elements; must be at least 1.
    pub size: u64,
}

impl Dim {
    /// A dimension.
    pub fn new(name: impl Into<String>, size: u64) -> Self {
        Self {
            name: name.into(),
            size,
        }
    }
}

/// Where one chunk (one GRIB2 message) of a data array lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSource {
    /// Index along each stacked dimension (`[step_i]` or `[step_i, level_j]`).
    pub index: Vec<u64>,
    /// Where the message is; its length must be at least 1.
    pub range: ByteRange,
}

/// Values of a coordinate array, stored inline as little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum CoordValues {
    /// `<i8` values (times in seconds, steps in hours).
    I64(Vec<i64>),
    /// `<f8` values (latitudes, longitudes, levels).
    F64(Vec<f64>),
}

impl CoordValues {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::I64(v) => v.len(),
            Self::F64(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The zarr element type.
    pub fn dtype(&self) -> DType {
        match self {
            Self::I64(_) => DType::Int64,
            Self::F64(_) => DType::Float64,
        }
    }

    /// The values as `f64` (latitudes, longitudes; `i64` values are converted).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            Self::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Self::F64(v) => v.clone(),
        }
    }

    /// The raw little-endian bytes zarr reads for a `<i8`/`<f8` chunk.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Self::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Self::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
}

/// A coordinate array written next to a data array, in the same group, as one inline chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct CoordSpec {
    /// Array name (`time`, `step`...). A coordinate named like one of the data array's
    /// dimensions is that dimension's coordinate; the others are listed in `coordinates`.
    pub name: String,
    /// Its dimensions, each one of the data array's (empty for a scalar).
    pub dims: Vec<String>,
    /// The values, C order; as many as the product of the dimension sizes (1 for a scalar).
    pub values: CoordValues,
    /// Attributes (`units`, `long_name`...).
    pub attrs: Attrs,
}

impl CoordSpec {
    /// A coordinate without attributes.
    pub fn new<I, S>(name: impl Into<String>, dims: I, values: CoordValues) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: name.into(),
            dims: dims.into_iter().map(Into::into).collect(),
            values,
            attrs: Attrs::new(),
        }
    }

    /// Adds an attribute.
    #[must_use]
    pub fn with_attr(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attrs.insert(key.into(), value.into());
        self
    }

    /// The scalar `time` coordinate (run start) as cfgrib names it, in Unix seconds.
    pub fn time(unix_seconds: i64) -> Self {
        Self::new(
            "time",
            Vec::<String>::new(),
            CoordValues::I64(vec![unix_seconds]),
        )
        .with_attr("units", SECONDS_SINCE_EPOCH)
        .with_attr("calendar", "proleptic_gregorian")
        .with_attr("long_name", "initial time of forecast")
        .with_attr("standard_name", "forecast_reference_time")
    }

    /// The `step` coordinate along dimension `step`, in hours. The `dtype` attribute makes
    /// xarray decode it as `timedelta64[ns]`.
    pub fn step_hours(hours: Vec<i64>) -> Self {
        Self::new("step", ["step"], CoordValues::I64(hours))
            .with_attr("units", "hours")
            .with_attr("dtype", "timedelta64[ns]")
            .with_attr("long_name", "time since forecast_reference_time")
            .with_attr("standard_name", "forecast_period")
    }

    /// The `valid_time` coordinate along dimension `step`: `time + step` in Unix seconds.
    /// Fails when the arithmetic overflows.
    pub fn valid_time(unix_seconds: i64, step_hours: &[i64]) -> Result<Self, ManifestError> {
        let values = step_hours
            .iter()
            .map(|&h| {
                h.checked_mul(3600)
                    .and_then(|s| s.checked_add(unix_seconds))
            })
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| ManifestError::InvalidSpec {
                array: "valid_time".to_owned(),
                reason: format!("time {unix_seconds} + steps {step_hours:?} h overflows"),
            })?;
        Ok(Self::new("valid_time", ["step"], CoordValues::I64(values))
            .with_attr("units", SECONDS_SINCE_EPOCH)
            .with_attr("calendar", "proleptic_gregorian")
            .with_attr("long_name", "time")
            .with_attr("standard_name", "time"))
    }

    /// The `latitude` coordinate along dimension `latitude`, in degrees north.
    pub fn latitude(values: Vec<f64>) -> Self {
        Self::new("latitude", ["latitude"], CoordValues::F64(values))
            .with_attr("units", "degrees_north")
            .with_attr("long_name", "latitude")
            .with_attr("standard_name", "latitude")
    }

    /// The `longitude` coordinate along dimension `longitude`, in degrees east.
    pub fn longitude(values: Vec<f64>) -> Self {
        Self::new("longitude", ["longitude"], CoordValues::F64(values))
            .with_attr("units", "degrees_east")
            .with_attr("long_name", "longitude")
            .with_attr("standard_name", "longitude")
    }
}

/// Everything the builder needs to write one data array and its coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct ArraySpec {
    /// Groups from the root to the array's group (`tp`, `accum`, `surface`); may be empty.
    pub groups: Vec<GroupSpec>,
    /// Array name (`tp`), also the `var` of its `grib` filter.
    pub name: String,
    /// Element type decoded from the messages (`Float32` or `Float64`).
    pub dtype: DType,
    /// Leading dimensions, one message per index (chunk size 1).
    pub stacked_dims: Vec<Dim>,
    /// Trailing dimensions held whole by every message (the grid).
    pub grid_dims: Vec<Dim>,
    /// Messages, at most one per stacked index; missing ones read as NaN.
    pub chunks: Vec<ChunkSource>,
    /// Coordinate arrays written in the same group.
    pub coords: Vec<CoordSpec>,
    /// Attributes of the data array (`units`, `long_name`, `GRIB_*`...).
    pub attrs: Attrs,
}

impl ArraySpec {
    /// A data array without dimensions, chunks, coordinates or attributes yet.
    pub fn new(groups: Vec<GroupSpec>, name: impl Into<String>, dtype: DType) -> Self {
        Self {
            groups,
            name: name.into(),
            dtype,
            stacked_dims: Vec::new(),
            grid_dims: Vec::new(),
            chunks: Vec::new(),
            coords: Vec::new(),
            attrs: Attrs::new(),
        }
    }

    /// Appends a stacked dimension.
    #[must_use]
    pub fn with_stacked_dim(mut self, name: impl Into<String>, size: u64) -> Self {
        self.stacked_dims.push(Dim::new(name, size));
        self
    }

    /// Appends a grid dimension.
    #[must_use]
    pub fn with_grid_dim(mut self, name: impl Into<String>, size: u64) -> Self {
        self.grid_dims.push(Dim::new(name, size));
        self
    }

    /// Adds the message for stacked index `index`.
    #[must_use]
    pub fn with_chunk(mut self, index: Vec<u64>, range: ByteRange) -> Self {
        self.chunks.push(ChunkSource { index, range });
        self
    }

    /// Adds a coordinate array.
    #[must_use]
    pub fn with_coord(mut self, coord: CoordSpec) -> Self {
        self.coords.push(coord);
        self
    }

    /// Adds an attribute of the data array.
    #[must_use]
    pub fn with_attr(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attrs.insert(key.into(), value.into());
        self
    }

    /// Path of the group holding the array (`tp/accum/surface`; `""` for the root).
    pub fn group_path(&self) -> String {
        self.groups
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Path of the data array (`tp/accum/surface/tp`).
    pub fn path(&self) -> String {
        join(&self.group_path(), &self.name)
    }

    /// Stacked then grid dimensions: the data array's dimensions in order.
    pub fn all_dims(&self) -> impl Iterator<Item = &Dim> {
        self.stacked_dims.iter().chain(&self.grid_dims)
    }
}
