//! One ensemble member's manifest, in product terms: built from index records, read back by
//! variable and step.
//!
//! [`manifest`](crate::manifest) knows zarr layouts but not forecasts; [`product`] knows
//! forecasts but not zarr. This module joins them, so that the builder writes, and the app and
//! the stream jobs read, exactly the same shape:
//!
//! - one group per variable, `{cf_name}/{stepType}/{typeOfLevel}` (kerchunk's `grib_tree`);
//! - a data array `(step, latitude, longitude)`, one chunk per GRIB2 message, `float32` through
//!   kerchunk's `grib` codec; steps without a message (not published) read as NaN;
//! - coordinates `time` (run start), `step` (hours), `valid_time`, `latitude`, `longitude`, and
//!   the level as a scalar coordinate named after its type (`isobaricInhPa`), as cfgrib does;
//! - root attributes naming the product, run and member, and the manifest format version.
//!
//! A member can also be read out of the run's ensemble manifest ([`EnsembleManifest`]), where it
//! has the same steps, coordinates and messages as in its own manifest.

use std::collections::BTreeMap;

use crate::grib::Grid;
use crate::manifest::{
    ArraySpec, ByteRange, CoordSpec, CoordValues, DType, Ensemble, GroupSpec, Manifest,
    ManifestBuilder, ManifestError, ManifestTail,
};
use crate::product::{StepType, VariableSpec};
use crate::time::RunTime;
use crate::{Error, Result};

/// Version of the member-manifest layout, stored in the root `.zattrs`.
pub const MEMBER_LAYOUT_VERSION: u32 = 1;

/// One message of a member: at which step of its variable, and where its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRef {
    /// Forecast step (hours; window end for accumulations).
    pub step: u32,
    /// Where the message is in its GRIB2 file.
    pub range: ByteRange,
}

/// Everything known about one variable of a member before writing its manifest.
#[derive(Clone, Debug)]
pub struct VariableMessages {
    /// The variable.
    pub spec: VariableSpec,
    /// Its grid (from the header of one of its messages).
    pub grid: Grid,
    /// Steps on the variable's step axis, ascending.
    pub steps: Vec<u32>,
    /// Messages found, at most one per step.
    pub messages: Vec<MessageRef>,
}

/// Who the manifest is for.
#[derive(Clone, Debug)]
pub struct MemberIdentity {
    /// Product name (`gefs`, `ecmwf`).
    pub product: String,
    /// Run.
    pub run: RunTime,
    /// Member name (`gec00`, `ens07`).
    pub member: String,
}

/// Builds a member's manifest (no I/O).
pub fn build_member_manifest(
    who: &MemberIdentity,
    variables: &[VariableMessages],
) -> Result<Manifest> {
    build_member_manifest_with(who, variables, &[])
}

/// [`build_member_manifest`] with more attributes on the root group (`.zattrs`), such as the
/// licence attribution of a regional subset's files.
pub fn build_member_manifest_with(
    who: &MemberIdentity,
    variables: &[VariableMessages],
    root_attrs: &[(&str, &str)],
) -> Result<Manifest> {
    let mut builder = ManifestBuilder::new();
    for (key, value) in root_attrs {
        builder.set_root_attr(*key, *value);
    }
    builder.set_root_attr("gik_layout_version", MEMBER_LAYOUT_VERSION);
    builder.set_root_attr("product", who.product.as_str());
    builder.set_root_attr("run", who.run.iso_after_hours(0.0));
    builder.set_root_attr("member", who.member.as_str());
    for v in variables {
        builder.add_array(&array_spec(who, v)?)?;
    }
    Ok(builder.build()?)
}

