//! The NetCDF-4 file `gik stream` writes: CF conventions, one chunk per field, written as fields
//! arrive, published by rename.
//!
//! Why a writer thread: the netCDF C library is blocking and not thread-safe, while fields come
//! out of an async pipeline in any order. One thread owns the file and receives cropped fields
//! over a bounded channel ([`Writer::put`] waits when it is full), so the pipeline never holds
//! more than a few fields and the file is written in a single place.
//!
//! Layout (see [`Layout`]): dimensions `member`, `step`, `latitude`, `longitude` (and
//! `threshold`, `bnds` where used); coordinate variables with units, `standard_name` and
//! `long_name`; the run time as the scalar `time` (`forecast_reference_time`) and `valid_time`
//! along `step`; data variables in `float32` with `_FillValue` NaN, chunked one field per chunk
//! (`1 × 1 × lat × lon`) and deflated with shuffle. A chunk never written — a missing message —
//! reads as NaN.
//!
//! Atomicity: the file is created as `FILE.nc.partial` beside the target and renamed onto it by
//! [`Writer::commit`]. Any other ending (error, `--strict` failure, a dropped writer) removes the
//! partial file, so a half-written file never carries the final name.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use gik_core::time::RunTime;
use tokio::sync::mpsc;

use gik_core::geo::OutputGrid;

/// Fields buffered between the pipeline and the writer thread.
const CHANNEL_FIELDS: usize = 16;

/// Seconds since the Unix epoch, the unit of `time` and `valid_time` (as cfgrib writes them).
const SECONDS_SINCE_EPOCH: &str = "seconds since 1970-01-01 00:00:00";

/// Why the output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The netCDF library refused an operation.
    #[error("{path}: {what}: {source}")]
    Netcdf {
        /// The file being written.
        path: String,
        /// What was being done.
        what: String,
        /// The library's error.
        source: netcdf::Error,
    },
    /// Renaming or removing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A field or command does not fit the layout.
    #[error("{0}")]
    Layout(String),
    /// The writer thread stopped (after an error reported by [`Writer::commit`]).
    #[error("the NetCDF writer stopped early")]
    Stopped,
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
    /// A number.
    Float(f64),
    /// Numbers.
    Floats(Vec<f64>),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        Self::Text(s.to_string())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<f64> for AttrValue {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

impl AttrValue {
    fn to_netcdf(&self) -> netcdf::AttributeValue {
        match self {
            Self::Text(s) => s.as_str().into(),
            Self::Int(v) => (*v).into(),
            Self::Float(v) => (*v).into(),
            Self::Floats(v) => v.clone().into(),
        }
    }
}

/// Named attributes, in order.
pub type Attrs = Vec<(String, AttrValue)>;

/// The leading dimensions of a data variable (the last two are always latitude, longitude).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarDims {
    /// `(member, step, latitude, longitude)`.
    MemberStep,
    /// `(threshold, step, latitude, longitude)`.
    ThresholdStep,
}

/// One data variable.
#[derive(Clone, Debug, PartialEq)]
pub struct VarDef {
    /// NetCDF name.
    pub name: String,
    /// Its dimensions.
    pub dims: VarDims,
    /// Its attributes (`units`, `long_name`...); `_FillValue` and `coordinates` are added.
    pub attrs: Attrs,
}

/// Everything about the file but its data.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The run.
    pub run: RunTime,
    /// Members: number (0 = control) and name.
    pub members: Vec<(u16, String)>,
    /// Steps in hours (window ends for accumulations over windows).
    pub steps: Vec<u32>,
    /// Windows `(start, end)` of each step, for fields that are totals over windows.
    pub step_bounds: Option<Vec<(u32, u32)>>,
    /// The output grid.
    pub grid: OutputGrid,
    /// Thresholds in mm, for exceedance probabilities (empty: no `threshold` dimension).
    pub thresholds: Vec<f32>,
    /// Data variables.
    pub variables: Vec<VarDef>,
    /// Global attributes.
    pub global_attrs: Attrs,
    /// Deflate level 0–9 (0: no compression).
    pub deflate: u8,
}

impl Layout {
    /// Values in one field.
    pub fn field_len(&self) -> usize {
        self.grid.points()
    }
}

