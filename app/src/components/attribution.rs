//! Data credits and licences, always on the page (and drawn into every PNG by
//! [`crate::render::draw`]).

use leptos::prelude::*;

use crate::compute::{all_credits, BORDERS_ATTRIBUTION};

/// The footer with the credits of every product (one wording per product, from gik-core).
#[component]
pub fn Attribution() -> impl IntoView {
    view! {
        <footer class="attribution">
            {all_credits().into_iter().map(|text| view! { <p>{text}</p> }).collect_view()}
            <p>
                {BORDERS_ATTRIBUTION}
                " Made with gik (Grib-Index-Kerchunk): manifests of byte ranges, read with HTTP Range requests."
            </p>
        </footer>
    }
}