fn array_spec(who: &MemberIdentity, v: &VariableMessages) -> Result<ArraySpec> {
    let spec = &v.spec;
    let (Some(lats), Some(lons), Some(ni), Some(nj)) = (
        v.grid.latitudes(),
        v.grid.longitudes(),
        v.grid.ni,
        v.grid.nj,
    ) else {
        return Err(Error::Product {
            product: who.product.clone(),
            reason: format!(
                "variable {}: grid template 3.{} has no regular latitude/longitude axes",
                spec.request, v.grid.template
            ),
        });
    };
    let index_of: BTreeMap<u32, u64> = v
        .steps
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, i as u64))
        .collect();
    let steps: Vec<i64> = v.steps.iter().map(|&s| i64::from(s)).collect();
    let run_seconds = who.run.unix_seconds();
    let groups = vec![
        GroupSpec::new(spec.cf_name.clone()),
        GroupSpec::new(spec.step_type.as_str()),
        GroupSpec::new(spec.type_of_level.clone()),
    ];
    let mut array = ArraySpec::new(groups, spec.cf_name.clone(), DType::Float32)
        .with_stacked_dim("step", v.steps.len() as u64)
        .with_grid_dim("latitude", nj as u64)
        .with_grid_dim("longitude", ni as u64)
        .with_coord(CoordSpec::time(run_seconds))
        .with_coord(CoordSpec::step_hours(steps.clone()))
        .with_coord(CoordSpec::valid_time(run_seconds, &steps)?)
        .with_coord(CoordSpec::latitude(lats))
        .with_coord(CoordSpec::longitude(lons))
        .with_attr("units", spec.units.as_str())
        .with_attr("long_name", spec.long_name.as_str())
        .with_attr("GRIB_stepType", spec.step_type.as_str())
        .with_attr("GRIB_typeOfLevel", spec.type_of_level.as_str())
        .with_attr("gik_variable", spec.request.as_str());
    if let Some(level) = spec.level {
        array = array.with_coord(
            CoordSpec::new(
                spec.type_of_level.clone(),
                Vec::<String>::new(),
                CoordValues::F64(vec![level]),
            )
            .with_attr("units", level_units(&spec.type_of_level)),
        );
    }
    for m in &v.messages {
        let Some(&i) = index_of.get(&m.step) else {
            return Err(Error::Product {
                product: who.product.clone(),
                reason: format!(
                    "variable {}: message for step {} not on its step axis",
                    spec.request, m.step
                ),
            });
        };
        array = array.with_chunk(vec![i], m.range.clone());
    }
    Ok(array)
}

fn level_units(type_of_level: &str) -> &'static str {
    match type_of_level {
        "isobaricInhPa" => "hPa",
        "isobaricInPa" => "Pa",
        "heightAboveGround" | "heightAboveSea" | "depthBelowLand" => "m",
        _ => "1",
    }
}

/// Steps on a variable's axis: the requested steps, less step 0 for accumulations and other
/// statistics (nothing has accumulated at the start of the run).
pub fn variable_steps(spec: &VariableSpec, requested: &[u32]) -> Vec<u32> {
    let mut steps: Vec<u32> = requested
        .iter()
        .copied()
        .filter(|&s| s > 0 || spec.step_type == StepType::Instant)
        .collect();
    steps.sort_unstable();
    steps.dedup();
    steps
}

/// A member manifest opened for reading by variable and step.
#[derive(Clone, Debug)]
pub struct MemberManifest {
    manifest: Manifest,
}

/// Checks that the layout version in `manifest`'s root attributes, if any, is one this build
/// reads.
fn check_layout_version(manifest: &Manifest) -> Result<()> {
    if let Some(attrs) = manifest.zattrs("")? {
        if let Some(v) = attrs
            .other
            .get("gik_layout_version")
            .and_then(|v| v.as_u64())
        {
            if v > u64::from(MEMBER_LAYOUT_VERSION) {
                return Err(ManifestError::UnsupportedVersion {
                    found: v,
                    supported: u64::from(MEMBER_LAYOUT_VERSION),
                }
                .into());
            }
        }
    }
    Ok(())
}

impl MemberManifest {
    /// Wraps a manifest, checking that its layout version is one this build reads.
    pub fn new(manifest: Manifest) -> Result<Self> {
        check_layout_version(&manifest)?;
        Ok(Self { manifest })
    }

    /// Reads a member manifest from parquet bytes.
    pub fn from_parquet(bytes: &[u8]) -> Result<Self> {
        Self::new(crate::manifest::read_parquet(bytes)?)
    }

