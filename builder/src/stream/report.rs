//! What a stream produced, and how missing messages are listed for people.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use gik_core::time::RunTime;

/// A message that could not be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingMessage {
    /// Output variable name.
    pub variable: String,
    /// Member name.
    pub member: String,
    /// Step (hours).
    pub step: u32,
    /// Why.
    pub reason: String,
}

impl fmt::Display for MissingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} f{:03}: {}",
            self.variable, self.member, self.step, self.reason
        )
    }
}

/// What a stream produced.
#[derive(Debug, Clone)]
pub struct StreamReport {
    /// The file written.
    pub path: PathBuf,
    /// Product name.
    pub product: String,
    /// The run.
    pub run: RunTime,
    /// Messages the request needed.
    pub messages: usize,
    /// Messages read and decoded.
    pub read: usize,
    /// Messages missing.
    pub missing: Vec<MissingMessage>,
    /// Bytes of GRIB2 read.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Output variables.
    pub variables: Vec<String>,
    /// The regional subset the messages were read from (`None`: the run's own manifests).
    pub subset: Option<String>,
}

impl StreamReport {
    /// One line for the end of a run.
    pub fn summary(&self) -> String {
        format!(
            "{} {}{}: {} messages ({} read, {} missing), {:.1} MB read in {:.1} s -> {} ({})",
            self.product,
            self.run,
            self.subset
                .as_ref()
                .map_or(String::new(), |s| format!(" from subset {s}")),
            self.messages,
            self.read,
            self.missing.len(),
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            self.path.display(),
            self.variables.join(", ")
        )
    }
}

/// Missing messages grouped by variable, member and reason, in order: `tp ens05 f036 f039:
/// not found (404)`. One line per group, so a member whose manifest is absent is one line.
pub fn group_missing<'a>(missing: impl IntoIterator<Item = &'a MissingMessage>) -> Vec<String> {
    let mut groups: Vec<(&str, &str, &str, Vec<u32>)> = Vec::new();
    for m in missing {
        match groups.iter_mut().find(|(v, mem, r, _)| {
            *v == m.variable.as_str() && *mem == m.member.as_str() && *r == m.reason.as_str()
        }) {
            Some(group) => group.3.push(m.step),
            None => groups.push((&m.variable, &m.member, &m.reason, vec![m.step])),
        }
    }
    groups
        .into_iter()
        .map(|(variable, member, reason, steps)| {
            let steps: Vec<String> = steps.iter().map(|s| format!("f{s:03}")).collect();
            format!("{variable} {member} {}: {reason}", steps.join(" "))
        })
        .collect()
}
