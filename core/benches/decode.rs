//! Decoding speed of full 0.25° global messages, natively: the GFS complex-packing message
//! (5.3) that stands in for GEFS, and an ECMWF CCSDS (5.42) message.
//!
//! `cargo bench -p gik-core --bench decode`
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn fixture(relative: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("GIK_FIXTURES_DIR")).join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bench_decode(c: &mut Criterion) {
    let cases = [
        (
            "gfs_0p25_complex_spatial_5.3",
            "gfs/gfs.20200325.t18z.pgrb2.0p25.f006",
        ),
        ("ecmwf_0p25_ccsds_5.42", "ecmwf/aifs-ens-cf-t500.grib2"),
    ];
    let mut group = c.benchmark_group("decode");
    group.sample_size(20);
    for (name, file) in cases {
        let bytes = fixture(file);
        let (offset, length) = gik_core::grib::scan(&bytes).unwrap()[0];
        let message = bytes[offset as usize..(offset + length) as usize].to_vec();
        group.throughput(Throughput::Elements(1_038_240));
        group.bench_function(name, |b| {
            b.iter(|| gik_core::grib::decode(&message).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
