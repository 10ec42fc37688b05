//! The mutation engine: turns a seed input into a nearby, usually broken, input.
//!
//! Each call applies one to four of these mutations:
//!
//! * flip one bit;
//! * set one byte to an interesting value (0, 1, 0x7F, 0x80, 0xFF) or add a small delta;
//! * write an interesting 16- or 32-bit value (0, all ones, the sign boundaries, one, 2^16)
//!   big- or little-endian at a random offset — GRIB2 lengths, counts and widths are big-endian
//!   integers, parquet's footer length is little-endian;
//! * truncate;
//! * duplicate a chunk somewhere else, delete a chunk, or splice in part of another seed;
//! * insert random bytes or a token of the target's dictionary (`:`, `ENS=`, `"_length"`...).
//!
//! Formats put their lengths and counts at the start (GRIB2 sections 0–5, a JSON object's
//! first keys) or the end (the parquet footer): half of the offsets are drawn from the first
//! or last 512 bytes, the rest anywhere, so large inputs still get their headers mutated.

use crate::rng::Rng;

/// Bytes worth trying at any position.
const INTERESTING_8: [u8; 5] = [0, 1, 0x7F, 0x80, 0xFF];
/// 16-bit values worth trying.
const INTERESTING_16: [u16; 6] = [0, 1, 0x7FFF, 0x8000, 0xFFFF, 0x0100];
/// 32-bit values worth trying.
const INTERESTING_32: [u32; 7] = [
    0,
    1,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x0001_0000,
    0x4000_0000,
];
/// How many bytes near the start and the end count as "header".
const HEADER: usize = 512;
/// Inputs never grow beyond this (a mutation that would is skipped).
pub const MAX_INPUT: usize = 16 << 20;

/// A mutator with its generator and the target's dictionary.
pub struct Mutator<'a> {
    rng: Rng,
    dictionary: &'a [&'a [u8]],
}

impl<'a> Mutator<'a> {
    /// A mutator seeded with `seed`, inserting tokens from `dictionary`.
    pub fn new(seed: u64, dictionary: &'a [&'a [u8]]) -> Self {
        Self {
            rng: Rng::new(seed),
            dictionary,
        }
    }

    /// The generator (to pick seeds with the same stream).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// A mutated copy of `input`; `other` is a second seed for splicing.
    pub fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut data = input.to_vec();
        let rounds = 1 + self.rng.below(4);
        for _ in 0..rounds {
            self.mutate_once(&mut data, other);
        }
        data
    }

    /// An offset into `len` bytes, biased towards the first and last [`HEADER`] bytes.
    fn offset(&mut self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        match self.rng.below(4) {
            0 => self.rng.below(len.min(HEADER)),
            1 => len - 1 - self.rng.below(len.min(HEADER)),
            _ => self.rng.below(len),
        }
    }

    /// Writes an integer at a random offset, big-endian (2 times in 3) or little-endian;
    /// `data` is at least as long as the integer.
    fn put(&mut self, data: &mut [u8], be: &[u8], le: &[u8]) {
        let at = self.offset(data.len() + 1 - be.len());
        let bytes = if self.rng.one_in(3) { le } else { be };
        data[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn mutate_once(&mut self, data: &mut Vec<u8>, other: &[u8]) {
        let len = data.len();
        match self.rng.below(12) {
            0 if len > 0 => {
                let at = self.offset(len);
                data[at] ^= 1 << self.rng.below(8);
            }
            1 if len > 0 => {
                let at = self.offset(len);
                data[at] = INTERESTING_8[self.rng.below(INTERESTING_8.len())];
            }
            2 if len > 0 => {
                let at = self.offset(len);
                let delta = 1 + self.rng.below(16) as u8;
                data[at] = if self.rng.one_in(2) {
                    data[at].wrapping_add(delta)
                } else {
                    data[at].wrapping_sub(delta)
                };
            }
            3 if len >= 2 => {
                let v = INTERESTING_16[self.rng.below(INTERESTING_16.len())];
                self.put(data, &v.to_be_bytes(), &v.to_le_bytes());
            }
            4 if len >= 4 => {
                let v = INTERESTING_32[self.rng.below(INTERESTING_32.len())];
                self.put(data, &v.to_be_bytes(), &v.to_le_bytes());
            }
            5 if len > 0 => {
                let keep = self.offset(len);
                data.truncate(keep);
            }
            6 if len > 0 => {
                // Duplicate a chunk at another position.
                let start = self.offset(len);
                let n = 1 + self.rng.below((len - start).min(256));
                let chunk = data[start..start + n].to_vec();
                let at = self.rng.below(len + 1);
                if len + n <= MAX_INPUT {
                    data.splice(at..at, chunk);
                }
            }
            7 if len > 0 => {
                let start = self.offset(len);
                let n = 1 + self.rng.below((len - start).min(256));
                data.drain(start..start + n);
            }
            8 if !other.is_empty() => {
                // Splice: our prefix, then the other seed from some point on.
                let cut = self.offset(len.max(1)).min(len);
                let from = self.rng.below(other.len());
                data.truncate(cut);
                let room = MAX_INPUT.saturating_sub(cut);
                data.extend_from_slice(&other[from..other.len().min(from + room)]);
            }
            9 => {
                let n = 1 + self.rng.below(8);
                let at = self.rng.below(len + 1);
                let bytes: Vec<u8> = (0..n).map(|_| self.rng.next_u64() as u8).collect();
                data.splice(at..at, bytes);
            }
            10 | 11 if !self.dictionary.is_empty() => {
                let token = self.dictionary[self.rng.below(self.dictionary.len())];
                let at = self.rng.below(len + 1);
                if self.rng.one_in(2) || len < token.len() {
                    data.splice(at..at, token.iter().copied());
                } else {
                    let at = at.min(len - token.len());
                    data[at..at + token.len()].copy_from_slice(token);
                }
            }
            _ => {
                if len > 0 {
                    let at = self.rng.below(len);
                    data[at] = self.rng.next_u64() as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_change_inputs_and_stay_bounded() {
        let seed: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        let dict: [&[u8]; 2] = [b"ENS=", b":"];
        let mut m = Mutator::new(42, &dict);
        let mut changed = 0;
        for _ in 0..2000 {
            let out = m.mutate(&seed, b"other seed");
            assert!(out.len() <= MAX_INPUT);
            changed += usize::from(out != seed);
        }
        // Some mutations can undo each other or write what was there; nearly all change.
        assert!(changed > 1900, "{changed}");
        // Empty input and empty other never panic.
        for _ in 0..500 {
            let _ = m.mutate(b"", b"");
        }
    }

    #[test]
    fn same_seed_same_mutants() {
        let dict: [&[u8]; 1] = [b"x"];
        let a: Vec<Vec<u8>> = {
            let mut m = Mutator::new(9, &dict);
            (0..50)
                .map(|_| m.mutate(b"GRIB....7777", b"PAR1"))
                .collect()
        };
        let mut m = Mutator::new(9, &dict);
        let b: Vec<Vec<u8>> = (0..50)
            .map(|_| m.mutate(b"GRIB....7777", b"PAR1"))
            .collect();
        assert_eq!(a, b);
    }
}
