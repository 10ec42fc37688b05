//! `gik`: the command line of the Grib-Index-Kerchunk toolkit.
//!
//! This file only wires subcommands to their modules; the formats live in `gik-core`.
//! Errors become `anyhow` errors here (and only here) and a non-zero exit code.

mod inspect;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Grib-Index-Kerchunk: ensemble forecast manifests from GRIB2 index files.
#[derive(Parser, Debug)]
#[command(name = "gik", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List every message of a GRIB2 file (offset, length, name, level, step, member, packing,
    /// grid, min/max/mean), or every record of an index file (`.idx`, `.index`).
    Inspect {
        /// A GRIB2 file, or an index file.
        file: PathBuf,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { file, json } => inspect::run(&file, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gik: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
