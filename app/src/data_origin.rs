//! Where a view's data come from (its data origin): a regional subset published with the
//! catalog, or the public buckets.
//!
//! Why: a subset (`gik build --subset east-africa`) holds a run's messages cropped to a box,
//! a few percent of the bytes; a view inside that box loads in seconds on a slow line. The
//! page uses a subset whenever the view's box lies inside it and the subset has the view's
//! members, variable and steps ([`gik_core::subset::choose`]), and the public buckets
//! otherwise; the status line says which. The data path is the same either way (manifest →
//! Range request → GRIB2 decode); only the manifests' paths and the host change. Subset
//! manifests name their GRIB2 files relative to the catalog ([`message_url`]).
//!
//! Not to be confused with [`crate::sources`], which picks, per message, the mirror of the
//! public buckets a byte range is read from once the origin is the buckets.

use gik_core::catalog::RunEntry;
use gik_core::geo::BBox;
use gik_core::origin::{AllowedUrl, Refused, UrlPolicy};
use gik_core::subset::{choose, is_relative};

use crate::compute::MemberSource;

/// Where a view's messages are read from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum DataOrigin {
    /// The run's own manifests: the public buckets (or their mirror).
    #[default]
    Bucket,
    /// A regional subset published beside the catalog.
    Subset {
        /// Subset name (`east-africa`).
        name: String,
    },
}

impl DataOrigin {
    /// A few words for the status line.
    pub fn describe(&self) -> String {
        match self {
            Self::Bucket => "data from the public buckets".into(),
            Self::Subset { name } => format!("data from the {name} subset"),
        }
    }
}

/// The data origin for a view of `variable` at `steps` over `bbox` for `members` of `run`, and the
/// members' manifests to read from it (the run's own when no subset fits).
pub fn select(
    run: &RunEntry,
    bbox: &BBox,
    members: Vec<MemberSource>,
    variable: &str,
    steps: &[u32],
) -> (DataOrigin, Vec<MemberSource>) {
    let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    let Some((name, subset)) = choose(run, bbox, &names, &[variable.to_string()], steps) else {
        return (DataOrigin::Bucket, members);
    };
    let from_subset: Option<Vec<MemberSource>> = members
        .iter()
        .map(|m| {
            subset.run.manifests.get(&m.name).map(|path| MemberSource {
                name: m.name.clone(),
                manifest: path.clone(),
            })
        })
        .collect();
    match from_subset {
        Some(members) => (
            DataOrigin::Subset {
                name: name.to_string(),
            },
            members,
        ),
        None => (DataOrigin::Bucket, members),
    }
}

/// The URL to fetch for a message reference of a manifest: a path relative to the catalog (a
/// subset's file) is resolved against it; anything else goes through the policy's chunk rules
/// (`s3://` rewriting, the mirror). Either way the result is on an allowed origin.
pub fn message_url(
    policy: &UrlPolicy,
    reference: &str,
    catalog: &AllowedUrl,
) -> Result<AllowedUrl, Refused> {
    if is_relative(reference.trim()) {
        policy.resolve(reference.trim(), Some(catalog))
    } else {
        policy.chunk_url(reference)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use gik_core::catalog::VariableEntry;
    use gik_core::icpac::EAST_AFRICA;
    use gik_core::subset::SubsetEntry;

    fn run() -> RunEntry {
        let manifests = |prefix: &str| {
            ["control", "ens01"]
                .iter()
                .map(|m| (m.to_string(), format!("{prefix}/{m}.parquet")))
                .collect()
        };
        let mut run = RunEntry {
            run: "2025080100".parse().unwrap(),
            members: vec!["control".into(), "ens01".into()],
            steps: vec![0, 24],
            manifests: manifests("ecmwf"),
            ..RunEntry::default()
        };
        let mut cut = run.clone();
        cut.manifests = manifests("subsets/east-africa");
        cut.variables = vec![VariableEntry {
            name: "tp".into(),
            ..VariableEntry::default()
        }];
        run.subsets.insert(
            "east-africa".into(),
            SubsetEntry {
                bbox: EAST_AFRICA.to_string(),
                run: cut,
                ..SubsetEntry::default()
            },
        );
        run
    }

    fn members(run: &RunEntry) -> Vec<MemberSource> {
        run.manifests
            .iter()
            .map(|(name, manifest)| MemberSource {
                name: name.clone(),
                manifest: manifest.clone(),
            })
            .collect()
    }

    #[test]
    fn a_view_inside_the_subset_reads_it_and_says_so() {
        let run = run();
        let (origin, chosen) = select(&run, &EAST_AFRICA, members(&run), "tp", &[0, 24]);
        assert_eq!(origin.describe(), "data from the east-africa subset");
        assert!(chosen
            .iter()
            .all(|m| m.manifest.starts_with("subsets/east-africa/")));
        // Outside the box, or a variable the subset does not hold: the buckets.
        let wide: BBox = "-20,23,21,53".parse().unwrap();
        let (origin, chosen) = select(&run, &wide, members(&run), "tp", &[24]);
        assert_eq!(origin, DataOrigin::Bucket);
        assert!(chosen.iter().all(|m| m.manifest.starts_with("ecmwf/")));
        let (origin, _) = select(&run, &EAST_AFRICA, members(&run), "2t", &[24]);
        assert_eq!(origin.describe(), "data from the public buckets");
    }

    #[test]
    fn relative_message_references_resolve_against_the_catalog() {
        let policy = UrlPolicy::new("https://site.example/app/", &[], None).unwrap();
        let catalog = policy.resolve("data/catalog.json", None).unwrap();
        let url = message_url(&policy, "subsets/east-africa/x.grib2", &catalog).unwrap();
        assert_eq!(
            url.to_string(),
            "https://site.example/app/data/subsets/east-africa/x.grib2"
        );
        assert!(message_url(&policy, "https://elsewhere.example/x.grib2", &catalog).is_err());
        assert!(message_url(&policy, "//elsewhere.example/x.grib2", &catalog).is_err());
    }
}