/// The partial file's name beside the final one: `FILE.nc.partial`.
pub fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    target.with_file_name(name)
}

enum Command {
    Put {
        var: usize,
        outer: [usize; 2],
        values: Vec<f32>,
    },
    Attrs {
        var: usize,
        attrs: Attrs,
    },
    Commit,
}

/// The writer thread's handle.
pub struct Writer {
    tx: Option<mpsc::Sender<Command>>,
    handle: Option<JoinHandle<Result<(), OutputError>>>,
    target: PathBuf,
    field_len: usize,
    shapes: Vec<[usize; 2]>,
}

impl Writer {
    /// Creates `target`'s partial file, defines the layout and starts the writer thread.
    pub fn start(target: &Path, layout: Layout) -> Result<Self, OutputError> {
        let partial = partial_path(target);
        let file = define(&partial, &layout).inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })?;
        let shapes = layout
            .variables
            .iter()
            .map(|v| match v.dims {
                VarDims::MemberStep => [layout.members.len(), layout.steps.len()],
                VarDims::ThresholdStep => [layout.thresholds.len(), layout.steps.len()],
            })
            .collect();
        let (tx, rx) = mpsc::channel(CHANNEL_FIELDS);
        let names: Vec<String> = layout.variables.iter().map(|v| v.name.clone()).collect();
        let final_path = target.to_path_buf();
        let grid = (layout.grid.latitudes.len(), layout.grid.longitudes.len());
        let handle = std::thread::Builder::new()
            .name("gik-netcdf".into())
            .spawn(move || run_writer(file, rx, &names, grid, &partial, &final_path))
            .map_err(|e| OutputError::Io {
                path: target.display().to_string(),
                source: e,
            })?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
            target: target.to_path_buf(),
            field_len: layout.field_len(),
            shapes,
        })
    }

    /// Queues one field of variable number `var` at `outer` (`[member, step]` or
    /// `[threshold, step]`), waiting while the queue is full.
    pub async fn put(
        &self,
        var: usize,
        outer: [usize; 2],
        values: Vec<f32>,
    ) -> Result<(), OutputError> {
        let Some(shape) = self.shapes.get(var) else {
            return Err(OutputError::Layout(format!("no variable number {var}")));
        };
        if outer[0] >= shape[0] || outer[1] >= shape[1] {
            return Err(OutputError::Layout(format!(
                "field {outer:?} outside variable {var}'s {shape:?}"
            )));
        }
        if values.len() != self.field_len {
            return Err(OutputError::Layout(format!(
                "field has {} values, the output grid {}",
                values.len(),
                self.field_len
            )));
        }
        self.send(Command::Put { var, outer, values }).await
    }

    /// Adds (or replaces) attributes of variable number `var`.
    pub async fn set_attrs(&self, var: usize, attrs: Attrs) -> Result<(), OutputError> {
        self.send(Command::Attrs { var, attrs }).await
    }

    async fn send(&self, command: Command) -> Result<(), OutputError> {
        match &self.tx {
            Some(tx) => tx.send(command).await.map_err(|_| OutputError::Stopped),
            None => Err(OutputError::Stopped),
        }
    }

    /// Closes the file and renames it to its final name; returns that name.
    pub async fn commit(mut self) -> Result<PathBuf, OutputError> {
        self.send(Command::Commit).await.ok();
        self.tx = None;
        self.join().await?;
        Ok(self.target.clone())
    }

    /// Stops writing and removes the partial file.
    pub async fn abort(mut self) -> Result<(), OutputError> {
        self.tx = None;
        match self.join().await {
            Ok(()) | Err(OutputError::Stopped) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn join(&mut self) -> Result<(), OutputError> {
        let Some(handle) = self.handle.take() else {
            return Ok(());
        };
        match tokio::task::spawn_blocking(move || handle.join()).await {
            Ok(Ok(result)) => result,
            _ => Err(OutputError::Layout(
                "the NetCDF writer thread failed".into(),
            )),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel makes the thread remove the partial file; wait for it so that
        // nothing is left behind when a caller gives up early.
        self.tx = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn run_writer(
    mut file: netcdf::FileMut,
    mut rx: mpsc::Receiver<Command>,
    names: &[String],
    grid: (usize, usize),
    partial: &Path,
    target: &Path,
) -> Result<(), OutputError> {
    let outcome = (|| {
        while let Some(command) = rx.blocking_recv() {
            match command {
                Command::Put { var, outer, values } => {
                    let name = names.get(var).map_or("", String::as_str);
                    let mut v = file
                        .variable_mut(name)
                        .ok_or_else(|| OutputError::Layout(format!("no variable {name}")))?;
                    let extents = [
                        outer[0]..outer[0] + 1,
                        outer[1]..outer[1] + 1,
                        0..grid.0,
                        0..grid.1,
                    ];
                    v.put_values(&values, extents)
                        .map_err(|e| nc_error(partial, &format!("writing {name}{outer:?}"), e))?;
                }
                Command::Attrs { var, attrs } => {
                    let name = names.get(var).map_or("", String::as_str);
                    let mut v = file
                        .variable_mut(name)
                        .ok_or_else(|| OutputError::Layout(format!("no variable {name}")))?;
                    for (key, value) in &attrs {
                        v.put_attribute(key, value.to_netcdf()).map_err(|e| {
                            nc_error(partial, &format!("attribute {name}:{key}"), e)
                        })?;
                    }
                }
                Command::Commit => return Ok(true),
            }
        }
        Ok(false)
    })();
    match outcome {
        Ok(true) => {
            file.close()
                .map_err(|e| nc_error(partial, "closing the file", e))
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(partial);
                })?;
            std::fs::rename(partial, target).map_err(|e| {
                let _ = std::fs::remove_file(partial);
                OutputError::Io {
                    path: target.display().to_string(),
                    source: e,
                }
            })
        }
        Ok(false) => {
            drop(file);
            let _ = std::fs::remove_file(partial);
            Ok(())
        }
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(partial);
            Err(e)
        }
    }
}

fn nc_error(path: &Path, what: &str, source: netcdf::Error) -> OutputError {
    OutputError::Netcdf {
        path: path.display().to_string(),
        what: what.to_string(),
        source,
    }
}

/// The error of a netCDF call doing `what` on the file at `path`.
fn nc_at<'p>(path: &'p Path, what: &str) -> impl FnOnce(netcdf::Error) -> OutputError + 'p {
    let what = what.to_string();
    move |e| nc_error(path, &what, e)
}

