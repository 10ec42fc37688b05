//! `gik-mirror`: the test mirror as a standalone server, for trying the builder or the browser
//! app by hand against synthetic GEFS/ECMWF runs without the internet.
//!
//! ```text
//! gik-mirror --port 8080 --latency-ms 30 --static static/dist --date 20250801 --run 00
//! ```
//!
//! Serves `/noaa-gefs-pds/...` and `/ecmwf-forecasts/...` (synthetic runs), `/fixtures/...`
//! (the shared real GRIB2 fixtures) and, with `--static`, a directory at `/`.

use std::process::ExitCode;
use std::time::Duration;

use gik_core::time::RunTime;
use gik_tests::mirror::{DirContent, FaultRule, MirrorConfig, MirrorServer, Mount};
use gik_tests::synthetic::{self, Synthetic, SyntheticConfig};

const USAGE: &str = "\
gik-mirror: a local S3-like mirror of synthetic GEFS and ECMWF ENS runs

USAGE: gik-mirror [OPTIONS]

OPTIONS:
  --port N             port to listen on (default 8080; 0 = any free port)
  --host ADDR          address to bind (default 127.0.0.1)
  --latency-ms N       delay before every answer (default 0)
  --bandwidth N        total bandwidth limit, bytes per second (suffixes k, M; default none)
  --bandwidth-mbps N   the same in megabits per second (10 = a 10 Mbit/s office line)
  --static DIR         serve DIR at / (index.html for folders)
  --date YYYYMMDD      a run date to serve (repeatable; default 20250801)
  --run HH             a run hour to serve on every date (repeatable; default 00)
  --any-run            serve every date and run hour
  --fixtures DIR       real GRIB2 fixtures (default: $GIK_FIXTURES or shared/fixtures)
  --slowdown-every N   answer 503 SlowDown to every N-th request (for retry testing)
  -h, --help           this text
";

struct Args {
    port: u16,
    host: String,
    latency_ms: u64,
    bandwidth: Option<u64>,
    static_dir: Option<String>,
    dates: Vec<String>,
    runs: Vec<String>,
    any_run: bool,
    fixtures: Option<String>,
    slowdown_every: Option<u64>,
}

fn parse_bytes(s: &str) -> Option<u64> {
    let (digits, factor) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1_000),
        'm' | 'M' => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok().map(|n| n * factor)
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        port: 8080,
        host: "127.0.0.1".into(),
        latency_ms: 0,
        bandwidth: None,
        static_dir: None,
        dates: Vec::new(),
        runs: Vec::new(),
        any_run: false,
        fixtures: None,
        slowdown_every: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--port" => {
                args.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port: not a port number".to_string())?;
            }
            "--host" => args.host = value("--host")?,
            "--latency-ms" => {
                args.latency_ms = value("--latency-ms")?
                    .parse()
                    .map_err(|_| "--latency-ms: not a number".to_string())?;
            }
            "--bandwidth" => {
                let v = value("--bandwidth")?;
                args.bandwidth =
                    Some(parse_bytes(&v).ok_or_else(|| format!("--bandwidth: bad value {v}"))?);
            }
            "--bandwidth-mbps" => {
                let v = value("--bandwidth-mbps")?;
                let mbps: f64 = v
                    .parse()
                    .ok()
                    .filter(|m: &f64| m.is_finite() && *m > 0.0)
                    .ok_or_else(|| format!("--bandwidth-mbps: bad value {v}"))?;
                args.bandwidth = Some((mbps * 1e6 / 8.0).round() as u64);
            }
            "--static" => args.static_dir = Some(value("--static")?),
            "--date" => args.dates.push(value("--date")?),
            "--run" => args.runs.push(value("--run")?),
            "--any-run" => args.any_run = true,
            "--fixtures" => args.fixtures = Some(value("--fixtures")?),
            "--slowdown-every" => {
                let n: u64 = value("--slowdown-every")?
                    .parse()
                    .map_err(|_| "--slowdown-every: not a number".to_string())?;
                args.slowdown_every = Some(n.max(1));
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gik-mirror: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gik-mirror: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let dates = if args.dates.is_empty() {
        vec!["20250801".to_string()]
    } else {
        args.dates
    };
    let hours = if args.runs.is_empty() {
        vec!["00".to_string()]
    } else {
        args.runs
    };
    let mut runs = Vec::new();
    for date in &dates {
        for hour in &hours {
            runs.push(RunTime::parse(date, hour).map_err(|e| e.to_string())?);
        }
    }
    let mut config = SyntheticConfig::new(runs.iter().copied());
    config.any_run = args.any_run;
    if let Some(dir) = &args.fixtures {
        config.fixtures = dir.into();
    }
    let fixtures = config.fixtures.clone();
    let synthetic = Synthetic::load(config).map_err(|e| e.to_string())?;
    let mut mount = synthetic
        .mount()
        .at("fixtures", DirContent::new(fixtures.clone()));
    if let Some(dir) = &args.static_dir {
        mount = mount.at("", DirContent::new(dir));
    }
    let mount: Mount = mount;
    let mut mirror = MirrorConfig::new(mount)
        .host(&args.host)
        .port(args.port)
        .latency(Duration::from_millis(args.latency_ms))
        .bandwidth(args.bandwidth);
    if let Some(n) = args.slowdown_every {
        mirror = mirror.fault(FaultRule::slow_down().every(n));
    }
    let server = MirrorServer::start(mirror).map_err(|e| format!("cannot listen: {e}"))?;
    let base = server.base_url();
    println!("{base}");
    eprintln!("gik-mirror listening on {base}");
    eprintln!("  fixtures: {}", fixtures.display());
    if let Some(dir) = &args.static_dir {
        eprintln!("  static:   {dir} at {base}/");
    }
    if let Some(first) = runs.first() {
        eprintln!(
            "  e.g. {base}/{}/{}.idx",
            synthetic::GEFS_BUCKET,
            synthetic::gefs_key(*first, 1, 15)
        );
        let index = synthetic::ecmwf_key(*first, 15).replace(".grib2", ".index");
        eprintln!("       {base}/{}/{index}", synthetic::ECMWF_BUCKET);
    }
    eprintln!(
        "  runs: {}{}",
        runs.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        if args.any_run { " (and any other)" } else { "" }
    );
    loop {
        std::thread::park();
    }
}
