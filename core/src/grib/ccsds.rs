//! CCSDS 121.0-B lossless decompression (Adaptive Entropy Coding, as libaec implements it) for
//! GRIB2 template 5.42, written for speed and for the browser: pure Rust, no `unsafe`, no C.
//!
//! Every ECMWF open-data message is CCSDS-packed, so this decoder is where most of a stream's or
//! a map's CPU goes. gribberish's decoder read the stream a byte at a time and converted in a
//! second pass (1.5× slower than ecCodes + libaec); this one keeps a 64-bit bit buffer refilled
//! eight bytes at a time, reads fundamental sequences with count-leading-zeros, writes zero-block
//! runs without per-sample work and applies GRIB's scaling `(R + X·2^E)·10^-D` while it writes
//! the `f32` output, one block at a time. It stops as soon as the asked-for number of samples is
//! out, so a caller that needs only the first rows pays only for them and may pass a data
//! section cut after them.
//!
//! The stream (CCSDS 121.0-B-3 §3–5, libaec's `decode.c` semantics):
//! blocks of `block_size` samples; every `rsi` blocks a reference sample interval (RSI) starts,
//! whose first block carries a raw reference sample when the preprocessor is on (and is
//! byte-aligned when `AEC_PAD_RSI` is set). Each block opens with an option identifier of
//! `id_len` bits (3, 4 or 5 by sample width; 1–2 for restricted small widths): 0 = low entropy
//! (one more bit: zero-block run with its remainder-of-segment code, or second extension), all
//! ones = uncompressed, otherwise split-sample with `k = id − 1`. With the preprocessor, samples
//! are mapped prediction residuals undone against the previous sample.
//!
//! Corrupt input is an error (never a panic, never an allocation beyond one block): reading past
//! the end of the data, a zero-block run past the end of its RSI, a second-extension code out of
//! range.

use super::bits::BitStream;
use super::GribError;

/// Flags of the CCSDS compression options mask (section 5, octet 22), libaec's values.
const DATA_SIGNED: u8 = 1;
const PREPROCESS: u8 = 8;
const RESTRICTED: u8 = 16;
const PAD_RSI: u8 = 32;

/// Remainder-of-segment code of zero-block runs (CCSDS 121.0-B §5.1.4).
const ROS: u32 = 5;
/// Largest valid second-extension code: pairs (β, δ) with β ≤ 12.
const SE_MAX: u32 = 90;

/// The parameters of a CCSDS stream, from section 5 of template 5.42.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Params {
    /// Bits per sample (1..=32).
    pub bits: u8,
    /// Compression options mask (libaec flags).
    pub flags: u8,
    /// Samples per block.
    pub block_size: u16,
    /// Blocks per reference sample interval.
    pub rsi: u16,
}

impl Params {
    fn validate(&self) -> Result<(), GribError> {
        let bad = |what: String| Err(GribError::Inconsistent(format!("CCSDS: {what}")));
        if self.bits == 0 || self.bits > 32 {
            return bad(format!("{} bits per sample", self.bits));
        }
        if self.block_size == 0 || self.block_size % 2 == 1 {
            return bad(format!("block size {}", self.block_size));
        }
        if self.rsi == 0 {
            return bad("reference sample interval 0".into());
        }
        if self.flags & DATA_SIGNED != 0 {
            return Err(GribError::Unsupported(
                "CCSDS with signed samples (GRIB2 packs unsigned integers)".into(),
            ));
        }
        if self.flags & RESTRICTED != 0 && self.bits > 4 {
            return bad(format!("restricted coding with {} bits", self.bits));
        }
        Ok(())
    }

    /// Length of the option identifier in bits.
    fn id_len(&self) -> u32 {
        match self.bits {
            17.. => 5,
            9..=16 => 4,
            1..=2 if self.flags & RESTRICTED != 0 => 1,
            3..=4 if self.flags & RESTRICTED != 0 => 2,
            _ => 3,
        }
    }
}

/// Undoes the preprocessor's mapping of prediction residuals (unsigned samples), in place,
/// from the previous output sample `last`; returns the new last sample.
#[inline(always)]
fn unmap(samples: &mut [u32], mut last: u32, xmax: u32) -> u32 {
    let med = xmax / 2 + 1;
    for s in samples {
        let d = *s;
        let half = (d >> 1) + (d & 1);
        let mask = if last & med != 0 { xmax } else { 0 };
        last = if half <= (mask ^ last) {
            last.wrapping_add((d >> 1) ^ (!((d & 1).wrapping_sub(1))))
        } else {
            mask ^ d
        };
        *s = last;
    }
    last
}

