//! Panic-free decoding of the pages of one flat `BYTE_ARRAY` column chunk.
//!
//! The parquet crate's own value decoders assert on short buffers (a corrupt page makes
//! `read_records` panic in `bit_util::read_num_bytes`), and a panic in the browser kills the
//! page. So the manifest reader takes only the *pages* from the parquet crate (headers,
//! decompression) and decodes their content here, checking every length and index:
//!
//! * definition levels: RLE/bit-packed hybrid (data page v1 with its 4-byte length prefix, or
//!   the separate section of data page v2);
//! * values: `PLAIN` (4-byte little-endian length + bytes) or dictionary indices
//!   (`PLAIN_DICTIONARY`/`RLE_DICTIONARY`, with a `PLAIN` dictionary page). These are all that
//!   parquet-rs, pyarrow and pandas write for byte-array columns by default; other encodings are
//!   an error.
//!
//! Memory is bounded by the caller's `max_rows`: a corrupt RLE run cannot claim billions of
//! values.

use ::parquet::basic::Encoding;
use ::parquet::column::page::{Page, PageReader};
use ::parquet::errors::ParquetError;
use bytes::Bytes;

/// Decodes every page of a flat byte-array column chunk into one `Option<Bytes>` per row
/// (`None` for a null). `max_def` is the column's maximum definition level (0 required,
/// 1 optional); at most `max_rows` rows are accepted.
pub(super) fn read_byte_array_column(
    pages: &mut dyn PageReader,
    max_def: i16,
    max_rows: usize,
    column: &str,
) -> Result<Vec<Option<Bytes>>, ParquetError> {
    let err = |what: String| ParquetError::General(format!("column {column:?}: {what}"));
    let def_width = bit_width(max_def).map_err(err)?;
    let mut dictionary: Option<Vec<Bytes>> = None;
    let mut out: Vec<Option<Bytes>> = Vec::new();
    while let Some(page) = pages.get_next_page()? {
        match page_parts(page, max_def).map_err(err)? {
            PageParts::Dictionary(values) => dictionary = Some(values),
            PageParts::Data(data) => {
                let n = to_usize(data.num_values);
                if n > max_rows.saturating_sub(out.len()) {
                    return Err(err(format!("more than {max_rows} rows")));
                }
                data.decode(max_def, def_width, dictionary.as_deref(), &mut out)
                    .map_err(err)?;
            }
        }
    }
    Ok(out)
}

/// A page, checked and taken apart.
enum PageParts {
    /// The values of a dictionary page.
    Dictionary(Vec<Bytes>),
    /// A data page (v1 or v2).
    Data(DataPage),
}

/// A data page: its bytes, row count, value encoding and where its definition levels are.
struct DataPage {
    buf: Bytes,
    num_values: u32,
    encoding: Encoding,
    /// Byte span of the definition levels in `buf`; the values follow it.
    levels: Option<(usize, usize)>,
}

/// Checks a page's encodings and finds its parts.
fn page_parts(page: Page, max_def: i16) -> Result<PageParts, String> {
    match page {
        Page::DictionaryPage {
            buf,
            num_values,
            encoding,
            ..
        } => {
            if !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
                return Err(format!("unsupported dictionary encoding {encoding}"));
            }
            Ok(PageParts::Dictionary(decode_plain(
                &buf,
                to_usize(num_values),
            )?))
        }
        Page::DataPage {
            buf,
            num_values,
            encoding,
            def_level_encoding,
            ..
        } => {
            let levels = if max_def > 0 {
                if def_level_encoding != Encoding::RLE {
                    return Err(format!(
                        "unsupported definition level encoding {def_level_encoding}"
                    ));
                }
                let len = buf
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(|b| to_usize(u32::from_le_bytes(b)))
                    .ok_or("page too short for definition levels")?;
                let end = len
                    .checked_add(4)
                    .filter(|&e| e <= buf.len())
                    .ok_or("definition levels run past the page")?;
                Some((4, end))
            } else {
                None
            };
            Ok(PageParts::Data(DataPage {
                buf,
                num_values,
                encoding,
                levels,
            }))
        }
        Page::DataPageV2 {
            buf,
            num_values,
            encoding,
            def_levels_byte_len,
            rep_levels_byte_len,
            ..
        } => {
            let start = to_usize(rep_levels_byte_len);
            let end = start
                .checked_add(to_usize(def_levels_byte_len))
                .filter(|&e| e <= buf.len())
                .ok_or("levels run past the page")?;
            Ok(PageParts::Data(DataPage {
                buf,
                num_values,
                encoding,
                levels: Some((start, end)),
            }))
        }
    }
}

