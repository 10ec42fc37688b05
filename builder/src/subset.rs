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
use std::hash::{Hash, Hasher};

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use gik_core::catalog::{MissingEntry, RunEntry, VariableEntry};
use gik_core::grib::encode::{crop_message, DataPacking};
use gik_core::manifest::ByteRange;
use gik_core::member::{
    build_member_manifest_with, variable_steps, MemberIdentity, MessageRef, VariableMessages,
};
use gik_core::product::{Member, Product, VariableSpec};
use gik_core::subset::{run_folder, SubsetDefinition, SubsetEntry};
use gik_core::time::RunTime;

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
    let def = plan.definition;
    let steps = def.steps_of(steps);
    let folder = run_folder(def.name, product.name(), run);
    // Every (member, variable, message) to cut, in file order per member.
    let mut jobs = Vec::new();
    let mut missing = Vec::new();
    for (&member, refs) in members {
        let member_name = product.member_name(member);
        for spec in &plan.variables {
            let wanted = variable_steps(spec, &steps);
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
    progress.stage(
        &format!("{} {run}: subset {}", product.name(), def.name),
        jobs.len() as u64,
    );
    let bbox = def.bbox;
    let cut: Vec<_> = stream::iter(jobs)
        .map(|(member, request, message)| async move {
            let result = async {
                let bytes = client
                    .get_range(
                        &message.range.url,
                        message.range.offset,
                        message.range.length,
                    )
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

    // Per member: its messages in job order, concatenated.
    let mut per_member: BTreeMap<Member, Vec<(String, u32, Vec<u8>)>> = BTreeMap::new();
    let mut grids = BTreeMap::new();
    let mut bytes_read = 0u64;
    for (member, request, step, result) in cut {
        match result {
            Ok((read, cropped)) => {
                bytes_read += read;
                if !grids.contains_key(&request) {
                    let grid = gik_core::grib::describe(&cropped.bytes)?.grid;
                    grids.insert(request.clone(), grid);
                }
                per_member
                    .entry(member)
                    .or_default()
                    .push((request, step, cropped.bytes));
            }
            Err(e) => missing.push(MissingEntry {
                member: product.member_name(member),
                step: Some(step),
                reason: format!("{e:#}"),
            }),
        }
    }

    let credits = product.credits();
    let attribution = credits.attribution.to_string();
    let licence = credits.licence.to_string();
    let bbox_text = bbox.to_string();
    let mut entry = SubsetEntry {
        bbox: bbox_text.clone(),
        attribution: attribution.clone(),
        licence: licence.clone(),
        bytes_read,
        ..SubsetEntry::default()
    };
    let mut variables_entry: BTreeMap<String, VariableEntry> = BTreeMap::new();
    for (member, messages) in per_member {
        let member_name = product.member_name(member);
        let mut file = Vec::new();
        let mut refs: BTreeMap<String, Vec<MessageRef>> = BTreeMap::new();
        let stem = format!(
            "{folder}/{}{}z-{member_name}",
            run.date_string(),
            run.hour_string()
        );
        let tag = content_tag(&messages);
        let file_path = format!("{stem}.{tag}.grib2");
        for (request, step, bytes) in &messages {
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
        let vars: Vec<VariableMessages> = plan
            .variables
            .iter()
            .filter_map(|spec| {
                let (grid, messages) = (grids.get(&spec.request)?, refs.remove(&spec.request)?);
                variables_entry
                    .entry(spec.request.clone())
                    .or_insert_with(|| VariableEntry::of_spec(spec));
                Some(VariableMessages {
                    spec: spec.clone(),
                    grid: grid.clone(),
                    steps: variable_steps(spec, &steps),
                    messages,
                })
            })
            .collect();
        let who = MemberIdentity {
            product: product.name().to_string(),
            run,
            member: member_name.clone(),
        };
        let manifest = build_member_manifest_with(
            &who,
            &vars,
            &[
                ("gik_subset", def.name),
                ("gik_subset_bbox", &bbox_text),
                ("attribution", &attribution),
                ("licence", &licence),
            ],
        )
        .with_context(|| format!("subset {}: manifest of {member_name}", def.name))?;
        let manifest_bytes = gik_core::manifest::write_parquet(&manifest)?;
        let manifest_path = format!("{stem}.{tag}.parquet");
        entry.bytes_written += file.len() as u64;
        // The GRIB2 file first: a manifest never names a file that is not there.
        dest.put(&file_path, file).await?;
        dest.put(&manifest_path, manifest_bytes).await?;
        entry.files.insert(member_name.clone(), file_path);
        entry.run.manifests.insert(member_name, manifest_path);
    }
    entry.run.run = run;
    entry.run.members = entry.run.manifests.keys().cloned().collect();
    entry.run.steps = steps;
    entry.run.variables = variables_entry.into_values().collect();
    entry.run.missing = missing;
    entry.run.bytes_referenced = entry.bytes_written;
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

/// A short hash of a member's cropped messages, for content-addressed file names.
fn content_tag(messages: &[(String, u32, Vec<u8>)]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (request, step, bytes) in messages {
        request.hash(&mut h);
        step.hash(&mut h);
        bytes.hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// Adds `subsets` to `entry` (the run about to be published).
pub fn attach(entry: &mut RunEntry, subsets: Vec<(String, SubsetEntry)>) {
    entry.subsets.extend(subsets);
}
