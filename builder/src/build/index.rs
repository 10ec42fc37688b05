//! Stage 2 of a build: the run's index files, fetched and matched to members, variables and
//! steps, so that every message the manifests will reference is known by its byte range, and
//! everything asked for and absent is named.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;
use futures::stream::{self, StreamExt};
use gik_core::catalog::MissingEntry;
use gik_core::index::IndexRecord;
use gik_core::manifest::ByteRange;
use gik_core::member::{variable_steps, MessageRef};
use gik_core::product::{explain_unmapped, records_for, Member, Product, VariableSpec};

use super::BuildPlan;
use crate::fetch_limits::unreferenceable;
use crate::http::{FetchError, HttpClient, ObjectKind};
use crate::progress::Progress;
use crate::subset::MemberMessages;

/// One index file of the run and who needs it.
struct IndexFile {
    index_url: String,
    grib_url: String,
    step: u32,
    members: Vec<Member>,
}

/// Why an index file gives no records. Its text is the reason reported for every member and
/// step the file serves.
#[derive(Debug, thiserror::Error)]
enum IndexFileError {
    /// The index file or its GRIB2 file answered 404.
    #[error("not published (404)")]
    NotPublished,
    /// Fetching the index file or the size of its GRIB2 file failed (the error names the URL).
    #[error(transparent)]
    Fetch(FetchError),
    /// The index file is not text.
    #[error("{url}: not UTF-8 text")]
    NotText {
        /// The index file's URL.
        url: String,
    },
    /// The index file does not parse, or a record ends past its GRIB2 file (a stale index).
    #[error("{error} (GRIB2 file {grib_url})")]
    Parse {
        /// The parse error (it names the index file and line).
        error: gik_core::Error,
        /// The GRIB2 file the index describes.
        grib_url: String,
    },
}

impl From<FetchError> for IndexFileError {
    fn from(e: FetchError) -> Self {
        if e.is_not_found() {
            Self::NotPublished
        } else {
            Self::Fetch(e)
        }
    }
}

/// The parsed content of one index file, or why it is missing.
type IndexResult = Result<Vec<IndexRecord>, IndexFileError>;

/// What the run's index files say, for the manifests and the build's report.
#[derive(Default)]
pub(super) struct RunIndex {
    /// Each member's messages, by variable request.
    pub per_member: BTreeMap<Member, MemberMessages>,
    /// The first message found of each variable (its header gives the variable's grid).
    pub first_message: BTreeMap<String, MessageRef>,
    /// Each variable as published: resolved against its first record where one was found
    /// (generic variables take their step type and level from it), as asked otherwise.
    pub variables: Vec<VariableSpec>,
    /// (member, step) pairs whose index was read.
    pub found: usize,
    /// What was asked for and is missing.
    pub missing: Vec<MissingEntry>,
    /// Bytes of GRIB2 referenced.
    pub bytes_referenced: u64,
}

/// Fetches every index file of `plan`'s run concurrently and matches its records to members,
/// variables and steps.
pub(super) async fn read_run_index(
    plan: &BuildPlan,
    client: &HttpClient,
    progress: &Progress,
) -> Result<RunIndex> {
    let files = index_files(plan)?;
    progress.stage(
        &format!("{} {}: index files", plan.product.name(), plan.run),
        files.len() as u64,
    );
    let product = plan.product.as_ref();
    let parsed: HashMap<String, IndexResult> = stream::iter(files.values())
        .map(|file| async move {
            let result = fetch_index(client, product, file).await;
            progress.inc(1);
            (file.index_url.clone(), result)
        })
        .buffer_unordered(1024)
        .collect()
        .await;
    progress.finish_stage();

    let mut matcher = Matcher::default();
    for file in files.values() {
        let Some(result) = parsed.get(&file.index_url) else {
            continue;
        };
        for &member in &file.members {
            matcher.add(plan, file, member, result);
        }
    }
    Ok(matcher.finish(plan))
}

/// The index files of the run, by URL, and who needs each (ECMWF packs all members of a step
/// in one file).
fn index_files(plan: &BuildPlan) -> Result<BTreeMap<String, IndexFile>> {
    let product = plan.product.as_ref();
    let mut files: BTreeMap<String, IndexFile> = BTreeMap::new();
    for &member in &plan.members {
        for &step in &plan.steps {
            let index_url = product.index_url(plan.run, member, step)?;
            let grib_url = product.grib_url(plan.run, member, step)?;
            files
                .entry(index_url.clone())
                .or_insert_with(|| IndexFile {
                    index_url,
                    grib_url,
                    step,
                    members: Vec::new(),
                })
                .members
                .push(member);
        }
    }
    Ok(files)
}

