//! Splitting a GRIB2 message into its numbered sections, checking every length on the way.
//!
//! A GRIB2 message is section 0 (16 octets, `GRIB`, discipline, edition, total length), then
//! sections 1–7 each starting with a 4-octet length and a 1-octet number, then `7777`. Sections
//! 2–7 (or 3–7, 4–7) may repeat for several fields in one message; wgrib2 numbers those fields
//! `n.1`, `n.2`... We decode the first field, which is what a GIK reference points at.

use super::bits::Octets;
use super::GribError;

/// The sections of one field of one GRIB2 message: those that describe it (through `Deref`
/// to [`HeaderSections`]), its bitmap and its data.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sections<'a> {
    pub head: HeaderSections<'a>,
    pub bitmap: Octets<'a>,
    pub data: Octets<'a>,
}

impl<'a> std::ops::Deref for Sections<'a> {
    type Target = HeaderSections<'a>;
    fn deref(&self) -> &HeaderSections<'a> {
        &self.head
    }
}

/// Where a message starts and how long it is, from its section 0.
pub(crate) fn message_length(bytes: &[u8]) -> Result<(u8, u64), GribError> {
    if bytes.len() < 16 {
        return Err(GribError::Truncated {
            section: 0,
            needed: 16,
            available: bytes.len(),
        });
    }
    if &bytes[0..4] != b"GRIB" {
        return Err(GribError::NotGrib);
    }
    let edition = bytes[7];
    if edition != 2 {
        return Err(GribError::Unsupported(format!(
            "GRIB edition {edition} (only GRIB2)"
        )));
    }
    let total = bytes[8..16]
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    Ok((bytes[6], total))
}

/// Splits `bytes` into the sections of field `field` (0-based; wgrib2's `n.(field+1)`). A field
/// inherits the sections it does not repeat from the fields before it.
///
/// With `Cut::DataMayEnd`, `bytes` may be a prefix of the message that ends anywhere inside that
/// field's section 7 (sections before it complete): the data section is then what is there.
pub(crate) fn split_field(bytes: &[u8], field: usize, cut: Cut) -> Result<Sections<'_>, GribError> {
    let walked = walk(bytes, field, cut, 7)?;
    Ok(Sections {
        head: walked.head()?,
        bitmap: walked.get(6)?,
        data: walked.get(7)?,
    })
}

/// The sections found by [`walk`].
struct Walked<'a> {
    discipline: u8,
    total_length: u64,
    found: [Option<&'a [u8]>; 8],
}

impl<'a> Walked<'a> {
    fn get(&self, n: u8) -> Result<Octets<'a>, GribError> {
        self.found[usize::from(n)]
            .map(|s| Octets::new(s, n))
            .ok_or(GribError::MissingSection(n))
    }

    fn head(&self) -> Result<HeaderSections<'a>, GribError> {
        Ok(HeaderSections {
            discipline: self.discipline,
            total_length: self.total_length,
            identification: self.get(1)?,
            grid: self.get(3)?,
            product: self.get(4)?,
            representation: self.get(5)?,
        })
    }
}

/// The one section walker: reads sections from octet 17 until section `last` of field `field`,
/// checking every length against the message's and the buffer's. With [`Cut::Whole`] the message
/// must be whole and end in `7777`; with [`Cut::DataMayEnd`] the wanted field's section 7 may be
/// cut; with [`Cut::AfterSection5`] (and `last` = 5) the bytes may end anywhere after section 5.
fn walk(bytes: &[u8], field: usize, cut: Cut, last: u8) -> Result<Walked<'_>, GribError> {
    let (discipline, total_length) = message_length(bytes)?;
    let whole = (bytes.len() as u64) >= total_length;
    if total_length < 16 + 4 || (!whole && cut == Cut::Whole) {
        return Err(GribError::Truncated {
            section: 0,
            needed: usize::try_from(total_length).unwrap_or(usize::MAX),
            available: bytes.len(),
        });
    }
    if whole && cut != Cut::AfterSection5 {
        // total_length <= bytes.len(), so it fits in usize.
        let total = total_length as usize;
        if &bytes[total - 4..total] != b"7777" {
            return Err(GribError::MissingEnd);
        }
    }
    let sections_end = total_length - 4;
    let mut found: [Option<&[u8]>; 8] = [None; 8];
    let mut fields_seen = 0usize;
    let mut pos = 16usize;
    while (pos as u64) < sections_end {
        let (number, length) = section_header(bytes, pos, sections_end)?;
        if last == 5 && number > 5 {
            return Err(GribError::MissingSection(5));
        }
        let end = pos + length;
        let section = match bytes.get(pos..end) {
            Some(s) => s,
            None if number == 7 && cut == Cut::DataMayEnd && fields_seen == field => &bytes[pos..],
            None => {
                return Err(GribError::Truncated {
                    section: number,
                    needed: end,
                    available: bytes.len(),
                })
            }
        };
        found[usize::from(number)] = Some(section);
        pos = end;
        if number == last && fields_seen == field {
            break;
        }
        if number == 7 {
            fields_seen += 1;
        }
    }
    if fields_seen < field {
        return Err(GribError::Inconsistent(format!(
            "message has {} field(s), field {} asked for",
            fields_seen + 1,
            field + 1
        )));
    }
    Ok(Walked {
        discipline,
        total_length,
        found,
    })
}

