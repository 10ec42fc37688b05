//! What the page keeps in this browser ([`crate::store`]), and a button to clear it.

use leptos::prelude::*;

use crate::AppState;

/// "Kept in this browser: 120 items, 14.2 MB [Clear]".
#[component]
pub fn Storage(
    /// The page's shared state.
    app: AppState,
) -> impl IntoView {
    let text = move || {
        let u = app.stored.get();
        format!(
            "Kept in this browser: {} items, {:.1} MB ",
            u.entries,
            u.bytes as f64 / 1e6
        )
    };
    view! {
        <p class="storage">
            {text}
            <button
                type="button"
                class="clear-storage"
                on:click=move |_| app.clear_requests.update(|n| *n += 1)
            >
                "Clear"
            </button>
        </p>
    }
}
