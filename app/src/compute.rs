//! What a view needs and how its pieces combine, without any I/O.
//!
//! Why a pure module: the decisions that make a map right or wrong — which run and step the URL
//! really means, which GRIB2 messages of which member must be read (precipitation windows follow
//! `gik_core::product::precipitation_plan`, never an ad-hoc sum), which grid points fall in the
//! box (GEFS longitudes run 0…359.75, ECMWF −180…179.75, the box is always −180…180), and how
//! members become a mean, a spread, a probability or a row of stamps — are all here and tested
//! natively (`cargo test -p gik-app`). The web layer ([`crate::loader`]) only fetches bytes and
//! feeds them in.
//!
//! Flow: [`plan_view`] turns the catalog and a [`ViewState`] into a [`ViewPlan`] (members,
//! [`Recipe`], display units, titles). Each decoded message is cut to the box with a [`Crop`];
//! [`Recipe::combine`] makes one member's field; an [`Ensemble`] accumulates members and gives
//! the current [`FrameData`] at any time, so the map sharpens as members arrive.

use std::collections::BTreeMap;
use std::sync::Arc;

use gik_core::catalog::{Catalog, ProductEntry, RunEntry, VariableEntry};
use gik_core::geo::{CropMap, GeoError, Lattice, OutputGrid};
use gik_core::grib::Grid;
use gik_core::product::{self, AccumulationPlan, DisplayConversion, Hosts, Product};
use gik_core::stats::EnsembleAccumulator;
use gik_core::time::RunTime;

use crate::view_state::{BBox, ViewKind, ViewState};

/// Largest number of grid points a single map keeps after cropping; bigger boxes are thinned
/// (every k-th row and column), since a screen cannot show more anyway.
pub const MAX_MAP_POINTS: usize = 400_000;

/// Largest number of grid points kept over all postage stamps together.
pub const MAX_STAMP_POINTS: usize = 2_000_000;

/// Credit for the map outlines.
pub const BORDERS_ATTRIBUTION: &str = "Borders: Natural Earth (public domain).";

/// The credit and licence sentence of every product gik knows, for the page's footer.
pub fn all_credits() -> Vec<String> {
    product::all_products()
        .iter()
        .map(|p| p.credits().full_text())
        .collect()
}

/// What kind of quantity a map shows; decides its colour scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// Temperature (°C).
    Temperature,
    /// Precipitation amount (mm).
    Precipitation,
    /// Probability (%).
    Probability,
    /// Ensemble spread of any variable.
    Spread,
    /// Pressure (hPa).
    Pressure,
    /// Wind component (m/s).
    Wind,
    /// Anything else.
    Other,
}

/// One member to read: its name and its manifest's path relative to the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSource {
    /// Member name (`gep01`, `ens07`).
    pub name: String,
    /// Manifest path relative to the catalog.
    pub manifest: String,
}

/// How one member's field is made from its messages.
#[derive(Clone, Debug, PartialEq)]
pub enum Recipe {
    /// One message: `array` at `step`.
    Single {
        /// Data array path in the member manifest (`t2m/instant/heightAboveGround/t2m`).
        array: String,
        /// Forecast step (hours).
        step: u32,
    },
    /// Precipitation over a window, by the product's accumulation rules (result in mm).
    Precipitation {
        /// Data array path of the precipitation variable.
        array: String,
        /// Which messages, with which sign.
        plan: AccumulationPlan,
    },
}

impl Recipe {
    /// The data array read.
    pub fn array(&self) -> &str {
        match self {
            Self::Single { array, .. } | Self::Precipitation { array, .. } => array,
        }
    }

    /// The distinct steps whose messages are needed, ascending.
    pub fn steps(&self) -> Vec<u32> {
        match self {
            Self::Single { step, .. } => vec![*step],
            Self::Precipitation { plan, .. } => plan.steps(),
        }
    }

    /// One member's field from its (cropped) messages, keyed by step.
    pub fn combine(&self, fields: &BTreeMap<u32, Vec<f32>>) -> Result<Vec<f32>, FieldError> {
        let get = |step: u32| fields.get(&step).ok_or(FieldError::MissingStep { step });
        match self {
            Self::Single { step, .. } => get(*step).cloned(),
            Self::Precipitation { plan, .. } => {
                let terms = plan
                    .terms
                    .iter()
                    .map(|t| get(t.step).map(Vec::as_slice))
                    .collect::<Result<Vec<&[f32]>, FieldError>>()?;
                plan.combine(&terms)
                    .map_err(|e| FieldError::Combine(e.to_string()))
            }
        }
    }
}

/// Why a member's field cannot be made or added to the map.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// A message the recipe needs did not arrive.
    #[error("the message of step {step} h is missing")]
    MissingStep {
        /// The step (hours).
        step: u32,
    },
    /// The fields could not be combined (different sizes).
    #[error("{0}")]
    Combine(String),
    /// A member's cropped field does not have the map's number of points.
    #[error("member {member}: {found} points, the map has {expected}")]
    Points {
        /// The member.
        member: String,
        /// Points of its field.
        found: usize,
        /// Points of the map.
        expected: usize,
    },
}

/// A choice in a selector: value and label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Value written to the state.
    pub value: String,
    /// Text shown.
    pub label: String,
}

/// Everything needed to fetch, compute and label one view.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewPlan {
    /// Product name (`gefs`).
    pub product: String,
    /// Product label (`NOAA GEFS`).
    pub product_label: String,
    /// Products in the catalog, for the selector.
    pub products: Vec<Choice>,
    /// Attribution required by the data licence.
    pub attribution: String,
    /// The run shown.
    pub run: RunTime,
    /// Runs of the product (newest first, values `YYYYMMDDHH`), for the selector.
    pub runs: Vec<Choice>,
    /// Steps the slider offers for this variable (hours).
    pub steps: Vec<u32>,
    /// The step shown.
    pub step: u32,
    /// Variables of the run, for the selector.
    pub variables: Vec<Choice>,
    /// The variable shown (catalog name).
    pub variable: String,
    /// Whether the variable is the product's precipitation.
    pub is_precipitation: bool,
    /// Whether the run has a precipitation variable (the probability view needs one).
    pub has_precipitation: bool,
    /// What the map shows.
    pub kind: ViewKind,
    /// The selected member (for [`ViewKind::Member`]; the first member otherwise).
    pub member: String,
    /// Every member of the run, for the selector.
    pub all_members: Vec<String>,
    /// Members to read.
    pub members: Vec<MemberSource>,
    /// Where their manifests and messages are (a subset or the buckets).
    pub data_origin: crate::data_origin::DataOrigin,
    /// How each member's field is made.
    pub recipe: Recipe,
    /// Conversion from the data's units to the displayed ones (applied per member).
    pub display: DisplayConversion,
    /// Displayed unit (`°C`, `mm`, `%`).
    pub unit: String,
    /// Quantity, for the colour scale.
    pub quantity: Quantity,
    /// Threshold in mm (probability view).
    pub threshold: Option<f32>,
    /// Accumulation window actually used (hours after the run), for precipitation.
    pub window: Option<(u32, u32)>,
    /// Map box.
    pub bbox: BBox,
    /// First title line (`NOAA GEFS · 24-h precipitation 24–48 h · ensemble mean`).
    pub title: String,
    /// Second title line (run and valid time).
    pub subtitle: String,
    /// Short name for files (`gefs-2025080100-f048-mean`).
    pub file_stem: String,
}