/// Decodes `out.len()` samples of the stream `data` and writes `scale(sample)` for each.
///
/// `data` may end right after the blocks that hold those samples (a message cut after the rows
/// a caller needs); bytes after them are never read.
///
/// Not split: it is the decoder's hot loop (one block option after another, as CCSDS
/// 121.0-B §5 lists them); calls per block cost measurable time on 0.25° fields.
pub(crate) fn decode(
    params: Params,
    data: &[u8],
    out: &mut [f32],
    scale: impl Fn(u32) -> f32,
) -> Result<(), GribError> {
    params.validate()?;
    let bits = u32::from(params.bits);
    let id_len = params.id_len();
    let uncompressed_id = (1u32 << id_len) - 1;
    let block_size = usize::from(params.block_size);
    let rsi_blocks = usize::from(params.rsi);
    let preprocess = params.flags & PREPROCESS != 0;
    let xmax = if bits == 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    };

    let mut reader = BitStream::new(data);
    let mut block = vec![0u32; block_size];
    let mut written = 0usize;
    let mut last = 0u32;
    // Block index within the current RSI.
    let mut block_in_rsi = 0usize;

    while written < out.len() {
        if block_in_rsi == rsi_blocks {
            block_in_rsi = 0;
            if params.flags & PAD_RSI != 0 {
                reader.align();
            }
        }
        let reference = preprocess && block_in_rsi == 0;
        let id = reader.read(id_len);
        // Samples produced by this block (a zero-block run may cover several blocks).
        let mut produced = block_size;
        if id == 0 {
            let second_extension = reader.read(1) == 1;
            if reference {
                block[0] = reader.read(bits);
            }
            let first = usize::from(reference);
            if second_extension {
                let mut i = first;
                while i < block_size {
                    let m = reader.fs()?;
                    if m > SE_MAX {
                        reader.check()?;
                        return Err(GribError::Compression(format!(
                            "CCSDS: second-extension code {m} out of range"
                        )));
                    }
                    // m = β(β+1)/2 + δ1 with δ1 <= β; the pair is (β − δ1, δ1).
                    let mut beta = 0u32;
                    while (beta + 1) * (beta + 2) / 2 <= m {
                        beta += 1;
                    }
                    let d1 = m - beta * (beta + 1) / 2;
                    if i % 2 == 0 {
                        block[i] = beta - d1;
                        i += 1;
                    }
                    block[i] = d1;
                    i += 1;
                }
            } else {
                let fs = reader.fs()?;
                let runs = fs.saturating_add(1);
                let zero_blocks = if runs == ROS {
                    (rsi_blocks - block_in_rsi).min(64 - block_in_rsi % 64)
                } else if runs > ROS {
                    (runs - 1) as usize
                } else {
                    runs as usize
                };
                if block_in_rsi.saturating_add(zero_blocks) > rsi_blocks {
                    reader.check()?;
                    return Err(GribError::Compression(format!(
                        "CCSDS: a run of {zero_blocks} zero blocks passes the end of its reference \
                         sample interval"
                    )));
                }
                reader.check()?;
                produced = zero_blocks * block_size;
                let mut at = written;
                if reference {
                    last = block[0];
                    if let Some(o) = out.get_mut(at) {
                        *o = scale(last);
                    }
                    at += 1;
                }
                let end = (written + produced).min(out.len());
                if at < end {
                    // Residual 0 repeats the previous sample; without the preprocessor the
                    // samples are 0.
                    let v = if preprocess { last } else { 0 };
                    out[at..end].fill(scale(v));
                }
                written += produced;
                block_in_rsi += zero_blocks;
                continue;
            }
        } else if id == uncompressed_id {
            for s in block.iter_mut() {
                *s = reader.read(bits);
            }
        } else {
            let k = id - 1;
            let first = usize::from(reference);
            if reference {
                block[0] = reader.read(bits);
            }
            for s in &mut block[first..] {
                *s = reader.fs()?;
            }
            if k > 0 {
                for s in &mut block[first..] {
                    *s = (*s << k).wrapping_add(reader.read(k));
                }
            }
        }
        reader.check()?;

        // Undo the preprocessor, then scale into the output.
        if preprocess {
            let rest = if reference {
                last = block[0];
                &mut block[1..]
            } else {
                &mut block[..]
            };
            last = unmap(rest, last, xmax);
        }
        let end = (written + produced).min(out.len());
        for (o, &s) in out[written..end].iter_mut().zip(&block) {
            *o = scale(s);
        }
        written += produced;
        block_in_rsi += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny big-endian bit writer for hand-made streams.
    #[derive(Default)]
    struct Writer {
        bytes: Vec<u8>,
        bit: usize,
    }

    impl Writer {
        fn put(&mut self, value: u32, n: u32) {
            for i in (0..n).rev() {
                if self.bit.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                if value.checked_shr(i).unwrap_or(0) & 1 == 1 {
                    let last = self.bytes.len() - 1;
                    self.bytes[last] |= 0x80 >> (self.bit % 8);
                }
                self.bit += 1;
            }
        }
        fn fs(&mut self, n: u32) {
            self.put(0, n);
            self.put(1, 1);
        }
    }

    fn run(params: Params, data: &[u8], n: usize) -> Result<Vec<u32>, GribError> {
        let mut out = vec![0f32; n];
        decode(params, data, &mut out, |x| x as f32)?;
        Ok(out.into_iter().map(|x| x as u32).collect())
    }

    const P8: Params = Params {
        bits: 8,
        flags: 0,
        block_size: 8,
        rsi: 4,
    };

    #[test]
    fn uncompressed_split_and_zero_blocks_without_preprocessor() {
        let mut w = Writer::default();
        // Block 1: uncompressed (id 0b111).
        w.put(7, 3);
        for v in 0..8 {
            w.put(v * 10, 8);
        }
        // Block 2: split k = 2 (id 3).
        w.put(3, 3);
        let samples = [5u32, 0, 13, 2, 7, 1, 0, 9];
        for s in samples {
            w.fs(s >> 2);
        }
        for s in samples {
            w.put(s & 3, 2);
        }
        // Blocks 3-4: two zero blocks (id 0, bit 0, fs 1).
        w.put(0, 3);
        w.put(0, 1);
        w.fs(1);
        let out = run(P8, &w.bytes, 32).unwrap();
        let want: Vec<u32> = (0..8)
            .map(|v| v * 10)
            .chain(samples)
            .chain([0; 16])
            .collect();
        assert_eq!(out, want);
        // Asking for fewer samples stops early; asking for more runs out of data.
        assert_eq!(run(P8, &w.bytes, 10).unwrap(), want[..10]);
        assert!(matches!(
            run(P8, &w.bytes, 40),
            Err(GribError::DataTooShort { .. })
        ));
    }

    #[test]
    fn second_extension_and_remainder_of_segment() {
        let mut w = Writer::default();
        // Second extension: pairs (a, b) coded as γ = (a+b)(a+b+1)/2 + b.
        w.put(0, 3);
        w.put(1, 1);
        let pairs = [(1u32, 2u32), (0, 0), (3, 0), (0, 4)];
        for (a, b) in pairs {
            let s = a + b;
            w.fs(s * (s + 1) / 2 + b);
        }
        // Remainder of segment (fs 4 → ROS): zeros to the end of the RSI (3 blocks).
        w.put(0, 3);
        w.put(0, 1);
        w.fs(4);
        let out = run(P8, &w.bytes, 32).unwrap();
        let mut want: Vec<u32> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        want.extend([0; 24]);
        assert_eq!(out, want);
    }

    #[test]
    fn preprocessor_reference_and_residuals() {
        let params = Params {
            bits: 8,
            flags: PREPROCESS,
            block_size: 8,
            rsi: 2,
        };
        // Values 100, 101, 99, 99, 250 (beyond 2θ), ...
        let values = [100u32, 101, 99, 99, 250, 251, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3];
        let map = |prev: u32, x: u32| -> u32 {
            let theta = prev.min(255 - prev) as i64;
            let delta = x as i64 - prev as i64;
            if delta >= 0 && delta <= theta {
                (2 * delta) as u32
            } else if delta < 0 && -delta <= theta {
                (-2 * delta - 1) as u32
            } else {
                (theta + delta.abs()) as u32
            }
        };
        let mut w = Writer::default();
        // Block 1 uncompressed: reference then 7 residuals.
        w.put(7, 3);
        w.put(values[0], 8);
        for i in 1..8 {
            w.put(map(values[i - 1], values[i]), 8);
        }
        // Block 2: residual of 3 after 3 is 0 except the first; use uncompressed again.
        w.put(7, 3);
        for i in 8..16 {
            w.put(map(values[i - 1], values[i]), 8);
        }
        assert_eq!(run(params, &w.bytes, 16).unwrap(), values);
    }

    #[test]
    fn corrupt_streams_are_errors() {
        // All zeros: zero-block runs longer than the RSI, or fundamental sequences without end.
        for len in [0usize, 1, 3, 64] {
            let data = vec![0u8; len];
            assert!(run(P8, &data, 100).is_err(), "{len} zero bytes");
        }
        // Second-extension code out of range.
        let mut w = Writer::default();
        w.put(0, 3);
        w.put(1, 1);
        w.fs(200);
        assert!(run(P8, &w.bytes, 8).is_err());
        // Bad parameters.
        for p in [
            Params { bits: 0, ..P8 },
            Params { bits: 33, ..P8 },
            Params {
                block_size: 0,
                ..P8
            },
            Params { rsi: 0, ..P8 },
            Params {
                flags: DATA_SIGNED,
                ..P8
            },
        ] {
            assert!(run(p, &[0xFF; 64], 8).is_err(), "{p:?}");
        }
    }
}
