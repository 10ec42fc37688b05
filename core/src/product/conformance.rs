//! The checks every [`Product`] must pass, run from each product's tests.
//!
//! Like object_store's shared integration suite: a new product gets the whole contract of the
//! trait (see [`Product`]) checked by calling [`check`], so the pipeline written once over
//! `&dyn Product` can rely on it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use crate::index::IndexFormat;
use crate::time::RunTime;

use super::{
    check_request, parse_members, parse_steps, precipitation_plan, product_by_name, reroot_url,
    select_variables, Hosts, Member, Product,
};

fn assert_send_sync<T: Send + Sync + ?Sized>() {}

/// Runs of every hour around the ECMWF oper switch, and a leap day.
fn sample_runs(product: &dyn Product) -> Vec<RunTime> {
    let mut runs = Vec::new();
    for (y, m, d) in [(2026, 5, 11), (2026, 5, 12), (2024, 2, 29)] {
        for &h in product.run_hours() {
            runs.push(RunTime::new(y, m, d, h).unwrap());
        }
    }
    runs
}

/// Checks the [`Product`] contract for `product`; panics with a message naming the product and
/// the broken rule.
pub(crate) fn check(product: &dyn Product) {
    assert_send_sync::<dyn Product>();
    let name = product.name();

    // Name and host.
    assert_eq!(
        product_by_name(name, &Hosts::default()).unwrap().name(),
        name
    );
    assert!(
        !product.host().ends_with('/'),
        "{name}: host keeps a trailing slash"
    );
    assert!(product.host().contains("://"), "{name}: host has no scheme");

    // Public host, run paths, re-rooting on a mirror, credits.
    assert!(
        product.default_host().contains("://") && !product.default_host().ends_with('/'),
        "{name}: default host is not a base URL"
    );
    let public = product_by_name(name, &Hosts::default()).unwrap();
    assert_eq!(
        public.host(),
        product.default_host(),
        "{name}: default host"
    );
    let mirror =
        product_by_name(name, &Hosts::default().with(name, "http://127.0.0.1:1/m/")).unwrap();
    for run in sample_runs(product) {
        let step = product.steps(run)[1];
        let path = product.run_path(run);
        assert!(
            path.starts_with('/') && path.ends_with('/'),
            "{name}: run path {path}"
        );
        for member in [Member::Control, Member::Perturbed(1)] {
            let from_public = public.grib_url(run, member, step).unwrap();
            let from_mirror = mirror.grib_url(run, member, step).unwrap();
            assert!(
                from_public.starts_with(&format!("{}{path}", public.host())),
                "{name}: {from_public} does not start with host and run path {path}"
            );
            assert_eq!(
                reroot_url(product, run, &from_public, "http://127.0.0.1:1/m").as_deref(),
                Some(from_mirror.as_str()),
                "{name}: public URL re-rooted on a mirror"
            );
            assert_eq!(
                reroot_url(product, run, &from_mirror, public.host()).as_deref(),
                Some(from_public.as_str()),
                "{name}: mirror URL re-rooted on another"
            );
            let other = RunTime::from_unix_seconds(run.unix_seconds() + 86_400);
            assert!(
                reroot_url(product, other, &from_mirror, "http://x").is_none(),
                "{name}: a URL of another run was re-rooted"
            );
        }
    }
    let credits = product.credits();
    for (what, text) in [
        ("label", credits.label),
        ("institution", credits.institution),
        ("attribution", credits.attribution),
        ("licence", credits.licence),
    ] {
        assert!(!text.trim().is_empty(), "{name}: empty {what}");
    }
    assert!(credits.full_text().contains(credits.attribution));
    let precipitation = product.variable(product.precipitation().variable).unwrap();
    assert!(
        product.standard_name(&precipitation).is_some(),
        "{name}: precipitation has no CF standard name"
    );

    // Members: control first, unique names that parse back, numbers that parse back.
    let members = product.members();
    assert_eq!(
        members.first(),
        Some(&Member::Control),
        "{name}: control must come first"
    );
    let mut names = HashSet::new();
    for (i, m) in members.iter().enumerate() {
        assert_eq!(
            usize::from(m.number()),
            i,
            "{name}: members out of order at {m:?}"
        );
        let n = m.name_for(product);
        assert!(names.insert(n.clone()), "{name}: duplicate member name {n}");
        assert_eq!(
            Member::parse(product, &n).unwrap(),
            *m,
            "{name}: {n} does not parse back"
        );
        assert_eq!(Member::parse(product, &n.to_uppercase()).unwrap(), *m);
        assert_eq!(
            Member::from_number(product, u32::from(m.number())).unwrap(),
            *m
        );
    }
    let beyond = members.len() as u32;
    assert!(
        Member::from_number(product, beyond).is_err(),
        "{name}: member {beyond} accepted"
    );
    assert!(Member::parse(product, "nobody").is_err());
    assert_eq!(parse_members(product, "all").unwrap(), members);

    for run in sample_runs(product) {
        // Steps: strictly increasing from 0; the step-list parser agrees.
        let steps = product.steps(run);
        assert_eq!(
            steps.first(),
            Some(&0),
            "{name} {run}: steps must start at 0"
        );
        assert!(
            steps.windows(2).all(|w| w[0] < w[1]),
            "{name} {run}: steps not increasing"
        );
        assert_eq!(parse_steps(product, run, "all").unwrap(), steps);
        let last = *steps.last().unwrap();
        assert_eq!(
            parse_steps(product, run, &format!("0-{last}")).unwrap(),
            steps
        );
        assert!(parse_steps(product, run, &(last + 1).to_string()).is_err());

        // URLs: under the host, index beside the GRIB file in the product's index format.
        for &m in &members {
            for step in [0, steps[steps.len() / 2], last] {
                let grib = product.grib_url(run, m, step).unwrap();
                let index = product.index_url(run, m, step).unwrap();
                assert!(grib.starts_with(&format!("{}/", product.host())), "{grib}");
                assert!(
                    index.starts_with(&format!("{}/", product.host())),
                    "{index}"
                );
                assert_ne!(grib, index);
                assert_eq!(
                    IndexFormat::from_name(&index),
                    Some(product.index_format()),
                    "{index}"
                );
                assert_eq!(IndexFormat::from_name(&grib), None, "{grib}");
                assert!(
                    grib.contains(&run.date_string()),
                    "{grib} lacks the run date"
                );
                assert_eq!(grib.matches("//").count(), 1, "{grib}");
                check_request(product, run, m, step).unwrap();
            }
        }
        let ctl = Member::Control;
        assert!(
            product.grib_url(run, ctl, last + 1).is_err(),
            "{name}: step beyond the last"
        );
        assert!(product.index_url(run, ctl, last + 1).is_err());
        if let Some(gap) = (1..last).find(|s| steps.binary_search(s).is_err()) {
            assert!(
                product.grib_url(run, ctl, gap).is_err(),
                "{name}: unpublished step {gap}"
            );
        }
        let nobody = Member::Perturbed(beyond as u16);
        assert!(
            product.grib_url(run, nobody, 0).is_err(),
            "{name}: member {beyond}"
        );

        // Precipitation over the first and the last step interval plans and reads only steps.
        let plan = precipitation_plan(product, run, 0, steps[1]).unwrap();
        assert!(plan.steps().iter().all(|s| steps.contains(s)));
        let n = steps.len();
        let plan = precipitation_plan(product, run, steps[n - 2], last).unwrap();
        assert!(!plan.terms.is_empty());
        assert!(precipitation_plan(product, run, last, last).is_err());
    }

    // Run hours outside the product's are refused.
    let odd_hour = (0..24).find(|h| !product.run_hours().contains(h)).unwrap();
    let odd = RunTime::new(2026, 5, 12, odd_hour).unwrap();
    assert!(
        product.grib_url(odd, Member::Control, 0).is_err(),
        "{name}: run at {odd_hour}z"
    );

    // Variables: every default resolves, round-trips its canonical request, lands in its own
    // manifest array, and the precipitation variable is one of them.
    let defaults = select_variables(product, &[]).unwrap();
    assert_eq!(
        defaults.len(),
        product.default_variables().len(),
        "{name}: duplicate defaults"
    );
    let mut targets = HashSet::new();
    for spec in &defaults {
        assert_eq!(
            product.variable(&spec.request).unwrap(),
            *spec,
            "{}",
            spec.request
        );
        let path = spec.zarr_path();
        assert_eq!(path.split('/').count(), 3, "{path}");
        assert!(
            path.split('/').all(|p| !p.is_empty() && !p.contains(' ')),
            "{path}"
        );
        assert!(
            targets.insert((path.clone(), spec.level.map(f64::to_bits))),
            "{path} twice"
        );
        assert!(
            !spec.units.is_empty() && spec.units != "unknown",
            "{path}: no units"
        );
        assert!(!spec.long_name.is_empty());
        assert!(spec.display.apply(f32::NAN).is_nan());
    }
    let precip = product.variable(product.precipitation().variable).unwrap();
    assert!(
        defaults.contains(&precip),
        "{name}: precipitation is not a default variable"
    );
    assert_eq!(precip.zarr_path(), "tp/accum/surface");
    assert_eq!(precip.display.unit, "mm");
    for bad in ["", " ", ":", "a b:c"] {
        assert!(
            product.variable(bad).is_err(),
            "{name}: variable {bad:?} accepted"
        );
    }
}

