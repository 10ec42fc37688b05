//! File layouts as data: where a product's files are and what their indexes hold, keyed by
//! the run they apply from.
//!
//! Why a table: publishers rename things between cycles (ECMWF moved the control forecast to
//! the `oper` stream from the 2026-05-12 06z run on; GEFSv13 will rename `pgrb2sp25`). Each
//! change is one [`Layout`] entry with the run it applies from, plus a test with a URL written
//! by hand — not new code. The URL of a file is its base (a source, see [`super::sources`])
//! followed by the run path ([`super::Facts::run_path`]) and a [`FileLayout`] template, both
//! rendered for one run, member and step.
//!
//! A layout also says which member labels the file's index is expected to hold
//! ([`FileLayout::labels`]), so a builder meeting an index it cannot map says what it saw and
//! what it expected ([`explain_unmapped`]) instead of silently finding nothing.

use std::collections::BTreeMap;
use std::fmt;

use crate::index::{EnsembleMember, IndexRecord};
use crate::time::RunTime;

use super::{check_request, Member, Product};
use crate::{Error, Result};

/// A member label an index record may carry, as a layout expects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// The control forecast (`ENS=low-res ctl`, ECMWF `cf`).
    Control,
    /// A perturbed member (`ENS=+3`, ECMWF `pf` with a number).
    Perturbed,
    /// No ensemble label (ECMWF `oper` stream records, type `fc`).
    Unlabelled,
}

impl Label {
    /// The label of `record`; `None` for a label no layout uses (derived products such as an
    /// ensemble mean, negatively perturbed members).
    pub fn of(record: &IndexRecord) -> Option<Self> {
        match &record.member {
            Some(EnsembleMember::Control) => Some(Self::Control),
            Some(EnsembleMember::Perturbed(_)) => Some(Self::Perturbed),
            None => Some(Self::Unlabelled),
            Some(EnsembleMember::Derived(kind)) if kind.eq_ignore_ascii_case("fc") => {
                Some(Self::Unlabelled)
            }
            Some(_) => None,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Control => "control",
            Self::Perturbed => "perturbed",
            Self::Unlabelled => "unlabelled (fc)",
        })
    }
}

/// Where one kind of file lies and what its index holds.
///
/// `path` is a template of the path after the run path ([`super::Facts::run_path`]), with
/// placeholders `{date}` (`YYYYMMDD`), `{hh}` (run hour, 2 digits), `{step}` (hours), `{step3}`
/// (hours, 3 digits), `{member}` (the product's member name), `{stream}` and `{type}` (this
/// entry's fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileLayout {
    /// Template of the GRIB2 file's path after the run path.
    pub path: &'static str,
    /// Appended to the GRIB2 path to make the index's (`.idx`); see `strip`.
    pub index_suffix: &'static str,
    /// Removed from the end of the GRIB2 path before `index_suffix` is appended (ECMWF's
    /// `.grib2` becomes `.index`).
    pub strip: &'static str,
    /// The stream name (ECMWF `enfo`, `oper`; GEFS the file family `pgrb2sp25`).
    pub stream: &'static str,
    /// The type name (ECMWF `ef`, `fc`; empty where unused).
    pub kind: &'static str,
    /// Member labels the file's index holds.
    pub labels: &'static [Label],
}

/// The files of a product's runs from `from` on (until the next entry of its table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The first run this layout applies to.
    pub from: RunTime,
    /// The control forecast's file.
    pub control: FileLayout,
    /// The perturbed members' file.
    pub perturbed: FileLayout,
}

impl Layout {
    /// The file layout of `member`.
    pub fn file(&self, member: Member) -> &FileLayout {
        match member {
            Member::Control => &self.control,
            Member::Perturbed(_) => &self.perturbed,
        }
    }
}