/// Whether a message's bytes must be whole, or may stop inside the data section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The whole message, `7777` included.
    Whole,
    /// A prefix ending anywhere in the asked-for field's data section.
    DataMayEnd,
    /// A prefix ending anywhere after the first field's section 5.
    AfterSection5,
}

/// Reads the header of the section starting at `pos`: its number and declared length. The
/// section must end by `limit` (the end of the message's sections); its bytes may be absent.
fn section_header(bytes: &[u8], pos: usize, limit: u64) -> Result<(u8, usize), GribError> {
    let header = bytes
        .get(pos..pos.saturating_add(5))
        .ok_or(GribError::Truncated {
            section: 255,
            needed: pos.saturating_add(5),
            available: bytes.len(),
        })?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let number = header[4];
    let fits = len >= 5 && (pos as u64).saturating_add(u64::from(len)) <= limit;
    if !fits || !(1..=7).contains(&number) {
        return Err(GribError::BadSectionLength {
            section: number,
            length: len as usize,
            offset: pos,
        });
    }
    // pos + len <= limit <= a length that fits the buffer's address space only if present;
    // usize::try_from guards wasm32.
    let len = usize::try_from(len).map_err(|_| GribError::BadSectionLength {
        section: number,
        length: usize::MAX,
        offset: pos,
    })?;
    if pos.checked_add(len).is_none() {
        return Err(GribError::BadSectionLength {
            section: number,
            length: len,
            offset: pos,
        });
    }
    Ok((number, len))
}

/// Offsets and lengths of every GRIB2 message in a buffer (a whole file), in order.
///
/// Bytes between messages (padding, GRIB1 messages) are skipped by searching for the next
/// `GRIB`; a message whose declared length runs past the end is an error naming its offset.
pub fn scan(bytes: &[u8]) -> Result<Vec<(u64, u64)>, GribError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while let Some(found) = find_grib(bytes, pos) {
        let (_, len) = match message_length(&bytes[found..]) {
            Ok(v) => v,
            Err(GribError::Unsupported(_)) => {
                // A GRIB1 message: its length is in octets 5-7.
                let len = bytes
                    .get(found + 4..found + 7)
                    .map(|b| {
                        (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
                    })
                    .unwrap_or(0);
                pos = found + len.max(4);
                continue;
            }
            Err(e) => return Err(e.at_offset(found as u64)),
        };
        let end = (found as u64).saturating_add(len);
        if len < 20 || end > bytes.len() as u64 {
            return Err(GribError::Truncated {
                section: 0,
                needed: usize::try_from(end).unwrap_or(usize::MAX),
                available: bytes.len(),
            }
            .at_offset(found as u64));
        }
        out.push((found as u64, len));
        pos = end as usize;
    }
    Ok(out)
}

fn find_grib(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(4)
        .position(|w| w == b"GRIB")
        .map(|p| p + from)
}

/// The sections of a message's field that describe it (0's discipline and length, 1, 3, 4, 5):
/// from a prefix of the message, enough for the builder to learn a variable's grid from a small
/// Range request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderSections<'a> {
    /// Discipline (section 0, octet 7): 0 meteorological, 2 land surface, 10 oceanographic...
    pub discipline: u8,
    /// Total length of the message in octets (section 0).
    pub total_length: u64,
    pub identification: Octets<'a>,
    pub grid: Octets<'a>,
    pub product: Octets<'a>,
    pub representation: Octets<'a>,
}

/// Splits the start of a message, which may be cut anywhere after section 5.
pub(crate) fn split_header(bytes: &[u8]) -> Result<HeaderSections<'_>, GribError> {
    walk(bytes, 0, Cut::AfterSection5, 5)?.head()
}
