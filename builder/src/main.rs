//! `gik`: the command line (placeholder).
fn main() {}
