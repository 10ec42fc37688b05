//! What a product is, written as data: one [`Facts`] constant per product.
//!
//! Why a struct: most of what differs between products is a fact, not behaviour — a name, a
//! bucket, run hours, a member count and naming, file layouts, an index format, default
//! variables, how precipitation accumulates, credits. The [`Product`](super::Product) trait's
//! default methods read them from [`Product::facts`](super::Product::facts), so a product's
//! file holds its facts plus the few methods that need code (steps, its variable vocabulary,
//! which index records are a member's), and nothing is written twice.

use crate::index::IndexFormat;
use crate::{Error, Result};

use super::{normalise_host, Accumulation, Credits, Layout, Member, PublicSource};

/// The facts of one product (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Facts {
    /// Short lowercase name, as [`product_by_name`](super::product_by_name) accepts it.
    pub name: &'static str,
    /// What a variable of this product is called in error messages (`GEFS variable`).
    pub variable_noun: &'static str,
    /// The public bucket canonical URLs use; one of `public_sources`.
    pub default_host: &'static str,
    /// The public mirrors of the product's files, in the order they are tried
    /// ([`super::sources`]).
    pub public_sources: &'static [PublicSource],
    /// Template of the path, right after the host, under which every file of a run lies
    /// (`/gefs.{date}/{hh}/`), with the placeholders of [`super::layout`]; file layouts' paths
    /// continue it.
    pub run_path: &'static str,
    /// The file layouts, sorted by the run they apply from ([`super::layout`]).
    pub layouts: &'static [Layout],
    /// Hours of day (UTC) at which runs start.
    pub run_hours: &'static [u32],
    /// Number of perturbed members (numbered from 1; the control is 0).
    pub perturbed: u16,
    /// The control's name in manifest file names (`gec00`, `control`).
    pub control_name: &'static str,
    /// Prefix of a perturbed member's name, followed by its number on two digits (`gep`, `ens`).
    pub perturbed_prefix: &'static str,
    /// Format of the product's index files.
    pub index_format: IndexFormat,
    /// The variables selected when the user names none, in the product's own vocabulary.
    pub default_variables: &'static [&'static str],
    /// How the product's precipitation is accumulated.
    pub precipitation: Accumulation,
    /// Label, institution, attribution and licence of the product's data.
    pub credits: Credits,
}

impl Facts {
    /// The member's name in manifest file names (`gec00`, `gep07`; `control`, `ens07`).
    pub fn member_name(&self, member: Member) -> String {
        match member {
            Member::Control => self.control_name.to_string(),
            Member::Perturbed(n) => format!("{}{n:02}", self.perturbed_prefix),
        }
    }

    /// The base URL a product is read from: `mirror` normalised (trailing slash tolerated), or
    /// the public bucket when `None`; an error for a mirror that is not a base URL.
    pub fn host(&self, mirror: Option<&str>) -> Result<String> {
        match mirror {
            Some(base) => normalise_host(self.name, base),
            None => Ok(self.default_host.to_string()),
        }
    }

    /// The error for a variable request `text` this product does not accept, saying why.
    pub(crate) fn invalid_variable(&self, text: &str, reason: String) -> Error {
        Error::InvalidArgument {
            what: self.variable_noun,
            value: text.to_string(),
            reason,
        }
    }
}
