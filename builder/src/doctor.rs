//! `gik doctor`: which sources of which product work today, for the builder and for a browser.
//!
//! Why: the public mirrors fail in ways nothing here can know in advance (a bucket that stops
//! sending CORS headers, a proxy that drops `Range`, throttling, an index left stale after a
//! re-upload). The doctor checks each source as the builder and the app will use it, and says
//! so in a table and in JSON that the scheduled workflow publishes beside `catalog.json` (the
//! builder reads the sources that passed; the app orders its sources by it).
//!
//! For each source of each product:
//! 1. the newest complete run, as `gik latest` defines it ([`crate::latest`]);
//! 2. the control's index at the run's first step after 0, and a `HEAD` of its GRIB2 file
//!    (status, size, latency) — an index whose ranges run past the file is stale;
//! 3. one message read with a Range GET carrying an `Origin` header: `206`?
//!    `Access-Control-Allow-Origin`? `Access-Control-Expose-Headers`? throughput;
//! 4. the message decoded, and checked against what the index says (step, run, member).
//!
//! A source is usable by the builder when all of that works, and from a browser when its
//! answer also allows the origin. The report fails ([`DoctorReport::app_can_draw`] false, a
//! non-zero exit) when a product has no source usable from a browser: the app's default
//! configuration, which lists every product, could not draw that product's map.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use gik_core::grib;
use gik_core::index::IndexRecord;
use gik_core::product::{product_by_name, records_for, select_variables, Hosts, Member, Product};
use gik_core::time::RunTime;
use serde::{Deserialize, Serialize};

use crate::clock::now_iso;
use crate::http::{HttpClient, ObjectKind, RetryConfig};
use crate::latest::latest_complete_run;

/// The `Origin` sent by default: any origin a page may have; a source answering
/// `Access-Control-Allow-Origin: *` or echoing it allows every page.
pub const DEFAULT_ORIGIN: &str = "https://gik.example";

/// How to run the checks.
#[derive(Clone, Debug)]
pub struct DoctorOptions {
    /// The current time (the newest run is probed from it).
    pub now: RunTime,
    /// How many runs back `latest` probes.
    pub max_runs: usize,
    /// The `Origin` header of the browser-like request.
    pub origin: String,
    /// Retries of the builder-like requests (index, HEAD for `latest`).
    pub retry: RetryConfig,
    /// Requests in flight per source.
    pub concurrency: usize,
}

impl DoctorOptions {
    /// Checks at `now` with the default origin, 4 runs back, 2 retries, 64 requests in flight.
    pub fn new(now: RunTime) -> Self {
        Self {
            now,
            max_runs: 4,
            origin: DEFAULT_ORIGIN.to_string(),
            retry: RetryConfig {
                max_retries: 2,
                request_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            },
            concurrency: 64,
        }
    }
}

/// What was found about one source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceCheck {
    /// The source's base URL.
    pub base: String,
    /// The newest complete run (`YYYYMMDDHH`).
    pub latest_run: Option<String>,
    /// Status of the `HEAD` of the probed GRIB2 file.
    pub head_status: Option<u16>,
    /// Latency of that `HEAD`, in milliseconds.
    pub head_ms: Option<f64>,
    /// Status of the one-message Range GET.
    pub range_status: Option<u16>,
    /// Its `Access-Control-Allow-Origin`.
    pub allow_origin: Option<String>,
    /// Its `Access-Control-Expose-Headers`.
    pub expose_headers: Option<String>,
    /// Bytes of the message read.
    pub range_bytes: Option<u64>,
    /// Time of the Range GET, in milliseconds.
    pub range_ms: Option<f64>,
    /// Throughput of the Range GET, in MB/s.
    pub throughput_mb_s: Option<f64>,
    /// The message decoded: variable, step, points.
    pub decoded: Option<String>,
    /// The builder can read this source.
    pub builder_ok: bool,
    /// A browser page on the origin can read this source.
    pub browser_ok: bool,
    /// What went wrong, in words naming URLs.
    pub problems: Vec<String>,
}

/// The checks of one product.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductCheck {
    /// Sources in the order they are configured.
    pub sources: Vec<SourceCheck>,
}