    /// Reads the groups of the arrays at `arrays` (and the root) of a member manifest read by
    /// parts: its footer (`tail`) and the byte ranges [`ManifestTail::ranges`] named
    /// (`(offset, bytes)`). Only those groups are in the result.
    pub fn from_parts(
        tail: &ManifestTail,
        arrays: &[&str],
        parts: impl IntoIterator<Item = (u64, bytes::Bytes)>,
    ) -> Result<Self> {
        Self::new(tail.read(arrays, parts)?)
    }

    /// The underlying manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Paths of the data arrays (those decoded through the `grib` codec), e.g.
    /// `t2m/instant/heightAboveGround/t2m`.
    pub fn data_arrays(&self) -> Vec<String> {
        self.manifest
            .array_paths()
            .filter(|p| self.manifest.array(p).is_ok_and(|a| a.is_grib()))
            .map(str::to_string)
            .collect()
    }

    /// The data array of a variable group (`tp/accum/surface` → `tp/accum/surface/tp`): the
    /// layout names it after the group's first segment, the variable.
    pub fn array_of_group(group: &str) -> String {
        let name = group.split('/').next().unwrap_or(group);
        format!("{group}/{name}")
    }

    /// The data array `array` of group `group` (the catalog's `path` and `array`); an empty
    /// `array` means the layout's default name ([`Self::array_of_group`]).
    pub fn array_path(group: &str, array: &str) -> String {
        if array.is_empty() {
            Self::array_of_group(group)
        } else {
            format!("{group}/{array}")
        }
    }

    /// The step axis (hours) of the data array at `array`: its `step` coordinate, stored as
    /// whole hours (`<i8` as gik writes it, or integral floats as kerchunk's `scan_grib` does).
    pub fn steps(&self, array: &str) -> Result<Vec<u32>> {
        let step = self.manifest.array(array)?.coordinate("step")?;
        let bad = |reason: String| ManifestError::BadValue {
            key: step.path().to_owned(),
            reason,
        };
        let hours: Vec<i64> = match step.values()? {
            CoordValues::I64(v) => v,
            CoordValues::F64(v) => v
                .into_iter()
                .map(|h| {
                    if h.fract() == 0.0 && h.abs() < 1e15 {
                        Ok(h as i64)
                    } else {
                        Err(bad(format!("step {h} is not a whole number of hours")))
                    }
                })
                .collect::<std::result::Result<_, _>>()?,
        };
        hours
            .into_iter()
            .map(|h| u32::try_from(h).map_err(|_| bad(format!("step {h} out of range")).into()))
            .collect()
    }

    /// The values of coordinate `dim` (`latitude`, `longitude`) of the data array at `array`.
    pub fn axis(&self, array: &str, dim: &str) -> Result<Vec<f64>> {
        let values = self.manifest.array(array)?.coordinate(dim)?.values()?;
        Ok(values.to_f64())
    }

    /// Where the message of `array` at `step` is; `None` when the step is on the axis but its
    /// message was not published.
    pub fn chunk(&self, array: &str, step: u32) -> Result<Option<ByteRange>> {
        let steps = self.steps(array)?;
        let Some(i) = steps.iter().position(|&s| s == step) else {
            return Err(ManifestError::BadValue {
                key: array.to_string(),
                reason: format!("no step {step} h (steps: {steps:?})"),
            }
            .into());
        };
        let data = self.manifest.array(array)?;
        // The step is the first dimension; every chunk holds a whole grid.
        let mut index = vec![0; data.shape().len().max(1)];
        index[0] = i as u64;
        Ok(data.chunk(&index)?.cloned())
    }
}

/// A run's ensemble manifest (every member in one, see [`crate::manifest::combine_members`])
/// opened for reading member by member: a reader that wants many members fetches this one file
/// and reads each member as from its own manifest.
#[derive(Clone, Debug)]
pub struct EnsembleManifest {
    ensemble: Ensemble,
}

impl EnsembleManifest {
    /// Opens an ensemble manifest, checking its layout version as [`MemberManifest::new`] does.
    pub fn new(manifest: Manifest) -> Result<Self> {
        check_layout_version(&manifest)?;
        Ok(Self {
            ensemble: Ensemble::new(manifest)?,
        })
    }