impl DataPage {
    /// Appends the page's rows to `out`: its values, and `None` where the definition levels
    /// say null.
    fn decode(
        &self,
        max_def: i16,
        def_width: u8,
        dictionary: Option<&[Bytes]>,
        out: &mut Vec<Option<Bytes>>,
    ) -> Result<(), String> {
        let n = to_usize(self.num_values);
        if n == 0 {
            return Ok(());
        }
        // Definition levels (only for nullable columns), and where the values start.
        let max = u32::from(max_def.unsigned_abs());
        let (defs, values_start) = match (max_def, self.levels) {
            (0, Some((_, end))) => (None, end),
            (0, None) => (None, 0),
            (_, Some((start, end))) => {
                let section = self.buf.get(start..end).unwrap_or_default();
                let mut levels = Vec::with_capacity(n);
                decode_hybrid(section, def_width, n, &mut levels)?;
                if levels.iter().any(|&d| d > max) {
                    return Err("definition level above the maximum".into());
                }
                (Some(levels), end)
            }
            (_, None) => return Err("missing definition levels".into()),
        };
        let non_null = defs
            .as_ref()
            .map_or(n, |levels| levels.iter().filter(|&&d| d == max).count());
        let values_buf = self.buf.slice(values_start.min(self.buf.len())..);
        let values = match self.encoding {
            Encoding::PLAIN => decode_plain(&values_buf, non_null)?,
            Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY => {
                let dict = dictionary.ok_or("dictionary-encoded page without dictionary")?;
                decode_dictionary(&values_buf, non_null, dict)?
            }
            other => return Err(format!("unsupported value encoding {other}")),
        };
        let mut values = values.into_iter();
        match defs {
            None => out.extend(values.map(Some)),
            Some(levels) => {
                for d in levels {
                    out.push(if d == max { values.next() } else { None });
                }
            }
        }
        Ok(())
    }
}

fn to_usize(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Bits needed to store levels up to `max`.
fn bit_width(max: i16) -> Result<u8, String> {
    let max = u16::try_from(max).map_err(|_| format!("negative maximum level {max}"))?;
    u8::try_from(u16::BITS - max.leading_zeros()).map_err(|e| e.to_string())
}

/// `count` PLAIN byte arrays: each a 4-byte little-endian length and that many bytes.
fn decode_plain(buf: &Bytes, count: usize) -> Result<Vec<Bytes>, String> {
    if count > buf.len() / 4 {
        return Err(format!("{count} values cannot fit in {} bytes", buf.len()));
    }
    let mut out = Vec::with_capacity(count);
    let mut pos = 0usize;
    for i in 0..count {
        let len = buf
            .get(pos..pos.saturating_add(4))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| to_usize(u32::from_le_bytes(b)))
            .ok_or_else(|| format!("value {i}: length runs past the page"))?;
        let start = pos.saturating_add(4);
        let end = start
            .checked_add(len)
            .filter(|&e| e <= buf.len())
            .ok_or_else(|| format!("value {i}: {len} bytes run past the page"))?;
        out.push(buf.slice(start..end));
        pos = end;
    }
    Ok(out)
}

/// `count` dictionary indices (1-byte bit width, then the hybrid encoding) looked up in `dict`.
fn decode_dictionary(buf: &[u8], count: usize, dict: &[Bytes]) -> Result<Vec<Bytes>, String> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let (&width, rest) = buf
        .split_first()
        .ok_or_else(|| "empty dictionary index page".to_owned())?;
    if width > 32 {
        return Err(format!("dictionary index bit width {width} > 32"));
    }
    let mut indices = Vec::with_capacity(count);
    decode_hybrid(rest, width, count, &mut indices)?;
    indices
        .into_iter()
        .map(|i| {
            dict.get(to_usize(i))
                .cloned()
                .ok_or_else(|| format!("dictionary index {i} outside dictionary of {}", dict.len()))
        })
        .collect()
}

