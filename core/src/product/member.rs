//! Ensemble members, named the way each product names them.
//!
//! Both products number their members the same way (control 0, perturbed 1..N) but name them
//! differently in our manifest file names (`gec00`/`gep07` for GEFS, `control`/`ens07` for
//! ECMWF). [`Member`] is the product-neutral value; the product supplies the name
//! ([`Product::member_name`]) and parsing is written once here on top of it.

use crate::index::{EnsembleMember, IndexRecord};
use crate::{Error, Result};

use super::Product;

/// One member of an ensemble, independent of product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Member {
    /// The unperturbed control forecast (number 0).
    Control,
    /// Perturbed member `n` (1-based).
    Perturbed(u16),
}

impl Member {
    /// The control, then perturbed members 1 to `perturbed`: the members of a product
    /// ([`Product::members`]).
    pub fn control_and_perturbed(perturbed: u16) -> Vec<Self> {
        std::iter::once(Self::Control)
            .chain((1..=perturbed).map(Self::Perturbed))
            .collect()
    }

    /// The member's number: 0 for the control, `n` for perturbed member `n`.
    pub fn number(self) -> u16 {
        match self {
            Self::Control => 0,
            Self::Perturbed(n) => n,
        }
    }

    /// The member numbered `n` (0 = control) if `product` has it.
    pub fn from_number(product: &dyn Product, n: u32) -> Result<Self> {
        let member = match u16::try_from(n) {
            Ok(0) => Self::Control,
            Ok(n) => Self::Perturbed(n),
            Err(_) => Self::Perturbed(u16::MAX),
        };
        if product.members().contains(&member) {
            Ok(member)
        } else {
            Err(invalid(product, &n.to_string()))
        }
    }

    /// Parses a member as named in manifests (`gec00`, `gep07`; `control`, `ens07`), as a number
    /// (`0` = control, `7`), or as `control` for any product. Case-insensitive.
    pub fn parse(product: &dyn Product, text: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            let n = t.parse::<u32>().map_err(|_| invalid(product, text))?;
            return Self::from_number(product, n);
        }
        if t == "control" {
            return Ok(Self::Control);
        }
        product
            .members()
            .into_iter()
            .find(|m| product.member_name(*m).eq_ignore_ascii_case(&t))
            .ok_or_else(|| invalid(product, text))
    }

    /// The member's name in `product`'s manifests (see [`Product::member_name`]).
    pub fn name_for(self, product: &dyn Product) -> String {
        product.member_name(self)
    }

    /// Whether an index record is labelled as this member (control ↔ `ENS=low-res ctl`/`cf`,
    /// perturbed `n` ↔ `ENS=+n`/`pf` number `n`). Products extend this in
    /// [`Product::record_belongs_to`] for files whose records carry no member label.
    pub fn matches(self, record: &IndexRecord) -> bool {
        match (self, &record.member) {
            (Self::Control, Some(EnsembleMember::Control)) => true,
            (Self::Perturbed(n), Some(EnsembleMember::Perturbed(m))) => n == *m,
            _ => false,
        }
    }
}