/// Creates the file and defines dimensions, coordinates (with their values) and variables.
fn define(path: &Path, layout: &Layout) -> Result<netcdf::FileMut, OutputError> {
    let err = |what: &str| nc_at(path, what);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(OutputError::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("folder {} does not exist", dir.display()),
                ),
            });
        }
    }
    let mut file = netcdf::create(path).map_err(err("creating the file"))?;
    define_dimensions(&mut file, layout, path)?;
    for (key, value) in &layout.global_attrs {
        file.add_attribute(key, value.to_netcdf())
            .map_err(err(&format!("global attribute {key}")))?;
    }

    define_time_axes(&mut file, layout, path)?;
    define_space_axes(&mut file, layout, path)?;
    define_data_variables(&mut file, layout, path)?;
    Ok(file)
}

/// The dimensions: member, step, latitude, longitude, and threshold and bnds when used.
fn define_dimensions(
    file: &mut netcdf::FileMut,
    layout: &Layout,
    path: &Path,
) -> Result<(), OutputError> {
    let err = |what: &str| nc_at(path, what);
    let (nlat, nlon) = (layout.grid.latitudes.len(), layout.grid.longitudes.len());
    file.add_dimension("member", layout.members.len())
        .map_err(err("dimension member"))?;
    file.add_dimension("step", layout.steps.len())
        .map_err(err("dimension step"))?;
    file.add_dimension("latitude", nlat)
        .map_err(err("dimension latitude"))?;
    file.add_dimension("longitude", nlon)
        .map_err(err("dimension longitude"))?;
    if !layout.thresholds.is_empty() {
        file.add_dimension("threshold", layout.thresholds.len())
            .map_err(err("dimension threshold"))?;
    }
    if layout.step_bounds.is_some() {
        file.add_dimension("bnds", 2)
            .map_err(err("dimension bnds"))?;
    }

    Ok(())
}

