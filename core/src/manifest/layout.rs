//! [`ManifestBuilder`]: lays generic array descriptions out as kerchunk's `grib_tree` does.
//!
//! kerchunk's `grib_tree` puts each variable in a group `{var}/{stepType}/{typeOfLevel}`, with
//! the data array and its coordinate arrays inside that group:
//!
//! ```text
//! .zgroup                                   root group
//! tp/.zgroup  tp/accum/.zgroup  ...         every intermediate group
//! tp/accum/surface/tp/.zarray, .zattrs      the data array, one chunk per GRIB2 message
//! tp/accum/surface/tp/0.0.0                 ["s3://.../gfs.f006", offset, length]
//! tp/accum/surface/{time,step,valid_time,latitude,longitude}/...   inline coordinates
//! ```
//!
//! Python's xarray opens exactly this tree with `open_datatree` (see `docs/MANIFEST_FORMAT.md`), so
//! gik writes the same. The builder knows the *layout* rules (which keys exist, chunking of one
//! message per chunk, inline little-endian coordinates, `coordinates` attributes) but nothing
//! about products: the caller names the groups, the variable, the dimensions and attributes in
//! an [`ArraySpec`]. Like zarrs' `ArrayBuilder`, it does no I/O: [`ManifestBuilder::build`]
//! returns a [`Manifest`] and [`write_parquet`](super::write_parquet) is a separate step.
//!
//! A data array has *stacked* dimensions (step, level...: one GRIB2 message per index, chunk
//! size one) followed by *grid* dimensions (latitude, longitude: whole in every chunk). So the chunks of
//! a `(step, latitude, longitude)` array are `[1, Nj, Ni]` and its keys `{i}.0.0`; a
//! `(step, level, latitude, longitude)` array has keys `{i}.{j}.0.0`.
//!
//! Every coordinate chunk is written, even an all-zero one: kerchunk 0.2.10 omits `step/0` when
//! step is 0 and zarr 2 then reads garbage.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;

use serde_json::Value;

use super::model::{
    check_chunk_index, check_dimension_name, check_name, join, ChunkKey, Manifest, MetadataFile,
};
use super::reference::Reference;
use super::spec::{ArraySpec, CoordSpec};
use super::zarr::{Attrs, GribFilter, ZArray, ZAttrs, ZGroup};
use super::ManifestError;

/// Attributes the builder computes itself; an [`ArraySpec`] may not set them.
const RESERVED_ATTRS: [&str; 2] = ["_ARRAY_DIMENSIONS", "coordinates"];

/// Accumulated attributes of one group.
#[derive(Debug, Clone, Default)]
struct GroupState {
    attrs: Attrs,
    /// Coordinate names of the arrays in this group, in first-seen order.
    coordinates: Vec<String>,
}

/// Builds a [`Manifest`] in the `grib_tree` layout from [`ArraySpec`]s. Does no I/O.
///
/// Arrays may share groups (and identical coordinate arrays); adding something that would give
/// an existing key a different value fails with [`ManifestError::ConflictingKey`] and leaves the
/// builder unchanged.
#[derive(Debug, Clone, Default)]
pub struct ManifestBuilder {
    refs: BTreeMap<String, Reference>,
    groups: BTreeMap<String, GroupState>,
    arrays: BTreeSet<String>,
}

impl ManifestBuilder {
    /// An empty builder (its manifest has only the root group).
    pub fn new() -> Self {
        let mut b = Self::default();
        b.groups.insert(String::new(), GroupState::default());
        b
    }

    /// Sets an attribute of the root group (`.zattrs`), replacing an earlier value.
    pub fn set_root_attr(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.groups
            .entry(String::new())
            .or_default()
            .attrs
            .insert(key.into(), value.into());
    }

