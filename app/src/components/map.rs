//! The map: a canvas redrawn whenever the frame, the borders or the window size change, the
//! value and coordinates under the cursor, and the PNG download of exactly what is drawn.

use std::sync::Arc;

use leptos::ev;
use leptos::html::{Canvas, Section};
use leptos::prelude::*;

use crate::compute::Frame;
use crate::render::{self, format_position, format_value, pretty_unit, CanvasError, Layout};
use crate::AppState;

/// Saves the canvas as a PNG file named `stem.png`.
fn download_png(canvas: &web_sys::HtmlCanvasElement, stem: &str) -> Result<(), CanvasError> {
    let url = canvas
        .to_data_url_with_type("image/png")
        .map_err(|_| CanvasError::Export)?;
    let a: web_sys::HtmlAnchorElement = render::new_element("a", "link")?;
    a.set_href(&url);
    a.set_download(&format!("{stem}.png"));
    a.click();
    Ok(())
}

/// Canvas, cursor readout and download button.
#[component]
pub fn MapView(
    /// The page's shared state.
    app: AppState,
) -> impl IntoView {
    let embed = app.state.with_untracked(|s| s.embed);
    let canvas = NodeRef::<Canvas>::new();
    let container = NodeRef::<Section>::new();
    let layout = StoredValue::new(None::<Arc<Layout>>);
    let readout = RwSignal::new(None::<String>);
    let draw_error = RwSignal::new(None::<CanvasError>);
    let resized = RwSignal::new(0u32);
    // The listener lives as long as the page (the map is never unmounted).
    let _ = window_event_listener(ev::resize, move |_| resized.update(|n| *n += 1));

    Effect::new(move |_| {
        resized.track();
        let frame = app.frame.get();
        let borders = app.borders.get();
        let (Some(c), Some(frame)) = (canvas.get(), frame) else {
            return;
        };
        let width = container
            .get()
            // Inner width: the section's client width less its padding (0.5rem each side).
            .map(|d| f64::from(d.client_width()) - 16.0)
            .filter(|w| *w > 0.0)
            .unwrap_or(900.0)
            .clamp(320.0, 1400.0);
        let window = web_sys::window();
        let ratio = window.as_ref().map_or(1.0, |w| w.device_pixel_ratio());
        // Embedded, the whole figure should fit the frame: title, legend and credits take
        // about 250 pixels with the tool bar. On the page, the map is at most 680 pixels tall.
        let max_map_height = if embed {
            window
                .and_then(|w| w.inner_height().ok())
                .and_then(|h| h.as_f64())
                .map_or(680.0, |h| h - 250.0)
        } else {
            680.0
        };
        match render::draw(&c, &frame, borders.as_deref(), width, max_map_height, ratio) {
            Ok(l) => {
                layout.set_value(Some(Arc::new(l)));
                draw_error.set(None);
            }
            Err(e) => draw_error.set(Some(e)),
        }
    });

    let on_move = move |ev: web_sys::MouseEvent| {
        let (Some(l), Some(frame), Some(c)) = (
            layout.get_value(),
            app.frame.get_untracked(),
            canvas.get_untracked(),
        ) else {
            return;
        };
        // The canvas may be scaled down by CSS (max-width: 100%).
        let scale = l.width / f64::from(c.client_width().max(1));
        let (x, y) = (
            f64::from(ev.offset_x()) * scale,
            f64::from(ev.offset_y()) * scale,
        );
        let text = l
            .locate(x, y)
            .map(|(panel, lat, lon)| readout_text(&frame, panel, lat, lon));
        readout.set(text);
    };

    // A `probe=lat,lon` in the URL pins the readout to that point while the cursor is away.
    Effect::new(move |_| {
        let probe = app.state.with(|s| s.probe);
        if let (Some((lat, lon)), Some(frame)) = (probe, app.frame.get()) {
            readout.set(Some(readout_text(&frame, 0, lat, lon)));
        }
    });

    let download = move |_| {
        let (Some(c), Some(frame)) = (canvas.get_untracked(), app.frame.get_untracked()) else {
            return;
        };
        if let Err(e) = download_png(&c, &frame.plan.file_stem) {
            draw_error.set(Some(e));
        }
    };

    view! {
        <section class="map" node_ref=container>
            <div class="map-tools">
                <button
                    on:click=download
                    disabled=move || app.frame.with(Option::is_none)
                    title="Save the map, its legend, title and credits as a PNG image"
                >
                    "Download PNG"
                </button>
                <span class="readout">
                    {move || readout.get().unwrap_or_else(|| "Point at the map for values".into())}
                </span>
            </div>
            {move || draw_error.get().map(|e| view! { <p class="error">{e.to_string()}</p> })}
            {move || {
                (app.frame.with(Option::is_none) && app.plan.with(Option::is_some))
                    .then(|| {
                        let text = if app.progress.with(|p| p.complete) {
                            "No member could be read for this view: see why above."
                        } else {
                            "The map appears as soon as the first member is decoded."
                        };
                        view! { <p class="placeholder">{text}</p> }
                    })
            }}
            <canvas
                node_ref=canvas
                on:mousemove=on_move
                on:mouseleave=move |_| readout.set(None)
            ></canvas>
        </section>
    }
}

/// The readout for a point of one panel: position, and the value there (with the member on
/// postage stamps).
fn readout_text(frame: &Frame, panel: usize, lat: f64, lon: f64) -> String {
    let value = frame
        .crop
        .index_at(lat, lon)
        .and_then(|i| frame.value(panel, i));
    let unit = pretty_unit(&frame.plan.unit);
    match value {
        Some((v, Some(member))) => {
            format!(
                "{} · {member}: {}",
                format_position(lat, lon),
                format_value(v, &unit)
            )
        }
        Some((v, None)) => format!("{} · {}", format_position(lat, lon), format_value(v, &unit)),
        None => format_position(lat, lon),
    }
}