/// The member coordinates: number (0: control) and name.
fn define_member_axes(
    file: &mut netcdf::FileMut,
    layout: &Layout,
    path: &Path,
) -> Result<(), OutputError> {
    let err = |what: &str| nc_at(path, what);
    {
        let mut v = file
            .add_variable::<i32>("member", &["member"])
            .map_err(err("variable member"))?;
        put_attrs(
            &mut v,
            &[
                ("standard_name", "realization".into()),
                ("long_name", "ensemble member number (0: control)".into()),
                ("units", "1".into()),
            ],
        )
        .map_err(err("member attributes"))?;
        let numbers: Vec<i32> = layout.members.iter().map(|m| i32::from(m.0)).collect();
        v.put_values(&numbers, ..).map_err(err("member values"))?;
    }
    {
        let mut v = file
            .add_string_variable("member_name", &["member"])
            .map_err(err("variable member_name"))?;
        put_attrs(&mut v, &[("long_name", "ensemble member name".into())])
            .map_err(err("member_name attributes"))?;
        for (i, (_, name)) in layout.members.iter().enumerate() {
            v.put_string(name, [i]).map_err(err("member_name values"))?;
        }
    }
    Ok(())
}

/// The time coordinates: step, valid time, their window bounds (rainfall), and the run time.
fn define_time_axes(
    file: &mut netcdf::FileMut,
    layout: &Layout,
    path: &Path,
) -> Result<(), OutputError> {
    let err = |what: &str| nc_at(path, what);
    define_member_axes(file, layout, path)?;
    let run_seconds = layout.run.unix_seconds();
    {
        let mut v = file
            .add_variable::<i32>("step", &["step"])
            .map_err(err("variable step"))?;
        let mut attrs: Attrs = vec![
            ("standard_name".into(), "forecast_period".into()),
            (
                "long_name".into(),
                "time since forecast_reference_time".into(),
            ),
            ("units".into(), "hours".into()),
        ];
        if layout.step_bounds.is_some() {
            attrs.push(("bounds".into(), "step_bnds".into()));
        }
        put_owned_attrs(&mut v, &attrs).map_err(err("step attributes"))?;
        let steps: Vec<i32> = layout.steps.iter().map(|&s| s as i32).collect();
        v.put_values(&steps, ..).map_err(err("step values"))?;
    }
    {
        let mut v = file
            .add_variable::<i64>("valid_time", &["step"])
            .map_err(err("variable valid_time"))?;
        let mut attrs: Attrs = vec![
            ("standard_name".into(), "time".into()),
            ("long_name".into(), "time".into()),
            ("units".into(), SECONDS_SINCE_EPOCH.into()),
            ("calendar".into(), "proleptic_gregorian".into()),
        ];
        if layout.step_bounds.is_some() {
            attrs.push(("bounds".into(), "valid_time_bnds".into()));
        }
        put_owned_attrs(&mut v, &attrs).map_err(err("valid_time attributes"))?;
        let times: Vec<i64> = layout
            .steps
            .iter()
            .map(|&s| run_seconds + i64::from(s) * 3600)
            .collect();
        v.put_values(&times, ..).map_err(err("valid_time values"))?;
    }
    if let Some(bounds) = &layout.step_bounds {
        define_step_bounds(file, bounds, run_seconds, path)?;
    }
    {
        let mut v = file
            .add_variable::<i64>("time", &[])
            .map_err(err("variable time"))?;
        put_attrs(
            &mut v,
            &[
                ("standard_name", "forecast_reference_time".into()),
                ("long_name", "initial time of forecast".into()),
                ("units", SECONDS_SINCE_EPOCH.into()),
                ("calendar", "proleptic_gregorian".into()),
            ],
        )
        .map_err(err("time attributes"))?;
        v.put_values(&[run_seconds], ())
            .map_err(err("time value"))?;
    }
    Ok(())
}