    /// Adds one data array, its groups and its coordinate arrays.
    pub fn add_array(&mut self, spec: &ArraySpec) -> Result<(), ManifestError> {
        let path = spec.path();
        let invalid = |reason: String| ManifestError::InvalidSpec {
            array: path.clone(),
            reason,
        };
        let dims = check_spec(spec).map_err(invalid)?;
        if self.arrays.contains(&path) {
            return Err(invalid("array added twice".to_owned()));
        }
        let group_path = spec.group_path();

        // Every key this array contributes, computed before touching the builder.
        let mut entries: Vec<(String, Reference)> = Vec::new();
        let mut new_arrays = vec![path.clone()];
        data_array_entries(spec, &path, &mut entries)?;
        for coord in &spec.coords {
            let coord_path = join(&group_path, &coord.name);
            coord_entries(coord, &coord_path, &dims, &mut entries)?;
            new_arrays.push(coord_path);
        }

        let group_updates = self.group_updates(spec)?;
        self.check_conflicts(&entries, &new_arrays, &group_updates)?;

        // Apply.
        self.refs.extend(entries);
        self.arrays.extend(new_arrays);
        self.groups.extend(group_updates);
        Ok(())
    }

    /// The states of the array's groups after adding it: their attributes merged (a
    /// different value for an existing attribute is a conflict), and its coordinates listed
    /// in the innermost group (the root for an array without groups).
    fn group_updates(&self, spec: &ArraySpec) -> Result<Vec<(String, GroupState)>, ManifestError> {
        let mut updates: Vec<(String, GroupState)> = Vec::new();
        let mut prefix = String::new();
        for group in &spec.groups {
            prefix = join(&prefix, &group.name);
            let mut state = self.groups.get(&prefix).cloned().unwrap_or_default();
            for (k, v) in &group.attrs {
                match state.attrs.get(k) {
                    Some(old) if old != v => {
                        return Err(ManifestError::ConflictingKey {
                            key: MetadataFile::ZAttrs.key_for(&prefix),
                        })
                    }
                    _ => {
                        state.attrs.insert(k.clone(), v.clone());
                    }
                }
            }
            updates.push((prefix.clone(), state));
        }
        let mut leaf = match updates.pop() {
            Some(last) => last,
            None => (
                String::new(),
                self.groups.get("").cloned().unwrap_or_default(),
            ),
        };
        for coord in &spec.coords {
            if !leaf.1.coordinates.contains(&coord.name) {
                leaf.1.coordinates.push(coord.name.clone());
            }
        }
        updates.push(leaf);
        Ok(updates)
    }

    /// Whether adding these keys, arrays and groups would clash with what is there: a node
    /// both group and array, or a key given two different values.
    fn check_conflicts(
        &self,
        entries: &[(String, Reference)],
        new_arrays: &[String],
        group_updates: &[(String, GroupState)],
    ) -> Result<(), ManifestError> {
        for path in new_arrays {
            if group_updates.iter().any(|(g, _)| g == path) || self.groups.contains_key(path) {
                return Err(ManifestError::ConflictingKey {
                    key: MetadataFile::ZGroup.key_for(path),
                });
            }
        }
        for (g, _) in group_updates {
            if self.arrays.contains(g) || new_arrays.contains(g) {
                return Err(ManifestError::ConflictingKey {
                    key: MetadataFile::ZArray.key_for(g),
                });
            }
        }
        let mut seen = BTreeSet::new();
        for (key, reference) in entries {
            let clash = self.refs.get(key).is_some_and(|old| old != reference);
            if clash || !seen.insert(key.as_str()) {
                return Err(ManifestError::ConflictingKey { key: key.clone() });
            }
        }
        Ok(())
    }

    /// The finished manifest: everything added plus a `.zgroup` (and `.zattrs` when there are
    /// attributes) for the root and every group.
    pub fn build(self) -> Result<Manifest, ManifestError> {
        let mut refs = self.refs;
        for (path, state) in &self.groups {
            let key = MetadataFile::ZGroup.key_for(path);
            refs.insert(
                key.clone(),
                Reference::metadata_json(&key, &ZGroup::default())?,
            );
            let mut attrs = ZAttrs {
                other: state.attrs.clone(),
                ..ZAttrs::default()
            };
            if !state.coordinates.is_empty() {
                attrs.coordinates = Some(state.coordinates.join(" "));
            }
            if !attrs.is_empty() {
                let key = MetadataFile::ZAttrs.key_for(path);
                refs.insert(key.clone(), Reference::metadata_json(&key, &attrs)?);
            }
        }
        Manifest::from_refs(refs)
    }
}