impl ProductCheck {
    /// Bases usable by the builder, in order.
    pub fn builder_sources(&self) -> Vec<&str> {
        self.sources
            .iter()
            .filter(|s| s.builder_ok)
            .map(|s| s.base.as_str())
            .collect()
    }

    /// Bases usable from a browser, in order.
    pub fn browser_sources(&self) -> Vec<&str> {
        self.sources
            .iter()
            .filter(|s| s.browser_ok)
            .map(|s| s.base.as_str())
            .collect()
    }
}

/// Everything the doctor found (the JSON written with `--json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DoctorReport {
    /// When the checks ran (UTC, ISO 8601).
    pub generated_at: String,
    /// The `Origin` the browser-like request carried.
    pub origin: String,
    /// Per product (`gefs`, `ecmwf`).
    pub products: BTreeMap<String, ProductCheck>,
    /// Every product has a source usable from a browser.
    pub app_can_draw: bool,
}

/// Checks `sources` of each product (name → bases in order).
pub async fn doctor(
    products: &[(String, Vec<String>)],
    options: &DoctorOptions,
) -> Result<DoctorReport> {
    let mut report = DoctorReport {
        generated_at: now_iso(),
        origin: options.origin.clone(),
        ..DoctorReport::default()
    };
    for (name, bases) in products {
        let checks =
            futures::future::join_all(bases.iter().map(|base| check_source(name, base, options)))
                .await;
        let checks: Vec<SourceCheck> = checks.into_iter().collect::<Result<_>>()?;
        report
            .products
            .insert(name.clone(), ProductCheck { sources: checks });
    }
    report.app_can_draw = report
        .products
        .values()
        .all(|p| !p.browser_sources().is_empty());
    Ok(report)
}

/// Checks one source of product `name` (see the module docs). Errors only for a bad product
/// name or base URL; what the source does wrong is in [`SourceCheck::problems`].
pub async fn check_source(name: &str, base: &str, options: &DoctorOptions) -> Result<SourceCheck> {
    let product = product_by_name(name, &Hosts::default().with(name, base))?;
    let client = HttpClient::new(options.concurrency, options.retry.clone())?;
    let mut check = SourceCheck {
        base: product.host().to_string(),
        ..SourceCheck::default()
    };
    if let Err(e) = probe(product.as_ref(), &client, options, &mut check).await {
        check.problems.push(format!("{e:#}"));
    }
    check.browser_ok = check.builder_ok && allows(check.allow_origin.as_deref(), &options.origin);
    if check.builder_ok && !check.browser_ok {
        check.problems.push(format!(
            "no CORS: the Range answer has Access-Control-Allow-Origin {:?}, a page on {} \
             cannot read it",
            check.allow_origin, options.origin
        ));
    }
    Ok(check)
}

/// Whether `Access-Control-Allow-Origin` `value` lets a page on `origin` read the answer.
fn allows(value: Option<&str>, origin: &str) -> bool {
    value.is_some_and(|v| v.trim() == "*" || v.trim().eq_ignore_ascii_case(origin))
}

/// Steps 1–4 of the module docs, filling `check` as far as they get.
async fn probe(
    product: &dyn Product,
    client: &HttpClient,
    options: &DoctorOptions,
    check: &mut SourceCheck,
) -> Result<()> {
    let run = latest_complete_run(product, client, options.now, options.max_runs).await?;
    check.latest_run = Some(format!("{}{}", run.date_string(), run.hour_string()));
    let target = Target::of(product, run)?;
    let size = target.head(client, &options.origin, check).await?;
    let message = target.message(product, client, size).await?;
    let body = target
        .read(client, &message, &options.origin, check)
        .await?;
    check.decoded = Some(target.decode(&message, &body)?);
    check.builder_ok = true;
    Ok(())
}

/// The files the doctor reads: the control's at the run's first step after 0.
struct Target {
    step: u32,
    index_url: String,
    grib_url: String,
}

/// The message the doctor reads, as the index describes it.
struct Message {
    record: IndexRecord,
    length: u64,
}

