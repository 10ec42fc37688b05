//! `gik inspect` on real fixtures: the table, the JSON lines, index files, and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn fixtures() -> PathBuf {
    let candidates = [
        std::env::var("GIK_FIXTURES").ok().map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")),
        Some(PathBuf::from("/work/shared/fixtures")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("SOURCES.md").is_file())
        .expect("shared fixtures")
}

fn gik(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gik"))
        .args(args)
        .output()
        .expect("run gik");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The ecCodes summary beside a fixture.
fn summary_of(grib: &std::path::Path) -> serde_json::Value {
    let path = format!("{}.summary.json", grib.display());
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `--json` output, one value per line.
fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn json_lines_match_eccodes_summary() {
    let file = fixtures().join("ecmwf/ecmwf-ifs-oper-surface.grib2");
    let (ok, stdout, stderr) = gik(&["inspect", file.to_str().unwrap(), "--json"]);
    assert!(ok, "{stderr}");
    let summary = summary_of(&file);
    let lines = json_lines(&stdout);
    let expected = summary["messages"].as_array().unwrap();
    assert_eq!(lines.len(), expected.len());
    for (line, m) in lines.iter().zip(expected) {
        for field in [
            "offset",
            "length",
            "short_name",
            "level",
            "step",
            "member",
            "packing",
            "ni",
            "nj",
            "min",
            "max",
            "mean",
        ] {
            assert!(line.get(field).is_some(), "missing {field} in {line}");
        }
        assert_eq!(line["offset"], m["offset"]);
        assert_eq!(line["length"], m["length"]);
        assert_eq!(line["short_name"], m["shortName"]);
        assert_eq!(line["packing"], "5.42");
        assert_eq!(line["ni"], m["Ni"]);
        let (got, want) = (line["mean"].as_f64().unwrap(), m["mean"].as_f64().unwrap());
        assert!(
            (got - want).abs() <= 1e-4 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
}

#[test]
fn table_has_one_line_per_message() {
    let file = fixtures().join("gfs/gfs.20200325.t18z.pgrb2.0p25.f006");
    let (ok, stdout, stderr) = gik(&["inspect", file.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[1].contains(" tp ") && lines[1].contains("0-6h acc") && lines[1].contains("5.3"),
        "{}",
        lines[1]
    );
}

#[test]
fn index_files_list_their_records() {
    let file = fixtures().join("gefs/idx/gep01.t00z.pgrb2s.0p25.f015.idx");
    let (ok, stdout, stderr) = gik(&["inspect", file.to_str().unwrap(), "--json"]);
    assert!(ok, "{stderr}");
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 38);
    let apcp = lines
        .iter()
        .find(|l| l["short_name"] == "APCP")
        .expect("APCP record");
    assert_eq!(apcp["step"], "12-15h acc");
    assert_eq!(apcp["member"], "+1");
    assert!(apcp["length"].as_u64().unwrap() > 0);
    // The last record's length needs the GRIB file, which is not there.
    assert!(lines.last().unwrap()["length"].is_null());
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("gik-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let truncated = dir.join("truncated.grib2");
    let bytes = std::fs::read(fixtures().join("gfs/gfs.20200325.t18z.pgrb2.0p25.f006")).unwrap();
    std::fs::write(&truncated, &bytes[..5000]).unwrap();
    let (ok, _, stderr) = gik(&["inspect", truncated.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("truncated.grib2") && stderr.contains("truncated"),
        "{stderr}"
    );
    let bad_idx = dir.join("bad.idx");
    std::fs::write(
        &bad_idx,
        "1:0:d=2025080100:TMP:2 m above ground:anl:\n2:oops:d=2025080100:TMP:surface:anl:\n",
    )
    .unwrap();
    let (ok, _, stderr) = gik(&["inspect", bad_idx.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("bad.idx") && stderr.contains("line 2"),
        "{stderr}"
    );
    let (ok, _, stderr) = gik(&["inspect", dir.join("absent.grib2").to_str().unwrap()]);
    assert!(!ok && stderr.contains("absent.grib2"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every GRIB file with an ecCodes summary in the shared fixtures, under `dir`.
fn summarised_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            summarised_files(&path, out);
        } else if let Some(grib) = path
            .to_str()
            .and_then(|p| p.strip_suffix(".summary.json"))
            .map(PathBuf::from)
            .filter(|g| g.is_file())
        {
            out.push(grib);
        }
    }
}

/// `gik inspect --json` on every summarised fixture, every message: where it is, its packing,
/// grid and value statistics as ecCodes gives them; level and step where gik describes the
/// product template, and an explicit `unknown` where it does not (PDT 4.107).
#[test]
fn every_summary_json_message_matches_inspect() {
    let mut files = Vec::new();
    summarised_files(&fixtures(), &mut files);
    files.sort();
    assert!(files.len() >= 30, "{files:?}");
    let (mut messages, mut unknown) = (0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let (_, stdout, _) = gik(&["inspect", file.to_str().unwrap(), "--json"]);
        let summary = summary_of(file);
        let lines = json_lines(&stdout);
        let expected = summary["messages"].as_array().unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(lines.len(), expected.len(), "{name}: one line per message");
        for (line, m) in lines.iter().zip(expected) {
            let label = format!("{name}@{}", m["offset"]);
            assert_eq!(line["offset"], m["offset"], "{label}");
            assert_eq!(line["length"], m["length"], "{label}");
            let drt = m["dataRepresentationTemplateNumber"].as_u64().unwrap();
            if let Some(error) = line.get("error") {
                // Only run-length packing (5.200) is not decoded natively.
                assert_eq!(drt, 200, "{label}: {error}");
                assert!(
                    error.as_str().unwrap().contains("5.200"),
                    "{label}: {error}"
                );
                continue;
            }
            messages += 1;
            assert_eq!(line["packing"], format!("5.{drt}"), "{label}");
            let dim = |v: &serde_json::Value| match v.as_u64() {
                Some(2147483647) | None => serde_json::Value::Null,
                Some(n) => n.into(),
            };
            if m["gridDefinitionTemplateNumber"].as_u64() == Some(0) {
                assert_eq!(line["ni"], dim(&m["Ni"]), "{label}");
                assert_eq!(line["nj"], dim(&m["Nj"]), "{label}");
            }
            assert_eq!(line["valid_count"], m["valid_count"], "{label}");
            for key in ["min", "max", "mean"] {
                let (got, want) = (line[key].as_f64(), m[key].as_f64().unwrap());
                let scale = m["max"]
                    .as_f64()
                    .unwrap()
                    .abs()
                    .max(m["min"].as_f64().unwrap().abs());
                if !got.is_some_and(|g| (g - want).abs() <= 1e-4 * scale.max(1.0)) {
                    failures.push(format!("{label}: {key} {got:?} vs ecCodes {want}"));
                }
            }
            let pdt = m["productDefinitionTemplateNumber"].as_u64().unwrap();
            if matches!(pdt, 0..=15 | 40..=43) {
                assert!(line["unknown"].is_null(), "{label}");
                assert_eq!(line["type_of_level"], m["typeOfLevel"], "{label}");
                if m["stepType"] == "instant" {
                    let (got, want) = (
                        line["step_hours"].as_f64().unwrap(),
                        m["step"].as_f64().unwrap(),
                    );
                    // ecCodes gives sub-hourly steps in minutes.
                    assert!(
                        got == want || got * 60.0 == want,
                        "{label}: step {got} vs {want}"
                    );
                }
            } else {
                unknown += 1;
                let text = line["unknown"].as_str().unwrap_or_default();
                assert!(text.contains(&format!("4.{pdt}")), "{label}: {line}");
                assert!(line["step"].is_null(), "{label}");
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        messages > 900 && unknown >= 2,
        "{messages} messages, {unknown} unknown"
    );
}
