//! What the page is doing and what went wrong: start-up errors, notes about adjusted URL
//! values, loading progress (members, messages, bytes) and per-member failures.

use leptos::prelude::*;

use crate::{AppState, Boot};

/// Most failures listed; the rest are counted.
const MAX_LISTED: usize = 12;

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Errors and failures only (for the embedded map).
#[component]
pub fn Problems(
    /// The page's shared state.
    app: AppState,
) -> impl IntoView {
    view! {
        {move || match (app.boot.get(), app.planned.get()) {
            (Boot::Failed(e), _) => {
                Some(view! { <p class="error">{e.to_string()}</p> }.into_any())
            }
            (Boot::Ready(_), Some(Err(e))) => {
                Some(view! { <p class="error">{e.to_string()}</p> }.into_any())
            }
            _ => None,
        }}
        <Failures app=app />
    }
}

/// The per-member failure list.
#[component]
fn Failures(
    /// The page's shared state.
    app: AppState,
) -> impl IntoView {
    move || {
        let failures = app.failures.get();
        if failures.is_empty() {
            return None;
        }
        let more = failures.len().saturating_sub(MAX_LISTED);
        let items = failures
            .iter()
            .take(MAX_LISTED)
            .map(|f| view! { <li>{f.to_string()}</li> })
            .collect_view();
        Some(view! {
            <div class="failures">
                <p>{format!("{} member(s) left out:", failures.len())}</p>
                <ul>{items}</ul>
                {(more > 0).then(|| view! { <p>{format!("… and {more} more")}</p> })}
            </div>
        })
    }
}

/// Start-up state, notes, progress and failures.
#[component]
pub fn Status(
    /// The page's shared state.
    app: AppState,
) -> impl IntoView {
    let progress = move || {
        let origin = app.plan.get()?.data_origin.describe();
        let p = app.progress.get();
        if p.members_total == 0 {
            return None;
        }
        let members = format!(
            "{} of {} members on the map{}",
            p.members_done,
            p.members_total,
            if p.members_failed > 0 {
                format!(", {} failed", p.members_failed)
            } else {
                String::new()
            }
        );
        let messages = format!(
            "messages: {} of {} fetched, {} decoded{} · {} downloaded in {} requests{} · {origin}",
            p.messages_fetched,
            p.messages_total,
            p.messages_decoded,
            if p.from_cache > 0 {
                format!(" ({} from cache)", p.from_cache)
            } else {
                String::new()
            },
            megabytes(p.bytes),
            p.requests,
            if p.message_lengths > 0 {
                format!(
                    " ({:.0} % of the messages' bytes)",
                    100.0 * p.message_bytes as f64 / p.message_lengths as f64
                )
            } else {
                String::new()
            }
        );
        let class = if p.complete {
            "progress done"
        } else {
            "progress busy"
        };
        Some(view! {
            <p class=class>
                <progress
                    max=p.messages_total.max(1).to_string()
                    value=p.messages_decoded.to_string()
                ></progress>
                " "
                <strong>{members}</strong>
                " · "
                {messages}
            </p>
        })
    };
    let notes = move || {
        let notes = app.notes.get();
        (!notes.is_empty()).then(|| {
            view! {
                <ul class="notes">
                    {notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
                </ul>
            }
        })
    };
    view! {
        <section class="status">
            {move || matches!(app.boot.get(), Boot::Loading)
                .then(|| view! { <p class="progress busy">"Loading config.json and the catalog…"</p> })}
            {notes}
            {progress}
            <Problems app=app />
        </section>
    }
}