impl Target {
    /// The control's files at the first step after 0 of `run`.
    fn of(product: &dyn Product, run: RunTime) -> Result<Self> {
        let step = product
            .steps(run)
            .get(1)
            .copied()
            .ok_or_else(|| anyhow!("{}: the {run} run has one step only", product.name()))?;
        Ok(Self {
            step,
            index_url: product.index_url(run, Member::Control, step)?,
            grib_url: product.grib_url(run, Member::Control, step)?,
        })
    }

    /// Step 2, the `HEAD` of the GRIB2 file: its size.
    async fn head(
        &self,
        client: &HttpClient,
        origin: &str,
        check: &mut SourceCheck,
    ) -> Result<u64> {
        let grib_url = &self.grib_url;
        let head = client.probe(grib_url, None, origin).await?;
        check.head_status = Some(head.status);
        check.head_ms = Some(millis(head.elapsed));
        if head.status != 200 {
            bail!("HEAD {grib_url}: HTTP {}", head.status);
        }
        head.content_length
            .ok_or_else(|| anyhow!("HEAD {grib_url}: no Content-Length"))
    }

    /// Step 2, the index (its records checked against the GRIB2 file's `size`): the first
    /// message of a default variable at the step.
    async fn message(
        &self,
        product: &dyn Product,
        client: &HttpClient,
        size: u64,
    ) -> Result<Message> {
        let (index_url, step) = (&self.index_url, self.step);
        let index = client.get_object(index_url, ObjectKind::Index).await?;
        let text =
            String::from_utf8(index.to_vec()).map_err(|_| anyhow!("{index_url}: not UTF-8"))?;
        let records = product
            .index_format()
            .parse(&text, index_url, Some(size))
            .with_context(|| format!("{} is {size} bytes", self.grib_url))?;
        let record = first_referenceable(product, &records, step).ok_or_else(|| {
            anyhow!("{index_url}: no record of a default variable at step {step}")
        })?;
        let length = record
            .length
            .ok_or_else(|| anyhow!("{index_url}: the record has no length"))?;
        Ok(Message {
            record: record.clone(),
            length,
        })
    }

    /// Step 3, the message read with a Range GET from a browser's origin: its bytes.
    async fn read(
        &self,
        client: &HttpClient,
        message: &Message,
        origin: &str,
        check: &mut SourceCheck,
    ) -> Result<bytes::Bytes> {
        let (grib_url, offset, length) = (&self.grib_url, message.record.offset, message.length);
        let answer = client
            .probe(grib_url, Some((offset, length)), origin)
            .await?;
        check.range_status = Some(answer.status);
        check.allow_origin = answer.allow_origin.clone();
        check.expose_headers = answer.expose_headers.clone();
        check.range_ms = Some(millis(answer.elapsed));
        if answer.status != 206 {
            bail!(
                "GET {grib_url} bytes {offset}+{length}: HTTP {} instead of 206 (Range ignored?)",
                answer.status
            );
        }
        let got = answer.body.len() as u64;
        check.range_bytes = Some(got);
        check.throughput_mb_s = Some(got as f64 / 1e6 / answer.elapsed.as_secs_f64().max(1e-6));
        if got != length {
            bail!("GET {grib_url} bytes {offset}+{length}: {got} bytes came back");
        }
        Ok(answer.body)
    }

    /// Step 4, the message decoded and checked against its index record (step, run,
    /// member): what it holds, in words.
    fn decode(&self, message: &Message, body: &[u8]) -> Result<String> {
        let (grib_url, index_url) = (&self.grib_url, &self.index_url);
        let (record, length) = (&message.record, message.length);
        let decoded = grib::decode(body).with_context(|| {
            format!(
                "{grib_url} bytes {}+{length} (from {index_url}, line {})",
                record.offset, record.line
            )
        })?;
        let meta = &decoded.info.metadata;
        let mut differs = Vec::new();
        if meta.time.end_whole_hours() != record.time.end_whole_hours() {
            differs.push(format!("step {:?} h", meta.time.end_whole_hours()));
        }
        if let (Some(m), Some(r)) = (meta.reference_time, record.reference_time) {
            if m != r {
                differs.push(format!("run {m}"));
            }
        }
        if let (Some(m), Some(r)) = (&meta.member, &record.member) {
            if m != r {
                differs.push(format!("member {m}"));
            }
        }
        if !differs.is_empty() {
            bail!(
                "{grib_url} bytes {}+{length}: the message is not what {index_url} line {} \
                 says (it has {})",
                record.offset,
                record.line,
                differs.join(", ")
            );
        }
        Ok(format!(
            "{} {} at {} h, {} points",
            meta.short_name,
            meta.level.type_of_level,
            self.step,
            decoded.values.len()
        ))
    }
}