/// A plan and the adjustments made to reach it (shown to the user).
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// The plan.
    pub plan: ViewPlan,
    /// E.g. "run 2025073100 is not in the catalog; showing the newest run".
    pub notes: Vec<String>,
}

impl ViewPlan {
    /// `state` with product, run, variable, step (and member for the member view) set to what
    /// this plan shows, so that the URL pins the view.
    pub fn pinned(&self, state: &ViewState) -> ViewState {
        let mut s = state.clone();
        s.product = Some(self.product.clone());
        s.run = Some(self.run);
        s.var = Some(self.variable.clone());
        s.step = Some(self.step);
        if self.kind == ViewKind::Member {
            s.member = Some(self.member.clone());
        }
        s
    }

    /// Total messages the view reads.
    pub fn message_count(&self) -> usize {
        self.members.len() * self.recipe.steps().len()
    }

    /// Largest number of points one member's cropped field may have.
    pub fn max_points(&self) -> usize {
        if self.kind == ViewKind::Stamps {
            (MAX_STAMP_POINTS / self.members.len().max(1)).clamp(20_000, MAX_MAP_POINTS)
        } else {
            MAX_MAP_POINTS
        }
    }
}

/// Why no view can be planned for a catalog and a state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The catalog has no product at all.
    #[error("the catalog lists no products yet (has the builder run?)")]
    NoProducts,
    /// The product could not be built or cannot compute what the view needs.
    #[error("{product}: {reason}")]
    Product {
        /// Product name.
        product: String,
        /// What went wrong.
        reason: String,
    },
    /// The product has no run in the catalog.
    #[error("the catalog has no runs of {product} yet")]
    NoRuns {
        /// Product label.
        product: String,
    },
    /// The run lists no variables or no members.
    #[error("run {run} of {product} has no variables or members in the catalog")]
    EmptyRun {
        /// Run, `YYYYMMDDHH`.
        run: String,
        /// Product label.
        product: String,
    },
    /// The probability view needs precipitation, which the run lacks.
    #[error(
        "the probability view needs precipitation ({variable}), which run {run} does not have"
    )]
    NoPrecipitation {
        /// The product's precipitation variable.
        variable: String,
        /// Run, `YYYYMMDDHH`.
        run: String,
    },
    /// The variable has no step to show.
    #[error("run {run} has no steps for {variable}")]
    NoSteps {
        /// Run, `YYYYMMDDHH`.
        run: String,
        /// Catalog variable name.
        variable: String,
    },
    /// No wanted member has a manifest.
    #[error("no member of run {run} has a manifest")]
    NoManifests {
        /// Run, `YYYYMMDDHH`.
        run: String,
    },
    /// A precipitation window needs a step the manifests do not hold.
    #[error(
        "precipitation {start}–{end} h needs the message of step {missing} h, which the \
         manifests of run {run} do not include"
    )]
    WindowStepMissing {
        /// Window start (hours).
        start: u32,
        /// Window end (hours).
        end: u32,
        /// The step that is not there.
        missing: u32,
        /// Run, `YYYYMMDDHH`.
        run: String,
    },
}

/// Turns the catalog and the requested state into a plan. Missing or unknown product, run,
/// variable, step or member fall back (to the first product, the newest run, precipitation or
/// the first variable, the nearest step, the first member) with a note; what cannot work at all
/// (empty catalog, a window the product cannot compute) is an error.
pub fn plan_view(catalog: &Catalog, state: &ViewState) -> Result<Planned, PlanError> {
    let mut notes = Vec::new();
    let (product_name, entry) = choose_product(catalog, state, &mut notes)?;
    let product = product::product_by_name(product_name, &Hosts::default()).map_err(|e| {
        PlanError::Product {
            product: product_name.to_owned(),
            reason: e.to_string(),
        }
    })?;
    let product_label = product.credits().label.to_string();
    let run = choose_run(entry, &product_label, state, &mut notes)?;
    let variable = choose_variable(product.as_ref(), run, state, &mut notes)?;
    let (steps, step) = choose_step(run, &variable, state, &mut notes)?;
    let (member, members) = choose_members(run, state, &mut notes)?;
    let made = make_recipe(product.as_ref(), run, &variable, step, state.window)?;
    // Where the messages come from: a subset holding the view, else the buckets.
    let needed_steps = match &made.recipe {
        Recipe::Precipitation { plan, .. } => plan.steps(),
        Recipe::Single { step, .. } => vec![*step],
    };
    let (data_origin, members) = crate::data_origin::select(
        run,
        &state.bbox,
        members,
        &variable.entry.name,
        &needed_steps,
    );
    let threshold = (state.view == ViewKind::Probability).then_some(state.threshold);
    let unit = if threshold.is_some() {
        "%".to_string()
    } else {
        made.display.unit.clone()
    };
    let quantity = quantity_of(state.view, variable.is_precipitation, &made.display.unit);
    let what = match made.window {
        Some((a, b)) => format!("{}-h precipitation ({a}–{b} h)", b - a),
        None => variable_label(variable.entry),
    };
    let (title, subtitle, file_stem) = titles(
        &product_label,
        product_name,
        run.run,
        step,
        &what,
        &member,
        state,
    );
    Ok(Planned {
        plan: ViewPlan {
            product: product_name.to_owned(),
            product_label,
            products: product_choices(catalog),
            attribution: product.credits().full_text(),
            run: run.run,
            runs: run_choices(entry),
            steps,
            step,
            variables: run.variables.iter().map(variable_choice).collect(),
            variable: variable.entry.name.clone(),
            is_precipitation: variable.is_precipitation,
            has_precipitation: variable.has_precipitation,
            kind: state.view,
            member,
            all_members: run.members.clone(),
            members,
            recipe: made.recipe,
            display: made.display,
            unit,
            quantity,
            threshold,
            window: made.window,
            bbox: state.bbox,
            data_origin,
            title,
            subtitle,
            file_stem,
        },
        notes,
    })
}

