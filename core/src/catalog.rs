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
//!
//! Several builders may publish into one destination at once (the tasks of a backfill). The
//! builder therefore re-reads the catalog and re-applies its run with [`Catalog::publish`] until
//! its conditional write wins; `publish` is the whole merge rule, written once and without I/O:
//! a run replaces the published run of the same name unless that would lose data
//! ([`RunEntry::loses`]), and trimming to `keep` runs never drops the run being published.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::product::Credits;
use crate::time::RunTime;
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
    /// The data licence (name and URL, or the terms).
    #[serde(default)]
    pub licence: String,
    /// Runs, newest first.
    #[serde(default)]
    pub runs: Vec<RunEntry>,
}

/// One published forecast run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    /// Run start, written `YYYYMMDDHH`.
    pub run: RunTime,
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
    /// Path of the ensemble manifest (every member in one, with a leading `number`
    /// dimension), relative to the catalog. Optional: catalogs from before it still parse,
    /// and readers that do not know it ignore it, so the catalog version is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<String>,
    /// Regional subsets published for this run, by subset name (`east-africa`); absent in
    /// catalogs without subsets, ignored by readers that predate them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subsets: BTreeMap<String, crate::subset::SubsetEntry>,
}

impl RunEntry {
    /// Every path at the destination this run owns: its member manifests, its ensemble
    /// manifest and its subsets' files.
    pub fn owned_paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.manifests
            .values()
            .chain(&self.ensemble)
            .map(String::as_str)
            .chain(self.subsets.values().flat_map(|s| s.paths()))
    }

    /// The (member, step) pairs of the run that have everything asked for: members with a
    /// manifest, at steps of the run, without a missing entry for that step or member.
    pub fn complete_pairs(&self) -> BTreeSet<(&str, u32)> {
        let missing: BTreeSet<(&str, Option<u32>)> = self
            .missing
            .iter()
            .map(|m| (m.member.as_str(), m.step))
            .collect();
        self.members
            .iter()
            .filter(|m| !missing.contains(&(m.as_str(), None)))
            .flat_map(|m| self.steps.iter().map(move |&s| (m.as_str(), s)))
            .filter(|(m, s)| !missing.contains(&(*m, Some(*s))))
            .collect()
    }

    /// What replacing `published` by this run would lose, if anything: `None` when this run
    /// is complete (nothing it was asked for is missing: its selection is the user's choice),
    /// or when it has every variable and every complete (member, step) of `published`.
    /// Otherwise a sentence naming the first few losses.
    pub fn loses(&self, published: &RunEntry) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        let names: BTreeSet<&str> = self.variables.iter().map(|v| v.name.as_str()).collect();
        let variables: Vec<&str> = published
            .variables
            .iter()
            .map(|v| v.name.as_str())
            .filter(|v| !names.contains(v))
            .collect();
        let ours = self.complete_pairs();
        let pairs: Vec<String> = published
            .complete_pairs()
            .into_iter()
            .filter(|p| !ours.contains(p))
            .map(|(m, s)| format!("{m} f{s:03}"))
            .collect();
        if variables.is_empty() && pairs.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        if !variables.is_empty() {
            parts.push(format!("variables {}", variables.join(", ")));
        }
        if !pairs.is_empty() {
            let shown: Vec<&str> = pairs.iter().take(5).map(String::as_str).collect();
            let more = pairs.len().saturating_sub(shown.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            parts.push(format!(
                "{} complete member-steps ({}{more})",
                pairs.len(),
                shown.join(", ")
            ));
        }
        Some(format!(
            "the published run {} has {} that this build lacks",
            published.run.compact(),
            parts.join(" and ")
        ))
    }
}

/// What [`Catalog::publish`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Publication {
    /// The run was *not* published: the published run of that name was kept, because the new
    /// one would lose what this says.
    pub kept: Option<String>,
    /// The published run this one replaced.
    pub replaced: Option<RunEntry>,
    /// Runs trimmed to respect `keep` (their manifests can go once the catalog is written).
    pub dropped: Vec<RunEntry>,
    /// The run is older than the newest `keep` runs and stays only because it was just built.
    pub beyond_keep: bool,
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

impl VariableEntry {
    /// The catalog entry of a variable as a product resolved it.
    pub fn of_spec(spec: &crate::product::VariableSpec) -> Self {
        Self {
            name: spec.request.clone(),
            path: spec.zarr_path(),
            array: spec.cf_name.clone(),
            units: spec.units.clone(),
            long_name: spec.long_name.clone(),
        }
    }
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