/// Parses a member list: `all` (or empty), or comma-separated items, each a member
/// ([`Member::parse`]) or a range `A-B` of numbers or names (`1-10`, `gep01-gep05`). Returns the members sorted, without
/// duplicates.
pub fn parse_members(product: &dyn Product, text: &str) -> Result<Vec<Member>> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("all") {
        return Ok(product.members());
    }
    let mut out = Vec::new();
    for item in t.split(',').map(str::trim) {
        // A range's ends are numbers or member names (`1-5`, `gep01-gep05`).
        let end = |t: &str| match t.trim().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => Member::parse(product, t)
                .ok()
                .map(|m| u32::from(m.number())),
        };
        let range = item
            .split_once('-')
            .and_then(|(a, b)| Some((end(a)?, end(b)?)));
        match range {
            Some((a, b)) if a <= b => {
                for n in a..=b {
                    out.push(Member::from_number(product, n)?);
                }
            }
            Some(_) => {
                return Err(Error::InvalidArgument {
                    what: "member list",
                    value: text.to_string(),
                    reason: format!("range {item} is reversed"),
                })
            }
            None => out.push(Member::parse(product, item)?),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Names of the product's first and last members (`gec00`, `gep30`), for error messages.
pub(crate) fn member_range<P: Product + ?Sized>(product: &P) -> (String, String) {
    let members = product.members();
    let name = |m: Option<&Member>| m.map(|m| product.member_name(*m)).unwrap_or_default();
    (name(members.first()), name(members.last()))
}

fn invalid(product: &dyn Product, text: &str) -> Error {
    let (first, last) = member_range(product);
    let max = product
        .members()
        .last()
        .map(|m| m.number())
        .unwrap_or_default();
    Error::InvalidArgument {
        what: "member",
        value: text.to_string(),
        reason: format!(
            "{} members are {first} .. {last}, or numbers 0 (control) to {max}",
            product.name()
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::index::{ForecastTime, Level};
    use crate::product::{Ecmwf, Gefs};

    fn record(member: Option<EnsembleMember>) -> IndexRecord {
        IndexRecord {
            variable: "TMP".into(),
            level: Level {
                type_of_level: "surface".into(),
                value: None,
                second_value: None,
                label: "surface".into(),
            },
            time: ForecastTime::hours(3),
            member,
            reference_time: None,
            offset: 0,
            length: Some(1),
            line: 1,
            sub_field: None,
        }
    }

    #[test]
    fn names_and_numbers() {
        let g = Gefs::default();
        let e = Ecmwf::default();
        assert_eq!(Member::Control.name_for(&g), "gec00");
        assert_eq!(Member::Perturbed(7).name_for(&g), "gep07");
        assert_eq!(Member::Control.name_for(&e), "control");
        assert_eq!(Member::Perturbed(50).name_for(&e), "ens50");
        assert_eq!(Member::parse(&g, "GEP30").unwrap(), Member::Perturbed(30));
        assert_eq!(Member::parse(&g, "control").unwrap(), Member::Control);
        assert_eq!(Member::parse(&e, "0").unwrap(), Member::Control);
        assert_eq!(Member::parse(&e, "ens07").unwrap(), Member::Perturbed(7));
        assert!(Member::parse(&g, "gep31").is_err());
        assert!(Member::parse(&g, "31").is_err());
        assert!(Member::parse(&e, "ens51").is_err());
        assert!(Member::parse(&e, "gep01").is_err());
        assert!(Member::from_number(&e, 70_000).is_err());
        let err = Member::parse(&e, "x").unwrap_err().to_string();
        assert!(
            err.contains("control .. ens50") && err.contains("0 (control) to 50"),
            "{err}"
        );
    }

    #[test]
    fn member_lists() {
        let e = Ecmwf::default();
        assert_eq!(parse_members(&e, "all").unwrap().len(), 51);
        assert_eq!(
            parse_members(&e, "ens03, control,1-2,ens02").unwrap(),
            [
                Member::Control,
                Member::Perturbed(1),
                Member::Perturbed(2),
                Member::Perturbed(3)
            ]
        );
        assert!(parse_members(&e, "5-2").is_err());
        let g = Gefs::default();
        let names: Vec<String> = parse_members(&g, "gec00,gep01-gep05")
            .unwrap()
            .into_iter()
            .map(|m| m.name_for(&g))
            .collect();
        assert_eq!(
            names,
            ["gec00", "gep01", "gep02", "gep03", "gep04", "gep05"]
        );
        assert_eq!(parse_members(&e, "control-ens02").unwrap().len(), 3);
        assert!(parse_members(&g, "gep05-gep01").is_err());
        assert!(parse_members(&g, "gep01-ens05").is_err());
        assert!(parse_members(&e, "0-51").is_err());
    }

    #[test]
    fn matches_labelled_records() {
        assert!(Member::Control.matches(&record(Some(EnsembleMember::Control))));
        assert!(!Member::Control.matches(&record(Some(EnsembleMember::Perturbed(1)))));
        assert!(Member::Perturbed(3).matches(&record(Some(EnsembleMember::Perturbed(3)))));
        assert!(
            !Member::Perturbed(3).matches(&record(Some(EnsembleMember::NegativelyPerturbed(3))))
        );
        assert!(!Member::Perturbed(3).matches(&record(None)));
        assert!(!Member::Control.matches(&record(Some(EnsembleMember::Derived("ens mean".into())))));
    }
}
