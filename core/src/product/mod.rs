//! The forecast products gik knows — NOAA GEFS and ECMWF IFS ENS — behind one trait.
//!
//! Why a trait: the builder, the stream jobs and the app all do the same thing for every product
//! (list members and steps, fetch an index, pick the records of the wanted variables, write a
//! manifest, combine precipitation). Only a handful of facts differ between products: where the
//! files live, how members and variables are named, which steps exist, and how precipitation is
//! accumulated. [`Product`] holds exactly those facts — the plain data in one [`Facts`]
//! constant per product, read by the trait's default methods, and as required methods only what
//! needs code (steps, the variable vocabulary, which index records are a member's); everything
//! else is written once on top of `&dyn Product` in this module ([`records_for`],
//! [`check_request`], [`select_variables`]) and in its submodules ([`parse_steps`],
//! [`Member::parse`], [`precipitation_plan`], [`layout`]). The same pattern as object_store's
//! minimal `ObjectStore` plus shared helpers (`docs/STYLE.md`, "Products behind one trait").
//!
//! Invariants:
//! - The public sources (mirrors with one key layout) are written down once, in [`sources`]
//!   ([`GEFS_DEFAULT_HOST`] and [`ECMWF_DEFAULT_HOST`] are the buckets canonical URLs use);
//!   every host can be overridden (a mirror base URL) through [`Hosts`], and nothing else in
//!   gik hard-codes a URL.
//! - File names and their index contents are data keyed by the run they apply from
//!   ([`layout`]), so a publisher's renaming is one table entry.
//! - A request that the product does not publish (run hour, member, step, variable) is an
//!   [`crate::Error`] naming the product and what is wrong, never a panic.
//! - No I/O: products only *compute* URLs and selections.

mod accumulation;
#[cfg(test)]
pub(crate) mod conformance;
mod credits;
mod ecmwf;
mod facts;
mod gefs;
pub mod layout;
mod member;
mod mirror;
pub mod sources;
mod steps;
mod variable;

pub use accumulation::{
    precipitation_plan, Accumulation, AccumulationKind, AccumulationPlan, Sign, Term,
};
pub use credits::Credits;
pub use ecmwf::{Ecmwf, ECMWF_CONTROL_IN_OPER_FROM};
pub use facts::Facts;
pub use gefs::Gefs;
pub use layout::{explain_unmapped, layout_at, FileLayout, Label, Layout};
pub use member::{parse_members, Member};
pub use mirror::{reroot_url, url_base};
pub use sources::{public_source_of, PublicSource, ECMWF_SOURCES, GEFS_SOURCES};
pub use steps::{describe_steps, parse_steps};
pub use variable::{
    DisplayConversion, IndexMatcher, LevelMatcher, SpecOrigin, StepType, VariableSpec,
};

use std::fmt;

use crate::index::{IndexFormat, IndexRecord};
use crate::time::RunTime;
use crate::{Error, Result};

/// Public bucket holding NOAA GEFS (NODD on AWS). The only place this URL is written.
pub const GEFS_DEFAULT_HOST: &str = "https://noaa-gefs-pds.s3.amazonaws.com";

/// Public bucket holding ECMWF open data (AWS, Frankfurt). The only place this URL is written.
pub const ECMWF_DEFAULT_HOST: &str = "https://ecmwf-forecasts.s3.eu-central-1.amazonaws.com";

/// Builds a product on a host (`None`: its public bucket).
type Constructor = fn(Option<&str>) -> Result<Box<dyn Product>>;

/// Every product gik knows, in the order the app lists them: its name and its constructor.
/// Adding a product is one line here (see `docs/ADDING_A_PRODUCT.md`); [`product_names`],
/// [`product_by_name`], [`all_products`] and [`default_hosts`] follow, and a test runs the
/// conformance suite on every entry.
const PRODUCTS: &[(&str, Constructor)] = &[
    (gefs::NAME, |host| Ok(Box::new(Gefs::new(host)?))),
    (ecmwf::NAME, |host| Ok(Box::new(Ecmwf::new(host)?))),
];

