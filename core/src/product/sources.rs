//! The public sources of each product: mirrors with the same key layout, in the order they
//! are tried.
//!
//! Why data: the same files are published on several mirrors that fail in different ways (the
//! AWS ECMWF bucket answers `503 SlowDown` and throttles cloud IP ranges, NOMADS blocks heavy
//! users and keeps only recent days, `data.ecmwf.int` limits connections). Which mirrors exist,
//! their order and what is known about each is written here once; the builder, `gik doctor`
//! and the app's default configuration read it. A source is a base URL: a file's URL is the
//! base followed by the product's layout path ([`super::layout`]), identical on every source.

/// One public mirror of a product's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicSource {
    /// Base URL, without a trailing slash.
    pub base: &'static str,
    /// What is known about it (limits, retention), for `gik doctor` and the docs.
    pub note: &'static str,
}

/// NOAA GEFS, in the order tried.
pub const GEFS_SOURCES: &[PublicSource] = &[
    PublicSource {
        base: super::GEFS_DEFAULT_HOST,
        note: "NOAA Open Data Dissemination on AWS",
    },
    PublicSource {
        base: "https://storage.googleapis.com/gfs-ensemble-forecast-system",
        note: "NODD on Google Cloud",
    },
    PublicSource {
        base: "https://noaagefs.blob.core.windows.net/gefs",
        note: "NODD on Azure (may need a SAS token)",
    },
    PublicSource {
        base: "https://nomads.ncep.noaa.gov/pub/data/nccf/com/gens/prod",
        note: "NOMADS: recent days only, rate-limited",
    },
];

/// ECMWF open data (IFS ENS), in the order tried.
pub const ECMWF_SOURCES: &[PublicSource] = &[
    PublicSource {
        base: "https://storage.googleapis.com/ecmwf-open-data",
        note: "ECMWF open data on Google Cloud",
    },
    PublicSource {
        base: super::ECMWF_DEFAULT_HOST,
        note: "ECMWF open data on AWS (503 SlowDown, throttles cloud IP ranges)",
    },
    PublicSource {
        base: "https://data.ecmwf.int/forecasts",
        note: "ECMWF's own server: limited connections",
    },
];

/// The base URLs of `sources`, in order.
pub fn bases(sources: &[PublicSource]) -> Vec<String> {
    sources.iter().map(|s| s.base.to_string()).collect()
}

/// The public source of `sources` that `url` starts with (the longest base, at a path
/// boundary), if any.
pub fn public_source_of(sources: &'static [PublicSource], url: &str) -> Option<&'static str> {
    sources
        .iter()
        .map(|s| s.base)
        .filter(|base| {
            url.strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|base| base.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_https_without_trailing_slash_and_distinct() {
        for list in [GEFS_SOURCES, ECMWF_SOURCES] {
            for s in list {
                assert!(
                    s.base.starts_with("https://") && !s.base.ends_with('/'),
                    "{s:?}"
                );
                assert!(!s.note.is_empty());
                assert_eq!(list.iter().filter(|o| o.base == s.base).count(), 1);
            }
        }
        assert_eq!(GEFS_SOURCES[0].base, super::super::GEFS_DEFAULT_HOST);
        assert!(ECMWF_SOURCES
            .iter()
            .any(|s| s.base == super::super::ECMWF_DEFAULT_HOST));
    }

    #[test]
    fn urls_are_matched_to_their_source_at_a_path_boundary() {
        let url = "https://storage.googleapis.com/ecmwf-open-data/20250801/00z/x.grib2";
        assert_eq!(
            public_source_of(ECMWF_SOURCES, url),
            Some("https://storage.googleapis.com/ecmwf-open-data")
        );
        assert_eq!(
            public_source_of(
                ECMWF_SOURCES,
                "https://storage.googleapis.com/ecmwf-open-data2/x"
            ),
            None
        );
        assert_eq!(public_source_of(GEFS_SOURCES, url), None);
    }
}
