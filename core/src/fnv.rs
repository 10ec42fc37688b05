//! FNV-1a (64-bit): the one non-cryptographic hash gik uses, written once.
//!
//! Why in core: decoded fields are compared with ecCodes' by a hash of their values, and the
//! Python scripts that write the references (`core/tests/data/ccsds_eccodes.py`,
//! `tests/python/check_subset.py`) compute the same hash, so the Rust side must be one function
//! every crate can reach ([`fnv1a64_values`]). The test mirror's ETags and the fuzzer's names
//! for saved inputs use the same hash over bytes ([`fnv1a64`]). Not for anything an attacker
//! chooses the input of when collisions would matter.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a of `bytes`.
pub fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes
        .into_iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// FNV-1a of `values` as little-endian `f32` bits, every NaN written as the quiet NaN
/// `0x7fc00000` (so a missing point hashes the same whatever its payload): the hash the
/// reference scripts compute of ecCodes' values.
pub fn fnv1a64_values(values: &[f32]) -> u64 {
    fnv1a64(values.iter().flat_map(|v| {
        let bits = if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() };
        bits.to_le_bytes()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Reference values of FNV-1a 64 (the empty input is the offset basis).
        assert_eq!(fnv1a64([]), OFFSET);
        assert_eq!(fnv1a64(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(*b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a64_values(&[1.0]), fnv1a64(1.0f32.to_le_bytes()));
        assert_eq!(
            fnv1a64_values(&[f32::from_bits(0x7fc0_0001), 2.5]),
            fnv1a64_values(&[f32::NAN, 2.5])
        );
        assert_ne!(fnv1a64_values(&[0.0]), fnv1a64_values(&[-0.0]));
    }
}
