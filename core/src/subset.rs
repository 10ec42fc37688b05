//! Regional subsets: named boxes whose messages are published, cropped, beside the manifests.
//!
//! Why: a map of East Africa needs about 2 % of each global message, yet from the public
//! buckets a reader downloads whole messages. A subset is cut once, where bandwidth is
//! plentiful (`gik build --subset NAME`), and published as GRIB2 with its own member manifests
//! in the same GIK format, so readers keep one data path (manifest → Range request → GRIB2
//! decode) and only the host and the sizes change. The definitions are data ([`SUBSETS`]);
//! the catalog lists what was published per run ([`SubsetEntry`], on
//! [`RunEntry::subsets`](crate::catalog::RunEntry::subsets)).
//!
//! Variables are named product-neutrally by their cfgrib names (`tp`, `t2m`), resolved among
//! each product's default variables; the builder may replace them by names in the product's
//! own vocabulary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::RunEntry;
use crate::geo::BBox;
use crate::icpac::EAST_AFRICA;
use crate::product::{Product, VariableSpec};
use crate::{Error, Result};

/// A named subset: a box and the variables (and optionally steps) it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct SubsetDefinition {
    /// Name (`east-africa`), used on the command line, in the catalog and in paths.
    pub name: &'static str,
    /// The box; messages are cropped to the grid points inside it.
    pub bbox: BBox,
    /// Default variables, by cfgrib name (`tp`, `t2m`).
    pub variables: &'static [&'static str],
    /// Largest step kept, in hours (`None`: every step of the build).
    pub max_step: Option<u32>,
}

/// Every subset gik knows.
pub const SUBSETS: &[SubsetDefinition] = &[SubsetDefinition {
    name: "east-africa",
    bbox: EAST_AFRICA,
    variables: &["tp", "t2m"],
    max_step: None,
}];

/// The subset called `name`.
pub fn subset_by_name(name: &str) -> Result<&'static SubsetDefinition> {
    let wanted = name.trim().to_ascii_lowercase();
    SUBSETS
        .iter()
        .find(|s| s.name == wanted)
        .ok_or_else(|| Error::InvalidArgument {
            what: "subset",
            value: name.to_string(),
            reason: format!(
                "unknown subset; known: {}",
                SUBSETS
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

impl SubsetDefinition {
    /// The subset's variables for `product`: `requests` in the product's vocabulary if given,
    /// else the product's default variables whose cfgrib name is one of [`Self::variables`].
    pub fn variables_for(
        &self,
        product: &dyn Product,
        requests: &[&str],
    ) -> Result<Vec<VariableSpec>> {
        if !requests.is_empty() {
            return requests.iter().map(|r| product.variable(r)).collect();
        }
        let mut out = Vec::new();
        for name in self.variables {
            let found = product
                .default_variables()
                .iter()
                .map(|v| product.variable(v))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .find(|spec| spec.cf_name == *name);
            match found {
                Some(spec) => out.push(spec),
                None => {
                    return Err(Error::Product {
                        product: product.name().to_string(),
                        reason: format!(
                            "subset {}: no default variable with cfgrib name {name}",
                            self.name
                        ),
                    })
                }
            }
        }
        Ok(out)
    }

    /// The steps of `steps` the subset keeps.
    pub fn steps_of(&self, steps: &[u32]) -> Vec<u32> {
        steps
            .iter()
            .copied()
            .filter(|&s| self.max_step.is_none_or(|m| s <= m))
            .collect()
    }
}

/// Folder, relative to the catalog, of one run's subset files:
/// `subsets/{name}/{product}/{YYYYMMDD}/{HH}z`.
pub fn run_folder(subset: &str, product: &str, run: crate::time::RunTime) -> String {
    format!(
        "subsets/{subset}/{product}/{}/{}z",
        run.date_string(),
        run.hour_string()
    )
}

/// One subset of one published run, as the catalog lists it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SubsetEntry {
    /// The box, `S,N,W,E` (as `BBox` parses and prints it).
    pub bbox: String,
    /// Attribution the data licence requires (the GRIB2 files cannot carry it).
    #[serde(default)]
    pub attribution: String,
    /// The data licence.
    #[serde(default)]
    pub licence: String,
    /// GRIB2 file of each member, relative to the catalog (messages concatenated).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Bytes read from the source to cut the subset.
    #[serde(default)]
    pub bytes_read: u64,
    /// Bytes of GRIB2 written.
    #[serde(default)]
    pub bytes_written: u64,
    /// Members, steps, variables and member manifests (relative to the catalog) of the
    /// subset, in the form of a run; the manifests' message URLs are paths relative to the
    /// catalog too.
    pub run: RunEntry,
}

impl SubsetEntry {
    /// The box.
    pub fn bbox(&self) -> Result<BBox> {
        self.bbox
            .parse::<BBox>()
            .map_err(|e| Error::InvalidArgument {
                what: "subset box",
                value: self.bbox.clone(),
                reason: e.to_string(),
            })
    }

    /// Whether the subset holds `bbox` entirely (same longitude convention handled).
    pub fn contains(&self, bbox: &BBox) -> bool {
        self.bbox().is_ok_and(|b| b.contains_box(bbox))
    }

    /// Every path of the destination this subset owns (manifests and GRIB2 files).
    pub fn paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.run
            .manifests
            .values()
            .chain(self.files.values())
            .map(String::as_str)
    }
}

/// The subset of `run` a reader should use for a view of `bbox`: the first (by name) whose box
/// holds `bbox` and that has every one of `members` at every one of `steps` for every one of
/// `variables` (requests, as the catalog names them); `None` when the public bucket must be
/// read. A (member, step) the subset's build reported missing does not count as present.
pub fn choose<'a>(
    run: &'a RunEntry,
    bbox: &BBox,
    members: &[String],
    variables: &[String],
    steps: &[u32],
) -> Option<(&'a str, &'a SubsetEntry)> {
    run.subsets
        .iter()
        .find(|(_, s)| {
            let pairs = s.run.complete_pairs();
            s.contains(bbox)
                && variables
                    .iter()
                    .all(|v| s.run.variables.iter().any(|e| &e.name == v))
                && members.iter().all(|m| {
                    steps
                        .iter()
                        .all(|&step| pairs.contains(&(m.as_str(), step)))
                })
        })
        .map(|(name, s)| (name.as_str(), s))
}