/// The entry of `table` (sorted by `from`) that applies to `run`: the last one starting at or
/// before it, or the first for runs older than every entry.
pub fn layout_at(table: &'static [Layout], run: RunTime) -> Option<&'static Layout> {
    table
        .iter()
        .rev()
        .find(|l| l.from <= run)
        .or_else(|| table.first())
}

/// The URL of `member`'s GRIB2 file (or, with `index`, of its index) at `step` of `run` on
/// the product's host: the host, the run path ([`Product::run_path`]) and the path of the file
/// layout in force for `run`; an error for what the product does not publish
/// ([`check_request`]).
pub(crate) fn file_url<P: Product + ?Sized>(
    product: &P,
    run: RunTime,
    member: Member,
    step: u32,
    index: bool,
) -> Result<String> {
    check_request(product, run, member, step)?;
    let layout = layout_at(product.layouts(), run).ok_or_else(|| Error::Product {
        product: product.name().to_string(),
        reason: "no file layout is defined".to_string(),
    })?;
    let fill = Fill {
        run,
        step,
        member: &product.member_name(member),
    };
    Ok(format!(
        "{}{}{}",
        product.host(),
        product.run_path(run),
        render(layout.file(member), &fill, index)
    ))
}

/// What a template is rendered with.
pub(crate) struct Fill<'a> {
    pub run: RunTime,
    pub step: u32,
    pub member: &'a str,
}

/// `template` with the run's placeholders, `{date}` and `{hh}`, filled in.
pub(crate) fn fill_run(template: &str, run: RunTime) -> String {
    template
        .replace("{date}", &run.date_string())
        .replace("{hh}", &run.hour_string())
}

/// The GRIB2 path (`index == false`) or index path of `file` for `fill`, after the run path.
pub(crate) fn render(file: &FileLayout, fill: &Fill<'_>, index: bool) -> String {
    let mut out = fill_run(file.path, fill.run)
        .replace("{step3}", &format!("{:03}", fill.step))
        .replace("{step}", &fill.step.to_string())
        .replace("{member}", fill.member)
        .replace("{stream}", file.stream)
        .replace("{type}", file.kind);
    if index {
        if let Some(stem) = out.strip_suffix(file.strip) {
            out.truncate(stem.len());
        }
        out.push_str(file.index_suffix);
    }
    out
}