/// Fetches and parses one index file. The GRIB2 file's size (a HEAD) bounds every record:
/// NOAA needs it for the last message's length, and a record of either format ending past it
/// means the index is stale, so the whole file is reported and skipped.
async fn fetch_index(client: &HttpClient, product: &dyn Product, file: &IndexFile) -> IndexResult {
    let text = async {
        let bytes = client
            .get_object(&file.index_url, ObjectKind::Index)
            .await?;
        String::from_utf8(bytes.to_vec()).map_err(|_| IndexFileError::NotText {
            url: file.index_url.clone(),
        })
    };
    let size = async { Ok::<_, IndexFileError>(client.head_size(&file.grib_url).await?) };
    let (text, size) = futures::join!(text, size);
    let (text, size) = (text?, size?);
    product
        .index_format()
        .parse(&text, &file.index_url, Some(size))
        .map_err(|error| IndexFileError::Parse {
            error,
            grib_url: file.grib_url.clone(),
        })
}

/// A (member, step) of the run whose index was read, checked for missing variables once every
/// variable is resolved; or a member-step already known to be missing.
enum Pending {
    Missing(MissingEntry),
    Check {
        member: String,
        step: u32,
        seen: BTreeSet<String>,
    },
}

/// Matches records to members, variables and steps, one (index file, member) at a time. A
/// variable's spec is resolved against the first record found for it; whether a step is
/// expected at all is only decided once the run is read, with the resolved spec (an average is
/// absent at f000, an instant is not).
#[derive(Default)]
struct Matcher {
    index: RunIndex,
    resolved: BTreeMap<String, VariableSpec>,
    pending: Vec<Pending>,
}

impl Matcher {
    /// The records of `member` in `file` (or why there are none).
    fn add(&mut self, plan: &BuildPlan, file: &IndexFile, member: Member, result: &IndexResult) {
        let product = plan.product.as_ref();
        let member_name = product.member_name(member);
        let missing = |reason: String| {
            Pending::Missing(MissingEntry {
                member: member_name.clone(),
                step: Some(file.step),
                reason,
            })
        };
        let records = match result {
            Ok(records) => records,
            Err(reason) => {
                self.pending.push(missing(reason.to_string()));
                return;
            }
        };
        // An index the product's layout cannot map (renamed stream or type): say what it holds
        // and what was expected, once, instead of every variable missing.
        let layouts = product.layouts();
        if let Some(reason) = explain_unmapped(layouts, plan.run, member, &file.index_url, records)
        {
            self.pending.push(missing(reason));
            return;
        }
        self.index.found += 1;
        let seen = self.reference(plan, file, member, &member_name, records);
        self.pending.push(Pending::Check {
            member: member_name,
            step: file.step,
            seen,
        });
    }

    /// References the messages of `member` at `file`'s step; returns the variables seen.
    fn reference(
        &mut self,
        plan: &BuildPlan,
        file: &IndexFile,
        member: Member,
        member_name: &str,
        records: &[IndexRecord],
    ) -> BTreeSet<String> {
        let index = &mut self.index;
        let refs = index.per_member.entry(member).or_default();
        let mut seen = BTreeSet::new();
        let product = plan.product.as_ref();
        for (spec, record) in records_for(product, member, &plan.variables, records) {
            if record.time.end_whole_hours() != Some(file.step)
                || !seen.insert(spec.request.clone())
            {
                continue;
            }
            // Off the variable's step axis (ECMWF's all-zero tp at step 0): not referenced.
            if variable_steps(&spec, &[file.step]).is_empty() {
                continue;
            }
            if let Some(reason) = unreferenceable(&record, &file.index_url) {
                index.missing.push(MissingEntry {
                    member: member_name.to_owned(),
                    step: Some(file.step),
                    reason,
                });
                continue;
            }
            let Some(length) = record.length else {
                continue;
            };
            let message = MessageRef {
                step: file.step,
                range: ByteRange::new(file.grib_url.clone(), record.offset, length),
            };
            index
                .first_message
                .entry(spec.request.clone())
                .or_insert_with(|| message.clone());
            index.bytes_referenced += length;
            refs.entry(spec.request.clone()).or_default().push(message);
            self.resolved.entry(spec.request.clone()).or_insert(spec);
        }
        seen
    }

    /// The run's index, with the variables resolved and every (member, step) checked for the
    /// variables it should have.
    fn finish(self, plan: &BuildPlan) -> RunIndex {
        let Self {
            mut index,
            resolved,
            pending,
        } = self;
        index.variables = plan
            .variables
            .iter()
            .map(|spec| resolved.get(&spec.request).unwrap_or(spec).clone())
            .collect();
        for item in pending {
            match item {
                Pending::Missing(entry) => index.missing.push(entry),
                Pending::Check { member, step, seen } => {
                    for spec in &index.variables {
                        if !variable_steps(spec, &[step]).is_empty()
                            && !seen.contains(&spec.request)
                        {
                            index.missing.push(MissingEntry {
                                member: member.clone(),
                                step: Some(step),
                                reason: format!("{} not in the index", spec.request),
                            });
                        }
                    }
                }
            }
        }
        index
    }
}
