//! ECMWF open-data `.index` parser.
//!
//! ECMWF publishes, beside each open-data GRIB2 file, one JSON object per line and per message:
//!
//! ```text
//! {"domain": "g", "date": "20250301", "time": "0000", "expver": "0001", "class": "od",
//!  "type": "pf", "stream": "enfo", "step": "0-6", "levtype": "pl", "levelist": "700",
//!  "number": "3", "param": "t", "_offset": 1803199, "_length": 821241}
//! ```
//!
//! (one line in the file). The keys are MARS keywords; `_offset` and `_length` locate the message.
//! Required: `param`, `date` (`YYYYMMDD`), `time` (`HHMM`, or `HH`), `step` (`6` or `0-6`, hours),
//! `levtype`, `type`, `_offset`, `_length`; `levelist` is required for level types that have a
//! value (`pl`, `ml`, `pt`, `pv`, `sol`), `number` for perturbed members (`type` `pf`). Other
//! keys (`domain`, `class`, `stream`, `expver`, ...) are ignored. Textual keys may also be JSON
//! integers (`"number": 3`).

use serde_json::{Map, Value};

use super::{EnsembleMember, ForecastTime, IndexRecord, Level, Statistic};
use crate::time::RunTime;
use crate::{Error, Result};

/// Parses ECMWF JSON lines.
///
/// `source_name` (the index's path or URL) is used in error messages. Blank lines are skipped and
/// CRLF line ends accepted. A line that is not a JSON object, lacks a required key or has a key
/// of the wrong type or form is an [`Error::IndexLine`] naming the 1-based line and the key.
pub fn parse(text: &str, source_name: &str) -> Result<Vec<IndexRecord>> {
    let mut records = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let record = parse_line(line, line_no).map_err(|reason| Error::IndexLine {
            source_name: source_name.to_string(),
            line: line_no,
            reason,
        })?;
        records.push(record);
    }
    Ok(records)
}

/// Parses one non-blank line; the error is the reason only (the caller adds file and line).
fn parse_line(line: &str, line_no: usize) -> Result<IndexRecord, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err(format!(
            "expected a JSON object, found {}",
            json_kind(&value)
        ));
    };

    let param = required_text(&object, "param")?;
    let date = required_text(&object, "date")?;
    let time = required_text(&object, "time")?;
    let step = required_text(&object, "step")?;
    let levtype = required_text(&object, "levtype")?;
    let kind = required_text(&object, "type")?;
    let offset = required_u64(&object, "_offset")?;
    let length = required_u64(&object, "_length")?;
    let levelist = optional_text(&object, "levelist")?;
    let number = optional_text(&object, "number")?;

    if length == 0 {
        return Err("key \"_length\" must be greater than 0".to_string());
    }
    if offset.checked_add(length).is_none() {
        return Err("keys \"_offset\" + \"_length\" overflow".to_string());
    }

    Ok(IndexRecord {
        variable: param,
        level: parse_level(&levtype, levelist.as_deref())?,
        time: parse_step(&step)?,
        member: parse_member(&kind, number.as_deref())?,
        reference_time: Some(parse_reference_time(&date, &time)?),
        offset,
        length: Some(length),
        line: line_no,
        sub_field: None,
    })
}

/// The JSON type of a value, for error messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A textual key: a non-empty string, or an integer written as a JSON number. `None` when the
/// key is absent or null.
fn optional_text(object: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                Err(format!("key \"{key}\" is empty"))
            } else {
                Ok(Some(s.to_string()))
            }
        }
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        Some(other) => Err(format!(
            "key \"{key}\" must be a string, found {}",
            json_kind(other)
        )),
    }
}

/// A textual key that must be present.
fn required_text(object: &Map<String, Value>, key: &str) -> Result<String, String> {
    optional_text(object, key)?.ok_or_else(|| format!("missing key \"{key}\""))
}

/// A non-negative integer key that must be present (`_offset`, `_length`).
fn required_u64(object: &Map<String, Value>, key: &str) -> Result<u64, String> {
    match object.get(key) {
        None | Some(Value::Null) => Err(format!("missing key \"{key}\"")),
        Some(value) => value
            .as_u64()
            .ok_or_else(|| format!("key \"{key}\" must be a non-negative integer, found {value}")),
    }
}

