//! The ensemble manifest: the member manifests of one run as one reference set, with a leading
//! `number` dimension.
//!
//! # Why
//!
//! Per-member manifests suit the app (maps appear member by member), but a notebook wants the
//! ensemble as one dataset. kerchunk users build it by hand with `MultiZarrToZarr(...,
//! concat_dims=["number"])`; gik writes it once, at build time, beside the member manifests, in
//! the same `[key, value]` parquet form, so the README's snippet opens it unchanged and gives
//! `tp(number, step, latitude, longitude)`.
//!
//! # Rules
//!
//! * An array whose chunks are messages (it has a filter or a compressor, or any member
//!   references a remote byte range for it) is *stacked*: its shape and chunks gain a leading
//!   `number` dimension of chunk size one, its `_ARRAY_DIMENSIONS` gain `number`, and chunk
//!   `{array}/{i}.0.0` of the member at position `p` of the number axis becomes
//!   `{array}/{p}.{i}.0.0`. A member without a message for a chunk simply has no key there:
//!   zarr reads the fill value (NaN).
//! * Every other key (groups, coordinates, their attributes) must be identical in every member
//!   that has it; a difference is an error naming the key and the two members.
//! * The group of each stacked array gets the coordinate `number` (`int64`, the members'
//!   numbers in ascending order: 0 for the control, then 1…N), as cfgrib names it.
//! * The root attributes are those every member agrees on (so a per-member attribute such as
//!   `member` is dropped), plus the caller's.
//!
//! Like the rest of [`manifest`](super), this knows nothing of products: the caller names the
//! members by number and supplies the root attributes.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;

use super::layout::coord_entries;
use super::model::{join, split_key, Manifest, MetadataFile};
use super::reference::Reference;
use super::spec::{CoordSpec, CoordValues};
use super::zarr::{Attrs, ZArray, ZAttrs};
use super::ManifestError;

/// Name of the member dimension and of its coordinate (cfgrib's name).
pub const NUMBER_DIM: &str = "number";

/// One key of the combined manifest, and which member first wrote it.
struct Entry {
    reference: Reference,
    number: u32,
}

impl Entry {
    /// A key every member shares (metadata, coordinates): filed under member 0.
    fn shared(reference: Reference) -> Self {
        Self {
            reference,
            number: 0,
        }
    }
}

/// Combines member manifests, each given with its member number (0 = control), into one
/// ensemble manifest (see the module docs). `root_attrs` are added to the attributes every
/// member agrees on, replacing any of the same name.
///
/// Fails, naming the key, when members disagree on a key that is not per member, when two
/// members share a number, when there is no member, or when a stacked array already has a
/// `number` dimension or sibling.
pub fn combine_members(
    members: &[(u32, &Manifest)],
    root_attrs: &Attrs,
) -> Result<Manifest, ManifestError> {
    let sorted = by_number(members)?;
    let stacked = stacked_arrays(&sorted)?;
    let mut out = stack_keys(&sorted, &stacked)?;
    add_number_coords(&mut out, &sorted, &stacked)?;
    add_root_attrs(&mut out, &sorted, root_attrs)?;
    let manifest = Manifest::from_refs(out.into_iter().map(|(k, e)| (k, e.reference)))?;
    manifest.ensure_valid()?;
    Ok(manifest)
}

/// The members in ascending number order; fails when there is none or two share a number.
fn by_number<'a>(
    members: &[(u32, &'a Manifest)],
) -> Result<Vec<(u32, &'a Manifest)>, ManifestError> {
    let invalid = |reason: String| ManifestError::InvalidSpec {
        array: NUMBER_DIM.to_owned(),
        reason,
    };
    let mut sorted: Vec<(u32, &Manifest)> = members.to_vec();
    sorted.sort_by_key(|(number, _)| *number);
    if sorted.is_empty() {
        return Err(invalid("no member manifest to combine".to_owned()));
    }
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(invalid(format!("member number {} given twice", w[0].0)));
    }
    Ok(sorted)
}

