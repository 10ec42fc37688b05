//! What a product's data must be credited with, in one wording used everywhere: the catalog,
//! the NetCDF attributes of `gik stream`, the web page and its PNG exports.

/// Label, institution, attribution and licence of one product's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credits {
    /// Short label for titles and selectors (`NOAA GEFS`).
    pub label: &'static str,
    /// Who produces the data (the CF `institution` attribute).
    pub institution: &'static str,
    /// The credit the data licence requires on anything derived from the data.
    pub attribution: &'static str,
    /// The licence, with its address when it has one.
    pub licence: &'static str,
}

impl Credits {
    /// Attribution and licence in one sentence, for pages, images and the catalog.
    pub fn full_text(&self) -> String {
        format!("{}. Licence: {}.", self.attribution, self.licence)
    }
}
