//! Reading big-endian numbers and bit fields out of GRIB2 sections, with bounds checks.
//!
//! GRIB2 is a bit-oriented format with 1-based octet numbers in the WMO tables. Every read here
//! takes the *octet number as printed in the WMO table* so that the code can be checked against
//! the spec line by line, and returns an error instead of panicking on short input.

use super::GribError;

/// A section's bytes, addressed by 1-based WMO octet numbers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Octets<'a> {
    bytes: &'a [u8],
    section: u8,
}

impl<'a> Octets<'a> {
    pub(crate) fn new(bytes: &'a [u8], section: u8) -> Self {
        Self { bytes, section }
    }

    /// Bytes from octet `first` (1-based) to the end of the section.
    pub(crate) fn tail_from(&self, first: usize) -> Result<&'a [u8], GribError> {
        self.bytes
            .get(first.saturating_sub(1)..)
            .ok_or(GribError::Truncated {
                section: self.section,
                needed: first,
                available: self.bytes.len(),
            })
    }

    fn span(&self, first: usize, len: usize) -> Result<&'a [u8], GribError> {
        let start = first.saturating_sub(1);
        self.bytes
            .get(start..start + len)
            .ok_or(GribError::Truncated {
                section: self.section,
                needed: start + len,
                available: self.bytes.len(),
            })
    }

    /// Unsigned integer of `len` octets (1..=8) starting at octet `first`.
    pub(crate) fn uint(&self, first: usize, len: usize) -> Result<u64, GribError> {
        Ok(self
            .span(first, len)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    pub(crate) fn u8(&self, first: usize) -> Result<u8, GribError> {
        Ok(self.span(first, 1)?[0])
    }

    pub(crate) fn u16(&self, first: usize) -> Result<u16, GribError> {
        Ok(self.uint(first, 2)? as u16)
    }

    pub(crate) fn u32(&self, first: usize) -> Result<u32, GribError> {
        Ok(self.uint(first, 4)? as u32)
    }

    /// Sign-and-magnitude integer (GRIB2's convention for signed values: the first bit is the
    /// sign) of `len` octets.
    pub(crate) fn signed(&self, first: usize, len: usize) -> Result<i64, GribError> {
        let raw = self.uint(first, len)?;
        Ok(sign_magnitude(raw, (len * 8) as u32))
    }

    /// IEEE 754 single precision float.
    pub(crate) fn f32(&self, first: usize) -> Result<f32, GribError> {
        Ok(f32::from_bits(self.u32(first)?))
    }
}

/// Interprets the low `bits` bits of `raw` as a sign-and-magnitude integer.
pub(crate) fn sign_magnitude(raw: u64, bits: u32) -> i64 {
    if bits == 0 || bits > 64 {
        return 0;
    }
    let sign_bit = 1u64 << (bits - 1);
    let magnitude = (raw & (sign_bit - 1)) as i64;
    if raw & sign_bit != 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// A fast big-endian bit reader for the hot loops (CCSDS, packed values) with a 64-bit buffer: the next `valid` bits
/// are the top bits of `acc`. Reading past the end yields zeros and is caught by
/// [`BitStream::check`], so the hot paths have no per-read end test.
#[derive(Clone, Copy)]
pub(crate) struct BitStream<'a> {
    data: &'a [u8],
    /// Next byte to load (may run past `data.len()` while zeros are fed in).
    pos: usize,
    acc: u64,
    valid: u32,
}

impl<'a> BitStream<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        let mut bits = Self {
            data,
            pos: 0,
            acc: 0,
            valid: 0,
        };
        bits.refill();
        bits
    }

    /// Tops the buffer up to at least 56 valid bits.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(word) = self.data.get(self.pos..self.pos + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let word = u64::from_be_bytes(w);
            // The bytes below the ones counted are the true next bytes; the next refill ORs the
            // same bits again.
            self.acc |= word >> self.valid;
            let bytes = (63 - self.valid) >> 3;
            self.pos += bytes as usize;
            self.valid += bytes * 8;
        } else {
            while self.valid < 56 {
                let byte = self.data.get(self.pos).copied().unwrap_or(0);
                self.acc |= u64::from(byte) << (56 - self.valid);
                self.pos += 1;
                self.valid += 8;
            }
        }
    }

    /// Bits consumed so far.
    #[inline(always)]
    pub(crate) fn consumed(&self) -> usize {
        self.pos * 8 - self.valid as usize
    }

    /// Fails when more bits were read than the data holds.
    #[inline]
    pub(crate) fn check(&self) -> Result<(), GribError> {
        let available = self.data.len() * 8;
        if self.consumed() > available {
            return Err(GribError::DataTooShort {
                needed_bits: self.consumed(),
                available_bits: available,
            });
        }
        Ok(())
    }

    /// Reads `n` bits (1..=32) without refilling: the caller made sure `valid >= n`.
    #[inline(always)]
    fn take(&mut self, n: u32) -> u32 {
        let v = (self.acc >> (64 - n)) as u32;
        self.acc <<= n;
        self.valid -= n;
        v
    }

    /// Reads `n` bits (0..=32).
    #[inline(always)]
    pub(crate) fn read(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.valid < n {
            self.refill();
        }
        self.take(n)
    }

    /// Reads `out.len()` values of `n` bits (0..=32) and writes `f` of each to `out`, refilling
    /// once per bufferful rather than testing before every value.
    #[inline(always)]
    pub(crate) fn read_into<T>(&mut self, n: u32, out: &mut [T], mut f: impl FnMut(u32) -> T) {
        if n == 0 {
            out.iter_mut().for_each(|o| *o = f(0));
            return;
        }
        let mut rest = out;
        while !rest.is_empty() {
            if self.valid < n {
                self.refill();
            }
            // At least one: `valid >= n` now.
            let fit = ((self.valid / n) as usize).min(rest.len());
            let (now, later) = rest.split_at_mut(fit);
            for o in now {
                *o = f(self.take(n));
            }
            rest = later;
        }
    }

    /// Reads a fundamental sequence: the number of 0 bits before the next 1 bit.
    #[inline(always)]
    pub(crate) fn fs(&mut self) -> Result<u32, GribError> {
        if self.valid < 32 {
            self.refill();
        }
        let zeros = self.acc.leading_zeros();
        if zeros < self.valid {
            // zeros <= 62 here, so the shift by zeros + 1 stays below 64.
            self.acc <<= zeros + 1;
            self.valid -= zeros + 1;
            return Ok(zeros);
        }
        // The slow path gets and gives back the reader's fields one by one, so that this reader
        // never escapes to a call and its fields stay whole in registers (in wasm, a reader
        // passed or returned as a struct is loaded and stored through linear memory, its
        // 64-bit buffer split into pieces, on every read).
        let (zeros, pos, acc, valid) = Self::fs_long(self.data, self.pos, self.acc, self.valid)?;
        (self.pos, self.acc, self.valid) = (pos, acc, valid);
        Ok(zeros)
    }

    /// A fundamental sequence longer than the buffer: rare in valid data, endless in corrupt.
    /// Takes and returns the reader's `pos`, `acc` and `valid` (see [`Self::fs`]).
    #[cold]
    #[inline(never)]
    fn fs_long(
        data: &'a [u8],
        pos: usize,
        acc: u64,
        valid: u32,
    ) -> Result<(u32, usize, u64, u32), GribError> {
        let mut s = Self {
            data,
            pos,
            acc,
            valid,
        };
        let mut count = 0u32;
        loop {
            let zeros = s.acc.leading_zeros();
            if zeros < s.valid {
                s.acc <<= zeros + 1;
                s.valid -= zeros + 1;
                return Ok((count.saturating_add(zeros), s.pos, s.acc, s.valid));
            }
            count = count.saturating_add(s.valid);
            s.acc = 0;
            s.valid = 0;
            if s.pos > s.data.len() {
                s.check()?;
                return Err(GribError::Compression(
                    "CCSDS: fundamental sequence runs past the end of the data".into(),
                ));
            }
            s.refill();
        }
    }

    /// Skips to the next byte boundary.
    pub(crate) fn align(&mut self) {
        let skip = self.valid % 8;
        self.acc <<= skip;
        self.valid -= skip;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_across_byte_boundaries() {
        let bytes = [0b1010_1100, 0b0011_1111, 0xFF, 0x00];
        let mut r = BitStream::new(&bytes);
        assert_eq!(r.read(3), 0b101);
        assert_eq!(r.read(7), 0b011_0000);
        assert_eq!(r.read(0), 0);
        assert_eq!(r.consumed(), 10);
        r.align();
        assert_eq!(r.read(16), 0xFF00);
        assert!(r.check().is_ok());
        // Past the end: zeros, and the check fails.
        assert_eq!(r.read(1), 0);
        assert!(r.check().is_err());
    }

    #[test]
    fn read_into_matches_reads_one_at_a_time() {
        let bytes: Vec<u8> = (0..40u32).map(|i| (i * 37 + 11) as u8).collect();
        for n in 0..=32 {
            let values = (bytes.len() * 8) / n.max(1) as usize + 2;
            let mut one = BitStream::new(&bytes);
            let expected: Vec<u32> = (0..values).map(|_| one.read(n)).collect();
            let mut batch = BitStream::new(&bytes);
            let mut got = vec![0u32; values];
            batch.read_into(n, &mut got, |x| x);
            assert_eq!(got, expected, "{n} bits");
            assert_eq!(batch.consumed(), one.consumed());
            // Past the end (n > 0): zeros, and the check fails.
            assert_eq!(batch.check().is_err(), n > 0);
        }
    }

    #[test]
    fn fundamental_sequences() {
        // 0001 1 01, then 70 zero bits and a one: a sequence longer than the buffer.
        let mut bytes = vec![0b0001_1010, 0, 0, 0, 0, 0, 0, 0, 0, 0b0000_0100];
        let mut r = BitStream::new(&bytes);
        assert_eq!(r.fs().unwrap(), 3);
        assert_eq!(r.fs().unwrap(), 0);
        assert_eq!(r.fs().unwrap(), 1);
        assert_eq!(r.fs().unwrap(), 70);
        // No terminating one: an error, not a loop.
        bytes.truncate(9);
        let mut r = BitStream::new(&bytes);
        r.read(7);
        assert!(r.fs().is_err());
    }

    #[test]
    fn sign_magnitude_values() {
        assert_eq!(sign_magnitude(0x8001, 16), -1);
        assert_eq!(sign_magnitude(0x0001, 16), 1);
        assert_eq!(sign_magnitude(0x8000_0000 | 90_000_000, 32), -90_000_000);
        let o = Octets::new(&[0x80, 0x05, 0x01], 5);
        assert_eq!(o.signed(1, 2).unwrap(), -5);
        assert!(o.u32(1).is_err());
    }
}
