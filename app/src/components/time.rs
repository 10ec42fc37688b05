//! The forecast-time slider with play/pause. Playing advances one step once the current map
//! is complete (so an animation never outruns the downloads), looping at the end.

use std::time::Duration;

use leptos::prelude::*;

use crate::compute::format_valid;
use crate::AppState;

/// Pause between animation frames once a map is complete.
const FRAME_PAUSE: Duration = Duration::from_millis(700);

/// Moves the forecast time by `delta` steps of the plan, wrapping around.
fn advance(app: AppState, delta: isize) {
    let Some(plan) = app.plan.get_untracked() else {
        return;
    };
    let n = plan.steps.len() as isize;
    if n == 0 {
        return;
    }
    let i = plan.steps.iter().position(|&s| s == plan.step).unwrap_or(0) as isize;
    let next = (i + delta).rem_euclid(n) as usize;
    if let Some(&step) = plan.steps.get(next) {
        app.edit(|s| s.step = Some(step));
    }
}

/// Slider, step buttons, play/pause and the valid time.
#[component]
pub fn TimeSlider(
    /// The page's shared state.
    app: AppState,
) -> impl IntoView {
    let plan = app.plan;
    let index = move || {
        plan.get()
            .and_then(|p| p.steps.iter().position(|&s| s == p.step))
            .unwrap_or(0)
    };
    let max = move || plan.get().map_or(0, |p| p.steps.len().saturating_sub(1));
    let label = move || {
        plan.get()
            .map(|p| format!("+{} h · valid {}", p.step, format_valid(&p.run, p.step)))
    };

    // Animation: each completed map schedules the next step; a token drops stale timers.
    let token = StoredValue::new(0u64);
    Effect::new(move |_| {
        let playing = app.playing.get();
        let complete = app.progress.with(|p| p.complete);
        token.update_value(|t| *t += 1);
        if !playing || !complete {
            return;
        }
        let mine = token.get_value();
        set_timeout(
            move || {
                if app.playing.get_untracked() && token.get_value() == mine {
                    advance(app, 1);
                }
            },
            FRAME_PAUSE,
        );
    });

    view! {
        <section class="time">
            <button title="Previous step" on:click=move |_| advance(app, -1)>"◀"</button>
            <button
                class="play"
                title="Play or pause the animation"
                on:click=move |_| app.playing.update(|p| *p = !*p)
            >
                {move || if app.playing.get() { "❚❚ Pause" } else { "▶ Play" }}
            </button>
            <button title="Next step" on:click=move |_| advance(app, 1)>"▶"</button>
            <input
                type="range"
                min="0"
                max=move || max().to_string()
                prop:value=move || index().to_string()
                on:input=move |ev| {
                    let i = event_target_value(&ev).parse::<usize>().unwrap_or(0);
                    if let Some(step) = plan.get_untracked().and_then(|p| p.steps.get(i).copied()) {
                        app.edit(|s| s.step = Some(step));
                    }
                }
            />
            <span class="valid">{label}</span>
        </section>
    }
}