/// Every key of every member but the root attributes: the `stacked` arrays' metadata and
/// chunks with the leading `number` dimension (the member's position on it), every other key
/// as it is, the same in every member that has it.
fn stack_keys(
    sorted: &[(u32, &Manifest)],
    stacked: &BTreeMap<String, usize>,
) -> Result<BTreeMap<String, Entry>, ManifestError> {
    let count = sorted.len() as u64;
    let mut out: BTreeMap<String, Entry> = BTreeMap::new();
    for (position, (number, manifest)) in sorted.iter().enumerate() {
        for (key, reference) in manifest.iter() {
            if key == ".zattrs" {
                continue;
            }
            let (parent, last) = split_key(key);
            let Some(&ndim) = stacked.get(parent) else {
                insert_same(&mut out, key.clone(), reference.clone(), *number)?;
                continue;
            };
            let (key, reference) = match MetadataFile::of_key(key) {
                Some(MetadataFile::ZArray) => {
                    (key.clone(), stacked_zarray(manifest, parent, count)?)
                }
                Some(MetadataFile::ZAttrs) => (key.clone(), stacked_zattrs(manifest, parent)?),
                Some(_) => (key.clone(), reference.clone()),
                // A 0-d array's only chunk is `0`: its stacked chunk is just the position.
                None if ndim == 0 => (join(parent, &position.to_string()), reference.clone()),
                None => (
                    join(parent, &format!("{position}.{last}")),
                    reference.clone(),
                ),
            };
            insert_same(&mut out, key, reference, *number)?;
        }
    }
    Ok(out)
}

/// The `number` coordinate (the members' numbers) in the group of every stacked array; fails
/// when a group already has a `number` key.
fn add_number_coords(
    out: &mut BTreeMap<String, Entry>,
    sorted: &[(u32, &Manifest)],
    stacked: &BTreeMap<String, usize>,
) -> Result<(), ManifestError> {
    let numbers: Vec<i64> = sorted.iter().map(|(n, _)| i64::from(*n)).collect();
    let coord = CoordSpec::new(NUMBER_DIM, [NUMBER_DIM], CoordValues::I64(numbers))
        .with_attr("long_name", "ensemble member numerical id")
        .with_attr("standard_name", "realization")
        .with_attr("units", "1");
    let dims = BTreeMap::from([(NUMBER_DIM, sorted.len() as u64)]);
    let groups: BTreeSet<&str> = stacked.keys().map(|p| split_key(p).0).collect();
    for group in groups {
        let path = join(group, NUMBER_DIM);
        let prefix = format!("{path}/");
        if let Some((key, _)) = out.range(prefix.clone()..).next() {
            if key.starts_with(&prefix) {
                return Err(ManifestError::ConflictingKey { key: key.clone() });
            }
        }
        let mut entries = Vec::new();
        coord_entries(&coord, &path, &dims, &mut entries)?;
        for (key, reference) in entries {
            out.insert(key, Entry::shared(reference));
        }
    }
    Ok(())
}

/// The root attributes: what every member agrees on, then `root_attrs`.
fn add_root_attrs(
    out: &mut BTreeMap<String, Entry>,
    sorted: &[(u32, &Manifest)],
    root_attrs: &Attrs,
) -> Result<(), ManifestError> {
    let mut attrs = common_root_attrs(sorted)?;
    attrs.extend(root_attrs.iter().map(|(k, v)| (k.clone(), v.clone())));
    let root = ZAttrs {
        other: attrs,
        ..ZAttrs::default()
    };
    if !root.is_empty() {
        let key = MetadataFile::ZAttrs.key_for("");
        let reference = Reference::metadata_json(&key, &root)?;
        out.insert(key, Entry::shared(reference));
    }
    Ok(())
}

/// Paths of the arrays whose chunks are per member, with their number of dimensions.
fn stacked_arrays(members: &[(u32, &Manifest)]) -> Result<BTreeMap<String, usize>, ManifestError> {
    let mut stacked = BTreeMap::new();
    for (_, manifest) in members {
        let remote: BTreeSet<String> = manifest
            .chunk_ranges()
            .map(|(key, _)| key.array().to_owned())
            .collect();
        for path in manifest.array_paths() {
            let Some(zarray) = manifest.zarray(path)? else {
                continue;
            };
            let coded = zarray.compressor.is_some()
                || zarray.filters.as_ref().is_some_and(|f| !f.is_empty());
            if !(coded || remote.contains(path)) {
                continue;
            }
            if path.is_empty() {
                return Err(ManifestError::InvalidSpec {
                    array: String::new(),
                    reason: "a root array cannot gain a number coordinate".to_owned(),
                });
            }
            stacked.insert(path.to_owned(), zarray.shape.len());
        }
    }
    Ok(stacked)
}