/// The window bounds of the step axis, in hours and as times (rainfall).
fn define_step_bounds(
    file: &mut netcdf::FileMut,
    bounds: &[(u32, u32)],
    run_seconds: i64,
    path: &Path,
) -> Result<(), OutputError> {
    let err = |what: &str| nc_at(path, what);
    let flat: Vec<i32> = bounds
        .iter()
        .flat_map(|&(a, b)| [a as i32, b as i32])
        .collect();
    let mut v = file
        .add_variable::<i32>("step_bnds", &["step", "bnds"])
        .map_err(err("variable step_bnds"))?;
    put_attrs(&mut v, &[("units", "hours".into())]).map_err(err("step_bnds attributes"))?;
    v.put_values(&flat, ..).map_err(err("step_bnds values"))?;
    let times: Vec<i64> = bounds
        .iter()
        .flat_map(|&(a, b)| {
            [
                run_seconds + i64::from(a) * 3600,
                run_seconds + i64::from(b) * 3600,
            ]
        })
        .collect();
    let mut v = file
        .add_variable::<i64>("valid_time_bnds", &["step", "bnds"])
        .map_err(err("variable valid_time_bnds"))?;
    put_attrs(
        &mut v,
        &[
            ("units", SECONDS_SINCE_EPOCH.into()),
            ("calendar", "proleptic_gregorian".into()),
        ],
    )
    .map_err(err("valid_time_bnds attributes"))?;
    v.put_values(&times, ..)
        .map_err(err("valid_time_bnds values"))?;
    Ok(())
}

/// The latitude and longitude coordinates, and the thresholds (rainfall).
fn define_space_axes(
    file: &mut netcdf::FileMut,
    layout: &Layout,
    path: &Path,
) -> Result<(), OutputError> {
    let err = |what: &str| nc_at(path, what);
    for (name, values, units, axis) in [
        ("latitude", &layout.grid.latitudes, "degrees_north", "Y"),
        ("longitude", &layout.grid.longitudes, "degrees_east", "X"),
    ] {
        let mut v = file
            .add_variable::<f64>(name, &[name])
            .map_err(err(&format!("variable {name}")))?;
        put_attrs(
            &mut v,
            &[
                ("standard_name", name.into()),
                ("long_name", name.into()),
                ("units", units.into()),
                ("axis", axis.into()),
            ],
        )
        .map_err(err(&format!("{name} attributes")))?;
        v.put_values(values, ..)
            .map_err(err(&format!("{name} values")))?;
    }
    if !layout.thresholds.is_empty() {
        let mut v = file
            .add_variable::<f32>("threshold", &["threshold"])
            .map_err(err("variable threshold"))?;
        put_attrs(
            &mut v,
            &[
                (
                    "long_name",
                    "precipitation threshold (exceedance: strictly greater)".into(),
                ),
                ("units", "mm".into()),
            ],
        )
        .map_err(err("threshold attributes"))?;
        v.put_values(&layout.thresholds, ..)
            .map_err(err("threshold values"))?;
    }

    Ok(())
}

/// The data variables, chunked one field per chunk, compressed and NaN-filled.
fn define_data_variables(
    file: &mut netcdf::FileMut,
    layout: &Layout,
    path: &Path,
) -> Result<(), OutputError> {
    let err = |what: &str| nc_at(path, what);
    let (nlat, nlon) = (layout.grid.latitudes.len(), layout.grid.longitudes.len());
    for var in &layout.variables {
        let lead = match var.dims {
            VarDims::MemberStep => "member",
            VarDims::ThresholdStep => "threshold",
        };
        if var.dims == VarDims::ThresholdStep && layout.thresholds.is_empty() {
            return Err(OutputError::Layout(format!(
                "variable {} is per threshold but there are no thresholds",
                var.name
            )));
        }
        let what = format!("variable {}", var.name);
        let mut v = file
            .add_variable::<f32>(&var.name, &[lead, "step", "latitude", "longitude"])
            .map_err(err(&what))?;
        v.set_chunking(&[1, 1, nlat.max(1), nlon.max(1)])
            .map_err(err(&what))?;
        if layout.deflate > 0 {
            v.set_compression(i32::from(layout.deflate.min(9)), true)
                .map_err(err(&what))?;
        }
        v.set_fill_value(f32::NAN).map_err(err(&what))?;
        let mut coordinates = String::from("time valid_time");
        if var.dims == VarDims::MemberStep {
            coordinates.push_str(" member_name");
        }
        let mut attrs = var.attrs.clone();
        attrs.push(("coordinates".into(), coordinates.into()));
        put_owned_attrs(&mut v, &attrs).map_err(err(&what))?;
    }
    Ok(())
}

