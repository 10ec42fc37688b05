//! Data credits and licences, always on the page (and drawn into every PNG by
//! [`crate::render::draw`]).

use leptos::prelude::*;

use crate::compute::{BORDERS_ATTRIBUTION, GEFS_ATTRIBUTION};

/// The footer with the credits of both products.
#[component]
pub fn Attribution() -> impl IntoView {
    view! {
        <footer class="attribution">
            <p>
                "ECMWF data: © ECMWF. Source: "
                <a href="https://www.ecmwf.int/en/forecasts/datasets/open-data">"ECMWF open data"</a>
                ", licence "
                <a href="https://creativecommons.org/licenses/by/4.0/">"CC BY 4.0"</a>
                ". Maps of ECMWF forecasts are derived from ECMWF data; ECMWF accepts no responsibility for them."
            </p>
            <p>{GEFS_ATTRIBUTION}</p>
            <p>
                {BORDERS_ATTRIBUTION}
                " Made with gik (Grib-Index-Kerchunk): manifests of byte ranges, read with HTTP Range requests."
            </p>
        </footer>
    }
}