    /// Reads an ensemble manifest from parquet bytes.
    pub fn from_parquet(bytes: &[u8]) -> Result<Self> {
        Self::new(crate::manifest::read_parquet(bytes)?)
    }

    /// The member numbers it holds (0 = control), ascending.
    pub fn numbers(&self) -> &[u32] {
        self.ensemble.numbers()
    }

    /// The manifest of member `number` (the same steps, coordinates and messages as the
    /// member's own manifest); fails when the ensemble does not hold it.
    pub fn member(&self, number: u32) -> Result<MemberManifest> {
        Ok(MemberManifest {
            manifest: self.ensemble.member(number)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::{select_variables, Ecmwf, Gefs, Product};
    use crate::test_support::read_fixture;

    fn grid(file: &str) -> Grid {
        crate::grib::describe(&read_fixture(file)).unwrap().grid
    }

    fn identity(product: &dyn Product, member: &str) -> MemberIdentity {
        MemberIdentity {
            product: product.name().into(),
            run: RunTime::parse("20250801", "00").unwrap(),
            member: member.into(),
        }
    }

    /// The variables of `specs` at the `requested` steps (less step 0 for accumulations), on
    /// the grid of a GFS fixture, with the message `message(step)` gives (none: not published).
    fn variables(
        specs: &[VariableSpec],
        requested: &[u32],
        message: impl Fn(u32) -> Option<ByteRange>,
    ) -> Vec<VariableMessages> {
        specs
            .iter()
            .map(|spec| {
                let steps = variable_steps(spec, requested);
                let messages = steps
                    .iter()
                    .filter_map(|&step| {
                        Some(MessageRef {
                            step,
                            range: message(step)?,
                        })
                    })
                    .collect();
                VariableMessages {
                    spec: spec.clone(),
                    grid: grid("gfs/gfs.20200325.t18z.pgrb2.0p25.f006"),
                    steps,
                    messages,
                }
            })
            .collect()
    }

    #[test]
    fn gefs_member_round_trips_through_parquet() {
        let gefs = Gefs::default();
        let specs = select_variables(&gefs, &["APCP:surface", "TMP:2 m above ground"]).unwrap();
        // Step 6 "not published".
        let vars = variables(&specs, &[0, 3, 6, 9], |s| {
            (s != 6).then(|| {
                ByteRange::new(format!("http://127.0.0.1:1/f{s:03}"), u64::from(s) * 10, 99)
            })
        });
        let manifest = build_member_manifest(&identity(&gefs, "gep01"), &vars).unwrap();
        assert!(
            manifest.validate_structure().is_empty(),
            "{:?}",
            manifest.validate_structure()
        );
        let bytes = crate::manifest::write_parquet(&manifest).unwrap();
        let read = MemberManifest::from_parquet(&bytes).unwrap();
        let mut arrays = read.data_arrays();
        arrays.sort();
        assert_eq!(
            arrays,
            ["t2m/instant/heightAboveGround/t2m", "tp/accum/surface/tp"]
        );
        assert_eq!(read.steps("tp/accum/surface/tp").unwrap(), [3, 6, 9]);
        assert_eq!(
            read.steps("t2m/instant/heightAboveGround/t2m").unwrap(),
            [0, 3, 6, 9]
        );
        let chunk = read.chunk("tp/accum/surface/tp", 9).unwrap().unwrap();
        assert_eq!(chunk, ByteRange::new("http://127.0.0.1:1/f009", 90, 99));
        assert_eq!(
            read.manifest().get("tp/accum/surface/tp/2.0.0"),
            manifest.get("tp/accum/surface/tp/2.0.0")
        );
        assert!(read.chunk("tp/accum/surface/tp", 6).unwrap().is_none());
        let err = read
            .chunk("tp/accum/surface/tp", 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no step 0"), "{err}");
        assert_eq!(
            MemberManifest::array_of_group("tp/accum/surface"),
            "tp/accum/surface/tp"
        );
    }

    /// A member read out of the ensemble manifest gives the steps, axes and messages its own
    /// manifest gives.
    #[test]
    fn members_read_from_the_ensemble_manifest_equal_their_own() {
        let gefs = Gefs::default();
        let specs = select_variables(&gefs, &["APCP:surface", "TMP:2 m above ground"]).unwrap();
        let member = |name: &str, n: u64| {
            // Each member lacks another step.
            let vars = variables(&specs, &[0, 3, 6], |s| {
                (u64::from(s) != 3 * n)
                    .then(|| ByteRange::new(format!("http://h/{name}.f{s:03}"), n, 9))
            });
            build_member_manifest(&identity(&gefs, name), &vars).unwrap()
        };
        let (c0, p1, p2) = (member("gec00", 0), member("gep01", 1), member("gep02", 2));
        let combined = crate::manifest::combine_members(
            &[(0, &c0), (1, &p1), (2, &p2)],
            &crate::manifest::Attrs::new(),
        )
        .unwrap();
        let bytes = crate::manifest::write_parquet(&combined).unwrap();
        let ensemble = EnsembleManifest::from_parquet(&bytes).unwrap();
        assert_eq!(ensemble.numbers(), [0, 1, 2]);
        for (number, own) in [(0, c0), (1, p1), (2, p2)] {
            let own = MemberManifest::new(own).unwrap();
            let read = ensemble.member(number).unwrap();
            let mut arrays = read.data_arrays();
            arrays.sort();
            let mut own_arrays = own.data_arrays();
            own_arrays.sort();
            assert_eq!(arrays, own_arrays);
            for array in &arrays {
                let steps = read.steps(array).unwrap();
                assert_eq!(steps, own.steps(array).unwrap());
                for dim in ["latitude", "longitude"] {
                    assert_eq!(
                        read.axis(array, dim).unwrap(),
                        own.axis(array, dim).unwrap()
                    );
                }
                for step in steps {
                    assert_eq!(
                        read.chunk(array, step).unwrap(),
                        own.chunk(array, step).unwrap(),
                        "member {number} {array} f{step}"
                    );
                }
            }
        }
        assert!(ensemble.member(3).is_err());
    }

    #[test]
    fn pressure_level_variable_has_a_scalar_level_coordinate() {
        let ecmwf = Ecmwf::default();
        let spec = select_variables(&ecmwf, &["u:700"]).unwrap().remove(0);
        let vars = [VariableMessages {
            spec: spec.clone(),
            grid: grid("ecmwf/aifs-ens-cf-t500.grib2"),
            steps: vec![0],
            messages: vec![MessageRef {
                step: 0,
                range: ByteRange::new("http://h/x", 0, 5),
            }],
        }];
        let manifest = build_member_manifest(&identity(&ecmwf, "control"), &vars).unwrap();
        assert!(manifest.contains_key("u/instant/isobaricInhPa/isobaricInhPa/0"));
        let attrs = manifest
            .zattrs("u/instant/isobaricInhPa/u")
            .unwrap()
            .unwrap();
        assert!(attrs.coordinates.unwrap().contains("isobaricInhPa"));
        let read = MemberManifest::new(manifest).unwrap();
        let lon = read.axis("u/instant/isobaricInhPa/u", "longitude").unwrap();
        assert_eq!(lon.first(), Some(&-180.0));
        let level = read
            .manifest()
            .array("u/instant/isobaricInhPa/isobaricInhPa")
            .unwrap()
            .values()
            .unwrap();
        assert_eq!(level, CoordValues::F64(vec![700.0]));
    }

    /// A member manifest of `product`'s default variables and steps on a global 0.25° grid
    /// whose first point is (90° N, `lon_first`): the size the builder publishes.
    fn real_size(product: &dyn Product, lon_first: f64) -> Manifest {
        let run = RunTime::parse("20250801", "00").unwrap();
        let member = product.members()[1];
        let grid = crate::test_support::quarter_degree_grid(90.0, lon_first, 1440, 721, 0);
        let all_steps = product.steps(run);
        let vars: Vec<VariableMessages> = select_variables(product, product.default_variables())
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(i, spec)| {
                let steps = variable_steps(&spec, &all_steps);
                let messages = steps
                    .iter()
                    .map(|&step| MessageRef {
                        step,
                        range: ByteRange::new(
                            product.grib_url(run, member, step).unwrap(),
                            i as u64 * 987_654,
                            654_321 + u64::from(step),
                        ),
                    })
                    .collect();
                VariableMessages {
                    spec,
                    grid: grid.clone(),
                    steps,
                    messages,
                }
            })
            .collect();
        let who = identity(product, &product.member_name(member));
        build_member_manifest(&who, &vars).unwrap()
    }

    /// Every data array of real-size ECMWF and GEFS members read by parts (the footer, then
    /// the row groups of its variable) equals the whole file's, and costs a fraction of it.
    /// The sizes are printed (`cargo test -p gik-core real_size -- --nocapture`).
    #[test]
    fn real_size_members_read_by_parts_equal_whole_reads() {
        let ecmwf = Ecmwf::default();
        let gefs = Gefs::default();
        for (product, lon_first) in [(&ecmwf as &dyn Product, -180.0), (&gefs, 0.0)] {
            let file = crate::manifest::write_parquet(&real_size(product, lon_first)).unwrap();
            let whole = MemberManifest::from_parquet(&file).unwrap();
            let footer = ManifestTail::footer_size(&file).unwrap() as usize;
            let tail = bytes::Bytes::copy_from_slice(&file[file.len() - footer..]);
            let tail = ManifestTail::new(tail).unwrap();
            let arrays = whole.data_arrays();
            assert_eq!(arrays.len(), product.default_variables().len());
            for array in &arrays {
                let ranges = tail.ranges(&[array]).unwrap();
                let fetched: usize = ranges.iter().map(|r| (r.end - r.start) as usize).sum();
                let parts = ranges.iter().map(|r| {
                    let bytes = &file[r.start as usize..r.end as usize];
                    (r.start, bytes::Bytes::copy_from_slice(bytes))
                });
                let part = MemberManifest::from_parts(&tail, &[array], parts).unwrap();
                let group = array.split('/').next().unwrap();
                let expected = Manifest::from_refs(
                    whole
                        .manifest()
                        .iter()
                        .filter(|(k, _)| !k.contains('/') || k.starts_with(&format!("{group}/")))
                        .map(|(k, r)| (k.clone(), r.clone())),
                )
                .unwrap();
                assert_eq!(part.manifest(), &expected, "{array}");
                let steps = part.steps(array).unwrap();
                assert_eq!(steps, whole.steps(array).unwrap());
                for step in steps {
                    assert_eq!(
                        part.chunk(array, step).unwrap(),
                        whole.chunk(array, step).unwrap()
                    );
                }
                let read = footer + fetched;
                assert!(
                    read * 3 < file.len(),
                    "{array}: {read} of {} bytes",
                    file.len()
                );
                // As the app reads it: the last 8 KiB, then what they do not hold.
                let app_tail = 8 << 10;
                assert!(file.len() > app_tail, "{array}: a {}-byte file", file.len());
                let app = bytes::Bytes::copy_from_slice(&file[file.len() - app_tail..]);
                let app = ManifestTail::new(app).unwrap().ranges(&[array]).unwrap();
                let app = app_tail
                    + app
                        .iter()
                        .map(|r| (r.end - r.start) as usize)
                        .sum::<usize>();
                assert!(
                    app * 3 < file.len(),
                    "{array}: the app's reads are {app} of {} bytes",
                    file.len()
                );
                println!(
                    "{} {array}: footer {footer} + row groups {fetched} = {read} of {} bytes \
                     ({app} after an 8 KiB tail)",
                    product.name(),
                    file.len()
                );
            }
        }
    }

    #[test]
    fn a_message_off_the_step_axis_is_an_error() {
        let gefs = Gefs::default();
        let spec = select_variables(&gefs, &["APCP:surface"])
            .unwrap()
            .remove(0);
        let vars = [VariableMessages {
            spec,
            grid: grid("gfs/gfs.20200325.t18z.pgrb2.0p25.f006"),
            steps: vec![3],
            messages: vec![MessageRef {
                step: 6,
                range: ByteRange::new("http://h/x", 0, 5),
            }],
        }];
        assert!(build_member_manifest(&identity(&gefs, "gec00"), &vars).is_err());
    }
}
