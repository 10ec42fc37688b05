//! The selectors: product, run, variable, view, member, threshold, accumulation window and
//! box. Their options come from the current plan (so from the catalog); every change goes
//! through [`AppState::edit`], i.e. into the URL.

use leptos::prelude::*;

use crate::compute::Choice;
use crate::view_state::{parse_bbox, ViewKind, DEFAULT_BBOX, DEFAULT_THRESHOLDS};
use crate::{AppState, Boot};

/// Options of a `<select>`, the current one selected.
fn options(choices: Vec<Choice>, current: String) -> impl IntoView {
    choices
        .into_iter()
        .map(|c| {
            let selected = c.value == current;
            view! { <option value=c.value selected=selected>{c.label}</option> }
        })
        .collect_view()
}

/// Accumulation windows offered (hours); the current one is added if different.
const WINDOWS: [u32; 6] = [6, 12, 24, 48, 72, 120];

/// All selectors.
#[component]
pub fn Controls(
    /// The page's shared state.
    app: AppState,
) -> impl IntoView {
    let plan = app.plan;
    let view_kind = move || app.state.with(|s| s.view);
    let choice = |value: String, label: &str| Choice {
        value,
        label: label.to_string(),
    };

    // From the plan; from the catalog when no plan could be made, so the user can still
    // switch product after an error.
    let products = move || match plan.get() {
        Some(p) => options(p.products.clone(), p.product.clone()).into_any(),
        None => match app.boot.get() {
            Boot::Ready(c) => {
                let choices = c.products.keys().map(|k| choice(k.clone(), k)).collect();
                let current = app.state.with(|s| s.product.clone().unwrap_or_default());
                options(choices, current).into_any()
            }
            _ => ().into_any(),
        },
    };
    let runs = move || plan.get().map(|p| options(p.runs.clone(), p.run.compact()));
    let variables = move || {
        plan.get()
            .map(|p| options(p.variables.clone(), p.variable.clone()))
    };
    let members = move || {
        plan.get().map(|p| {
            let choices = p.all_members.iter().map(|m| choice(m.clone(), m)).collect();
            options(choices, p.member.clone())
        })
    };
    let kinds = move || {
        let has_precip = plan.get().is_some_and(|p| p.has_precipitation);
        let current = view_kind();
        ViewKind::ALL
            .into_iter()
            .map(|k| {
                let disabled = k == ViewKind::Probability && !has_precip;
                view! {
                    <option value=k.as_str() selected=k == current disabled=disabled>
                        {k.label()}
                    </option>
                }
            })
            .collect_view()
    };
    let windows = move || {
        let current = app.state.with(|s| s.window);
        let mut list = WINDOWS.to_vec();
        if !list.contains(&current) {
            list.push(current);
            list.sort_unstable();
        }
        list.into_iter()
            .map(|w| {
                view! { <option value=w.to_string() selected=w == current>{format!("{w} h")}</option> }
            })
            .collect_view()
    };

    let bbox_text = RwSignal::new(app.state.with_untracked(|s| s.bbox.to_string()));
    let bbox_error = RwSignal::new(None::<String>);
    Effect::new(move |_| bbox_text.set(app.state.with(|s| s.bbox.to_string())));
    let apply_bbox = move |text: String| match parse_bbox(&text) {
        Ok(b) => {
            bbox_error.set(None);
            app.edit(|s| s.bbox = b);
        }
        Err(e) => bbox_error.set(Some(e.to_string())),
    };

    let threshold_buttons = move || {
        let current = app.state.with(|s| s.threshold);
        DEFAULT_THRESHOLDS
            .into_iter()
            .map(|t| {
                let class = if t == current { "chip on" } else { "chip" };
                view! {
                    <button class=class on:click=move |_| app.edit(|s| s.threshold = t)>
                        {format!("{t} mm")}
                    </button>
                }
            })
            .collect_view()
    };
    let shows_precip = move || {
        view_kind() == ViewKind::Probability || plan.get().is_some_and(|p| p.is_precipitation)
    };

    view! {
        <section class="controls">
            <label>
                "Product "
                <select on:change=move |ev| {
                    let v = event_target_value(&ev);
                    app.edit(|s| {
                        s.product = Some(v);
                        s.run = None;
                        s.var = None;
                        s.member = None;
                    });
                }>{products}</select>
            </label>
            <label>
                "Run "
                <select on:change=move |ev| {
                    let v = event_target_value(&ev);
                    app.edit(|s| s.run = v.parse().ok());
                }>{runs}</select>
            </label>
            <label>
                "View "
                <select on:change=move |ev| {
                    let v = event_target_value(&ev);
                    if let Some(k) = ViewKind::parse(&v) {
                        app.edit(|s| s.view = k);
                    }
                }>{kinds}</select>
            </label>
            <label class:hidden=move || view_kind() == ViewKind::Probability>
                "Variable "
                <select on:change=move |ev| {
                    let v = event_target_value(&ev);
                    app.edit(|s| s.var = Some(v));
                }>{variables}</select>
            </label>
            <label class:hidden=move || view_kind() != ViewKind::Member>
                "Member "
                <select on:change=move |ev| {
                    let v = event_target_value(&ev);
                    app.edit(|s| s.member = Some(v));
                }>{members}</select>
            </label>
            <label class:hidden=move || !shows_precip()>
                "Rain over "
                <select on:change=move |ev| {
                    if let Ok(w) = event_target_value(&ev).parse::<u32>() {
                        app.edit(|s| s.window = w);
                    }
                }>{windows}</select>
            </label>
            <div class="threshold" class:hidden=move || view_kind() != ViewKind::Probability>
                "More than "
                {threshold_buttons}
                <input
                    type="number"
                    min="0"
                    step="any"
                    title="Any threshold in mm"
                    prop:value=move || app.state.with(|s| s.threshold.to_string())
                    on:change=move |ev| {
                        match event_target_value(&ev).trim().parse::<f32>() {
                            Ok(t) if t.is_finite() && t >= 0.0 => app.edit(|s| s.threshold = t),
                            _ => {}
                        }
                    }
                />
                " mm"
            </div>
            <label class="bbox" title="South, North, West, East in degrees (longitudes -180…180 or 0…360; west above east crosses 180°)">
                "Box S,N,W,E "
                <input
                    type="text"
                    prop:value=move || bbox_text.get()
                    on:change=move |ev| apply_bbox(event_target_value(&ev))
                />
                <button on:click=move |_| {
                    bbox_error.set(None);
                    app.edit(|s| s.bbox = DEFAULT_BBOX);
                }>"East Africa"</button>
            </label>
            {move || bbox_error.get().map(|e| view! { <p class="error">{format!("Box: {e}")}</p> })}
        </section>
    }
}
