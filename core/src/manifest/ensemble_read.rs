//! The read side of the ensemble manifest: one member's manifest back out of it, the inverse of
//! [`combine_members`](super::combine_members).
//!
//! # Why
//!
//! A reader that wants many members (`gik stream` over a whole ensemble) fetches one file
//! instead of one per member, yet keeps reading members the way it reads a member manifest.
//! [`Ensemble::member`] gives the manifest the member had before it was combined, with two
//! differences: its root attributes are those every member shares, and a variable the member
//! did not have (no message of it was published) comes back as an array with no chunks rather
//! than no array (a reader then finds the variable but no message of it).
//!
//! # Rules (those of [`super::ensemble`], read backwards)
//!
//! * A *stacked* array is one whose `_ARRAY_DIMENSIONS` start with `number` and which is not
//!   the `number` coordinate itself; its leading dimension must have chunks of one. The member
//!   at position `p` of its group's `number` coordinate owns chunks `{array}/{p}.{rest}`
//!   (`{array}/{p}` for an array that was 0-d), which become `{array}/{rest}` (`{array}/0`);
//!   its `.zarray` and `.zattrs` lose the leading dimension.
//! * The `number` coordinates of the stacked arrays' groups are dropped; every other key is
//!   every member's, as it is.
//!
//! Opening ([`Ensemble::new`]) reads every key once; each [`Ensemble::member`] then costs the
//! shared keys plus the member's own chunks, so reading all N members is not N² work.

use std::collections::{BTreeMap, BTreeSet};

use super::ensemble::NUMBER_DIM;
use super::model::{join, split_key, Manifest, MetadataFile};
use super::reference::Reference;
use super::spec::CoordValues;
use super::zarr::DimensionSeparator;
use super::ManifestError;

/// An ensemble manifest opened for reading member by member (see the module docs).
#[derive(Debug, Clone)]
pub struct Ensemble {
    manifest: Manifest,
    /// The keys every member has: everything but the stacked chunks and the `number`
    /// coordinates, with the stacked arrays' metadata already without `number`.
    shared: Manifest,
    /// The stacked arrays, in path order.
    stacked: Vec<Stacked>,
    /// Every member number on a `number` axis, ascending.
    numbers: Vec<u32>,
}

/// One stacked array: its path, the member number at each position of its `number` axis, and
/// whether it had no dimension before stacking (its only chunk was `0`).
#[derive(Debug, Clone)]
struct Stacked {
    path: String,
    numbers: Vec<u32>,
    was_scalar: bool,
}

impl Ensemble {
    /// Opens `manifest` as an ensemble manifest: finds the stacked arrays and the member
    /// numbers of their groups' `number` coordinates.
    ///
    /// Fails, naming the key, when a stacked array's metadata cannot be read, its leading
    /// chunk is not one member, its group has no readable `number` coordinate of the axis'
    /// length, or a number is negative or repeated. A manifest without stacked arrays opens
    /// with no members.
    pub fn new(manifest: Manifest) -> Result<Self, ManifestError> {
        let mut stacked = Vec::new();
        for path in manifest.array_paths() {
            if let Some(s) = stacked_array(&manifest, path)? {
                stacked.push(s);
            }
        }
        let mut numbers: Vec<u32> = stacked.iter().flat_map(|s| s.numbers.clone()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let shared = shared_keys(&manifest, &stacked)?;
        Ok(Self {
            manifest,
            shared,
            stacked,
            numbers,
        })
    }

    /// The combined manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The member numbers (0 = control), ascending.
    pub fn numbers(&self) -> &[u32] {
        &self.numbers
    }

    /// The manifest of member `number`, as it was before it was combined but for its root
    /// attributes (those every member shares, plus the ensemble's own). Fails when no `number`
    /// axis has the member.
    pub fn member(&self, number: u32) -> Result<Manifest, ManifestError> {
        if self.numbers.binary_search(&number).is_err() {
            return Err(ManifestError::NoMember {
                number,
                members: self.numbers.len(),
            });
        }
        let mut out = self.shared.clone();
        for array in &self.stacked {
            // A member missing from one array's axis has no message there (read as NaN).
            let Some(position) = array.numbers.iter().position(|&n| n == number) else {
                continue;
            };
            if array.was_scalar {
                let key = join(&array.path, &position.to_string());
                if let Some(reference) = self.manifest.get(&key) {
                    out.insert(join(&array.path, "0"), reference.clone())?;
                }
                continue;
            }
            let prefix = join(&array.path, &format!("{position}."));
            for (key, reference) in self.manifest.with_prefix(&prefix) {
                out.insert(join(&array.path, &key[prefix.len()..]), reference.clone())?;
            }
        }
        Ok(out)
    }
}

/// `path` as a stacked array, or `None` when it is not one (see the module docs).
fn stacked_array(manifest: &Manifest, path: &str) -> Result<Option<Stacked>, ManifestError> {
    let array = manifest.array(path)?;
    let stacked = array.dimensions().first().is_some_and(|d| d == NUMBER_DIM)
        && split_key(path).1 != NUMBER_DIM;
    if !stacked {
        return Ok(None);
    }
    let bad = |file: MetadataFile, reason: String| ManifestError::BadValue {
        key: file.key_for(path),
        reason,
    };
    let z = array.metadata();
    if z.shape.len() != array.dimensions().len() {
        return Err(bad(
            MetadataFile::ZAttrs,
            format!(
                "_ARRAY_DIMENSIONS {:?} do not match the shape {:?}",
                array.dimensions(),
                z.shape
            ),
        ));
    }
    if z.chunks.first().map(|c| c.get()) != Some(1) {
        return Err(bad(
            MetadataFile::ZArray,
            "the number dimension must have chunks of one member".to_owned(),
        ));
    }
    if z.dimension_separator == Some(DimensionSeparator::Slash) {
        return Err(bad(
            MetadataFile::ZArray,
            "only the \".\" dimension separator is read".to_owned(),
        ));
    }
    let coordinate = array.coordinate(NUMBER_DIM)?;
    let numbers = member_numbers(coordinate.path(), coordinate.values()?)?;
    if numbers.len() as u64 != z.shape[0] {
        return Err(bad(
            MetadataFile::ZArray,
            format!(
                "{} members on the number axis, {} in {}",
                z.shape[0],
                numbers.len(),
                coordinate.path()
            ),
        ));
    }
    Ok(Some(Stacked {
        path: path.to_owned(),
        numbers,
        was_scalar: z.shape.len() == 1,
    }))
}

/// The values of the `number` coordinate at `path` as member numbers: whole, non-negative,
/// each once.
fn member_numbers(path: &str, values: CoordValues) -> Result<Vec<u32>, ManifestError> {
    let bad = |reason: String| ManifestError::BadValue {
        key: path.to_owned(),
        reason,
    };
    let numbers = match values {
        CoordValues::I64(v) => v
            .into_iter()
            .map(|n| u32::try_from(n).map_err(|_| bad(format!("{n} is not a member number"))))
            .collect::<Result<Vec<u32>, _>>()?,
        CoordValues::F64(_) => return Err(bad("member numbers must be integers".to_owned())),
    };
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(bad(format!("member number {} is given twice", w[0])));
    }
    Ok(numbers)
}

