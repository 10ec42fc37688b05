//! `gik build --subset NAME`: a run's messages inside a named box, cropped and published as
//! GRIB2 beside the manifests, with member manifests of their own.
//!
//! After the member manifests are built (so every message's range is known), each subset
//! range-reads the messages of its variables and steps once, crops each to the box without
//! loss (`gik_core::grib::encode::crop_message`: same R, E, D and packed integers, complex
//! packing with spatial differencing), and writes one GRIB2 file per member (messages
//! concatenated) and one manifest per member pointing into it, under
//! `subsets/{name}/{product}/{YYYYMMDD}/{HH}z/`. Message URLs in those manifests are paths
//! relative to the catalog, so a destination can be copied or served from anywhere. The
//! catalog entry ([`SubsetEntry`]) goes into the run's entry, so it is published by the same
//! conditional write as the run, and removed with it.
//!
//! File names carry a hash of their content: a file the published catalog names is never
//! overwritten with other bytes, and replaced files are deleted once the catalog has moved on
//! (they are among the run's owned paths).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use gik_core::catalog::{MissingEntry, RunEntry, VariableEntry};
use gik_core::grib::encode::{crop_message, Cropped, DataPacking};
use gik_core::grib::Grid;
use gik_core::manifest::ByteRange;
use gik_core::member::{
    build_member_manifest_with, variable_steps, MemberIdentity, MessageRef, VariableMessages,
};
use gik_core::product::{Member, Product, VariableSpec};
use gik_core::subset::{run_folder, SubsetDefinition, SubsetEntry};
use gik_core::time::RunTime;

use crate::build::member_variables;
use crate::destination::Destination;
use crate::http::HttpClient;
use crate::progress::Progress;

/// Messages cropped at the same time (each holds one source message in memory).
const CONCURRENT_MESSAGES: usize = 16;

/// One subset to publish with a build.
#[derive(Clone, Debug)]
pub struct SubsetPlan {
    /// The definition (box, default variables, steps).
    pub definition: &'static SubsetDefinition,
    /// The variables, resolved for the build's product.
    pub variables: Vec<VariableSpec>,
}

impl SubsetPlan {
    /// The plan of subset `name` for `product`; `vars` (product vocabulary) replaces the
    /// subset's default variables when not empty.
    pub fn new(name: &str, product: &dyn Product, vars: &[&str]) -> Result<Self> {
        let definition = gik_core::subset::subset_by_name(name)?;
        let variables = definition
            .variables_for(product, vars)
            .with_context(|| format!("subset {name}"))?;
        Ok(Self {
            definition,
            variables,
        })
    }
}

/// The messages of one member, by variable request, as the build found them.
pub type MemberMessages = BTreeMap<String, Vec<MessageRef>>;

/// Reads, crops and publishes one subset of one run; returns its catalog entry (not yet in
/// the catalog: the build publishes it with the run).
pub async fn build_subset(
    plan: &SubsetPlan,
    product: &dyn Product,
    run: RunTime,
    steps: &[u32],
    members: &BTreeMap<Member, MemberMessages>,
    client: &HttpClient,
    dest: &Destination,
    progress: &Progress,
) -> Result<SubsetEntry> {
    let cutter = Cutter {
        plan,
        product,
        run,
        steps: plan.definition.steps_of(steps),
    };
    let (jobs, mut missing) = cutter.jobs(members);
    let cut = cutter.cut(jobs, client, progress).await;
    let cut = cutter.collect(cut, &mut missing)?;
    let mut entry = cutter.write(cut, dest).await?;
    entry.run.missing = missing;
    let def = plan.definition;
    tracing::info!(
        subset = def.name,
        product = product.name(),
        %run,
        members = entry.run.members.len(),
        bytes_read = entry.bytes_read,
        bytes_written = entry.bytes_written,
        missing = entry.run.missing.len(),
        "subset cut"
    );
    Ok(entry)
}

/// One message to cut: the member, the variable request and where the message is.
type CutJob = (Member, String, MessageRef);

/// A message read and cropped (bytes read, the cropped message), or why not.
type CutResult = (Member, String, u32, Result<(u64, Cropped)>);