/// Whether a message URL from a subset manifest is relative to the catalog (no scheme and no
/// leading `/`), as the builder writes them.
pub fn is_relative(url: &str) -> bool {
    !url.contains("://") && !url.starts_with('/')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::product::{product_by_name, Hosts};

    #[test]
    fn east_africa_resolves_for_every_product() {
        let s = subset_by_name(" East-Africa ").unwrap();
        assert_eq!(s.bbox, EAST_AFRICA);
        for name in ["gefs", "ecmwf"] {
            let p = product_by_name(name, &Hosts::default()).unwrap();
            let vars = s.variables_for(p.as_ref(), &[]).unwrap();
            let names: Vec<&str> = vars.iter().map(|v| v.cf_name.as_str()).collect();
            assert_eq!(names, ["tp", "t2m"], "{name}");
            assert_eq!(vars[0].request, p.precipitation().variable, "{name}");
        }
        let e = product_by_name("ecmwf", &Hosts::default()).unwrap();
        let chosen = s.variables_for(e.as_ref(), &["2t"]).unwrap();
        assert_eq!(chosen.len(), 1);
        assert!(subset_by_name("west-africa").is_err());
        assert!(s.variables_for(e.as_ref(), &["nonsense:x:y"]).is_err());
    }

    #[test]
    fn a_view_uses_a_subset_only_when_it_has_everything() {
        let subset_run = RunEntry {
            run: "2025080100".parse().unwrap(),
            members: vec!["control".into(), "ens01".into()],
            steps: vec![0, 24, 48],
            variables: vec![crate::catalog::VariableEntry {
                name: "tp".into(),
                ..Default::default()
            }],
            missing: vec![crate::catalog::MissingEntry {
                member: "ens01".into(),
                step: Some(48),
                reason: "404".into(),
            }],
            ..RunEntry::default()
        };
        let mut run = RunEntry::default();
        run.subsets.insert(
            "east-africa".into(),
            SubsetEntry {
                bbox: EAST_AFRICA.to_string(),
                run: subset_run,
                ..SubsetEntry::default()
            },
        );
        let members = ["control".to_string(), "ens01".to_string()];
        let tp = ["tp".to_string()];
        let inside: BBox = "-5,5,30,40".parse().unwrap();
        let chosen = choose(&run, &inside, &members, &tp, &[24]);
        assert_eq!(chosen.map(|(n, _)| n), Some("east-africa"));
        assert!(choose(&run, &EAST_AFRICA, &members, &tp, &[0, 24]).is_some());
        // Outside the box, another variable, a missing pair, a step not cut, another member.
        assert!(choose(&run, &"-5,5,10,40".parse().unwrap(), &members, &tp, &[24]).is_none());
        assert!(choose(&run, &inside, &members, &["2t".to_string()], &[24]).is_none());
        assert!(choose(&run, &inside, &members, &tp, &[48]).is_none());
        assert!(choose(&run, &inside, &members, &tp, &[72]).is_none());
        assert!(choose(&run, &inside, &["ens02".to_string()], &tp, &[24]).is_none());
        assert!(is_relative("subsets/east-africa/x.grib2"));
        assert!(!is_relative("https://host/x.grib2") && !is_relative("/abs/x.grib2"));
    }

    #[test]
    fn entries_round_trip_and_contain_boxes() {
        let entry = SubsetEntry {
            bbox: EAST_AFRICA.to_string(),
            ..Default::default()
        };
        assert!(entry.contains(&"-5,5,30,40".parse().unwrap()));
        assert!(!entry.contains(&"-5,30,30,40".parse().unwrap()));
        let json = serde_json::to_string(&entry).unwrap();
        let back: SubsetEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, entry);
    }
}