/// `date` `YYYYMMDD` and `time` `HHMM` (`0000`, `1200`, `600`) or `HH`.
fn parse_reference_time(date: &str, time: &str) -> Result<RunTime, String> {
    let bad_time = || format!("key \"time\" {time:?} is not HHMM (0000, 0600, 1200, 1800)");
    if time.is_empty() || time.len() > 4 || !time.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_time());
    }
    let t: u32 = time.parse().map_err(|_| bad_time())?;
    let hour = if time.len() <= 2 {
        t
    } else if t.is_multiple_of(100) {
        t / 100
    } else {
        return Err(format!(
            "key \"time\" {time:?}: runs must start on the hour"
        ));
    };
    if hour > 23 {
        return Err(bad_time());
    }
    RunTime::parse(date, &hour.to_string()).map_err(|e| format!("key \"date\" {date:?}: {e}"))
}

/// One step value: hours (`6`, `6h`) or minutes (`30m`), in minutes.
fn step_minutes(s: &str) -> Option<u32> {
    let (digits, per) = if let Some(d) = s.strip_suffix('h') {
        (d, 60)
    } else if let Some(d) = s.strip_suffix('m') {
        (d, 1)
    } else {
        (s, 60)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok()?.checked_mul(per)
}

/// `step`: `6` is a lead time of 6 hours, `0-6` a window (statistic not stated in the index).
fn parse_step(step: &str) -> Result<ForecastTime, String> {
    let bad = || format!("key \"step\" {step:?} is not N or N-M (hours)");
    match step.split_once('-') {
        None => Ok(ForecastTime::Lead {
            minutes: step_minutes(step).ok_or_else(bad)?,
        }),
        Some((a, b)) => {
            let start_minutes = step_minutes(a).ok_or_else(bad)?;
            let end_minutes = step_minutes(b).ok_or_else(bad)?;
            if end_minutes < start_minutes {
                return Err(format!(
                    "key \"step\" {step:?}: window ends before it starts"
                ));
            }
            Ok(ForecastTime::Window {
                start_minutes,
                end_minutes,
                statistic: Statistic::Other,
            })
        }
    }
}

/// `type` (and `number`) to a member: `cf` control, `pf` perturbed member `number`, `em`/`es`
/// ensemble mean/spread; any other type (`fc`, `an`, `ep`, ...) is not a member.
fn parse_member(kind: &str, number: Option<&str>) -> Result<Option<EnsembleMember>, String> {
    match kind {
        "cf" => Ok(Some(EnsembleMember::Control)),
        "pf" => {
            let n = number.ok_or("missing key \"number\" (required for type pf)")?;
            let member = n
                .parse::<u16>()
                .ok()
                .filter(|_| n.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("key \"number\" {n:?} is not a member number"))?;
            Ok(Some(EnsembleMember::Perturbed(member)))
        }
        "em" | "es" => Ok(Some(EnsembleMember::Derived(kind.to_string()))),
        _ => Ok(None),
    }
}

/// `levtype` (and `levelist`) to a [`Level`] with ecCodes `typeOfLevel` names. The label is
/// `levtype/levelist` (`pl/700`) or `levtype` alone (`sfc`).
fn parse_level(levtype: &str, levelist: Option<&str>) -> Result<Level, String> {
    let (type_of_level, needs_value) = match levtype {
        "sfc" => ("surface", false),
        "pl" => ("isobaricInhPa", true),
        "ml" => ("hybrid", true),
        "sol" => ("soilLayer", true),
        "pt" => ("theta", true),
        "pv" => ("potentialVorticity", true),
        other => (other, false),
    };
    let value = match levelist {
        Some(text) => Some(
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .filter(|_| !text.starts_with(|c: char| c.is_ascii_alphabetic()))
                .ok_or_else(|| format!("key \"levelist\" {text:?} is not a number"))?,
        ),
        None if needs_value => {
            return Err(format!(
                "missing key \"levelist\" (required for levtype {levtype})"
            ))
        }
        None => None,
    };
    let label = match levelist {
        Some(l) => format!("{levtype}/{l}"),
        None => levtype.to_string(),
    };
    Ok(Level {
        type_of_level: type_of_level.to_string(),
        value: if levtype == "sfc" { None } else { value },
        second_value: None,
        label,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::test_support::{line_error, read_fixture};
    use proptest::prelude::*;

    const AIFS: &str = "ecmwf/index/aifs_single_20250301_00z_0h.index";

    fn text(relative: &str) -> String {
        String::from_utf8(read_fixture(relative)).unwrap()
    }

    #[test]
    fn a_stale_index_is_refused_with_its_line() {
        // The real index against GRIB2 files of the right size and one byte short.
        let text = text(AIFS);
        let records = parse(&text, AIFS).unwrap();
        let (end, line) = records
            .iter()
            .map(|r| (r.offset + r.length.unwrap(), r.line))
            .max()
            .unwrap();
        let format = crate::index::IndexFormat::Ecmwf;
        assert_eq!(format.parse(&text, AIFS, Some(end)).unwrap(), records);
        let (source, bad_line, display) = line_error(format.parse(&text, AIFS, Some(end - 1)));
        assert_eq!((source.as_str(), bad_line), (AIFS, line));
        assert!(
            display.contains("stale") && display.contains(&format!("..{end}")),
            "{display}"
        );
        assert!(records.iter().all(|r| r.sub_field.is_none()));
    }

    /// A valid line with `key` replaced by `value` (or removed when `value` is `None`).
    fn line_with(key: &str, value: Option<Value>) -> String {
        let mut object: Map<String, Value> = serde_json::from_str(
            r#"{"domain": "g", "date": "20250301", "time": "1200", "expver": "0001",
                "class": "od", "type": "pf", "stream": "enfo", "step": "6", "levtype": "pl",
                "levelist": "700", "number": "3", "param": "t", "_offset": 100, "_length": 50}"#,
        )
        .unwrap();
        match value {
            Some(v) => object.insert(key.to_string(), v),
            None => object.remove(key),
        };
        Value::Object(object).to_string()
    }

    #[test]
    fn aifs_fixture() {
        let records = parse(&text(AIFS), AIFS).unwrap();
        assert_eq!(records.len(), 106);
        let count = |t: &str| {
            records
                .iter()
                .filter(|r| r.level.type_of_level == t)
                .count()
        };
        assert_eq!(count("isobaricInhPa"), 78);
        assert_eq!(count("surface"), 24);
        assert_eq!(count("soilLayer"), 4);
        let run = RunTime::new(2025, 3, 1, 0).unwrap();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.line, i + 1);
            assert_eq!(r.reference_time, Some(run));
            assert_eq!(r.time, ForecastTime::hours(0));
            assert_eq!(r.member, None, "type fc is not an ensemble member");
        }
        // The messages are contiguous: each starts where the previous one ends.
        assert_eq!(records[0].offset, 0);
        for pair in records.windows(2) {
            assert_eq!(
                pair[0].offset + pair[0].length.unwrap(),
                pair[1].offset,
                "line {}",
                pair[1].line
            );
        }
        let last = records.last().unwrap();
        assert_eq!((last.offset, last.length), (79_165_763, Some(722_726)));
        assert_eq!(last.variable, "v");
        assert_eq!(last.level.label, "pl/925");

        let first = &records[0];
        assert_eq!(first.variable, "vsw");
        assert_eq!(first.level.type_of_level, "soilLayer");
        assert_eq!(first.level.value, Some(1.0));
        assert_eq!(first.level.label, "sol/1");
        assert_eq!((first.offset, first.length), (0, Some(691_563)));

        let z100 = &records[2];
        assert_eq!(z100.variable, "z");
        assert_eq!(z100.level.type_of_level, "isobaricInhPa");
        assert_eq!(z100.level.value, Some(100.0));
        assert_eq!(z100.level.second_value, None);
        assert_eq!(z100.level.label, "pl/100");
        assert_eq!((z100.offset, z100.length), (1_803_199, Some(821_241)));

        let sfc = records
            .iter()
            .find(|r| r.level.label == "sfc")
            .expect("a surface field");
        assert_eq!(sfc.level.type_of_level, "surface");
        assert_eq!(sfc.level.value, None);
    }

    #[test]
    fn s2s_index_is_not_open_data_schema() {
        let name = "ecmwf/s2s_control_2026-08-10T00Z.grib2.index";
        let (source, line, display) = line_error(parse(&text(name), name));
        assert_eq!(source, name);
        assert_eq!(line, 1);
        assert!(display.contains("missing key \""), "{display}");
    }

    #[test]
    fn members_from_type_and_number() {
        let member = |line: String| parse(&line, "m.index").unwrap()[0].member.clone();
        assert_eq!(
            member(line_with("type", Some("pf".into()))),
            Some(EnsembleMember::Perturbed(3))
        );
        assert_eq!(
            member(line_with("number", Some(Value::from(17)))),
            Some(EnsembleMember::Perturbed(17))
        );
        assert_eq!(
            member(line_with("type", Some("cf".into()))),
            Some(EnsembleMember::Control)
        );
        assert_eq!(
            member(line_with("type", Some("em".into()))),
            Some(EnsembleMember::Derived("em".into()))
        );
        assert_eq!(
            member(line_with("type", Some("es".into()))),
            Some(EnsembleMember::Derived("es".into()))
        );
        assert_eq!(member(line_with("type", Some("fc".into()))), None);
        assert_eq!(member(line_with("type", Some("ep".into()))), None);

        for (value, word) in [
            (None, "missing key \"number\""),
            (Some(Value::from("x")), "key \"number\""),
            (Some(Value::from("-1")), "key \"number\""),
            (Some(Value::from("70000")), "key \"number\""),
            (Some(Value::from(1.5)), "key \"number\""),
        ] {
            let (_, line, display) = line_error(parse(&line_with("number", value), "m.index"));
            assert_eq!(line, 1);
            assert!(display.contains(word), "{display}");
        }
    }

    #[test]
    fn steps_levels_and_times() {
        let record = |key: &str, v: &str| {
            parse(&line_with(key, Some(v.into())), "s.index").unwrap()[0].clone()
        };
        assert_eq!(record("step", "6").time, ForecastTime::hours(6));
        assert_eq!(record("step", "360").time, ForecastTime::hours(360));
        assert_eq!(
            record("step", "0-6").time,
            ForecastTime::window_hours(0, 6, Statistic::Other)
        );
        assert_eq!(
            record("step", "30m").time,
            ForecastTime::Lead { minutes: 30 }
        );
        assert_eq!(
            record("time", "1200").reference_time,
            Some(RunTime::new(2025, 3, 1, 12).unwrap())
        );
        assert_eq!(
            record("time", "600").reference_time,
            Some(RunTime::new(2025, 3, 1, 6).unwrap())
        );
        assert_eq!(
            record("time", "18").reference_time,
            Some(RunTime::new(2025, 3, 1, 18).unwrap())
        );
        let level = |levtype: &str| record("levtype", levtype).level;
        assert_eq!(level("pl").type_of_level, "isobaricInhPa");
        assert_eq!(level("pl").value, Some(700.0));
        assert_eq!(level("pl").label, "pl/700");
        assert_eq!(level("ml").type_of_level, "hybrid");
        assert_eq!(level("sol").type_of_level, "soilLayer");
        assert_eq!(level("pt").type_of_level, "theta");
        assert_eq!(level("pv").type_of_level, "potentialVorticity");
        assert_eq!(level("sfc").type_of_level, "surface");
        assert_eq!(level("sfc").value, None);
        assert_eq!(level("xyz").type_of_level, "xyz");
        let sfc = parse(
            &line_with("levelist", None).replace("\"pl\"", "\"sfc\""),
            "s.index",
        )
        .unwrap();
        assert_eq!(sfc[0].level.label, "sfc");
        assert_eq!(sfc[0].level.value, None);
        let numeric = parse(&line_with("levelist", Some(Value::from(850))), "s.index").unwrap();
        assert_eq!(numeric[0].level.value, Some(850.0));
    }

    #[test]
    fn bad_lines_name_the_key_and_line() {
        let cases: Vec<(Option<Value>, &str, &str)> = vec![
            (None, "param", "missing key \"param\""),
            (None, "date", "missing key \"date\""),
            (None, "time", "missing key \"time\""),
            (None, "step", "missing key \"step\""),
            (None, "levtype", "missing key \"levtype\""),
            (None, "type", "missing key \"type\""),
            (None, "_offset", "missing key \"_offset\""),
            (None, "_length", "missing key \"_length\""),
            (None, "levelist", "missing key \"levelist\""),
            (Some(Value::from(-1)), "_offset", "key \"_offset\""),
            (Some(Value::from("100")), "_offset", "key \"_offset\""),
            (Some(Value::from(1.5)), "_length", "key \"_length\""),
            (Some(Value::from(0)), "_length", "key \"_length\""),
            (Some(Value::from(true)), "param", "key \"param\""),
            (Some(Value::from("")), "param", "key \"param\""),
            (Some(serde_json::json!(["t"])), "param", "key \"param\""),
            (Some(Value::from("2025-03-01")), "date", "key \"date\""),
            (Some(Value::from("20250230")), "date", "key \"date\""),
            (Some(Value::from("0030")), "time", "key \"time\""),
            (Some(Value::from("2400")), "time", "key \"time\""),
            (Some(Value::from("12:00")), "time", "key \"time\""),
            (Some(Value::from("six")), "step", "key \"step\""),
            (Some(Value::from("6-0")), "step", "key \"step\""),
            (Some(Value::from("-6")), "step", "key \"step\""),
            (Some(Value::from("99999999")), "step", "key \"step\""),
            (Some(Value::from("high")), "levelist", "key \"levelist\""),
            (Some(Value::from("inf")), "levelist", "key \"levelist\""),
        ];
        let good = line_with("param", Some("t".into()));
        for (value, key, word) in cases {
            let text = format!("{good}\n\n{}\n{good}\n", line_with(key, value));
            let (source, line, display) = line_error(parse(&text, "https://e/x.index"));
            assert_eq!(source, "https://e/x.index");
            assert_eq!(line, 3, "{key}");
            assert!(
                display.starts_with("https://e/x.index, line 3: "),
                "{display}"
            );
            assert!(
                display.contains(word),
                "{display:?} should contain {word:?}"
            );
        }
    }

    #[test]
    fn invalid_json_and_non_objects() {
        let good = line_with("param", Some("t".into()));
        for bad in ["{\"param\": ", "not json", "[1, 2]", "42", "null", "{} {}"] {
            let text = format!("{good}\r\n{bad}\r\n");
            let (_, line, display) = line_error(parse(&text, "j.index"));
            assert_eq!(line, 2, "{bad}");
            assert!(display.contains("JSON"), "{display:?} should mention JSON");
        }
        assert!(parse("", "empty.index").unwrap().is_empty());
        assert!(parse("\r\n \n", "empty.index").unwrap().is_empty());
        assert_eq!(
            parse(&format!("{good}\r\n"), "crlf.index").unwrap().len(),
            1
        );
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("param".to_string()),
            Just("date".to_string()),
            Just("time".to_string()),
            Just("step".to_string()),
            Just("levtype".to_string()),
            Just("levelist".to_string()),
            Just("type".to_string()),
            Just("number".to_string()),
            Just("_offset".to_string()),
            Just("_length".to_string()),
            "[a-z_]{1,8}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::from)),
            "[0-9]{0,10}".prop_map(Value::from),
            "[0-9]{1,4}-[0-9]{1,4}[hm]?".prop_map(Value::from),
            prop_oneof![
                Just("cf"),
                Just("pf"),
                Just("em"),
                Just("sfc"),
                Just("pl"),
                Just("sol")
            ]
            .prop_map(Value::from),
            "\\PC{0,10}".prop_map(Value::from),
            proptest::collection::vec("[a-z]{0,3}", 0..3).prop_map(|v| serde_json::json!(v)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
            let _ = parse(&text, "prop.index");
        }

        #[test]
        fn colon_joined_fragments_never_panic(
            lines in proptest::collection::vec(proptest::collection::vec("\\PC{0,12}|\\{|\\}|\"_offset\"", 0..8), 0..6),
        ) {
            let text = lines.iter().map(|f| f.join(":")).collect::<Vec<_>>().join("\n");
            let _ = parse(&text, "prop.index");
        }

        #[test]
        fn arbitrary_objects_never_panic(
            lines in proptest::collection::vec(proptest::collection::vec((key(), value()), 0..12), 1..5),
        ) {
            let text = lines
                .iter()
                .map(|pairs| {
                    Value::Object(pairs.iter().cloned().collect::<Map<String, Value>>()).to_string()
                })
                .collect::<Vec<_>>()
                .join("\n");
            if let Ok(records) = parse(&text, "prop.index") {
                prop_assert_eq!(records.len(), lines.len());
                for r in records {
                    prop_assert!(r.length.is_some_and(|l| l > 0));
                    prop_assert!(r.reference_time.is_some());
                }
            }
        }

        #[test]
        fn valid_lines_round_trip(
            number in 1u16..=1000,
            step in 0u32..1000,
            level in 1u32..1100,
            offset in 0u64..1 << 40,
            length in 1u64..1 << 30,
        ) {
            let line = format!(
                "{{\"date\": \"20260810\", \"time\": \"0600\", \"type\": \"pf\", \"number\": \"{number}\", \
                 \"step\": \"{step}\", \"levtype\": \"pl\", \"levelist\": \"{level}\", \"param\": \"gh\", \
                 \"_offset\": {offset}, \"_length\": {length}}}"
            );
            let records = parse(&line, "prop.index").unwrap();
            prop_assert_eq!(records.len(), 1);
            let r = &records[0];
            prop_assert_eq!(r.member.clone(), Some(EnsembleMember::Perturbed(number)));
            prop_assert_eq!(r.time, ForecastTime::hours(step));
            prop_assert_eq!(r.level.value, Some(f64::from(level)));
            prop_assert_eq!(r.offset, offset);
            prop_assert_eq!(r.length, Some(length));
            prop_assert_eq!(r.reference_time, Some(RunTime::new(2026, 8, 10, 6).unwrap()));
        }
    }
}