/// Names accepted by [`product_by_name`], in the order the app lists them.
pub fn product_names() -> impl Iterator<Item = &'static str> {
    PRODUCTS.iter().map(|(name, _)| *name)
}

/// Every product, on its public bucket.
pub fn all_products() -> Vec<Box<dyn Product>> {
    PRODUCTS
        .iter()
        .filter_map(|(_, make)| make(None).ok())
        .collect()
}

/// The public bucket of every product ([`Product::default_host`]).
pub fn default_hosts() -> Vec<&'static str> {
    all_products().iter().map(|p| p.default_host()).collect()
}

/// Base URLs replacing products' public buckets, keyed by product name; a product without one
/// reads its public default bucket.
///
/// A mirror is given as its base URL, e.g. `http://127.0.0.1:8080/noaa-gefs-pds`; a trailing
/// slash is tolerated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hosts(std::collections::BTreeMap<String, String>);

impl Hosts {
    /// These hosts with `product`'s (a name as [`product_by_name`] accepts it) set to `base`.
    #[must_use]
    pub fn with(mut self, product: &str, base: impl Into<String>) -> Self {
        self.0
            .insert(product.trim().to_ascii_lowercase(), base.into());
        self
    }

    /// The base URL given for `product`, if any.
    pub fn get(&self, product: &str) -> Option<&str> {
        self.0
            .get(&product.trim().to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// What differs between forecast products. Everything shared is written once on top of
/// `&dyn Product` (see the module docs).
///
/// A product implements five methods: [`facts`](Product::facts) (everything that is plain
/// data, [`Facts`]), [`host`](Product::host), [`steps`](Product::steps),
/// [`variable`](Product::variable) and [`record_belongs_to`](Product::record_belongs_to). The
/// other methods are defaults written once over those.
///
/// Contract for implementations:
/// - [`members`](Product::members) lists the control first, then the perturbed members in order.
/// - [`steps`](Product::steps) is strictly increasing and starts at 0.
/// - [`grib_url`](Product::grib_url) and [`index_url`](Product::index_url) start with
///   [`host`](Product::host) and return an error (via [`check_request`]) for a run hour, member
///   or step the product does not publish.
/// - [`variable`](Product::variable) accepts every entry of
///   [`default_variables`](Product::default_variables) and round-trips its own
///   [`VariableSpec::request`].
///
/// `product::conformance` (tests only) checks all of this for any implementation.
pub trait Product: Send + Sync + fmt::Debug {
    /// What the product is, as data: names, buckets, layouts, members, index format, default
    /// variables, precipitation and credits.
    fn facts(&self) -> &'static Facts;

    /// Base URL of the bucket or mirror, without a trailing slash.
    fn host(&self) -> &str;

    /// Forecast steps (hours after the run) published for `run`, ascending.
    fn steps(&self, run: RunTime) -> Vec<u32>;

    /// Resolves one variable as users of this product write it (`TMP:2 m above ground`; `2t`,
    /// `u:700`).
    fn variable(&self, text: &str) -> Result<VariableSpec>;

    /// Whether an index record (from a file of this product) holds data of `member`.
    fn record_belongs_to(&self, member: Member, record: &IndexRecord) -> bool;

    /// Short lowercase name, as accepted by [`product_by_name`] (`gefs`, `ecmwf`).
    fn name(&self) -> &'static str {
        self.facts().name
    }

    /// Hours of day (UTC) at which runs start.
    fn run_hours(&self) -> &'static [u32] {
        self.facts().run_hours
    }

    /// All members, control first.
    fn members(&self) -> Vec<Member> {
        Member::control_and_perturbed(self.facts().perturbed)
    }

    /// The member's name in manifest file names (`gec00`, `gep01`; `control`, `ens01`).
    fn member_name(&self, member: Member) -> String {
        self.facts().member_name(member)
    }

    /// URL of the GRIB2 file holding `member` at `step` hours of `run`, by the layout in force
    /// for `run` ([`layout`]).
    fn grib_url(&self, run: RunTime, member: Member, step: u32) -> Result<String> {
        layout::file_url(self, run, member, step, false)
    }

    /// URL of the index published beside [`grib_url`](Product::grib_url).
    fn index_url(&self, run: RunTime, member: Member, step: u32) -> Result<String> {
        layout::file_url(self, run, member, step, true)
    }

    /// Format of the files at [`index_url`](Product::index_url).
    fn index_format(&self) -> IndexFormat {
        self.facts().index_format
    }

    /// The variables selected when the user names none, in the product's own vocabulary.
    fn default_variables(&self) -> &'static [&'static str] {
        self.facts().default_variables
    }