/// Checks a spec; returns the size of every dimension by name.
fn check_spec(spec: &ArraySpec) -> Result<BTreeMap<&str, u64>, String> {
    for g in &spec.groups {
        check_name(&g.name)?;
        if g.attrs.contains_key("coordinates") {
            return Err(format!(
                "group {:?} sets reserved attribute \"coordinates\"",
                g.name
            ));
        }
    }
    check_name(&spec.name)?;
    let mut dims = BTreeMap::new();
    for dim in spec.all_dims() {
        check_dimension_name(&dim.name)?;
        if dim.size == 0 {
            return Err(format!("dimension {:?} has size 0", dim.name));
        }
        if dims.insert(dim.name.as_str(), dim.size).is_some() {
            return Err(format!("dimension {:?} given twice", dim.name));
        }
    }
    for key in RESERVED_ATTRS {
        if spec.attrs.contains_key(key) {
            return Err(format!("attribute {key:?} is computed by the builder"));
        }
    }

    let stacked: Vec<u64> = spec.stacked_dims.iter().map(|d| d.size).collect();
    let mut indices = BTreeSet::new();
    for chunk in &spec.chunks {
        check_chunk_index(&chunk.index, &stacked)
            .map_err(|reason| format!("stacked dimensions: {reason}"))?;
        if !indices.insert(chunk.index.as_slice()) {
            return Err(format!("chunk index {:?} given twice", chunk.index));
        }
        if let Some(reason) = chunk.range.problem() {
            return Err(format!("chunk {:?}: {reason}", chunk.index));
        }
    }

    let mut names = BTreeSet::from([spec.name.as_str()]);
    for coord in &spec.coords {
        if !names.insert(coord.name.as_str()) {
            return Err(format!(
                "coordinate {:?} clashes with another array",
                coord.name
            ));
        }
        check_coord(coord, &dims)?;
    }
    Ok(dims)
}

/// Checks one coordinate of a spec: its name, reserved attributes, dimensions (known, not
/// repeated) and number of values.
fn check_coord(coord: &CoordSpec, dims: &BTreeMap<&str, u64>) -> Result<(), String> {
    check_name(&coord.name)?;
    if coord.name.contains(char::is_whitespace) {
        return Err(format!(
            "coordinate name {:?} contains whitespace",
            coord.name
        ));
    }
    if coord.attrs.contains_key("_ARRAY_DIMENSIONS") {
        return Err(format!(
            "coordinate {:?} sets reserved attribute \"_ARRAY_DIMENSIONS\"",
            coord.name
        ));
    }
    let mut expected: u64 = 1;
    let mut coord_dims = BTreeSet::new();
    for d in &coord.dims {
        let size = dims
            .get(d.as_str())
            .ok_or_else(|| format!("coordinate {:?} uses unknown dimension {d:?}", coord.name))?;
        if !coord_dims.insert(d.as_str()) {
            return Err(format!(
                "coordinate {:?} repeats dimension {d:?}",
                coord.name
            ));
        }
        expected = expected
            .checked_mul(*size)
            .ok_or_else(|| format!("coordinate {:?} is too large", coord.name))?;
    }
    if coord.values.len() as u64 != expected {
        return Err(format!(
            "coordinate {:?} has {} values, its dimensions hold {expected}",
            coord.name,
            coord.values.len()
        ));
    }
    Ok(())
}

