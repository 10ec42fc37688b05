//! The `gik stream` command line, as clap parses it (raw text; [`super::plan`] validates it).

use std::path::PathBuf;

use anyhow::Result;

use super::presets::Preset;

/// `gik stream`: read the messages of a run that a job needs, crop them to a box and write
/// one CF NetCDF-4 file.
///
/// Examples:
///
/// ```text
/// gik stream --catalog https://host/gik --preset cgan --date 20250801 --out cgan.nc
/// gik stream --catalog ./published --product gefs --preset rain-probability --out rain.nc
/// gik stream --catalog ./published --product gefs --vars "TMP:2 m above ground" \
///            --steps 0-48 --members 0-4 --bbox=-12,23,21,53 --out t2m.nc
/// ```
#[derive(clap::Parser, Debug, Clone)]
pub struct StreamArgs {
    /// The catalog: a folder or http(s) URL holding catalog.json, or the catalog file itself.
    #[arg(long)]
    pub catalog: String,
    /// Product: gefs or ecmwf (the cgan preset implies ecmwf).
    #[arg(long)]
    pub product: Option<String>,
    /// Run date YYYYMMDD (default: the newest run of the product in the catalog).
    #[arg(long)]
    pub date: Option<String>,
    /// Run hour: 00, 06, 12 or 18 (default 00 with --date).
    #[arg(long)]
    pub run: Option<String>,
    /// A named request: cgan or rain-probability. Explicit options win over the preset's.
    #[arg(long)]
    pub preset: Option<Preset>,
    /// Variables, comma-separated, in the product's vocabulary (default: all in the catalog).
    #[arg(long, value_delimiter = ',')]
    pub vars: Vec<String>,
    /// Steps: `all`, `0-48`, `0-240/6`, `24,48` (default: the steps in the catalog).
    #[arg(long)]
    pub steps: Option<String>,
    /// Members: `all`, names, numbers or ranges (default: the members in the catalog; presets:
    /// all).
    #[arg(long)]
    pub members: Option<String>,
    /// Box `S,N,W,E` in degrees, e.g. `-12,23,21,53` (longitudes −180…180 or 0…360; W > E
    /// crosses 180°). Default: the preset's, else the whole globe.
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// Exceedance thresholds in mm (rain-probability; default 1,5,10,25,50).
    #[arg(long, value_delimiter = ',')]
    pub thresholds: Vec<f32>,
    /// Only the 24-hour window ending at this step (rain-probability).
    #[arg(long, conflicts_with = "windows")]
    pub window_end: Option<u32>,
    /// Windows (rain-probability): window ends (`24,48`) or `A-B` windows; default every 24-h
    /// window from 0 to the last step.
    #[arg(long)]
    pub windows: Option<String>,
    /// Output NetCDF file (written as FILE.partial, then renamed).
    #[arg(long)]
    pub out: PathBuf,
    /// Read the messages from these base URLs instead of the one recorded in the manifests
    /// (mirrors of the product's bucket, e.g. http://127.0.0.1:8765/ecmwf-forecasts), tried in
    /// order per message: repeat the option or give a comma list.
    #[arg(long = "source", env = "GIK_SOURCES", value_delimiter = ',')]
    pub sources: Vec<String>,
    /// Fail, writing nothing, if any message is missing.
    #[arg(long)]
    pub strict: bool,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Deflate level of the data variables, 0 (none) to 9.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(0..=9))]
    pub deflate: u8,
}

impl StreamArgs {
    /// Parses arguments as the command line does (`args` without the program name).
    pub fn from_args<I, S>(args: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        let all = std::iter::once(std::ffi::OsString::from("gik-stream"))
            .chain(args.into_iter().map(Into::into));
        Ok(Self::try_parse_from(all)?)
    }
}