    /// How this product's precipitation is accumulated.
    fn precipitation(&self) -> Accumulation {
        self.facts().precipitation
    }

    /// The public bucket the product is published on (what [`host`](Product::host) is without
    /// a mirror).
    fn default_host(&self) -> &'static str {
        self.facts().default_host
    }

    /// The path, right after the host, under which every file of `run` lies
    /// (`/gefs.20250801/00/`, `/20250801/00z/`); URLs are re-rooted on mirrors by it
    /// ([`reroot_url`]).
    fn run_path(&self, run: RunTime) -> String {
        layout::fill_run(self.facts().run_path, run)
    }

    /// Label, institution, attribution and licence of the product's data.
    fn credits(&self) -> Credits {
        self.facts().credits
    }

    /// The public mirrors of the product's files, in the order they are tried; one of them
    /// is [`default_host`](Product::default_host) ([`sources`]).
    fn public_sources(&self) -> &'static [PublicSource] {
        self.facts().public_sources
    }

    /// The product's file layouts, sorted by the run they apply from ([`layout`]);
    /// [`grib_url`](Product::grib_url) and [`index_url`](Product::index_url) follow the one in
    /// force for the run.
    fn layouts(&self) -> &'static [Layout] {
        self.facts().layouts
    }

    /// The CF standard name of one of the product's variables, when one applies.
    fn standard_name(&self, spec: &VariableSpec) -> Option<&'static str> {
        variable::cf_standard_name(spec)
    }
}