/// Every key a member has whatever its number (see [`Ensemble::shared`]).
fn shared_keys(manifest: &Manifest, stacked: &[Stacked]) -> Result<Manifest, ManifestError> {
    let arrays: BTreeMap<&str, &Stacked> = stacked.iter().map(|s| (s.path.as_str(), s)).collect();
    let number_coords: BTreeSet<String> = stacked
        .iter()
        .map(|s| join(split_key(&s.path).0, NUMBER_DIM))
        .collect();
    let mut out = Manifest::new();
    for (key, reference) in manifest.iter() {
        let parent = split_key(key).0;
        if number_coords.contains(parent) {
            continue;
        }
        let reference = match (arrays.get(parent), MetadataFile::of_key(key)) {
            (None, _) | (Some(_), Some(MetadataFile::ZGroup | MetadataFile::ZMetadata)) => {
                reference.clone()
            }
            (Some(_), Some(MetadataFile::ZArray)) => unstacked_zarray(manifest, parent)?,
            (Some(_), Some(MetadataFile::ZAttrs)) => unstacked_zattrs(manifest, parent)?,
            // A stacked chunk: the member's own, added by `Ensemble::member`.
            (Some(_), None) => continue,
        };
        out.insert(key.clone(), reference)?;
    }
    Ok(out)
}

/// The `.zarray` of stacked array `path` without its leading `number` dimension.
fn unstacked_zarray(manifest: &Manifest, path: &str) -> Result<Reference, ManifestError> {
    let key = MetadataFile::ZArray.key_for(path);
    let mut zarray = manifest
        .zarray(path)?
        .ok_or_else(|| ManifestError::MissingKey { key: key.clone() })?;
    zarray.shape.remove(0);
    zarray.chunks.remove(0);
    Reference::metadata_json(&key, &zarray)
}