/// `.zarray`, `.zattrs` and chunk references of the data array.
fn data_array_entries(
    spec: &ArraySpec,
    path: &str,
    entries: &mut Vec<(String, Reference)>,
) -> Result<(), ManifestError> {
    let shape: Vec<u64> = spec.all_dims().map(|d| d.size).collect();
    let chunks = chunk_shape(
        path,
        spec.stacked_dims
            .iter()
            .map(|_| 1)
            .chain(spec.grid_dims.iter().map(|d| d.size)),
    )?;
    let zarray = ZArray::new(shape, chunks, spec.dtype)
        .with_filters(Some(vec![GribFilter::new(spec.name.clone(), spec.dtype)]));

    let dim_names: BTreeSet<&str> = spec.all_dims().map(|d| d.name.as_str()).collect();
    let non_dim_coords: Vec<&str> = spec
        .coords
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| !dim_names.contains(n))
        .collect();
    let mut zattrs = ZAttrs::for_array(spec.all_dims().map(|d| d.name.clone()));
    if !non_dim_coords.is_empty() {
        zattrs.coordinates = Some(non_dim_coords.join(" "));
    }
    zattrs.other = spec.attrs.clone();

    push_metadata(entries, path, MetadataFile::ZArray, &zarray)?;
    push_metadata(entries, path, MetadataFile::ZAttrs, &zattrs)?;
    let grid_zeros = spec.grid_dims.iter().map(|_| 0);
    for chunk in &spec.chunks {
        let index = chunk
            .index
            .iter()
            .copied()
            .chain(grid_zeros.clone())
            .collect();
        let key = ChunkKey::new(path, index)?.to_string();
        entries.push((key, Reference::Range(chunk.range.clone())));
    }
    Ok(())
}

/// `.zarray`, `.zattrs` and the single inline chunk of a coordinate array.
pub(super) fn coord_entries(
    coord: &CoordSpec,
    path: &str,
    dims: &BTreeMap<&str, u64>,
    entries: &mut Vec<(String, Reference)>,
) -> Result<(), ManifestError> {
    let shape: Vec<u64> = coord
        .dims
        .iter()
        .map(|d| dims.get(d.as_str()).copied().unwrap_or(0))
        .collect();
    let chunks = chunk_shape(path, shape.iter().copied())?;
    let zarray = ZArray::new(shape, chunks, coord.values.dtype());
    let mut zattrs = ZAttrs::for_array(coord.dims.iter().cloned());
    zattrs.other = coord.attrs.clone();
    push_metadata(entries, path, MetadataFile::ZArray, &zarray)?;
    push_metadata(entries, path, MetadataFile::ZAttrs, &zattrs)?;
    let key = ChunkKey::new(path, vec![0; coord.dims.len()])?.to_string();
    entries.push((key, Reference::inline(coord.values.to_le_bytes())));
    Ok(())
}

fn push_metadata<T: serde::Serialize>(
    entries: &mut Vec<(String, Reference)>,
    path: &str,
    file: MetadataFile,
    doc: &T,
) -> Result<(), ManifestError> {
    let key = file.key_for(path);
    let reference = Reference::metadata_json(&key, doc)?;
    entries.push((key, reference));
    Ok(())
}