/// The `.zarray` of stacked array `path` with a leading `number` dimension of `count`.
fn stacked_zarray(manifest: &Manifest, path: &str, count: u64) -> Result<Reference, ManifestError> {
    let key = MetadataFile::ZArray.key_for(path);
    let mut zarray: ZArray = manifest
        .zarray(path)?
        .ok_or_else(|| ManifestError::MissingKey { key: key.clone() })?;
    zarray.shape.insert(0, count);
    zarray.chunks.insert(0, NonZeroU64::MIN);
    Reference::metadata_json(&key, &zarray)
}

/// The `.zattrs` of stacked array `path` with `number` first in `_ARRAY_DIMENSIONS`.
fn stacked_zattrs(manifest: &Manifest, path: &str) -> Result<Reference, ManifestError> {
    let key = MetadataFile::ZAttrs.key_for(path);
    let bad = |reason: &str| ManifestError::BadValue {
        key: key.clone(),
        reason: reason.to_owned(),
    };
    let mut zattrs = manifest
        .zattrs(path)?
        .ok_or_else(|| ManifestError::MissingKey { key: key.clone() })?;
    let dims = zattrs
        .array_dimensions
        .as_mut()
        .ok_or_else(|| bad("no _ARRAY_DIMENSIONS"))?;
    if dims.iter().any(|d| d == NUMBER_DIM) {
        return Err(bad("the array already has a \"number\" dimension"));
    }
    dims.insert(0, NUMBER_DIM.to_owned());
    Reference::metadata_json(&key, &zattrs)
}

/// Inserts `key`, or checks that the member that wrote it first gave the same value.
fn insert_same(
    out: &mut BTreeMap<String, Entry>,
    key: String,
    reference: Reference,
    number: u32,
) -> Result<(), ManifestError> {
    match out.get(&key) {
        Some(first) if first.reference != reference => Err(ManifestError::BadValue {
            reason: format!(
                "differs between members {} and {number}, and is not per member",
                first.number
            ),
            key,
        }),
        Some(_) => Ok(()),
        None => {
            out.insert(key, Entry { reference, number });
            Ok(())
        }
    }
}

