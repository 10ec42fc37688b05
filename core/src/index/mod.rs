//! The two index formats published beside GRIB2 files, parsed into one typed record.
//!
//! GIK never scans GRIB2 files: it trusts the index published with each file to say where every
//! message starts and how long it is. NOAA writes a wgrib2 inventory (`.idx`, colon-separated
//! text, see [`noaa`]); ECMWF open data writes JSON lines (`.index`, see [`ecmwf`]). Both become
//! [`IndexRecord`]s, so the rest of gik never looks at either format again.
//!
//! Parsing is strict about structure and lenient about vocabulary: a line that cannot be split
//! into its fields is an [`Error::IndexLine`](crate::Error::IndexLine) naming the file and the
//! 1-based line number; a variable or level name nobody has heard of is kept as text.
//!
//! Indexes go stale: a GRIB2 file re-uploaded beside an old index makes the index point at
//! bytes that are not there. When the caller knows the GRIB2 file's size, a record that ends
//! past it (or whose `offset + length` overflows) is an [`Error::IndexLine`](crate::Error::IndexLine)
//! saying so, whatever the format, so the whole index is refused rather than trusted in part.

pub mod ecmwf;
pub mod noaa;

use std::fmt;

use crate::time::RunTime;

/// Which of the two index formats a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndexFormat {
    /// NOAA wgrib2 inventory (`.idx`).
    Noaa,
    /// ECMWF open-data JSON lines (`.index`).
    Ecmwf,
}

impl IndexFormat {
    /// Guesses the format from a file name or URL (`.idx` / `.index`).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.split(['?', '#']).next().unwrap_or(name);
        if name.ends_with(".idx") {
            Some(Self::Noaa)
        } else if name.ends_with(".index") {
            Some(Self::Ecmwf)
        } else {
            None
        }
    }

    /// Parses a whole index file in this format. `source_name` (path or URL) is used in error
    /// messages; `file_size` is the size of the GRIB2 file, needed for the length of the last
    /// message of a NOAA index (ECMWF indexes carry lengths). With `file_size`, a record
    /// ending past it is an error (a stale index).
    pub fn parse(
        self,
        text: &str,
        source_name: &str,
        file_size: Option<u64>,
    ) -> crate::Result<Vec<IndexRecord>> {
        let records = match self {
            Self::Noaa => noaa::parse(text, source_name, file_size)?,
            Self::Ecmwf => ecmwf::parse(text, source_name)?,
        };
        if let Some(size) = file_size {
            check_inside_file(&records, source_name, size)?;
        }
        Ok(records)
    }
}

/// Checks that every record ends inside a GRIB2 file of `size` bytes; the first that does not
/// is an [`Error::IndexLine`](crate::Error::IndexLine) naming its line and byte range.
pub fn check_inside_file(
    records: &[IndexRecord],
    source_name: &str,
    size: u64,
) -> crate::Result<()> {
    for record in records {
        let end = record.offset.checked_add(record.length.unwrap_or(0));
        if end.is_none_or(|end| end > size || record.offset >= size) {
            let range = end.map_or(format!("{} + {:?}", record.offset, record.length), |end| {
                format!("{}..{end}", record.offset)
            });
            return Err(crate::Error::IndexLine {
                source_name: source_name.to_string(),
                line: record.line,
                reason: format!(
                    "bytes {range} end past the GRIB2 file's {size} bytes: the index is stale \
                     (the GRIB2 file was replaced after it) or corrupt"
                ),
            });
        }
    }
    Ok(())
}

/// One GRIB2 message as described by an index line.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexRecord {
    /// Variable name in the index's own vocabulary: `TMP`, `APCP` (NOAA), `2t`, `tp` (ECMWF).
    pub variable: String,
    /// Vertical level.
    pub level: Level,
    /// Forecast time: analysis, a lead time, or a statistical window.
    pub time: ForecastTime,
    /// Ensemble member, if the message belongs to an ensemble.
    pub member: Option<EnsembleMember>,
    /// Start of the run the message belongs to, when the index says so.
    pub reference_time: Option<RunTime>,
    /// Byte offset of the message in the GRIB2 file.
    pub offset: u64,
    /// Byte length of the message. `None` only for the last message of a NOAA index when the
    /// GRIB2 file's size was not supplied.
    pub length: Option<u64>,
    /// 1-based line number in the index file (for messages that point back at the source).
    pub line: usize,
    /// For a NOAA sub-field line `n.m` (several fields packed in one GRIB2 message that share
    /// its bytes, e.g. `UGRD` and `VGRD` as `4.1` and `4.2`), the field's 1-based position
    /// `m`; `None` when the line is a whole message (and always for ECMWF). A byte range can
    /// only reference a whole message, and decoding it gives its *first* field, so a record
    /// with `sub_field` of 2 or more must not be referenced as if it were that message.
    pub sub_field: Option<u32>,
}