/// The first record of `records` (one index) holding one of the product's default variables
/// for the control at `step`, referenceable by its byte range.
fn first_referenceable<'a>(
    product: &dyn Product,
    records: &'a [IndexRecord],
    step: u32,
) -> Option<&'a IndexRecord> {
    let variables = select_variables(product, &[]).ok()?;
    let wanted: Vec<(usize, u64)> = records_for(product, Member::Control, &variables, records)
        .into_iter()
        .filter(|(_, r)| r.time.end_whole_hours() == Some(step) && r.is_first_field())
        .map(|(_, r)| (r.line, r.offset))
        .collect();
    let (line, offset) = wanted.first()?;
    records
        .iter()
        .find(|r| r.line == *line && r.offset == *offset && r.length.is_some())
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// The bases of `product` that the report at `path` found usable by the builder, in order.
pub fn builder_sources_from(path: &std::path::Path, product: &str) -> Result<Vec<String>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading the doctor report {}", path.display()))?;
    let report: DoctorReport = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a gik doctor report", path.display()))?;
    Ok(report
        .products
        .get(product)
        .map(|p| {
            p.builder_sources()
                .into_iter()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

/// The report as a table, one line per source.
pub fn table(report: &DoctorReport) -> String {
    let mut out = format!(
        "{:<7} {:<62} {:<10} {:>5} {:>8} {:>5} {:<6} {:>9} {:<8} {:<8}\n",
        "product", "source", "latest", "HEAD", "ms", "range", "CORS", "MB/s", "builder", "browser"
    );
    let yes = |b: bool| if b { "ok" } else { "FAIL" };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for (name, product) in &report.products {
        for s in &product.sources {
            out.push_str(&format!(
                "{:<7} {:<62} {:<10} {:>5} {:>8} {:>5} {:<6} {:>9} {:<8} {:<8}\n",
                name,
                s.base,
                opt(s.latest_run.clone()),
                opt(s.head_status.map(|v| v.to_string())),
                opt(s.head_ms.map(|v| format!("{v:.0}"))),
                opt(s.range_status.map(|v| v.to_string())),
                if allows(s.allow_origin.as_deref(), &report.origin) {
                    "yes"
                } else {
                    "no"
                },
                opt(s.throughput_mb_s.map(|v| format!("{v:.1}"))),
                yes(s.builder_ok),
                yes(s.browser_ok),
            ));
            for p in &s.problems {
                out.push_str(&format!("        {p}\n"));
            }
        }
    }
    out.push_str(if report.app_can_draw {
        "every product has a source a browser can read\n"
    } else {
        "a product has no source a browser can read: the app's default configuration cannot \
         draw its map\n"
    });
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_allowed_by_star_or_echo() {
        assert!(allows(Some("*"), "https://a.example"));
        assert!(allows(Some("https://a.example"), "https://a.example"));
        assert!(!allows(Some("https://b.example"), "https://a.example"));
        assert!(!allows(None, "https://a.example"));
    }

    #[test]
    fn the_table_names_each_source_and_its_problems() {
        let mut report = DoctorReport {
            origin: "https://a.example".into(),
            ..DoctorReport::default()
        };
        report.products.insert(
            "gefs".into(),
            ProductCheck {
                sources: vec![SourceCheck {
                    base: "http://m1".into(),
                    problems: vec!["HEAD http://m1/x: HTTP 403".into()],
                    ..SourceCheck::default()
                }],
            },
        );
        let text = table(&report);
        assert!(
            text.contains("http://m1") && text.contains("HTTP 403"),
            "{text}"
        );
        assert!(text.contains("cannot draw"), "{text}");
    }
}
