//! `gik inspect FILE [--json]`: one line per message of a GRIB2 file, or per record of an index.
//!
//! The everyday check a user makes, as `grib_ls` or `wgrib2 -s` do: where each message is, what
//! it is, how it is packed, and its value range. Statistics come from a full decode with
//! `gik-core`, so `inspect` doubles as a check that gik can read a file.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use gik_core::grib;
use gik_core::index::{IndexFormat, IndexRecord};
use serde_json::json;

/// Runs `gik inspect`.
pub fn run(path: &Path, as_json: bool) -> Result<()> {
    let name = path.display().to_string();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(format) = IndexFormat::from_name(&name) {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {name}"))?;
        // The GRIB2 file beside the index, if present, gives the last message's length.
        let grib_size = path
            .file_stem()
            .map(|stem| path.with_file_name(stem))
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.len());
        let records = format.parse(&text, &name, grib_size)?;
        for record in &records {
            print_record(&mut out, record, as_json)?;
        }
        return Ok(());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {name}"))?;
    let messages = grib::scan(&bytes).with_context(|| format!("scanning {name}"))?;
    if messages.is_empty() {
        anyhow::bail!("{name}: no GRIB2 message found");
    }
    if !as_json {
        writeln!(
            out,
            "{:>10} {:>9}  {:<8} {:<28} {:<14} {:<8} {:<6} {:>5} {:>5} {:>12} {:>12} {:>12}",
            "offset",
            "length",
            "name",
            "level",
            "step",
            "member",
            "pack",
            "ni",
            "nj",
            "min",
            "max",
            "mean"
        )?;
    }
    let mut failures = 0;
    for (offset, length) in messages {
        let message = &bytes[offset as usize..(offset + length) as usize];
        match grib::decode(message) {
            Ok(decoded) => print_message(&mut out, offset, &decoded, as_json)?,
            Err(e) => {
                failures += 1;
                if as_json {
                    writeln!(
                        out,
                        "{}",
                        json!({"offset": offset, "length": length, "error": e.to_string()})
                    )?;
                } else {
                    writeln!(out, "{offset:>10} {length:>9}  error: {e}")?;
                }
            }
        }
    }
    if failures > 0 {
        anyhow::bail!("{name}: {failures} message(s) could not be decoded");
    }
    Ok(())
}

fn print_message(
    out: &mut impl Write,
    offset: u64,
    decoded: &grib::DecodedMessage,
    as_json: bool,
) -> Result<()> {
    let info = &decoded.info;
    let meta = &info.metadata;
    let stats = decoded.stats();
    let member = meta.member.as_ref().map(ToString::to_string);
    // A product definition template gik does not describe: its values decode, its level and
    // time are not read, and the output says so instead of showing placeholders.
    let known = meta.unknown.is_none();
    let step = known.then(|| meta.time.to_string());
    if as_json {
        let finite = |v: f64| if v.is_finite() { json!(v) } else { json!(null) };
        writeln!(
            out,
            "{}",
            json!({
                "offset": offset,
                "length": info.length,
                "short_name": meta.short_name,
                "level": meta.level.to_string(),
                "type_of_level": meta.level.type_of_level,
                "level_value": meta.level.value,
                "step": step,
                "step_hours": known.then(|| meta.time.end_hours()),
                "unknown": meta.unknown,
                "member": member,
                "packing": format!("5.{}", info.packing.template),
                "packing_type": info.packing.name(),
                "ni": info.grid.ni,
                "nj": info.grid.nj,
                "valid_count": stats.count,
                "min": finite(stats.min),
                "max": finite(stats.max),
                "mean": finite(stats.mean),
            })
        )?;
    } else {
        let dim = |d: Option<usize>| d.map_or("-".to_string(), |v| v.to_string());
        writeln!(
            out,
            "{:>10} {:>9}  {:<8} {:<28} {:<14} {:<8} {:<6} {:>5} {:>5} {:>12.6} {:>12.6} {:>12.6}",
            offset,
            info.length,
            meta.short_name,
            meta.level.to_string(),
            step.unwrap_or_else(|| format!("?(4.{})", meta.product_template)),
            member.unwrap_or_else(|| "-".into()),
            format!("5.{}", info.packing.template),
            dim(info.grid.ni),
            dim(info.grid.nj),
            stats.min,
            stats.max,
            stats.mean
        )?;
    }
    Ok(())
}

fn print_record(out: &mut impl Write, r: &IndexRecord, as_json: bool) -> Result<()> {
    let member = r.member.as_ref().map(ToString::to_string);
    if as_json {
        writeln!(
            out,
            "{}",
            json!({
                "offset": r.offset,
                "length": r.length,
                "short_name": r.variable,
                "level": r.level.label,
                "type_of_level": r.level.type_of_level,
                "level_value": r.level.value,
                "step": r.time.to_string(),
                "step_hours": r.time.end_hours(),
                "member": member,
                "line": r.line,
            })
        )?;
    } else {
        let length = r.length.map_or("?".to_string(), |l| l.to_string());
        writeln!(
            out,
            "{:>10} {:>9}  {:<8} {:<36} {:<14} {}",
            r.offset,
            length,
            r.variable,
            r.level.label,
            r.time.to_string(),
            member.unwrap_or_else(|| "-".into())
        )?;
    }
    Ok(())
}