/// Builds a product by name (one of [`product_names`], case-insensitive) with the given hosts.
pub fn product_by_name(name: &str, hosts: &Hosts) -> Result<Box<dyn Product>> {
    let wanted = name.trim().to_ascii_lowercase();
    match PRODUCTS.iter().find(|(known, _)| *known == wanted) {
        Some((known, make)) => make(hosts.get(known)),
        None => Err(Error::InvalidArgument {
            what: "product",
            value: name.to_string(),
            reason: format!(
                "expected one of {}",
                product_names().collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// Checks that `product` publishes `member` at `step` hours of `run`; the error names what is not
/// published and what is.
pub fn check_request<P: Product + ?Sized>(
    product: &P,
    run: RunTime,
    member: Member,
    step: u32,
) -> Result<()> {
    let fail = |reason: String| {
        Err(Error::Product {
            product: product.name().to_string(),
            reason,
        })
    };
    if !product.run_hours().contains(&run.hour) {
        let hours: Vec<String> = product
            .run_hours()
            .iter()
            .map(|h| format!("{h:02}z"))
            .collect();
        return fail(format!(
            "no run at {:02}z (runs start at {})",
            run.hour,
            hours.join(", ")
        ));
    }
    if !product.members().contains(&member) {
        let (first, last) = member::member_range(product);
        return fail(format!(
            "no member {member:?} (members are {first} .. {last})"
        ));
    }
    let steps = product.steps(run);
    if steps.binary_search(&step).is_err() {
        return fail(format!(
            "step {step} h is not published for the {run} run (steps: {})",
            describe_steps(&steps)
        ));
    }
    Ok(())
}

/// Resolves user variables; an empty selection means the product's
/// [`default_variables`](Product::default_variables). Duplicates (same zarr path and level) are
/// dropped, keeping the first.
pub fn select_variables(product: &dyn Product, texts: &[&str]) -> Result<Vec<VariableSpec>> {
    let texts: Vec<&str> = if texts.is_empty() {
        product.default_variables().to_vec()
    } else {
        texts.to_vec()
    };
    let mut out: Vec<VariableSpec> = Vec::with_capacity(texts.len());
    for text in texts {
        let spec = product.variable(text)?;
        if !out.iter().any(|s| s.same_target(&spec)) {
            out.push(spec);
        }
    }
    Ok(out)
}

/// The records of `records` (one index file) that hold `member`'s data for one of `variables`,
/// in file order, each with its variable resolved against the record
/// ([`VariableSpec::for_record`]). A record is paired with the first variable that matches it,
/// so no record is read twice.
pub fn records_for(
    product: &dyn Product,
    member: Member,
    variables: &[VariableSpec],
    records: &[IndexRecord],
) -> Vec<(VariableSpec, IndexRecord)> {
    records
        .iter()
        .filter(|record| product.record_belongs_to(member, record))
        .filter_map(|record| {
            variables
                .iter()
                .find(|v| v.matches(record))
                .map(|v| (v.for_record(record), record.clone()))
        })
        .collect()
}

/// Validates and normalises a base URL: trims whitespace and trailing slashes, requires a
/// `scheme://`.
pub(crate) fn normalise_host(product: &str, host: &str) -> Result<String> {
    let trimmed = host.trim().trim_end_matches('/');
    let has_scheme = trimmed
        .split_once("://")
        .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty());
    if !has_scheme {
        return Err(Error::InvalidArgument {
            what: "host",
            value: host.to_string(),
            reason: format!("{product}: expected a base URL such as http://127.0.0.1:8080/bucket"),
        });
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn product_by_name_knows_both_and_rejects_others() {
        let hosts = Hosts::default();
        assert_eq!(product_by_name("gefs", &hosts).unwrap().name(), "gefs");
        assert_eq!(product_by_name(" ECMWF ", &hosts).unwrap().name(), "ecmwf");
        let err = product_by_name("gfs", &hosts).unwrap_err().to_string();
        assert!(err.contains("gfs") && err.contains("gefs, ecmwf"), "{err}");
    }

    /// Every listed product is built under its own name, passes the conformance suite, and
    /// gives its public bucket to [`default_hosts`].
    #[test]
    fn every_listed_product_conforms() {
        let names: Vec<&str> = product_names().collect();
        assert_eq!(names, ["gefs", "ecmwf"]);
        let all = all_products();
        assert_eq!(all.len(), names.len());
        for (product, name) in all.iter().zip(&names) {
            assert_eq!(product.name(), *name);
            conformance::check(product.as_ref());
        }
        assert_eq!(default_hosts(), [GEFS_DEFAULT_HOST, ECMWF_DEFAULT_HOST]);
    }

    #[test]
    fn hosts_are_normalised_or_rejected() {
        assert_eq!(
            normalise_host("gefs", "http://h:1/b/").unwrap(),
            "http://h:1/b"
        );
        assert_eq!(
            normalise_host("gefs", " https://x// ").unwrap(),
            "https://x"
        );
        assert!(normalise_host("gefs", "").is_err());
        assert!(normalise_host("gefs", "127.0.0.1:8080").is_err());
        let hosts = Hosts::default().with("GEFS", "nope");
        assert_eq!(hosts.get("gefs"), Some("nope"));
        assert!(product_by_name("gefs", &hosts).is_err());
        assert!(product_by_name("ecmwf", &hosts).is_ok());
    }

    #[test]
    fn select_variables_defaults_and_dedup() {
        let gefs = Gefs::default();
        let all = select_variables(&gefs, &[]).unwrap();
        assert_eq!(all.len(), gefs.default_variables().len());
        let ecmwf = Ecmwf::default();
        let some = select_variables(&ecmwf, &["u:700", "u@700", "t:500", "t:850"]).unwrap();
        let requests: Vec<&str> = some.iter().map(|s| s.request.as_str()).collect();
        assert_eq!(requests, ["u:700", "t:500", "t:850"]);
        assert!(select_variables(&gefs, &["TMP"]).is_err());
    }
}