/// What the cropped messages make: each member's messages in job order (variable request,
/// step, bytes), each variable's cropped grid, and the bytes read.
struct Cut {
    per_member: BTreeMap<Member, Vec<(String, u32, Vec<u8>)>>,
    grids: BTreeMap<String, Grid>,
    bytes_read: u64,
}

/// One subset of one run being cut.
struct Cutter<'a> {
    plan: &'a SubsetPlan,
    product: &'a dyn Product,
    run: RunTime,
    /// The subset's steps among the build's.
    steps: Vec<u32>,
}

impl Cutter<'_> {
    /// Every (member, variable, message) to cut, in file order per member, and the messages
    /// the run's manifests lack.
    fn jobs(&self, members: &BTreeMap<Member, MemberMessages>) -> (Vec<CutJob>, Vec<MissingEntry>) {
        let mut jobs = Vec::new();
        let mut missing = Vec::new();
        for (&member, refs) in members {
            let member_name = self.product.member_name(member);
            for spec in &self.plan.variables {
                let wanted = variable_steps(spec, &self.steps);
                let messages = refs.get(&spec.request).map(Vec::as_slice).unwrap_or(&[]);
                for &step in &wanted {
                    match messages.iter().find(|m| m.step == step) {
                        Some(m) => jobs.push((member, spec.request.clone(), m.clone())),
                        None => missing.push(MissingEntry {
                            member: member_name.clone(),
                            step: Some(step),
                            reason: format!("{}: not in the run's manifest", spec.request),
                        }),
                    }
                }
            }
        }
        (jobs, missing)
    }

    /// Range-reads and crops every job's message, [`CONCURRENT_MESSAGES`] at a time, in job
    /// order.
    async fn cut(
        &self,
        jobs: Vec<CutJob>,
        client: &HttpClient,
        progress: &Progress,
    ) -> Vec<CutResult> {
        let (product, def) = (self.product, self.plan.definition);
        progress.stage(
            &format!("{} {}: subset {}", product.name(), self.run, def.name),
            jobs.len() as u64,
        );
        let bbox = def.bbox;
        let cut = stream::iter(jobs)
            .map(|(member, request, message)| async move {
                let result = async {
                    let range = &message.range;
                    let bytes = client
                        .get_range(&range.url, range.offset, range.length)
                        .await?;
                    let cropped = crop_message(&bytes, &bbox, DataPacking::ComplexSpatial)?;
                    anyhow::Ok((bytes.len() as u64, cropped))
                }
                .await
                .with_context(|| {
                    format!(
                        "{request} f{:03} of {} at {}+{}",
                        message.step,
                        product.member_name(member),
                        message.range.url,
                        message.range.offset
                    )
                });
                progress.inc(1);
                (member, request, message.step, result)
            })
            .buffered(CONCURRENT_MESSAGES)
            .collect()
            .await;
        progress.finish_stage();
        cut
    }

    /// The cropped messages per member, in job order; a message that could not be cut is
    /// added to `missing`.
    fn collect(&self, cut: Vec<CutResult>, missing: &mut Vec<MissingEntry>) -> Result<Cut> {
        let mut out = Cut {
            per_member: BTreeMap::new(),
            grids: BTreeMap::new(),
            bytes_read: 0,
        };
        for (member, request, step, result) in cut {
            match result {
                Ok((read, cropped)) => {
                    out.bytes_read += read;
                    if !out.grids.contains_key(&request) {
                        let grid = gik_core::grib::describe(&cropped.bytes)?.grid;
                        out.grids.insert(request.clone(), grid);
                    }
                    out.per_member
                        .entry(member)
                        .or_default()
                        .push((request, step, cropped.bytes));
                }
                Err(e) => missing.push(MissingEntry {
                    member: self.product.member_name(member),
                    step: Some(step),
                    reason: format!("{e:#}"),
                }),
            }
        }
        Ok(out)
    }

    /// Writes each member's GRIB2 file and manifest; returns the subset's catalog entry
    /// (without the missing messages).
    async fn write(&self, cut: Cut, dest: &Destination) -> Result<SubsetEntry> {
        let credits = self.product.credits();
        let mut entry = SubsetEntry {
            bbox: self.plan.definition.bbox.to_string(),
            attribution: credits.attribution.to_string(),
            licence: credits.licence.to_string(),
            bytes_read: cut.bytes_read,
            ..SubsetEntry::default()
        };
        let mut variables_entry: BTreeMap<String, VariableEntry> = BTreeMap::new();
        for (member, messages) in cut.per_member {
            let member_name = self.product.member_name(member);
            let (file_path, file, mut refs) = self.member_file(&member_name, &messages);
            let vars = member_variables(
                &self.plan.variables,
                &self.steps,
                &cut.grids,
                |request| refs.remove(request),
                &mut variables_entry,
            );
            let manifest_bytes = self.member_manifest(&entry, &member_name, &vars)?;
            let manifest_path = format!("{}.parquet", file_path.trim_end_matches(".grib2"));
            entry.bytes_written += file.len() as u64;
            // The GRIB2 file first: a manifest never names a file that is not there.
            dest.put(&file_path, file).await?;
            dest.put(&manifest_path, manifest_bytes).await?;
            entry.files.insert(member_name.clone(), file_path);
            entry.run.manifests.insert(member_name, manifest_path);
        }
        entry.run.run = self.run;
        entry.run.members = entry.run.manifests.keys().cloned().collect();
        entry.run.steps = self.steps.clone();
        entry.run.variables = variables_entry.into_values().collect();
        entry.run.bytes_referenced = entry.bytes_written;
        Ok(entry)
    }

    /// A member's GRIB2 file (its messages concatenated, named by a hash of their content):
    /// its path, its bytes, and each message's reference into it by variable request.
    fn member_file(
        &self,
        member_name: &str,
        messages: &[(String, u32, Vec<u8>)],
    ) -> (String, Vec<u8>, MemberMessages) {
        let (run, folder) = (self.run, self.folder());
        let (date, hour) = (run.date_string(), run.hour_string());
        let file_path = format!(
            "{folder}/{date}{hour}z-{member_name}.{}.grib2",
            content_tag(messages)
        );
        let mut file = Vec::new();
        let mut refs = MemberMessages::new();
        for (request, step, bytes) in messages {
            refs.entry(request.clone()).or_default().push(MessageRef {
                step: *step,
                range: ByteRange {
                    url: file_path.clone(),
                    offset: file.len() as u64,
                    length: bytes.len() as u64,
                },
            });
            file.extend_from_slice(bytes);
        }
        (file_path, file, refs)
    }

    /// A member's subset manifest as parquet bytes; its attributes name the subset, its box and
    /// the credits of `entry`.
    fn member_manifest(
        &self,
        entry: &SubsetEntry,
        member_name: &str,
        vars: &[VariableMessages],
    ) -> Result<Vec<u8>> {
        let name = self.plan.definition.name;
        let who = MemberIdentity {
            product: self.product.name().to_string(),
            run: self.run,
            member: member_name.to_string(),
        };
        let manifest = build_member_manifest_with(
            &who,
            vars,
            &[
                ("gik_subset", name),
                ("gik_subset_bbox", &entry.bbox),
                ("attribution", &entry.attribution),
                ("licence", &entry.licence),
            ],
        )
        .with_context(|| format!("subset {name}: manifest of {member_name}"))?;
        Ok(gik_core::manifest::write_parquet(&manifest)?)
    }

    /// The folder of the subset's files for this run.
    fn folder(&self) -> String {
        run_folder(self.plan.definition.name, self.product.name(), self.run)
    }
}

/// A short hash of a member's cropped messages, for content-addressed file names: FNV-1a
/// (not std's `DefaultHasher`, whose algorithm may change with the toolchain and would rename
/// every subset file), each field length-prefixed so that no two lists hash the same bytes.
fn content_tag(messages: &[(String, u32, Vec<u8>)]) -> String {
    let stream = messages.iter().flat_map(|(request, step, bytes)| {
        let head = (request.len() as u64)
            .to_le_bytes()
            .into_iter()
            .chain(request.bytes())
            .chain(step.to_le_bytes())
            .chain((bytes.len() as u64).to_le_bytes());
        head.chain(bytes.iter().copied())
    });
    format!("{:016x}", gik_core::fnv::fnv1a64(stream))
}

/// Adds `subsets` to `entry` (the run about to be published).
pub fn attach(entry: &mut RunEntry, subsets: Vec<(String, SubsetEntry)>) {
    entry.subsets.extend(subsets);
}