/// The product asked for if the catalog has it, else the first product gik lists that the
/// catalog has, else the catalog's first (with a note when one was asked for).
fn choose_product<'c>(
    catalog: &'c Catalog,
    state: &ViewState,
    notes: &mut Vec<String>,
) -> Result<(&'c str, &'c ProductEntry), PlanError> {
    if let Some((name, entry)) = state
        .product
        .as_ref()
        .and_then(|p| catalog.products.get_key_value(p))
    {
        return Ok((name, entry));
    }
    let (name, entry) = product::product_names()
        .find_map(|p| catalog.products.get_key_value(p))
        .or_else(|| catalog.products.iter().next())
        .ok_or(PlanError::NoProducts)?;
    if let Some(p) = &state.product {
        notes.push(format!(
            "product {p:?} is not in the catalog; showing {name}"
        ));
    }
    Ok((name, entry))
}

/// The products of the catalog, for the selector.
fn product_choices(catalog: &Catalog) -> Vec<Choice> {
    catalog
        .products
        .iter()
        .map(|(name, p)| Choice {
            value: name.clone(),
            label: if p.label.is_empty() {
                name.to_ascii_uppercase()
            } else {
                p.label.clone()
            },
        })
        .collect()
}

/// The run asked for if the catalog has it, else the newest (with a note when one was asked
/// for); it must list variables and members.
fn choose_run<'c>(
    entry: &'c ProductEntry,
    product_label: &str,
    state: &ViewState,
    notes: &mut Vec<String>,
) -> Result<&'c RunEntry, PlanError> {
    let asked = state
        .run
        .and_then(|r| entry.runs.iter().find(|e| e.run == r));
    let run = match asked {
        Some(r) => r,
        None => {
            let newest = entry.runs.first().ok_or_else(|| PlanError::NoRuns {
                product: product_label.to_owned(),
            })?;
            if let Some(r) = &state.run {
                notes.push(format!(
                    "run {} of {product_label} is not in the catalog; showing the newest, {}",
                    r.compact(),
                    newest.run.compact()
                ));
            }
            newest
        }
    };
    if run.variables.is_empty() || run.members.is_empty() {
        return Err(PlanError::EmptyRun {
            run: run.run.compact(),
            product: product_label.to_owned(),
        });
    }
    Ok(run)
}

/// The runs of the product (newest first), for the selector.
fn run_choices(entry: &ProductEntry) -> Vec<Choice> {
    entry
        .runs
        .iter()
        .map(|r| Choice {
            value: r.run.compact(),
            label: format_run(&r.run),
        })
        .collect()
}

/// The variable a view shows, and what the run has of precipitation.
struct ChosenVariable<'c> {
    entry: &'c VariableEntry,
    is_precipitation: bool,
    has_precipitation: bool,
}

/// Precipitation for the probability view; otherwise the variable asked for, else
/// precipitation, else the run's first variable (with a note when one was asked for).
fn choose_variable<'c>(
    product: &dyn Product,
    run: &'c RunEntry,
    state: &ViewState,
    notes: &mut Vec<String>,
) -> Result<ChosenVariable<'c>, PlanError> {
    let precip = precipitation_entry(product, run);
    let asked = state
        .var
        .as_deref()
        .and_then(|v| run.variables.iter().find(|e| e.name == v));
    let entry = match (state.view, asked) {
        (ViewKind::Probability, _) => precip.ok_or_else(|| PlanError::NoPrecipitation {
            variable: product.precipitation().variable.to_owned(),
            run: run.run.compact(),
        })?,
        (_, Some(v)) => v,
        (_, None) => {
            let fallback =
                precip
                    .or_else(|| run.variables.first())
                    .ok_or_else(|| PlanError::EmptyRun {
                        run: run.run.compact(),
                        product: product.name().to_owned(),
                    })?;
            if let Some(v) = &state.var {
                notes.push(format!(
                    "variable {v:?} is not in run {}; showing {}",
                    run.run.compact(),
                    fallback.name
                ));
            }
            fallback
        }
    };
    Ok(ChosenVariable {
        entry,
        is_precipitation: precip.is_some_and(|p| p.name == entry.name),
        has_precipitation: precip.is_some(),
    })
}

/// The steps the slider offers (no step 0 for precipitation) and the one shown: the step asked
/// for, else the nearest (with a note); by default, for precipitation, the first step at or
/// after the window length, else the first.
fn choose_step(
    run: &RunEntry,
    variable: &ChosenVariable<'_>,
    state: &ViewState,
    notes: &mut Vec<String>,
) -> Result<(Vec<u32>, u32), PlanError> {
    let mut steps: Vec<u32> = run
        .steps
        .iter()
        .copied()
        .filter(|&s| s > 0 || !variable.is_precipitation)
        .collect();
    steps.sort_unstable();
    steps.dedup();
    let Some(&first_step) = steps.first() else {
        return Err(PlanError::NoSteps {
            run: run.run.compact(),
            variable: variable.entry.name.clone(),
        });
    };
    let step = match state.step {
        Some(s) if steps.contains(&s) => s,
        Some(s) => {
            let nearest = steps
                .iter()
                .copied()
                .min_by_key(|&x| x.abs_diff(s))
                .unwrap_or(first_step);
            notes.push(format!(
                "step +{s} h is not available for {}; showing +{nearest} h",
                variable.entry.name
            ));
            nearest
        }
        None => {
            let want = if variable.is_precipitation {
                state.window
            } else {
                0
            };
            steps
                .iter()
                .copied()
                .find(|&s| s >= want)
                .unwrap_or(first_step)
        }
    };
    Ok((steps, step))
}

/// The member shown (the one asked for, else the first) and the members to read: that one for
/// the member view, every member with a manifest otherwise (a note for each without).
fn choose_members(
    run: &RunEntry,
    state: &ViewState,
    notes: &mut Vec<String>,
) -> Result<(String, Vec<MemberSource>), PlanError> {
    let first = run.members.first().cloned().unwrap_or_default();
    let member = match &state.member {
        Some(m) if run.members.contains(m) => m.clone(),
        Some(m) if state.view == ViewKind::Member => {
            notes.push(format!(
                "member {m} is not in run {}; showing {first}",
                run.run.compact()
            ));
            first
        }
        _ => first,
    };
    let wanted: Vec<&String> = if state.view == ViewKind::Member {
        vec![&member]
    } else {
        run.members.iter().collect()
    };
    let mut members = Vec::new();
    for name in wanted {
        match run.manifests.get(name) {
            Some(path) => members.push(MemberSource {
                name: name.clone(),
                manifest: path.clone(),
            }),
            None => notes.push(format!("member {name} has no manifest in the catalog")),
        }
    }
    if members.is_empty() {
        return Err(PlanError::NoManifests {
            run: run.run.compact(),
        });
    }
    Ok((member, members))
}

/// How a member's field is made and shown.
struct MadeRecipe {
    recipe: Recipe,
    display: DisplayConversion,
    window: Option<(u32, u32)>,
}