/// The `.zattrs` of stacked array `path` without `number` in `_ARRAY_DIMENSIONS`.
fn unstacked_zattrs(manifest: &Manifest, path: &str) -> Result<Reference, ManifestError> {
    let key = MetadataFile::ZAttrs.key_for(path);
    let mut zattrs = manifest
        .zattrs(path)?
        .ok_or_else(|| ManifestError::MissingKey { key: key.clone() })?;
    if let Some(dims) = zattrs.array_dimensions.as_mut() {
        dims.remove(0);
    }
    Reference::metadata_json(&key, &zattrs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::manifest::ensemble::tests::member;
    use crate::manifest::{combine_members, Attrs};

    fn without_root_attrs(m: &Manifest) -> Manifest {
        let mut m = m.clone();
        m.remove(".zattrs");
        m
    }

    #[test]
    fn each_member_comes_back_as_it_was_combined() {
        let c0 = member("gec00", &[0, 1, 2]);
        let p3 = member("gep03", &[0, 2]);
        let p7 = member("gep07", &[]);
        let combined = combine_members(&[(7, &p7), (0, &c0), (3, &p3)], &Attrs::new()).unwrap();
        let ensemble = Ensemble::new(combined).unwrap();
        assert_eq!(ensemble.numbers(), [0, 3, 7]);
        for (number, original) in [(0, &c0), (3, &p3), (7, &p7)] {
            let back = ensemble.member(number).unwrap();
            assert_eq!(
                without_root_attrs(&back),
                without_root_attrs(original),
                "member {number}"
            );
            // The root keeps what members share, not the member's own name.
            let root = back.zattrs("").unwrap().unwrap().other;
            assert_eq!(root["product"], "gefs");
            assert!(!root.contains_key("member"));
        }
        let err = ensemble.member(1).unwrap_err().to_string();
        assert!(
            err.contains("no member number 1 among the 3 members"),
            "{err}"
        );
    }

    #[test]
    fn a_scalar_array_gets_its_only_chunk_back() {
        let scalar = |url: &str| {
            Manifest::from_refs([
                (".zgroup", Reference::Metadata(r#"{"zarr_format":2}"#.into())),
                ("g/.zgroup", Reference::Metadata(r#"{"zarr_format":2}"#.into())),
                (
                    "g/v/.zarray",
                    Reference::Metadata(
                        r#"{"chunks":[],"compressor":null,"dtype":"<f4","fill_value":"NaN","filters":[{"id":"grib","var":"v","dtype":"float32"}],"order":"C","shape":[],"zarr_format":2}"#
                            .into(),
                    ),
                ),
                (
                    "g/v/.zattrs",
                    Reference::Metadata(r#"{"_ARRAY_DIMENSIONS":[]}"#.into()),
                ),
                ("g/v/0", Reference::range(url, 0, 10)),
            ])
            .unwrap()
        };
        let (a, b) = (scalar("https://b/a"), scalar("https://b/b"));
        let combined = combine_members(&[(0, &a), (4, &b)], &Attrs::new()).unwrap();
        assert_eq!(
            combined.get("g/v/1"),
            Some(&Reference::range("https://b/b", 0, 10))
        );
        let ensemble = Ensemble::new(combined).unwrap();
        let back = ensemble.member(4).unwrap();
        assert_eq!(
            back.get("g/v/0"),
            Some(&Reference::range("https://b/b", 0, 10))
        );
        assert_eq!(
            back.zarray("g/v").unwrap().unwrap().shape,
            Vec::<u64>::new()
        );
        assert!(
            back.validate_structure().is_empty(),
            "{:?}",
            back.validate_structure()
        );
    }

    #[test]
    fn a_member_manifest_has_no_members_and_keeps_every_key() {
        let m = member("gec00", &[0]);
        let ensemble = Ensemble::new(m.clone()).unwrap();
        assert!(ensemble.numbers().is_empty());
        assert!(ensemble.member(0).is_err());
        assert_eq!(ensemble.manifest(), &m);
    }

    #[test]
    fn a_broken_number_axis_is_an_error_naming_the_key() {
        let a = member("gec00", &[0]);
        let b = member("gep01", &[0]);
        let combined = combine_members(&[(0, &a), (1, &b)], &Attrs::new()).unwrap();
        // A number coordinate with a repeated member.
        let mut twice = combined.clone();
        let bytes: Vec<u8> = [2i64, 2].iter().flat_map(|n| n.to_le_bytes()).collect();
        twice
            .insert("tp/accum/surface/number/0", Reference::inline(bytes))
            .unwrap();
        let err = Ensemble::new(twice).unwrap_err().to_string();
        assert!(
            err.contains("tp/accum/surface/number") && err.contains("given twice"),
            "{err}"
        );
        // No number coordinate at all.
        let mut none = combined.clone();
        for key in [
            "tp/accum/surface/number/.zarray",
            "tp/accum/surface/number/.zattrs",
        ] {
            none.remove(key);
        }
        let err = Ensemble::new(none).unwrap_err().to_string();
        assert!(err.contains("tp/accum/surface/number"), "{err}");
        // A number dimension chunked by two members.
        let mut wide = combined;
        let key = "tp/accum/surface/tp/.zarray";
        let Some(Reference::Metadata(text)) = wide.get(key).cloned() else {
            panic!("no {key}");
        };
        let text = text.replacen("\"chunks\":[1,", "\"chunks\":[2,", 1);
        wide.insert(key, Reference::Metadata(text)).unwrap();
        let err = Ensemble::new(wide).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains("chunks of one"), "{err}");
    }

    #[test]
    fn an_ensemble_read_back_from_parquet_gives_the_same_members() {
        let a = member("gec00", &[0, 1]);
        let b = member("gep01", &[2]);
        let combined = combine_members(&[(0, &a), (1, &b)], &Attrs::new()).unwrap();
        let bytes = crate::manifest::write_parquet(&combined).unwrap();
        let read = Ensemble::new(crate::manifest::read_parquet(&bytes).unwrap()).unwrap();
        assert_eq!(
            without_root_attrs(&read.member(1).unwrap()),
            without_root_attrs(&b)
        );
    }
}