/// Checks that `mirror` is `default` with its host replaced by `mirror_host`: every URL starts
/// with the mirror host, the default host appears nowhere, and the paths are unchanged.
pub(crate) fn check_host_override(default: &dyn Product, mirror: &dyn Product, mirror_host: &str) {
    assert_eq!(mirror.host(), mirror_host.trim_end_matches('/'));
    assert_eq!(default.name(), mirror.name());
    for run in sample_runs(default) {
        let steps = default.steps(run);
        for &m in &default.members() {
            for step in [0, *steps.last().unwrap()] {
                let pairs = [
                    (
                        default.grib_url(run, m, step).unwrap(),
                        mirror.grib_url(run, m, step).unwrap(),
                    ),
                    (
                        default.index_url(run, m, step).unwrap(),
                        mirror.index_url(run, m, step).unwrap(),
                    ),
                ];
                for (d, u) in pairs {
                    assert!(u.starts_with(&format!("{mirror_host}/")), "{u}");
                    assert!(
                        !u.contains(default.host()),
                        "{u} contains {}",
                        default.host()
                    );
                    assert!(!u.contains("amazonaws"), "{u}");
                    assert_eq!(d.strip_prefix(default.host()), u.strip_prefix(mirror_host));
                }
            }
        }
    }
}

/// Checks that `product`'s default variables resolve, in order, to these cfgrib group paths,
/// levels and units.
pub(crate) fn check_default_variables(
    product: &dyn Product,
    expected: &[(&str, Option<f64>, &str)],
) {
    let got: Vec<(String, Option<f64>, String)> = super::select_variables(product, &[])
        .unwrap()
        .into_iter()
        .map(|s| (s.zarr_path(), s.level, s.units))
        .collect();
    let expected: Vec<(String, Option<f64>, String)> = expected
        .iter()
        .map(|&(p, l, u)| (p.to_string(), l, u.to_string()))
        .collect();
    assert_eq!(got, expected, "{}", product.name());
}