/// Precipitation over the `window` hours ending at `step`, by the product's rules, in mm;
/// any other variable is its message at `step`, in the product's display units.
fn make_recipe(
    product: &dyn Product,
    run: &RunEntry,
    variable: &ChosenVariable<'_>,
    step: u32,
    window: u32,
) -> Result<MadeRecipe, PlanError> {
    let array = data_array(variable.entry);
    if !variable.is_precipitation {
        let display = product
            .variable(&variable.entry.name)
            .map(|s| s.display)
            .unwrap_or_else(|_| DisplayConversion::for_units(&variable.entry.units, false));
        return Ok(MadeRecipe {
            recipe: Recipe::Single { array, step },
            display,
            window: None,
        });
    }
    let (start, end) = (step.saturating_sub(window), step);
    let plan = product::precipitation_plan(product, run.run, start, end).map_err(|e| {
        PlanError::Product {
            product: product.name().to_owned(),
            reason: e.to_string(),
        }
    })?;
    if let Some(missing) = plan.steps().into_iter().find(|s| !run.steps.contains(s)) {
        return Err(PlanError::WindowStepMissing {
            start,
            end,
            missing,
            run: run.run.compact(),
        });
    }
    Ok(MadeRecipe {
        recipe: Recipe::Precipitation { array, plan },
        display: DisplayConversion::identity("mm"),
        window: Some((start, end)),
    })
}

/// The two title lines and the file name stem of a view showing `what`.
fn titles(
    product_label: &str,
    product_name: &str,
    run: RunTime,
    step: u32,
    what: &str,
    member: &str,
    state: &ViewState,
) -> (String, String, String) {
    let threshold = crate::view_state::short_number(f64::from(state.threshold));
    let kind_text = match state.view {
        ViewKind::Member => format!("member {member}"),
        ViewKind::Mean => "ensemble mean".into(),
        ViewKind::Spread => "ensemble spread (standard deviation)".into(),
        ViewKind::Probability => format!("probability of more than {threshold} mm"),
        ViewKind::Stamps => "every member".into(),
    };
    let title = format!("{product_label} · {what} · {kind_text}");
    let subtitle = format!(
        "Run {} · valid {} (+{step} h)",
        format_run(&run),
        format_valid(&run, step)
    );
    let suffix = match state.view {
        ViewKind::Member => format!("-{member}"),
        ViewKind::Probability => format!("-{threshold}mm"),
        _ => String::new(),
    };
    let file_stem = format!(
        "{product_name}-{}-f{step:03}-{}{suffix}",
        run.compact(),
        state.view.as_str(),
    );
    (title, subtitle, file_stem)
}

/// The catalog variable holding the product's precipitation, if the run has it.
pub fn precipitation_entry<'a>(
    product: &dyn Product,
    run: &'a RunEntry,
) -> Option<&'a VariableEntry> {
    let acc = product.precipitation();
    let path = product.variable(acc.variable).ok().map(|s| s.zarr_path());
    run.variables
        .iter()
        .find(|v| v.name == acc.variable || Some(&v.path) == path.as_ref())
}

/// The data array path of a catalog variable (`{path}/{array}`).
pub fn data_array(v: &VariableEntry) -> String {
    gik_core::member::MemberManifest::array_path(&v.path, &v.array)
}

/// A catalog variable in the selector.
fn variable_choice(v: &VariableEntry) -> Choice {
    Choice {
        value: v.name.clone(),
        label: variable_label(v),
    }
}

/// Label for a catalog variable: its long name, with the name users type.
pub fn variable_label(v: &VariableEntry) -> String {
    if v.long_name.is_empty() || v.long_name == v.name {
        v.name.clone()
    } else {
        format!("{} ({})", v.long_name, v.name)
    }
}