/// The root attributes every member has with the same value.
fn common_root_attrs(members: &[(u32, &Manifest)]) -> Result<Attrs, ManifestError> {
    let mut common: Option<Attrs> = None;
    for (_, manifest) in members {
        let attrs = manifest.zattrs("")?.map(|z| z.other).unwrap_or_default();
        common = Some(match common {
            None => attrs,
            Some(mut c) => {
                c.retain(|k, v| attrs.get(k) == Some(v));
                c
            }
        });
    }
    Ok(common.unwrap_or_default())
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::manifest::{ArraySpec, ByteRange, CoordSpec, DType, GroupSpec, ManifestBuilder};

    /// A member manifest like gik's: `tp/accum/surface/tp(step, latitude, longitude)` with a
    /// chunk per step in `steps_present`, and a root attribute naming the member.
    pub(in crate::manifest) fn member(name: &str, steps_present: &[u64]) -> Manifest {
        let mut b = ManifestBuilder::new();
        b.set_root_attr("product", "gefs");
        b.set_root_attr("member", name);
        let groups = ["tp", "accum", "surface"].map(GroupSpec::new).to_vec();
        let mut spec = ArraySpec::new(groups, "tp", DType::Float32)
            .with_stacked_dim("step", 3)
            .with_grid_dim("latitude", 2)
            .with_grid_dim("longitude", 4)
            .with_coord(CoordSpec::step_hours(vec![6, 12, 18]))
            .with_coord(CoordSpec::latitude(vec![1.0, 0.0]))
            .with_coord(CoordSpec::longitude(vec![0.0, 1.0, 2.0, 3.0]))
            .with_attr("units", "kg m**-2");
        for &i in steps_present {
            spec = spec.with_chunk(
                vec![i],
                ByteRange::new(format!("https://b/{name}.f{i}"), 10 * i, 100),
            );
        }
        b.add_array(&spec).unwrap();
        b.build().unwrap()
    }

    fn combined(members: &[(u32, &Manifest)]) -> Manifest {
        let extra = Attrs::from_iter([("members".to_owned(), serde_json::json!(["a", "b"]))]);
        combine_members(members, &extra).unwrap()
    }

    #[test]
    fn stacked_arrays_gain_a_leading_number_dimension_and_chunk_index() {
        let c0 = member("gec00", &[0, 1, 2]);
        let p3 = member("gep03", &[0, 2]);
        // Given out of order: the number axis is sorted.
        let m = combined(&[(3, &p3), (0, &c0)]);
        let z = m.zarray("tp/accum/surface/tp").unwrap().unwrap();
        assert_eq!(z.shape, vec![2, 3, 2, 4]);
        let chunks: Vec<u64> = z.chunks.iter().map(|c| c.get()).collect();
        assert_eq!(chunks, vec![1, 1, 2, 4]);
        let dims = m
            .zattrs("tp/accum/surface/tp")
            .unwrap()
            .unwrap()
            .array_dimensions
            .unwrap();
        assert_eq!(dims, ["number", "step", "latitude", "longitude"]);
        // Position 0 is the control, position 1 member 3; member 3's step 1 is absent.
        assert_eq!(
            m.get("tp/accum/surface/tp/0.1.0.0"),
            Some(&Reference::range("https://b/gec00.f1", 10, 100))
        );
        assert_eq!(
            m.get("tp/accum/surface/tp/1.2.0.0"),
            Some(&Reference::range("https://b/gep03.f2", 20, 100))
        );
        assert!(m.get("tp/accum/surface/tp/1.1.0.0").is_none());
        assert!(m.get("tp/accum/surface/tp/0.0.0").is_none());
        assert_eq!(m.chunk_ranges().count(), 5);
        // Coordinates are copied once, unchanged.
        assert_eq!(
            m.get("tp/accum/surface/step/0"),
            c0.get("tp/accum/surface/step/0")
        );
        assert!(m.validate_structure().is_empty());
    }

    #[test]
    fn the_number_coordinate_holds_the_member_numbers() {
        let a = member("gec00", &[0]);
        let b = member("gep05", &[0]);
        let m = combined(&[(0, &a), (5, &b)]);
        let z = m.zarray("tp/accum/surface/number").unwrap().unwrap();
        assert_eq!(z.shape, vec![2]);
        assert_eq!(z.dtype, DType::Int64);
        let attrs = m.zattrs("tp/accum/surface/number").unwrap().unwrap();
        assert_eq!(attrs.array_dimensions.unwrap(), ["number"]);
        assert_eq!(attrs.other["standard_name"], "realization");
        let Some(Reference::Inline(bytes)) = m.get("tp/accum/surface/number/0") else {
            panic!("no inline number chunk");
        };
        let numbers: Vec<i64> = bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(numbers, [0, 5]);
    }

    #[test]
    fn root_attributes_keep_what_members_share_plus_the_callers() {
        let a = member("gec00", &[0]);
        let b = member("gep01", &[0]);
        let m = combined(&[(0, &a), (1, &b)]);
        let root = m.zattrs("").unwrap().unwrap().other;
        assert_eq!(root["product"], "gefs");
        assert!(!root.contains_key("member"), "{root:?}");
        assert_eq!(root["members"], serde_json::json!(["a", "b"]));
    }

    #[test]
    fn members_disagreeing_on_a_shared_key_are_an_error_naming_it() {
        let a = member("gec00", &[0]);
        let mut b = member("gep01", &[0]);
        b.insert("tp/accum/surface/step/0", Reference::inline(vec![0u8; 24]))
            .unwrap();
        let err = combine_members(&[(0, &a), (1, &b)], &Attrs::new()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("tp/accum/surface/step/0"), "{text}");
        assert!(text.contains("members 0 and 1"), "{text}");
    }

    #[test]
    fn repeated_numbers_and_no_members_are_errors() {
        let a = member("gec00", &[0]);
        let err = combine_members(&[(2, &a), (2, &a)], &Attrs::new()).unwrap_err();
        assert!(
            err.to_string().contains("member number 2 given twice"),
            "{err}"
        );
        let err = combine_members(&[], &Attrs::new()).unwrap_err();
        assert!(err.to_string().contains("no member"), "{err}");
    }

    #[test]
    fn an_existing_number_array_is_a_conflict() {
        let mut a = member("gec00", &[0]);
        a.insert(
            "tp/accum/surface/number/.zarray",
            Reference::Metadata("{}".into()),
        )
        .unwrap();
        let err = combine_members(&[(0, &a)], &Attrs::new()).unwrap_err();
        assert!(err.to_string().contains("tp/accum/surface/number"), "{err}");
    }

    #[test]
    fn the_combined_manifest_round_trips_through_parquet() {
        let a = member("gec00", &[0, 1]);
        let b = member("gep01", &[2]);
        let m = combined(&[(0, &a), (1, &b)]);
        let bytes = crate::manifest::write_parquet(&m).unwrap();
        assert_eq!(crate::manifest::read_parquet(&bytes).unwrap(), m);
    }
}