/// The `chunks` of the array at `path` from its chunk sizes, which must not be 0.
fn chunk_shape(
    path: &str,
    sizes: impl Iterator<Item = u64>,
) -> Result<Vec<NonZeroU64>, ManifestError> {
    sizes
        .map(|v| {
            NonZeroU64::new(v).ok_or_else(|| ManifestError::InvalidSpec {
                array: path.to_owned(),
                reason: "dimension of size 0".to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::spec::{ChunkSource, CoordValues, Dim, GroupSpec, SECONDS_SINCE_EPOCH};
    use crate::manifest::zarr::{DType, ZArray};
    use crate::manifest::ByteRange;

    const RUN: i64 = 1_584_144_000; // 2020-03-14T00:00:00Z

    fn grid(n: usize, first: f64, step: f64) -> Vec<f64> {
        (0..n).map(|i| first + step * i as f64).collect()
    }

    /// The 2-step `tp` example of the minimal manifest of `docs/MANIFEST_FORMAT.md`.
    fn tp_spec() -> ArraySpec {
        let steps = vec![6, 12];
        ArraySpec::new(
            vec![
                GroupSpec::new("tp").with_attr("name", "Total Precipitation"),
                GroupSpec::new("accum").with_attr("stepType", "accum"),
                GroupSpec::new("surface").with_attr("typeOfLevel", "surface"),
            ],
            "tp",
            DType::Float64,
        )
        .with_stacked_dim("step", 2)
        .with_grid_dim("latitude", 721)
        .with_grid_dim("longitude", 1440)
        .with_chunk(vec![0], ByteRange::new("s3://b/gfs.f006", 0, 371379))
        .with_chunk(vec![1], ByteRange::new("s3://b/gfs.f006", 371379, 371379))
        .with_coord(CoordSpec::time(RUN))
        .with_coord(CoordSpec::step_hours(steps.clone()))
        .with_coord(CoordSpec::valid_time(RUN, &steps).unwrap())
        .with_coord(CoordSpec::latitude(grid(721, 90.0, -0.25)))
        .with_coord(CoordSpec::longitude(grid(1440, 0.0, 0.25)))
        .with_attr("units", "kg m**-2")
        .with_attr("GRIB_paramId", 228228)
    }

    fn text(m: &Manifest, key: &str) -> String {
        m.get(key)
            .unwrap_or_else(|| panic!("missing {key}"))
            .to_value_string()
    }

    #[test]
    fn minimal_manifest_of_interop_md() {
        let mut b = ManifestBuilder::new();
        b.add_array(&tp_spec()).unwrap();
        let m = b.build().unwrap();

        for key in [
            ".zgroup",
            "tp/.zgroup",
            "tp/accum/.zgroup",
            "tp/accum/surface/.zgroup",
        ] {
            assert_eq!(text(&m, key), r#"{"zarr_format":2}"#, "{key}");
        }
        assert_eq!(
            text(&m, "tp/accum/surface/tp/.zarray"),
            r#"{"zarr_format":2,"shape":[2,721,1440],"chunks":[1,721,1440],"dtype":"<f8","compressor":null,"fill_value":"NaN","order":"C","filters":[{"id":"grib","var":"tp","dtype":"float64"}]}"#
        );
        let attrs: ZAttrs = serde_json::from_str(&text(&m, "tp/accum/surface/tp/.zattrs")).unwrap();
        assert_eq!(
            attrs.array_dimensions.as_deref(),
            Some(&["step".to_owned(), "latitude".into(), "longitude".into()][..])
        );
        assert_eq!(attrs.coordinates.as_deref(), Some("time valid_time"));
        assert_eq!(attrs.other["units"], "kg m**-2");
        assert_eq!(
            text(&m, "tp/accum/surface/tp/0.0.0"),
            r#"["s3://b/gfs.f006",0,371379]"#
        );
        assert_eq!(
            text(&m, "tp/accum/surface/tp/1.0.0"),
            r#"["s3://b/gfs.f006",371379,371379]"#
        );
        assert_eq!(
            text(&m, "tp/accum/surface/step/.zarray"),
            r#"{"zarr_format":2,"shape":[2],"chunks":[2],"dtype":"<i8","compressor":null,"fill_value":null,"order":"C","filters":null}"#
        );
        let step_attrs: ZAttrs =
            serde_json::from_str(&text(&m, "tp/accum/surface/step/.zattrs")).unwrap();
        assert_eq!(step_attrs.array_dimensions, Some(vec!["step".to_owned()]));
        assert_eq!(step_attrs.other["units"], "hours");
        assert_eq!(step_attrs.other["dtype"], "timedelta64[ns]");
        assert_eq!(
            text(&m, "tp/accum/surface/step/0"),
            "base64:BgAAAAAAAAAMAAAAAAAAAA=="
        );

        let time: ZArray =
            serde_json::from_str(&text(&m, "tp/accum/surface/time/.zarray")).unwrap();
        assert!(time.shape.is_empty() && time.chunks.is_empty());
        assert_eq!(
            m.get("tp/accum/surface/time/0"),
            Some(&Reference::inline(RUN.to_le_bytes().to_vec()))
        );
        let vt: Vec<u8> = [RUN + 6 * 3600, RUN + 12 * 3600]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            m.get("tp/accum/surface/valid_time/0"),
            Some(&Reference::inline(vt))
        );
        let vt_attrs: ZAttrs =
            serde_json::from_str(&text(&m, "tp/accum/surface/valid_time/.zattrs")).unwrap();
        assert_eq!(vt_attrs.other["units"], SECONDS_SINCE_EPOCH);
        match m.get("tp/accum/surface/latitude/0") {
            Some(Reference::Inline(d)) => {
                assert_eq!(d.len(), 721 * 8);
                assert_eq!(d.get(..8), Some(&90.0f64.to_le_bytes()[..]));
            }
            other => panic!("latitude/0: {other:?}"),
        }
        let lon: ZArray =
            serde_json::from_str(&text(&m, "tp/accum/surface/longitude/.zarray")).unwrap();
        assert_eq!(lon.dtype, DType::Float64);
        let group_attrs: ZAttrs =
            serde_json::from_str(&text(&m, "tp/accum/surface/.zattrs")).unwrap();
        assert_eq!(
            group_attrs.coordinates.as_deref(),
            Some("time step valid_time latitude longitude")
        );
        assert_eq!(group_attrs.other["typeOfLevel"], "surface");

        assert_eq!(m.validate_structure(), vec![]);
        let chunks: Vec<_> = m.chunk_ranges().collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].0.index(), [1, 0, 0]);
        assert_eq!(chunks[1].1.offset, 371379);
    }

    #[test]
    fn zero_step_is_written() {
        let spec = ArraySpec::new(vec![GroupSpec::new("t2m")], "t2m", DType::Float32)
            .with_stacked_dim("step", 1)
            .with_grid_dim("latitude", 2)
            .with_grid_dim("longitude", 3)
            .with_chunk(vec![0], ByteRange::new("/data/f000", 10, 20))
            .with_coord(CoordSpec::step_hours(vec![0]))
            .with_coord(CoordSpec::latitude(vec![0.0, 0.0]))
            .with_coord(CoordSpec::longitude(vec![0.0, 1.0, 2.0]));
        let mut b = ManifestBuilder::new();
        b.add_array(&spec).unwrap();
        let m = b.build().unwrap();
        assert_eq!(text(&m, "t2m/step/0"), "base64:AAAAAAAAAAA=");
        assert!(text(&m, "t2m/t2m/.zarray").contains(r#""dtype":"<f4""#));
        assert!(text(&m, "t2m/t2m/.zarray").contains(r#""dtype":"float32""#));
        // No non-dimension coordinate: no `coordinates` attribute on the variable.
        assert!(!text(&m, "t2m/t2m/.zattrs").contains("coordinates"));
        assert_eq!(m.validate_structure(), vec![]);
    }

    #[test]
    fn level_dimension_layout() {
        let spec = ArraySpec::new(
            vec![
                GroupSpec::new("u"),
                GroupSpec::new("instant"),
                GroupSpec::new("isobaricInhPa"),
            ],
            "u",
            DType::Float32,
        )
        .with_stacked_dim("step", 2)
        .with_stacked_dim("isobaricInhPa", 3)
        .with_grid_dim("latitude", 2)
        .with_grid_dim("longitude", 2)
        .with_chunk(vec![1, 2], ByteRange::new("s3://b/f", 100, 50))
        .with_coord(CoordSpec::time(0))
        .with_coord(CoordSpec::step_hours(vec![3, 6]))
        .with_coord(
            CoordSpec::new(
                "isobaricInhPa",
                ["isobaricInhPa"],
                CoordValues::F64(vec![850.0, 500.0, 250.0]),
            )
            .with_attr("units", "hPa"),
        );
        let mut b = ManifestBuilder::new();
        b.add_array(&spec).unwrap();
        // A second variable sharing the `u/instant` groups.
        let mut other = spec.clone();
        other.groups[2] = GroupSpec::new("heightAboveGround");
        other.stacked_dims[1] = Dim::new("heightAboveGround", 1);
        other.chunks = vec![ChunkSource {
            index: vec![0, 0],
            range: ByteRange::new("s3://b/f", 0, 100),
        }];
        other.coords[2] = CoordSpec::new(
            "heightAboveGround",
            ["heightAboveGround"],
            CoordValues::F64(vec![10.0]),
        );
        b.add_array(&other).unwrap();
        let m = b.build().unwrap();
        assert!(m.contains_key("u/instant/isobaricInhPa/u/1.2.0.0"));
        assert!(m.contains_key("u/instant/heightAboveGround/u/0.0.0.0"));
        assert!(text(&m, "u/instant/isobaricInhPa/u/.zarray")
            .contains(r#""shape":[2,3,2,2],"chunks":[1,1,2,2]"#));
        assert_eq!(m.validate_structure(), vec![]);
    }

    #[test]
    fn bad_specs_are_rejected_without_side_effects() {
        let base = tp_spec();
        let cases: Vec<(&str, ArraySpec)> = vec![
            (
                "index arity",
                base.clone()
                    .with_chunk(vec![0, 0], ByteRange::new("u", 0, 1)),
            ),
            (
                "index range",
                base.clone().with_chunk(vec![2], ByteRange::new("u", 0, 1)),
            ),
            (
                "duplicate",
                base.clone().with_chunk(vec![1], ByteRange::new("u", 0, 1)),
            ),
            ("empty length", {
                let mut s = base.clone();
                s.chunks[0].range.length = 0;
                s
            }),
            ("zero dim", base.clone().with_grid_dim("x", 0)),
            (
                "unknown coord dim",
                base.clone().with_coord(CoordSpec::new(
                    "lev",
                    ["lev"],
                    CoordValues::F64(vec![1.0]),
                )),
            ),
            ("coord length", {
                let mut s = base.clone();
                s.coords[1] = CoordSpec::step_hours(vec![6]);
                s
            }),
            ("reserved attr", base.clone().with_attr("coordinates", "x")),
            ("bad name", {
                let mut s = base.clone();
                s.name = "a/b".into();
                s
            }),
            ("dot name", {
                let mut s = base.clone();
                s.groups[0].name = ".zarray".into();
                s
            }),
        ];
        for (what, spec) in cases {
            let mut b = ManifestBuilder::new();
            let err = b.add_array(&spec).unwrap_err();
            assert!(
                matches!(err, ManifestError::InvalidSpec { .. }),
                "{what}: {err}"
            );
            assert_eq!(b.build().unwrap().len(), 1, "{what}: builder changed");
        }

        let mut b = ManifestBuilder::new();
        b.add_array(&base).unwrap();
        assert!(b.add_array(&base).is_err(), "same array twice");
        // Same group, different coordinate values.
        let mut clash = base.clone();
        clash.name = "tp2".into();
        clash.coords[0] = CoordSpec::time(RUN + 1);
        assert!(matches!(
            b.add_array(&clash),
            Err(ManifestError::ConflictingKey { key }) if key == "tp/accum/surface/time/0"
        ));
        // Conflicting group attribute.
        let mut clash = base.clone();
        clash.groups[1] = GroupSpec::new("accum").with_attr("stepType", "avg");
        clash.groups[2] = GroupSpec::new("other");
        assert!(matches!(
            b.add_array(&clash),
            Err(ManifestError::ConflictingKey { key }) if key == "tp/accum/.zattrs"
        ));
        let before = b.clone().build().unwrap();
        assert_eq!(before, {
            let mut fresh = ManifestBuilder::new();
            fresh.add_array(&base).unwrap();
            fresh.build().unwrap()
        });
    }

    #[test]
    fn valid_time_overflow_is_an_error() {
        assert!(CoordSpec::valid_time(i64::MAX, &[1]).is_err());
    }
}