    /// Publishes `run` of `product` (see the module docs): adds it, or replaces the published
    /// run of the same name unless the new one would lose data that one has and `force` is
    /// false; then keeps at most `keep` runs per product (0: all), newest first, never dropping
    /// `run` itself. The product's label and credit are (re)written either way.
    pub fn publish(
        &mut self,
        product: &str,
        credit: &Credits,
        run: RunEntry,
        keep: usize,
        force: bool,
    ) -> Publication {
        let entry = self.products.entry(product.to_string()).or_default();
        entry.label = credit.label.to_string();
        entry.attribution = credit.attribution.to_string();
        entry.licence = credit.licence.to_string();
        let name = run.run;
        let mut publication = Publication::default();
        match entry.runs.iter().position(|r| r.run == name) {
            Some(i) => {
                let published = &entry.runs[i];
                if let (false, Some(lost)) = (force, run.loses(published)) {
                    publication.kept = Some(lost);
                    return publication;
                }
                publication.replaced = Some(std::mem::replace(&mut entry.runs[i], run));
            }
            None => entry.runs.push(run),
        }
        entry.runs.sort_by_key(|r| std::cmp::Reverse(r.run));
        if keep > 0 && entry.runs.len() > keep {
            let mut tail = entry.runs.split_off(keep);
            if let Some(i) = tail.iter().position(|r| r.run == name) {
                entry.runs.push(tail.remove(i));
                publication.beyond_keep = true;
            }
            publication.dropped = tail;
        }
        publication
    }

    /// The run `run` of `product`, to change in place.
    pub fn run_mut(&mut self, product: &str, run: RunTime) -> Option<&mut RunEntry> {
        self.products
            .get_mut(product)?
            .runs
            .iter_mut()
            .find(|e| e.run == run)
    }

    /// Every path any run of any product owns (manifests, subset manifests and files).
    pub fn manifest_paths(&self) -> BTreeSet<&str> {
        self.products
            .values()
            .flat_map(|p| &p.runs)
            .flat_map(|r| r.owned_paths())
            .collect()
    }

