//! Re-rooting a product's message URLs on a mirror.
//!
//! Why here: manifests record the URL each message was indexed from (the public bucket, or the
//! mirror the builder read). A reader (`gik stream --source`, the app's `mirror`) may want the
//! same bytes from another mirror laid out like the bucket. Only the product knows where the
//! bucket part of its URLs ends, so the rule is written once over `&dyn Product`:
//! a URL starting with one of the product's public sources ([`Product::public_sources`]) has
//! that base replaced; otherwise everything
//! before the run's path ([`Product::run_path`], `/20250801/00z/` for ECMWF,
//! `/gefs.20250801/00/` for GEFS) is the base that is replaced.

use crate::time::RunTime;

use super::Product;

/// The base (scheme, host and bucket prefix) of `url`, if `url` is a message URL of `run`.
pub fn url_base<'a>(product: &dyn Product, run: RunTime, url: &'a str) -> Option<&'a str> {
    if let Some(public) = super::public_source_of(product.public_sources(), url) {
        return url.get(..public.len());
    }
    url.find(&product.run_path(run)).and_then(|i| url.get(..i))
}

/// `url` with its base replaced by `base` (a mirror, trailing slash tolerated); `None` when
/// `url` is not a message URL of `run`.
pub fn reroot_url(product: &dyn Product, run: RunTime, url: &str, base: &str) -> Option<String> {
    let prefix = url_base(product, run, url)?;
    let rest = url.get(prefix.len()..)?;
    Some(format!("{}{rest}", base.trim_end_matches('/')))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::product::{Ecmwf, Gefs};

    fn run() -> RunTime {
        RunTime::parse("20250801", "00").unwrap()
    }

    #[test]
    fn url_bases_are_found_and_replaced() {
        let e = Ecmwf::default();
        let public = "https://ecmwf-forecasts.s3.eu-central-1.amazonaws.com/20250801/00z/ifs/0p25/enfo/20250801000000-36h-enfo-ef.grib2";
        assert_eq!(
            reroot_url(&e, run(), public, "http://127.0.0.1:8765/ecmwf-forecasts/").unwrap(),
            "http://127.0.0.1:8765/ecmwf-forecasts/20250801/00z/ifs/0p25/enfo/20250801000000-36h-enfo-ef.grib2"
        );
        let mirror = "http://10.1.2.3:9000/bucket/20250801/00z/ifs/0p25/enfo/x.grib2";
        assert_eq!(
            url_base(&e, run(), mirror),
            Some("http://10.1.2.3:9000/bucket")
        );
        assert_eq!(
            reroot_url(&e, run(), mirror, "https://m.example/e").unwrap(),
            "https://m.example/e/20250801/00z/ifs/0p25/enfo/x.grib2"
        );
        assert!(reroot_url(&e, run(), "http://h/20250802/00z/x", "http://m").is_none());
        let g = Gefs::default();
        let url = "https://noaa-gefs-pds.s3.amazonaws.com/gefs.20250801/00/atmos/pgrb2sp25/gep01.t00z.pgrb2s.0p25.f024";
        assert_eq!(
            url_base(&g, run(), url),
            Some("https://noaa-gefs-pds.s3.amazonaws.com")
        );
        assert_eq!(
            reroot_url(
                &g,
                run(),
                "http://127.0.0.1:1/noaa-gefs-pds/gefs.20250801/00/atmos/f",
                "http://m:2/b"
            )
            .unwrap(),
            "http://m:2/b/gefs.20250801/00/atmos/f"
        );
    }
}