fn quantity_of(kind: ViewKind, precipitation: bool, unit: &str) -> Quantity {
    match kind {
        ViewKind::Probability => Quantity::Probability,
        ViewKind::Spread => Quantity::Spread,
        _ if precipitation => Quantity::Precipitation,
        _ => match unit {
            "°C" | "K" => Quantity::Temperature,
            "hPa" | "Pa" => Quantity::Pressure,
            "m s**-1" | "m/s" => Quantity::Wind,
            "mm" => Quantity::Precipitation,
            _ => Quantity::Other,
        },
    }
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Fri 1 Aug 2025 00 UTC`.
fn format_time(seconds: i64) -> String {
    let t = RunTime::from_unix_seconds(seconds);
    let weekday = WEEKDAYS
        .get(seconds.div_euclid(86_400).rem_euclid(7) as usize)
        .copied()
        .unwrap_or("");
    let month = MONTHS
        .get(t.month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("");
    format!("{weekday} {} {month} {} {:02} UTC", t.day, t.year, t.hour)
}

/// The run start, e.g. `Fri 1 Aug 2025 00 UTC`.
pub fn format_run(run: &RunTime) -> String {
    format_time(run.unix_seconds())
}

/// The valid time `step` hours after `run`, e.g. `Sat 2 Aug 2025 00 UTC`.
pub fn format_valid(run: &RunTime, step: u32) -> String {
    format_time(run.unix_seconds() + i64::from(step) * 3600)
}

/// The grid points of a message that fall in a box, as a north-up, west-to-east raster:
/// gik-core's [`OutputGrid`] (thinned for the screen) and the [`CropMap`] from the message's
/// grid onto it, the same cut `gik stream` makes for its files.
///
/// Built once per (grid, box) and applied to every message on that grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Crop {
    /// The raster: latitudes north first, longitudes in −180…180 west first (a box across 180°
    /// jumps from 179.75 to −180), spacing and thinning factor.
    pub raster: OutputGrid,
    map: CropMap,
}

impl Crop {
    /// The raster of `grid` inside `bbox`, thinned to at most `max_points` points.
    pub fn new(grid: &Grid, bbox: &BBox, max_points: usize) -> Result<Self, GeoError> {
        let lattice = Lattice::of_grid(grid).ok_or_else(|| {
            GeoError::Unsupported(format!(
                "grid template 3.{} has no regular latitude/longitude axes",
                grid.template
            ))
        })?;
        let raster = OutputGrid::new(bbox, lattice)?.thinned(max_points);
        let map = CropMap::new(grid, &raster)?;
        Ok(Self { raster, map })
    }

    /// Number of raster rows.
    pub fn rows(&self) -> usize {
        self.raster.rows()
    }

    /// Number of raster columns.
    pub fn cols(&self) -> usize {
        self.raster.cols()
    }

    /// Number of raster points.
    pub fn len(&self) -> usize {
        self.raster.points()
    }

    /// Whether the raster is empty (never, for a crop that was built).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether two crops give the same raster (same axes), so their fields can be combined.
    pub fn same_raster(&self, other: &Crop) -> bool {
        self.raster.same_points(&other.raster)
    }

    /// How many source rows, in scan order, the raster needs: a decoder may stop after them
    /// (`gik_core::grib::decode_rows`).
    pub fn rows_needed(&self) -> usize {
        self.map.rows_needed()
    }

    /// The raster values of a decoded message on this crop's grid (NaN where the message's
    /// grid does not reach): the whole field or its first [`rows_needed`](Self::rows_needed)
    /// rows.
    pub fn apply(&self, values: &[f32]) -> Result<Vec<f32>, GeoError> {
        self.map.apply(values)
    }

    /// Raster index of the point nearest to (`lat`, `lon`), if within half a cell of the
    /// raster.
    pub fn index_at(&self, lat: f64, lon: f64) -> Option<usize> {
        self.raster.index_at(lat, lon)
    }
}

/// The crops built recently, by (grid, box, point budget): a view's messages share a grid, so
/// its crop is built once, not per message. The page and each decode worker keep one.
#[derive(Debug)]
pub struct CropCache {
    crops: Vec<(Grid, BBox, usize, Arc<Crop>)>,
    keep: usize,
}

impl CropCache {
    /// An empty cache that keeps the `keep` most recently built crops.
    pub fn new(keep: usize) -> Self {
        Self {
            crops: Vec::new(),
            keep: keep.max(1),
        }
    }

    /// The crop of `grid` for `bbox` and `max_points`, built if it is not kept.
    pub fn get(
        &mut self,
        grid: &Grid,
        bbox: &BBox,
        max_points: usize,
    ) -> Result<Arc<Crop>, GeoError> {
        if let Some((_, _, _, c)) = self
            .crops
            .iter()
            .find(|(g, b, m, _)| g == grid && b == bbox && *m == max_points)
        {
            return Ok(Arc::clone(c));
        }
        let crop = Arc::new(Crop::new(grid, bbox, max_points)?);
        if self.crops.len() >= self.keep {
            self.crops.remove(0);
        }
        self.crops
            .push((grid.clone(), *bbox, max_points, Arc::clone(&crop)));
        Ok(crop)
    }

    /// Crops kept.
    pub fn len(&self) -> usize {
        self.crops.len()
    }

    /// Whether no crop is kept.
    pub fn is_empty(&self) -> bool {
        self.crops.is_empty()
    }
}

/// The data of the current frame: one field, or one per member.
#[derive(Clone, Debug, PartialEq)]
pub enum FrameData {
    /// One field on the crop's raster.
    Field(Vec<f32>),
    /// (member, field) in member order.
    Stamps(Vec<(String, Vec<f32>)>),
}

/// A map ready to draw: the plan it shows, its raster, its data and how complete it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The view.
    pub plan: Arc<ViewPlan>,
    /// The raster the data lies on.
    pub crop: Arc<Crop>,
    /// The data, in display units.
    pub data: FrameData,
    /// Members included so far.
    pub members_done: usize,
    /// Members the view asked for.
    pub members_total: usize,
    /// Whether every member has been tried.
    pub complete: bool,
}

impl Frame {
    /// What the map is made of: `27 of 31 members`, with `(loading)` while members arrive.
    pub fn members_line(&self) -> String {
        let base = if self.plan.kind == ViewKind::Member {
            format!("member {}", self.plan.member)
        } else {
            format!("{} of {} members", self.members_done, self.members_total)
        };
        if self.complete {
            base
        } else {
            format!("{base} (loading)")
        }
    }

    /// The value at raster point `index` of panel `panel` (stamps) or of the field.
    pub fn value(&self, panel: usize, index: usize) -> Option<(f32, Option<&str>)> {
        match &self.data {
            FrameData::Field(f) => f.get(index).map(|v| (*v, None)),
            FrameData::Stamps(s) => s
                .get(panel)
                .and_then(|(name, f)| f.get(index).map(|v| (*v, Some(name.as_str())))),
        }
    }
}

/// Members accumulated so far for one view.
#[derive(Clone, Debug)]
pub struct Ensemble {
    kind: ViewKind,
    points: usize,
    acc: EnsembleAccumulator,
    fields: Vec<(usize, String, Vec<f32>)>,
}

impl Ensemble {
    /// An empty ensemble for `kind` on a raster of `points`; `threshold` for the probability.
    pub fn new(kind: ViewKind, points: usize, threshold: Option<f32>) -> Self {
        let thresholds: Vec<f32> = threshold.into_iter().collect();
        let acc_points = if matches!(
            kind,
            ViewKind::Mean | ViewKind::Spread | ViewKind::Probability
        ) {
            points
        } else {
            0
        };
        Self {
            kind,
            points,
            acc: EnsembleAccumulator::new(acc_points, &thresholds),
            fields: Vec::new(),
        }
    }

    /// Adds member number `order` (its place in the plan) called `name`.
    pub fn add(&mut self, order: usize, name: &str, field: Vec<f32>) -> Result<(), FieldError> {
        let points = |found: usize| FieldError::Points {
            member: name.to_owned(),
            found,
            expected: self.points,
        };
        if field.len() != self.points {
            return Err(points(field.len()));
        }
        match self.kind {
            ViewKind::Mean | ViewKind::Spread | ViewKind::Probability => {
                self.acc
                    .add(&field)
                    .map_err(|e| FieldError::Combine(e.to_string()))?;
            }
            ViewKind::Member | ViewKind::Stamps => {
                let at = self.fields.partition_point(|(o, _, _)| *o < order);
                self.fields.insert(at, (order, name.to_string(), field));
            }
        }
        Ok(())
    }

    /// Members added.
    pub fn members(&self) -> usize {
        match self.kind {
            ViewKind::Mean | ViewKind::Spread | ViewKind::Probability => self.acc.members(),
            ViewKind::Member | ViewKind::Stamps => self.fields.len(),
        }
    }

    /// The frame as it stands; `None` before the first member.
    pub fn frame(&self) -> Option<FrameData> {
        if self.members() == 0 {
            return None;
        }
        match self.kind {
            ViewKind::Mean => Some(FrameData::Field(self.acc.mean())),
            ViewKind::Spread => Some(FrameData::Field(self.acc.spread())),
            ViewKind::Probability => self.acc.probability(0).ok().map(FrameData::Field),
            ViewKind::Member => self
                .fields
                .first()
                .map(|(_, _, f)| FrameData::Field(f.clone())),
            ViewKind::Stamps => Some(FrameData::Stamps(
                self.fields
                    .iter()
                    .map(|(_, n, f)| (n.clone(), f.clone()))
                    .collect(),
            )),
        }
    }
}

/// Applies a display conversion to a field in place (NaN stays NaN).
pub fn convert(display: &DisplayConversion, field: &mut [f32]) {
    if display.scale == 1.0 && display.offset == 0.0 {
        return;
    }
    for v in field {
        *v = display.apply(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gik_core::geo::wrap_lon;
    use gik_core::grib::LatLonGrid;
    use gik_core::product::{Sign, Term};

    /// The global 0.25° grid from 90°N, its rows starting at `lon_first`.
    fn global_grid(lon_first: f64) -> Grid {
        Grid {
            template: 0,
            num_points: 1440 * 721,
            ni: Some(1440),
            nj: Some(721),
            latlon: Some(LatLonGrid {
                lat_first: 90.0,
                lon_first,
                lat_last: -90.0,
                lon_last: lon_first + 359.75,
                di: 0.25,
                dj: 0.25,
                scanning_mode: 0,
                gaussian: false,
            }),
        }
    }

    fn gefs_grid() -> Grid {
        global_grid(0.0)
    }

    fn ecmwf_grid() -> Grid {
        global_grid(-180.0)
    }

    /// A field whose value encodes its own coordinates: lat*1000 + lon (lon in −180..180).
    fn coded_field(grid: &Grid) -> Vec<f32> {
        (0..grid.num_points)
            .map(|i| {
                let (lat, lon) = grid.coordinates(i).unwrap();
                (lat * 1000.0 + wrap_lon(lon)) as f32
            })
            .collect()
    }

    fn variable(name: &str, path: &str, array: &str, units: &str) -> VariableEntry {
        VariableEntry {
            name: name.into(),
            path: path.into(),
            array: array.into(),
            units: units.into(),
            long_name: String::new(),
        }
    }

    fn catalog() -> Catalog {
        let mut c = Catalog::new();
        let gefs_members: Vec<String> = (0..31)
            .map(|i| {
                if i == 0 {
                    "gec00".to_string()
                } else {
                    format!("gep{i:02}")
                }
            })
            .collect();
        let run = RunEntry {
            run: "2025080100".parse().unwrap(),
            members: gefs_members.clone(),
            steps: (0..=72).step_by(3).collect(),
            variables: vec![
                variable(
                    "TMP:2 m above ground",
                    "t2m/instant/heightAboveGround",
                    "t2m",
                    "K",
                ),
                variable("APCP:surface", "tp/accum/surface", "tp", "kg m**-2"),
            ],
            manifests: gefs_members
                .iter()
                .map(|m| {
                    (
                        m.clone(),
                        format!("gefs/20250801/00z/2025080100z-{m}.parquet"),
                    )
                })
                .collect(),
            ..RunEntry::default()
        };
        let mut older = run.clone();
        older.run = "2025073118".parse().unwrap();
        c.products.insert(
            "gefs".into(),
            ProductEntry {
                label: "NOAA GEFS".into(),
                runs: vec![run, older],
                ..ProductEntry::default()
            },
        );
        let ecmwf_members: Vec<String> = std::iter::once("control".to_string())
            .chain((1..=50).map(|i| format!("ens{i:02}")))
            .collect();
        let run = RunEntry {
            run: "2025080100".parse().unwrap(),
            members: ecmwf_members.clone(),
            steps: (0..=144).step_by(3).collect(),
            variables: vec![
                variable("2t", "t2m/instant/heightAboveGround", "t2m", "K"),
                variable("tp", "tp/accum/surface", "tp", "m"),
                variable("msl", "msl/instant/meanSea", "msl", "Pa"),
            ],
            manifests: ecmwf_members
                .iter()
                .map(|m| (m.clone(), format!("ecmwf/{m}.parquet")))
                .collect(),
            ..RunEntry::default()
        };
        c.products.insert(
            "ecmwf".into(),
            ProductEntry {
                label: "ECMWF IFS ensemble".into(),
                runs: vec![run],
                ..ProductEntry::default()
            },
        );
        c
    }

    fn state(query: &str) -> ViewState {
        ViewState::from_query(query).0
    }

    #[test]
    fn defaults_come_from_the_catalog() {
        let p = plan_view(&catalog(), &ViewState::default()).unwrap();
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        let plan = p.plan;
        assert_eq!(plan.product, "gefs");
        assert_eq!(plan.run.compact(), "2025080100");
        assert_eq!(plan.variable, "APCP:surface");
        assert!(plan.is_precipitation && plan.has_precipitation);
        assert_eq!(plan.step, 24);
        assert_eq!(plan.steps.first(), Some(&3));
        assert_eq!(plan.members.len(), 31);
        assert_eq!(plan.message_count(), 31 * 4);
        assert_eq!(plan.window, Some((0, 24)));
        assert_eq!(plan.quantity, Quantity::Precipitation);
        assert_eq!(plan.unit, "mm");
        assert_eq!(
            plan.title,
            "NOAA GEFS · 24-h precipitation (0–24 h) · ensemble mean"
        );
        assert_eq!(
            plan.subtitle,
            "Run Fri 1 Aug 2025 00 UTC · valid Sat 2 Aug 2025 00 UTC (+24 h)"
        );
        assert!(plan.attribution.contains("NOAA/NCEP"));
        assert_eq!(plan.file_stem, "gefs-2025080100-f024-mean");
        let pinned = plan.pinned(&ViewState::default());
        assert_eq!(
            pinned.to_query(),
            "product=gefs&run=2025080100&var=APCP:surface&step=24"
        );
        // Planning the pinned state gives the same plan: the URL reproduces the view.
        assert_eq!(plan_view(&catalog(), &pinned).unwrap().plan, plan);
    }

    #[test]
    fn gefs_probability_uses_six_hour_buckets() {
        let plan = plan_view(&catalog(), &state("view=prob&step=36&threshold=25"))
            .unwrap()
            .plan;
        let Recipe::Precipitation { array, plan: acc } = &plan.recipe else {
            panic!("precipitation expected: {:?}", plan.recipe)
        };
        assert_eq!(array, "tp/accum/surface/tp");
        assert_eq!(acc.window, (12, 36));
        assert_eq!(plan.recipe.steps(), [18, 24, 30, 36]);
        assert_eq!(plan.threshold, Some(25.0));
        assert_eq!(plan.unit, "%");
        assert_eq!(plan.quantity, Quantity::Probability);
        assert!(
            plan.title.contains("probability of more than 25 mm"),
            "{}",
            plan.title
        );
        assert_eq!(plan.file_stem, "gefs-2025080100-f036-prob-25mm");
        // The variable in the URL does not matter for the probability view.
        let other = plan_view(
            &catalog(),
            &state("view=prob&step=36&threshold=25&var=TMP:2+m+above+ground"),
        )
        .unwrap()
        .plan;
        assert_eq!(other.recipe, plan.recipe);
    }

    #[test]
    fn ecmwf_precipitation_is_a_difference_of_running_totals() {
        let plan = plan_view(
            &catalog(),
            &state("product=ecmwf&var=tp&step=48&view=member"),
        )
        .unwrap()
        .plan;
        let Recipe::Precipitation { plan: acc, .. } = &plan.recipe else {
            panic!("precipitation expected")
        };
        assert_eq!(
            acc.terms,
            [
                Term {
                    step: 48,
                    window: (0, 48),
                    sign: Sign::Plus
                },
                Term {
                    step: 24,
                    window: (0, 24),
                    sign: Sign::Minus
                }
            ]
        );
        assert_eq!(plan.members.len(), 1);
        assert_eq!(plan.members[0].name, "control");
        assert_eq!(plan.members[0].manifest, "ecmwf/control.parquet");
        assert!(plan.attribution.contains("© ECMWF") && plan.attribution.contains("CC BY 4.0"));
        // Combine: (tp48 - tp24) in m → mm.
        let fields: BTreeMap<u32, Vec<f32>> =
            [(24, vec![0.001, 0.002]), (48, vec![0.011, 0.002])].into();
        let mm = plan.recipe.combine(&fields).unwrap();
        assert!((mm[0] - 10.0).abs() < 1e-3 && mm[1] == 0.0, "{mm:?}");
        let missing: BTreeMap<u32, Vec<f32>> = [(48, vec![0.0])].into();
        assert_eq!(
            plan.recipe.combine(&missing).unwrap_err(),
            FieldError::MissingStep { step: 24 }
        );
    }

    #[test]
    fn early_steps_use_a_shorter_window_and_step_zero_is_not_offered() {
        let plan = plan_view(&catalog(), &state("step=9")).unwrap().plan;
        assert_eq!(plan.window, Some((0, 9)));
        assert!(
            plan.title.contains("9-h precipitation (0–9 h)"),
            "{}",
            plan.title
        );
        let p = plan_view(&catalog(), &state("step=0")).unwrap();
        assert_eq!(p.plan.step, 3);
        assert_eq!(p.notes.len(), 1);
    }

    #[test]
    fn temperature_is_shown_in_celsius_and_pressure_in_hpa() {
        let plan = plan_view(
            &catalog(),
            &state("var=TMP:2+m+above+ground&step=0&view=spread"),
        )
        .unwrap()
        .plan;
        assert_eq!(
            plan.recipe,
            Recipe::Single {
                array: "t2m/instant/heightAboveGround/t2m".into(),
                step: 0
            }
        );
        assert_eq!(plan.display.unit, "°C");
        assert_eq!(plan.display.apply(273.15), 0.0);
        assert_eq!(plan.quantity, Quantity::Spread);
        assert_eq!(plan.steps.first(), Some(&0));
        let msl = plan_view(&catalog(), &state("product=ecmwf&var=msl&step=6"))
            .unwrap()
            .plan;
        assert_eq!(
            (msl.unit.as_str(), msl.quantity),
            ("hPa", Quantity::Pressure)
        );
        let mut f = vec![101_325.0, f32::NAN];
        convert(&msl.display, &mut f);
        assert!((f[0] - 1013.25).abs() < 1e-3 && f[1].is_nan());
    }

    #[test]
    fn unknown_values_fall_back_with_notes() {
        let p = plan_view(
            &catalog(),
            &state("product=gfs&run=2020010100&var=nope&step=7&view=member&member=gep99"),
        )
        .unwrap();
        assert_eq!(p.notes.len(), 5, "{:?}", p.notes);
        assert_eq!(p.plan.product, "gefs");
        assert_eq!(p.plan.run.compact(), "2025080100");
        assert_eq!(p.plan.member, "gec00");
        assert_eq!(p.plan.step, 6);
        let older = plan_view(&catalog(), &state("run=2025073118"))
            .unwrap()
            .plan;
        assert_eq!(older.run.compact(), "2025073118");
        assert_eq!(older.runs.len(), 2);
        assert_eq!(older.runs[1].label, "Thu 31 Jul 2025 18 UTC");
    }

    #[test]
    fn impossible_views_are_errors() {
        assert_eq!(
            plan_view(&Catalog::new(), &ViewState::default()).unwrap_err(),
            PlanError::NoProducts
        );
        let mut c = catalog();
        if let Some(p) = c.products.get_mut("gefs") {
            for r in &mut p.runs {
                r.variables.retain(|v| v.name != "APCP:surface");
            }
        }
        let err = plan_view(&c, &state("view=prob")).unwrap_err();
        assert!(
            matches!(&err, PlanError::NoPrecipitation { variable, .. } if variable == "APCP:surface"),
            "{err}"
        );
        // A window whose start is not a step the manifests hold.
        let mut c = catalog();
        if let Some(p) = c.products.get_mut("gefs") {
            p.runs[0].steps.retain(|&s| s != 18);
        }
        let err = plan_view(&c, &state("step=36")).unwrap_err();
        assert!(
            matches!(err, PlanError::WindowStepMissing { missing: 18, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("step 18 h"), "{err}");
    }

    #[test]
    fn crops_gefs_and_ecmwf_grids_to_the_same_raster() {
        let bbox = crate::view_state::DEFAULT_BBOX;
        let g = gefs_grid();
        let e = ecmwf_grid();
        let cg = Crop::new(&g, &bbox, MAX_MAP_POINTS).unwrap();
        let ce = Crop::new(&e, &bbox, MAX_MAP_POINTS).unwrap();
        assert!(cg.same_raster(&ce));
        assert_eq!((cg.rows(), cg.cols()), (141, 129));
        let (lats, lons) = (&cg.raster.latitudes, &cg.raster.longitudes);
        assert_eq!((lats[0], lats[140]), (23.0, -12.0));
        assert_eq!((lons[0], lons[128]), (21.0, 53.0));
        for (grid, crop) in [(&g, &cg), (&e, &ce)] {
            let out = crop.apply(&coded_field(grid)).unwrap();
            assert_eq!(out.len(), crop.len());
            for (k, v) in out.iter().enumerate() {
                let (r, c) = (k / crop.cols(), k % crop.cols());
                let want = (crop.raster.latitudes[r] * 1000.0 + crop.raster.longitudes[c]) as f32;
                assert_eq!(*v, want, "point {k}");
            }
        }
        assert!(cg.apply(&[1.0, 2.0]).is_err());
    }

    #[test]
    fn crops_across_the_greenwich_meridian_and_thins_big_boxes() {
        let bbox: BBox = "0,10,-10,10".parse().unwrap();
        let g = gefs_grid();
        let c = Crop::new(&g, &bbox, MAX_MAP_POINTS).unwrap();
        assert_eq!(c.cols(), 81);
        let lons = &c.raster.longitudes;
        assert_eq!((lons[0], lons[40], lons[80]), (-10.0, 0.0, 10.0));
        let out = c.apply(&coded_field(&g)).unwrap();
        assert_eq!(out[0], (10.0 * 1000.0 - 10.0) as f32);
        let w = Crop::new(&g, &BBox::GLOBE, 100_000).unwrap();
        assert!(
            w.len() <= 100_000 && w.raster.stride == 4,
            "{} {}",
            w.len(),
            w.raster.stride
        );
        assert_eq!(w.raster.dlon(), 1.0);
        let out = w.apply(&coded_field(&g)).unwrap();
        let k = w.index_at(-30.2, 120.1).unwrap();
        assert_eq!(out[k], (-30.0 * 1000.0 + 120.0) as f32);
        assert_eq!(c.index_at(5.1, 4.9), Some(c.cols() * 20 + 60));
        assert_eq!(c.index_at(20.0, 0.0), None);
        let off: BBox = "0,0.1,0,0.1".parse().unwrap();
        assert!(Crop::new(&g, &off, 10).unwrap().len() == 1);
        let no_geometry = Grid {
            template: 30,
            num_points: 4,
            ni: Some(2),
            nj: Some(2),
            latlon: None,
        };
        assert!(Crop::new(&no_geometry, &bbox, 10)
            .unwrap_err()
            .to_string()
            .contains("3.30"));
    }

    #[test]
    fn a_crop_cache_builds_each_crop_once_and_forgets_the_oldest() {
        let g = gefs_grid();
        let boxes: Vec<BBox> = ["0,10,-10,10", "0,10,0,20", "0,10,10,30"]
            .iter()
            .map(|b| b.parse().unwrap())
            .collect();
        let mut cache = CropCache::new(2);
        assert!(cache.is_empty());
        let first = cache.get(&g, &boxes[0], 1000).unwrap();
        assert!(Arc::ptr_eq(
            &first,
            &cache.get(&g, &boxes[0], 1000).unwrap()
        ));
        // Another point budget is another crop.
        let thinner = cache.get(&g, &boxes[0], 10).unwrap();
        assert!(!Arc::ptr_eq(&first, &thinner));
        assert_eq!(cache.len(), 2);
        cache.get(&g, &boxes[1], 1000).unwrap();
        assert_eq!(cache.len(), 2);
        // The oldest went: asked again, it is built anew.
        assert!(!Arc::ptr_eq(
            &first,
            &cache.get(&g, &boxes[0], 1000).unwrap()
        ));
        let no_geometry = Grid {
            latlon: None,
            ..g.clone()
        };
        assert!(cache.get(&no_geometry, &boxes[2], 1000).is_err());
    }

    #[test]
    fn crops_across_180_from_either_convention() {
        let pacific: BBox = "-20,10,160,-150".parse().unwrap();
        let (g, e) = (gefs_grid(), ecmwf_grid());
        let cg = Crop::new(&g, &pacific, MAX_MAP_POINTS).unwrap();
        let ce = Crop::new(&e, &pacific, MAX_MAP_POINTS).unwrap();
        assert!(cg.same_raster(&ce));
        assert_eq!((cg.rows(), cg.cols()), (121, 201));
        let lons = &cg.raster.longitudes;
        assert_eq!(
            (lons[0], lons[79], lons[80], lons[200]),
            (160.0, 179.75, -180.0, -150.0)
        );
        for (grid, crop) in [(&g, &cg), (&e, &ce)] {
            let out = crop.apply(&coded_field(grid)).unwrap();
            assert!(out.iter().all(|v| !v.is_nan()));
            let k = crop.index_at(-5.0, 185.0).unwrap();
            assert_eq!(out[k], (-5.0 * 1000.0 - 175.0) as f32);
            assert_eq!(crop.index_at(-5.0, -175.0), Some(k));
        }
        // Thinned across 180° too: every kept point is the grid's value there.
        let thin = Crop::new(&g, &pacific, 2_000).unwrap();
        assert!(thin.raster.stride > 1 && thin.len() <= 2_000);
        let out = thin.apply(&coded_field(&g)).unwrap();
        for (k, v) in out.iter().enumerate() {
            let (r, c) = (k / thin.cols(), k % thin.cols());
            let want = (thin.raster.latitudes[r] * 1000.0 + thin.raster.longitudes[c]) as f32;
            assert_eq!(*v, want, "point {k}");
        }
    }

    #[test]
    fn ensemble_views_sharpen_member_by_member() {
        let mut mean = Ensemble::new(ViewKind::Mean, 2, None);
        assert!(mean.frame().is_none());
        mean.add(0, "a", vec![1.0, f32::NAN]).unwrap();
        let Some(FrameData::Field(m)) = mean.frame() else {
            panic!()
        };
        assert!(m[0] == 1.0 && m[1].is_nan(), "{m:?}");
        mean.add(1, "b", vec![3.0, 2.0]).unwrap();
        let Some(FrameData::Field(m)) = mean.frame() else {
            panic!()
        };
        assert_eq!(m, vec![2.0, 2.0]);
        assert_eq!(mean.members(), 2);
        assert!(mean.add(2, "c", vec![1.0]).is_err());

        let mut prob = Ensemble::new(ViewKind::Probability, 2, Some(10.0));
        for (i, v) in [[12.0, 0.0], [9.0, 0.0], [10.0, 30.0], [50.0, 0.0]]
            .iter()
            .enumerate()
        {
            prob.add(i, "m", v.to_vec()).unwrap();
        }
        assert_eq!(prob.frame(), Some(FrameData::Field(vec![50.0, 25.0])));

        let mut spread = Ensemble::new(ViewKind::Spread, 1, None);
        spread.add(0, "a", vec![1.0]).unwrap();
        spread.add(1, "b", vec![3.0]).unwrap();
        assert_eq!(spread.frame(), Some(FrameData::Field(vec![1.0])));

        let mut stamps = Ensemble::new(ViewKind::Stamps, 1, None);
        stamps.add(2, "gep02", vec![2.0]).unwrap();
        stamps.add(0, "gec00", vec![0.0]).unwrap();
        stamps.add(1, "gep01", vec![1.0]).unwrap();
        let Some(FrameData::Stamps(s)) = stamps.frame() else {
            panic!()
        };
        let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["gec00", "gep01", "gep02"]);

        let mut one = Ensemble::new(ViewKind::Member, 1, None);
        one.add(0, "gep03", vec![7.0]).unwrap();
        assert_eq!(one.frame(), Some(FrameData::Field(vec![7.0])));
    }

    #[test]
    fn wraps_longitudes() {
        assert_eq!(wrap_lon(359.75), -0.25);
        assert_eq!(wrap_lon(180.0), -180.0);
        assert_eq!(wrap_lon(-180.0), -180.0);
        assert_eq!(wrap_lon(21.0), 21.0);
        assert_eq!(
            format_valid(&RunTime::new(2025, 12, 31, 18).unwrap(), 6),
            "Thu 1 Jan 2026 00 UTC"
        );
    }
}