impl IndexRecord {
    /// Whether decoding the record's byte range gives this record's field: a whole message,
    /// or the first field of a multi-field one.
    pub fn is_first_field(&self) -> bool {
        self.sub_field.is_none_or(|m| m <= 1)
    }
}

/// A vertical level in a format-neutral form.
///
/// `type_of_level` uses ecCodes' `typeOfLevel` vocabulary (`surface`, `heightAboveGround`,
/// `isobaricInhPa`, `meanSea`, `atmosphereSingleLayer`, `depthBelowLandLayer`, `soilLayer`, ...)
/// because that is what the kerchunk `grib_tree` keys in our manifests use. Unknown level texts
/// keep their original text as `type_of_level`.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// ecCodes `typeOfLevel` name, or the original text when unknown.
    pub type_of_level: String,
    /// Level value in the unit ecCodes uses for that type (m, hPa, ...); for layers, the first
    /// (top) value. `None` for levels without a value (`surface`, `meanSea`).
    pub value: Option<f64>,
    /// Second value of a layer (`0-0.1 m below ground` has `value` 0 and `second_value` 0.1).
    pub second_value: Option<f64>,
    /// The level as written in the index (`2 m above ground`, or ECMWF `pl/700`).
    pub label: String,
}

/// When a message is valid relative to its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForecastTime {
    /// Analysis (`anl`): valid at the run time.
    Analysis,
    /// A field valid at `minutes` after the run (`15 hour fcst`, ECMWF step `15`).
    Lead {
        /// Lead time in minutes.
        minutes: u32,
    },
    /// A statistic over a window `[start, end]` after the run (`12-15 hour acc fcst`).
    Window {
        /// Window start, minutes after the run.
        start_minutes: u32,
        /// Window end, minutes after the run.
        end_minutes: u32,
        /// What was computed over the window.
        statistic: Statistic,
    },
}

impl ForecastTime {
    /// A lead time of whole hours.
    pub fn hours(h: u32) -> Self {
        Self::Lead { minutes: h * 60 }
    }

    /// A window of whole hours.
    pub fn window_hours(start: u32, end: u32, statistic: Statistic) -> Self {
        Self::Window {
            start_minutes: start * 60,
            end_minutes: end * 60,
            statistic,
        }
    }

    /// The time the field is valid for (window end), in hours after the run.
    pub fn end_hours(&self) -> f64 {
        match *self {
            Self::Analysis => 0.0,
            Self::Lead { minutes } => f64::from(minutes) / 60.0,
            Self::Window { end_minutes, .. } => f64::from(end_minutes) / 60.0,
        }
    }

    /// The step in whole hours if the valid time is a whole hour.
    pub fn end_whole_hours(&self) -> Option<u32> {
        let minutes = match *self {
            Self::Analysis => 0,
            Self::Lead { minutes } => minutes,
            Self::Window { end_minutes, .. } => end_minutes,
        };
        minutes.is_multiple_of(60).then_some(minutes / 60)
    }
}

impl fmt::Display for ForecastTime {
    /// `anl`, `15h`, `12-15h acc`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = |m: u32| {
            if m.is_multiple_of(60) {
                format!("{}", m / 60)
            } else {
                format!("{:.2}", f64::from(m) / 60.0)
            }
        };
        match *self {
            Self::Analysis => write!(f, "anl"),
            Self::Lead { minutes } => write!(f, "{}h", h(minutes)),
            Self::Window {
                start_minutes,
                end_minutes,
                statistic,
            } => {
                write!(f, "{}-{}h {}", h(start_minutes), h(end_minutes), statistic)
            }
        }
    }
}

/// The statistic computed over a forecast window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Statistic {
    /// Accumulation (`acc`).
    Accumulation,
    /// Average (`ave`).
    Average,
    /// Minimum (`min`).
    Minimum,
    /// Maximum (`max`).
    Maximum,
    /// Any other or unstated statistic.
    Other,
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accumulation => "acc",
            Self::Average => "ave",
            Self::Minimum => "min",
            Self::Maximum => "max",
            Self::Other => "stat",
        })
    }
}

/// Which member of an ensemble a message belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EnsembleMember {
    /// The unperturbed control forecast (`ENS=low-res ctl`, `ENS=hi-res ctl`, ECMWF `cf`).
    Control,
    /// Perturbed member `n` (`ENS=+3`, ECMWF `pf` number 3).
    Perturbed(u16),
    /// Negatively perturbed member `n` of a paired ensemble (`ENS=-3`, older NCEP ensembles).
    NegativelyPerturbed(u16),
    /// A product derived from the ensemble rather than a member: `ens mean`, `ens spread`,
    /// ECMWF `em`/`es`. The text is kept as written.
    Derived(String),
}

impl fmt::Display for EnsembleMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Control => write!(f, "control"),
            Self::Perturbed(n) => write!(f, "+{n}"),
            Self::NegativelyPerturbed(n) => write!(f, "-{n}"),
            Self::Derived(s) => write!(f, "{s}"),
        }
    }
}
