//! `catalog.json`: what the builder has published, for the app and the stream jobs to read.
//!
//! The catalog sits at the root of a publishing destination and lists, per product, the runs
//! that have manifests: their members, steps, variables (with units), what was missing when the
//! run was built, and the path of each member's manifest relative to the catalog. It is written
//! last, after every manifest it names, so a reader never sees a catalog entry whose manifest is
//! absent.
//!
//! Its `version` lets an older reader refuse a catalog from a newer gik with a clear message
//! instead of misreading it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Catalog format version written by this build.
pub const CATALOG_VERSION: u32 = 1;

/// File name of the catalog at the root of a destination.
pub const CATALOG_FILE: &str = "catalog.json";

/// Everything published at one destination.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Format version ([`CATALOG_VERSION`]).
    pub version: u32,
    /// When the catalog was last written (ISO-8601 UTC), informative.
    #[serde(default)]
    pub generated_at: String,
    /// Per product name (`gefs`, `ecmwf`).
    #[serde(default)]
    pub products: BTreeMap<String, ProductEntry>,
}

/// The runs of one product.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductEntry {
    /// Human-readable name, e.g. `NOAA GEFS`.
    #[serde(default)]
    pub label: String,
    /// Attribution the data licence requires.
    #[serde(default)]
    pub attribution: String,
    /// Runs, newest first.
    #[serde(default)]
    pub runs: Vec<RunEntry>,
}

/// One published forecast run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    /// Run start, `YYYYMMDDHH`.
    pub run: String,
    /// Member names (`gec00`, `gep01`..., or `control`, `ens01`...), each with a manifest.
    pub members: Vec<String>,
    /// Forecast steps in hours present in the manifests.
    pub steps: Vec<u32>,
    /// Variables in the manifests.
    pub variables: Vec<VariableEntry>,
    /// Manifest path per member, relative to the catalog.
    pub manifests: BTreeMap<String, String>,
    /// What was asked for but not published when the run was built.
    #[serde(default)]
    pub missing: Vec<MissingEntry>,
    /// Total bytes of GRIB2 messages referenced by the run's manifests.
    #[serde(default)]
    pub bytes_referenced: u64,
}

/// A variable of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VariableEntry {
    /// The name users select it by (`TMP:2 m above ground`, `2t`, `u:700`).
    pub name: String,
    /// Group path in the manifests (`t2m/instant/heightAboveGround`).
    pub path: String,
    /// Array name inside the group (`t2m`).
    pub array: String,
    /// Units of the stored values (`K`, `kg m**-2`, `m`).
    #[serde(default)]
    pub units: String,
    /// Long name.
    #[serde(default)]
    pub long_name: String,
}

/// A member/step that was asked for but missing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MissingEntry {
    /// Member name.
    pub member: String,
    /// Step in hours (None: the whole member).
    pub step: Option<u32>,
    /// Why (`404 Not Found`, `timeout`...).
    pub reason: String,
}

impl Catalog {
    /// An empty catalog of the current version.
    pub fn new() -> Self {
        Self {
            version: CATALOG_VERSION,
            ..Self::default()
        }
    }

    /// Parses a catalog, refusing one written by a newer gik.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: Option<u32>,
        }
        let invalid = |reason: String| Error::InvalidArgument {
            what: "catalog",
            value: CATALOG_FILE.into(),
            reason,
        };
        let probe: VersionOnly =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        match probe.version {
            None => return Err(invalid("no \"version\" field".into())),
            Some(v) if v > CATALOG_VERSION => {
                return Err(invalid(format!(
                    "written by a newer gik (catalog version {v}, this build reads up to \
                     {CATALOG_VERSION}); update gik"
                )))
            }
            Some(_) => {}
        }
        serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))
    }

    /// Pretty JSON text.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::InvalidArgument {
            what: "catalog",
            value: CATALOG_FILE.into(),
            reason: e.to_string(),
        })
    }

    /// Adds or replaces a run of `product`, keeping runs newest first and at most `keep` runs
    /// per product (0: keep all). Returns the runs dropped, so their manifests can be removed.
    pub fn upsert_run(
        &mut self,
        product: &str,
        label: &str,
        attribution: &str,
        run: RunEntry,
        keep: usize,
    ) -> Vec<RunEntry> {
        let entry = self.products.entry(product.to_string()).or_default();
        entry.label = label.to_string();
        entry.attribution = attribution.to_string();
        entry.runs.retain(|r| r.run != run.run);
        entry.runs.push(run);
        entry.runs.sort_by(|a, b| b.run.cmp(&a.run));
        if keep > 0 && entry.runs.len() > keep {
            entry.runs.split_off(keep)
        } else {
            Vec::new()
        }
    }

    /// The run `run` (`YYYYMMDDHH`) of `product`, or its newest run when `run` is `None`.
    pub fn run(&self, product: &str, run: Option<&str>) -> Option<&RunEntry> {
        let runs = &self.products.get(product)?.runs;
        match run {
            Some(r) => runs.iter().find(|e| e.run == r),
            None => runs.first(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str) -> RunEntry {
        RunEntry {
            run: name.into(),
            members: vec!["gec00".into()],
            steps: vec![0, 3],
            manifests: [("gec00".to_string(), format!("gefs/{name}/gec00.parquet"))].into(),
            ..RunEntry::default()
        }
    }

    #[test]
    fn upsert_keeps_newest_first_and_trims() {
        let mut c = Catalog::new();
        assert!(c
            .upsert_run("gefs", "NOAA GEFS", "NOAA", run("2025080100"), 2)
            .is_empty());
        c.upsert_run("gefs", "NOAA GEFS", "NOAA", run("2025080200"), 2);
        let dropped = c.upsert_run("gefs", "NOAA GEFS", "NOAA", run("2025080106"), 2);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].run, "2025080100");
        let runs: Vec<_> = c.products["gefs"]
            .runs
            .iter()
            .map(|r| r.run.as_str())
            .collect();
        assert_eq!(runs, ["2025080200", "2025080106"]);
        // Replacing a run does not duplicate it.
        c.upsert_run("gefs", "NOAA GEFS", "NOAA", run("2025080200"), 0);
        assert_eq!(c.products["gefs"].runs.len(), 2);
        assert_eq!(c.run("gefs", None).unwrap().run, "2025080200");
        assert!(c.run("ecmwf", None).is_none());
    }

    #[test]
    fn json_round_trip_and_version_check() {
        let mut c = Catalog::new();
        c.upsert_run("ecmwf", "ECMWF IFS ENS", "© ECMWF", run("2026051206"), 0);
        let bytes = c.to_json().unwrap();
        assert_eq!(Catalog::from_json(&bytes).unwrap(), c);
        let newer = String::from_utf8(bytes)
            .unwrap()
            .replace("\"version\": 1", "\"version\": 7");
        let err = Catalog::from_json(newer.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("newer gik") && err.contains('7'), "{err}");
        assert!(Catalog::from_json(b"{}").is_err());
        assert!(Catalog::from_json(b"not json").is_err());
    }
}