fn put_attrs(v: &mut netcdf::VariableMut<'_>, attrs: &[(&str, AttrValue)]) -> netcdf::Result<()> {
    for (key, value) in attrs {
        v.put_attribute(key, value.to_netcdf())?;
    }
    Ok(())
}

fn put_owned_attrs(v: &mut netcdf::VariableMut<'_>, attrs: &Attrs) -> netcdf::Result<()> {
    for (key, value) in attrs {
        v.put_attribute(key, value.to_netcdf())?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use gik_core::geo::{BBox, Lattice};

    fn layout() -> Layout {
        let grid = OutputGrid::new(
            &BBox::new(0.0, 0.5, 10.0, 11.0).unwrap(),
            Lattice {
                lat0: 0.0,
                dlat: 0.25,
                lon0: 0.0,
                dlon: 0.25,
            },
        )
        .unwrap();
        Layout {
            run: RunTime::parse("20250801", "00").unwrap(),
            members: vec![(0, "control".into()), (1, "ens01".into())],
            steps: vec![24, 48],
            step_bounds: Some(vec![(0, 24), (24, 48)]),
            grid,
            thresholds: vec![1.0, 5.0],
            variables: vec![
                VarDef {
                    name: "precip".into(),
                    dims: VarDims::MemberStep,
                    attrs: vec![("units".into(), "mm".into())],
                },
                VarDef {
                    name: "prob".into(),
                    dims: VarDims::ThresholdStep,
                    attrs: vec![("units".into(), "%".into())],
                },
            ],
            global_attrs: vec![("title".into(), "test".into())],
            deflate: 4,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn writes_then_renames() {
        let dir = std::env::temp_dir().join(format!("gik-nc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.nc");
        let _ = std::fs::remove_file(&target);
        runtime().block_on(async {
            let layout = layout();
            let n = layout.field_len();
            assert_eq!(n, 3 * 5);
            let w = Writer::start(&target, layout).unwrap();
            assert!(partial_path(&target).exists());
            assert!(!target.exists());
            w.put(0, [1, 1], vec![2.5; n]).await.unwrap();
            w.put(1, [0, 1], (0..n).map(|i| i as f32).collect())
                .await
                .unwrap();
            assert!(w.put(0, [2, 0], vec![0.0; n]).await.is_err());
            assert!(w.put(0, [0, 0], vec![0.0; n + 1]).await.is_err());
            w.set_attrs(0, vec![("gik_missing".into(), "none".into())])
                .await
                .unwrap();
            assert_eq!(w.commit().await.unwrap(), target);
        });
        assert!(!partial_path(&target).exists());
        let f = netcdf::open(&target).unwrap();
        let v = f.variable("precip").unwrap();
        let all: Vec<f32> = v.get_values(..).unwrap();
        assert_eq!(all.len(), 2 * 2 * 15);
        assert!(all[..45].iter().all(|x| x.is_nan()));
        assert!(all[45..].iter().all(|&x| x == 2.5));
        let p: Vec<f32> = f
            .variable("prob")
            .unwrap()
            .get_values([0..1, 1..2, 0..3, 0..5])
            .unwrap();
        assert_eq!(p[14], 14.0);
        let lats: Vec<f64> = f.variable("latitude").unwrap().get_values(..).unwrap();
        assert_eq!(lats, [0.5, 0.25, 0.0]);
        let name = f.variable("member_name").unwrap().get_string([1]).unwrap();
        assert_eq!(name, "ens01");
        drop(f);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn abort_and_drop_leave_nothing() {
        let dir = std::env::temp_dir().join(format!("gik-nc-abort-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.nc");
        runtime().block_on(async {
            let w = Writer::start(&target, layout()).unwrap();
            w.put(0, [0, 0], vec![1.0; 15]).await.unwrap();
            w.abort().await.unwrap();
            let w = Writer::start(&target, layout()).unwrap();
            drop(w);
        });
        assert!(!target.exists());
        assert!(!partial_path(&target).exists());
        assert!(Writer::start(&dir.join("no/such/dir/out.nc"), layout()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