/// Decodes exactly `count` values of the RLE / bit-packed hybrid encoding into `out`.
fn decode_hybrid(data: &[u8], width: u8, count: usize, out: &mut Vec<u32>) -> Result<(), String> {
    if width > 32 {
        return Err(format!("bit width {width} > 32"));
    }
    let target = out.len().saturating_add(count);
    let mut pos = 0usize;
    while out.len() < target {
        let header = read_uleb128(data, &mut pos)?;
        let remaining = target - out.len();
        if header & 1 == 0 {
            // RLE run: the value in ceil(width / 8) little-endian bytes.
            let run = usize::try_from(header >> 1).unwrap_or(usize::MAX);
            let nbytes = usize::from(width.div_ceil(8));
            let bytes = data
                .get(pos..pos.saturating_add(nbytes))
                .filter(|b| b.len() == nbytes)
                .ok_or_else(|| "RLE run value runs past the data".to_owned())?;
            pos += nbytes;
            let value = bytes
                .iter()
                .rev()
                .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
            if run == 0 {
                return Err("RLE run of length 0".to_owned());
            }
            out.extend(std::iter::repeat_n(value, run.min(remaining)));
        } else {
            // Bit-packed groups of 8 values, least significant bit first.
            let groups = usize::try_from(header >> 1).unwrap_or(usize::MAX);
            if groups == 0 {
                return Err("bit-packed run of 0 groups".to_owned());
            }
            let values = groups.saturating_mul(8);
            let take = values.min(remaining);
            let start_bit = pos.saturating_mul(8);
            for j in 0..take {
                let mut v = 0u32;
                for b in 0..usize::from(width) {
                    let bit = start_bit
                        .saturating_add(j.saturating_mul(usize::from(width)))
                        .saturating_add(b);
                    let byte = data
                        .get(bit / 8)
                        .ok_or_else(|| "bit-packed run runs past the data".to_owned())?;
                    v |= u32::from((byte >> (bit % 8)) & 1) << b;
                }
                out.push(v);
            }
            pos = pos.saturating_add(groups.saturating_mul(usize::from(width)));
        }
    }
    Ok(())
}

/// Reads an unsigned LEB128 varint (at most 10 bytes).
fn read_uleb128(data: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *data
            .get(*pos)
            .ok_or_else(|| "run header runs past the data".to_owned())?;
        *pos += 1;
        value |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("run header varint too long".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_rle_and_bit_packed() {
        // RLE: 5 x value 1 (width 1): header 5<<1 = 10, value byte 1.
        let mut out = Vec::new();
        decode_hybrid(&[10, 1], 1, 5, &mut out).unwrap();
        assert_eq!(out, vec![1; 5]);
        // Bit-packed: 1 group, width 3, values 0..8 → bytes 0x88 0xC6 0xFA (parquet spec).
        let mut out = Vec::new();
        decode_hybrid(&[3, 0x88, 0xC6, 0xFA], 3, 8, &mut out).unwrap();
        assert_eq!(out, (0..8).collect::<Vec<u32>>());
        // Truncated data is an error.
        assert!(decode_hybrid(&[3, 0x88], 3, 8, &mut Vec::new()).is_err());
        assert!(decode_hybrid(&[], 1, 1, &mut Vec::new()).is_err());
        assert!(decode_hybrid(&[0x80; 12], 1, 1, &mut Vec::new()).is_err());
        // A huge run is cut to what was asked for.
        let mut out = Vec::new();
        decode_hybrid(&[0xfe, 0xff, 0xff, 0xff, 0x0f, 0], 1, 3, &mut out).unwrap();
        assert_eq!(out, vec![0; 3]);
    }

    #[test]
    fn plain_values() {
        let buf = Bytes::from_static(b"\x02\0\0\0ab\0\0\0\0\x01\0\0\0c");
        assert_eq!(
            decode_plain(&buf, 3).unwrap(),
            vec![
                Bytes::from_static(b"ab"),
                Bytes::new(),
                Bytes::from_static(b"c")
            ]
        );
        assert!(decode_plain(&buf, 4).is_err());
        assert!(decode_plain(&Bytes::from_static(b"\xff\xff\xff\xffab"), 1).is_err());
    }

    #[test]
    fn dictionary_indices() {
        let dict = vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")];
        // Width 1, RLE run of 2 x index 1.
        assert_eq!(
            decode_dictionary(&[1, 4, 1], 2, &dict).unwrap(),
            vec![dict[1].clone(); 2]
        );
        // Index 2 is outside the dictionary.
        assert!(decode_dictionary(&[2, 2, 2], 1, &dict).is_err());
        assert!(decode_dictionary(&[40, 2, 2], 1, &dict).is_err());
    }
}