    /// The run `run` of `product`, or its newest run when `run` is `None`.
    pub fn run(&self, product: &str, run: Option<RunTime>) -> Option<&RunEntry> {
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
            run: name.parse().unwrap(),
            members: vec!["gec00".into()],
            steps: vec![0, 3],
            manifests: [("gec00".to_string(), format!("gefs/{name}/gec00.parquet"))].into(),
            ..RunEntry::default()
        }
    }

    fn gefs() -> Credits {
        crate::product::product_by_name("gefs", &Default::default())
            .unwrap()
            .credits()
    }

    fn ecmwf() -> Credits {
        crate::product::product_by_name("ecmwf", &Default::default())
            .unwrap()
            .credits()
    }

    fn names(c: &Catalog) -> Vec<String> {
        c.products["gefs"]
            .runs
            .iter()
            .map(|r| r.run.compact())
            .collect()
    }

    fn missing(member: &str, step: Option<u32>) -> MissingEntry {
        MissingEntry {
            member: member.into(),
            step,
            reason: "503 Slow Down".into(),
        }
    }

    #[test]
    fn the_ensemble_manifest_is_optional_and_counted_as_a_manifest() {
        // A catalog from before the field: parses, with no ensemble.
        let old = br#"{"version":1,"products":{"gefs":{"runs":[{"run":"2025080100",
            "members":["gec00"],"steps":[0],"variables":[],
            "manifests":{"gec00":"gefs/a.parquet"}}]}}}"#;
        let catalog = Catalog::from_json(old).unwrap();
        let entry = catalog.run("gefs", None).unwrap();
        assert_eq!(entry.ensemble, None);
        assert!(!String::from_utf8(catalog.to_json().unwrap())
            .unwrap()
            .contains("ensemble"));
        // With one: round-trips, and is among the paths the catalog owns.
        let mut with = run("2025080100");
        with.ensemble = Some("gefs/e.parquet".into());
        let mut catalog = Catalog::new();
        catalog.publish("gefs", &gefs(), with.clone(), 0, false);
        let back = Catalog::from_json(&catalog.to_json().unwrap()).unwrap();
        assert_eq!(back.run("gefs", None), Some(&with));
        assert!(back.manifest_paths().contains("gefs/e.parquet"));
        assert_eq!(with.owned_paths().count(), 2);
    }

    #[test]
    fn publish_keeps_newest_first_and_trims() {
        let mut c = Catalog::new();
        assert_eq!(
            c.publish("gefs", &gefs(), run("2025080100"), 2, false),
            Publication::default()
        );
        c.publish("gefs", &gefs(), run("2025080200"), 2, false);
        let p = c.publish("gefs", &gefs(), run("2025080106"), 2, false);
        assert_eq!(p.dropped.len(), 1);
        assert_eq!(p.dropped[0].run.compact(), "2025080100");
        assert!(!p.beyond_keep && p.kept.is_none());
        assert_eq!(names(&c), ["2025080200", "2025080106"]);
        // Replacing a run does not duplicate it.
        let p = c.publish("gefs", &gefs(), run("2025080200"), 0, false);
        assert_eq!(p.replaced.unwrap().run.compact(), "2025080200");
        assert_eq!(c.products["gefs"].runs.len(), 2);
        assert_eq!(c.run("gefs", None).unwrap().run.compact(), "2025080200");
        assert!(c.run("ecmwf", None).is_none());
        assert!(c.products["gefs"].licence.contains("NOAA"));
    }

    #[test]
    fn publishing_an_old_run_never_trims_it_away() {
        let mut c = Catalog::new();
        c.publish("gefs", &gefs(), run("2025080200"), 2, false);
        c.publish("gefs", &gefs(), run("2025080206"), 2, false);
        // Older than the newest two: it stays (flagged), and no newer run goes for it.
        let p = c.publish("gefs", &gefs(), run("2025070100"), 2, false);
        assert!(p.beyond_keep);
        assert!(p.dropped.is_empty(), "{:?}", p.dropped);
        assert_eq!(names(&c), ["2025080206", "2025080200", "2025070100"]);
        // The next build trims it.
        let p = c.publish("gefs", &gefs(), run("2025080212"), 2, false);
        let dropped: Vec<String> = p.dropped.iter().map(|r| r.run.compact()).collect();
        assert_eq!(dropped, ["2025080200", "2025070100"]);
        assert_eq!(names(&c), ["2025080212", "2025080206"]);
        assert!(c.manifest_paths().contains("gefs/2025080212/gec00.parquet"));
        assert!(!c.manifest_paths().contains("gefs/2025070100/gec00.parquet"));
    }

    #[test]
    fn an_incomplete_rebuild_does_not_replace_a_more_complete_run() {
        let mut full = run("2025080100");
        full.members = vec!["gec00".into(), "gep01".into()];
        full.variables = vec![VariableEntry {
            name: "TMP:2 m above ground".into(),
            ..VariableEntry::default()
        }];
        let mut c = Catalog::new();
        c.publish("gefs", &gefs(), full.clone(), 0, false);

        // An outage during the rebuild: gep01 has no manifest, its steps are missing.
        let mut outage = full.clone();
        outage.members = vec!["gec00".into()];
        outage.missing = vec![missing("gep01", Some(0)), missing("gep01", Some(3))];
        let p = c.publish("gefs", &gefs(), outage.clone(), 0, false);
        let why = p.kept.expect("the complete run must be kept");
        assert!(
            why.contains("2 complete member-steps") && why.contains("gep01 f003"),
            "{why}"
        );
        assert!(p.replaced.is_none());
        assert_eq!(c.run("gefs", None).unwrap(), &full);

        // --force replaces it anyway.
        let p = c.publish("gefs", &gefs(), outage.clone(), 0, true);
        assert_eq!(p.replaced.as_ref(), Some(&full));
        assert_eq!(c.run("gefs", None).unwrap(), &outage);

        // An incomplete run that covers everything the published one has replaces it.
        let mut better = full.clone();
        better.steps = vec![0, 3, 6];
        better.missing = vec![missing("gep01", Some(6))];
        assert!(better.loses(&outage).is_none());
        assert!(c.publish("gefs", &gefs(), better, 0, false).kept.is_none());

        // A complete run is the user's selection: it replaces whatever was there.
        let mut fewer = full.clone();
        fewer.members = vec!["gec00".into()];
        assert!(fewer.loses(&full).is_none());

        // Losing a variable counts too.
        let mut no_vars = outage.clone();
        no_vars.variables.clear();
        no_vars.missing = vec![missing("gep01", None)];
        let why = no_vars.loses(&full).unwrap();
        assert!(why.contains("variables TMP:2 m above ground"), "{why}");
        assert_eq!(
            no_vars.complete_pairs(),
            [("gec00", 0), ("gec00", 3)].into_iter().collect()
        );
    }

    #[test]
    fn published_credits_are_the_products_own() {
        let mut c = Catalog::new();
        c.publish("ecmwf", &ecmwf(), run("2026051206"), 0, false);
        c.publish("gefs", &gefs(), run("2026051206"), 0, false);
        let e = &c.products["ecmwf"];
        assert_eq!(e.attribution, ecmwf().attribution);
        assert_eq!(e.licence, ecmwf().licence);
        assert_eq!(e.label, ecmwf().label);
        assert_eq!(c.products["gefs"].attribution, gefs().attribution);
        assert_ne!(e.attribution, c.products["gefs"].attribution);
    }

    #[test]
    fn json_round_trip_and_version_check() {
        let mut c = Catalog::new();
        c.publish("ecmwf", &ecmwf(), run("2026051206"), 0, false);
        let bytes = c.to_json().unwrap();
        assert_eq!(Catalog::from_json(&bytes).unwrap(), c);
        // The run is written as it always was: `YYYYMMDDHH` text.
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""run": "2026051206""#), "{text}");
        let bad = text.replace("2026051206", "2026023106");
        assert!(Catalog::from_json(bad.as_bytes()).is_err());
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