/// Why `records` (one index file of `run`, not empty) hold nothing for `member`, in words: how
/// many records carry which labels, and what the layout in force expected. `None` when some
/// record has a label the layout expects for the member (then the member's data is simply not
/// in it, which the builder reports variable by variable).
pub fn explain_unmapped(
    table: &'static [Layout],
    run: RunTime,
    member: Member,
    index_url: &str,
    records: &[IndexRecord],
) -> Option<String> {
    let layout = layout_at(table, run)?;
    let file = layout.file(member);
    // A record is the member's when its file layout expects its label and the label is the
    // member's kind, or no label at all (one file per member, or ECMWF's oper file).
    let wanted = match member {
        Member::Control => [Label::Control, Label::Unlabelled],
        Member::Perturbed(_) => [Label::Perturbed, Label::Unlabelled],
    };
    let usable = |label: Label| wanted.contains(&label) && file.labels.contains(&label);
    if records.is_empty() || records.iter().any(|r| Label::of(r).is_some_and(usable)) {
        return None;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for record in records {
        let name = match (Label::of(record), &record.member) {
            (Some(l), _) => l.to_string(),
            (None, Some(m)) => m.to_string(),
            (None, None) => String::new(),
        };
        *seen.entry(name).or_default() += 1;
    }
    let saw: Vec<String> = seen.iter().map(|(l, n)| format!("{n} {l}")).collect();
    let expected: Vec<String> = file.labels.iter().map(ToString::to_string).collect();
    Some(format!(
        "{index_url}: cannot map this index to member {member:?}: saw {} record(s) ({}); \
         expected {} records of stream {:?}{} (layout of runs from {})",
        records.len(),
        saw.join(", "),
        expected.join(" or "),
        file.stream,
        if file.kind.is_empty() {
            String::new()
        } else {
            format!(" type {:?}", file.kind)
        },
        layout.from
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::index::IndexFormat;

    const A: FileLayout = FileLayout {
        path: "{date}/{hh}/{stream}/{member}-{step3}-{type}.grib2",
        index_suffix: ".index",
        strip: ".grib2",
        stream: "s1",
        kind: "t1",
        labels: &[Label::Control, Label::Perturbed],
    };
    const B: FileLayout = FileLayout {
        path: "{date}/{hh}/{stream}/{member}-{step}",
        index_suffix: ".idx",
        strip: "",
        stream: "s2",
        kind: "",
        labels: &[Label::Unlabelled],
    };
    const TABLE: &[Layout] = &[
        Layout {
            from: RunTime {
                year: 2020,
                month: 1,
                day: 1,
                hour: 0,
            },
            control: A,
            perturbed: A,
        },
        Layout {
            from: RunTime {
                year: 2026,
                month: 5,
                day: 12,
                hour: 6,
            },
            control: B,
            perturbed: A,
        },
    ];

    fn run(y: i32, m: u32, d: u32, h: u32) -> RunTime {
        RunTime::new(y, m, d, h).unwrap()
    }

    #[test]
    fn layouts_apply_from_their_run() {
        assert_eq!(layout_at(TABLE, run(2026, 5, 12, 0)).unwrap().control, A);
        assert_eq!(layout_at(TABLE, run(2026, 5, 12, 6)).unwrap().control, B);
        assert_eq!(layout_at(TABLE, run(2030, 1, 1, 0)).unwrap().control, B);
        // Older than every entry: the first.
        assert_eq!(layout_at(TABLE, run(2001, 1, 1, 0)).unwrap().control, A);
        assert!(layout_at(&[], run(2001, 1, 1, 0)).is_none());
    }

    #[test]
    fn templates_render() {
        let fill = Fill {
            run: run(2026, 5, 12, 6),
            step: 9,
            member: "m1",
        };
        assert_eq!(render(&A, &fill, false), "20260512/06/s1/m1-009-t1.grib2");
        assert_eq!(render(&A, &fill, true), "20260512/06/s1/m1-009-t1.index");
        assert_eq!(render(&B, &fill, false), "20260512/06/s2/m1-9");
        assert_eq!(render(&B, &fill, true), "20260512/06/s2/m1-9.idx");
    }

    #[test]
    fn unmappable_indexes_are_explained() {
        let text = "{\"param\":\"2t\",\"date\":\"20260512\",\"time\":\"0600\",\"step\":\"3\",\
                    \"levtype\":\"sfc\",\"type\":\"em\",\"_offset\":0,\"_length\":10}\n";
        let records = IndexFormat::Ecmwf.parse(text, "x.index", None).unwrap();
        let why = explain_unmapped(
            TABLE,
            run(2026, 5, 12, 6),
            Member::Perturbed(3),
            "http://h/x.index",
            &records,
        )
        .unwrap();
        assert!(
            why.contains("http://h/x.index")
                && why.contains("1 em")
                && why.contains("expected control or perturbed")
                && why.contains("\"s1\"")
                && why.contains("20260512 06z"),
            "{why}"
        );
        // The oper-like file: unlabelled records are the control's.
        let fc = text.replace("\"em\"", "\"fc\"");
        let records = IndexFormat::Ecmwf.parse(&fc, "x.index", None).unwrap();
        assert!(
            explain_unmapped(TABLE, run(2026, 5, 12, 6), Member::Control, "x", &records).is_none()
        );
        // Before the switch the control is expected with a label.
        let why =
            explain_unmapped(TABLE, run(2026, 5, 12, 0), Member::Control, "x", &records).unwrap();
        assert!(
            why.contains("unlabelled") && why.contains("expected control"),
            "{why}"
        );
        assert!(explain_unmapped(TABLE, run(2026, 5, 12, 0), Member::Control, "x", &[]).is_none());
    }
}
