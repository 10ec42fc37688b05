//! Drawing a [`Frame`] — field, borders, title, colour bar and attribution — onto a canvas.
//!
//! Why one canvas holds the whole figure: the PNG a forecaster downloads must carry the title
//! (product, run, valid time), the legend and the licence attribution, exactly as on screen.
//! Drawing all of it on the same canvas makes the export a plain `toDataURL` and guarantees the
//! two never differ.
//!
//! The pure parts — colour scales ([`ColourScale::for_frame`]), units people read
//! ([`pretty_unit`]), the layout and its inverse for the cursor readout ([`Layout`]), the border
//! file ([`Borders`]) and the RGBA raster ([`rgba`]) — are tested natively; [`draw`] is the thin
//! canvas part. The projection is plate carrée with the longitude scale shrunk by the cosine of
//! the box's middle latitude, which keeps East Africa's shapes true enough without a projection
//! library.

use serde::Deserialize;
use wasm_bindgen::{Clamped, JsCast};

use crate::compute::{Frame, FrameData, Quantity};
use gik_core::geo::wrap_lon;

use crate::view_state::{short_number, BBox};

/// An RGBA colour.
pub type Rgba = [u8; 4];

const TRANSPARENT: Rgba = [0, 0, 0, 0];

/// Colours for value classes: class 0 is below `bounds[0]`, class `k` is
/// `bounds[k-1] ≤ v < bounds[k]`, the last class is `≥` the last bound. NaN is transparent.
#[derive(Clone, Debug, PartialEq)]
pub struct ColourScale {
    /// Class boundaries, ascending.
    pub bounds: Vec<f32>,
    /// One colour per class (`bounds.len() + 1`).
    pub colours: Vec<Rgba>,
    /// Unit label for the colour bar.
    pub unit: String,
}

/// Rainfall classes (mm) used for every precipitation map, so maps compare at a glance.
pub const PRECIPITATION_BOUNDS: [f32; 13] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 75.0, 100.0, 150.0, 200.0,
];

/// Probability classes (%).
pub const PROBABILITY_BOUNDS: [f32; 10] =
    [5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0];

const RAIN: [[u8; 3]; 10] = [
    [190, 225, 250],
    [120, 180, 240],
    [40, 110, 210],
    [30, 160, 80],
    [150, 205, 50],
    [255, 220, 50],
    [255, 140, 30],
    [225, 40, 25],
    [165, 0, 100],
    [110, 30, 150],
];
const YL_GN_BU: [[u8; 3]; 6] = [
    [255, 255, 204],
    [161, 218, 180],
    [65, 182, 196],
    [44, 127, 184],
    [37, 52, 148],
    [60, 10, 90],
];
const RD_YL_BU: [[u8; 3]; 11] = [
    [49, 54, 149],
    [69, 117, 180],
    [116, 173, 209],
    [171, 217, 233],
    [224, 243, 248],
    [255, 255, 191],
    [254, 224, 144],
    [253, 174, 97],
    [244, 109, 67],
    [215, 48, 39],
    [165, 0, 38],
];
const OR_RD: [[u8; 3]; 5] = [
    [255, 247, 236],
    [253, 212, 158],
    [252, 141, 89],
    [215, 48, 31],
    [127, 0, 0],
];
const VIRIDIS: [[u8; 3]; 5] = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
];
const RD_BU: [[u8; 3]; 5] = [
    [33, 102, 172],
    [146, 197, 222],
    [247, 247, 247],
    [244, 165, 130],
    [178, 24, 43],
];

/// The colour at `t` (0…1) along a ramp of anchors.
pub fn ramp(anchors: &[[u8; 3]], t: f32) -> Rgba {
    let Some(last) = anchors.len().checked_sub(1) else {
        return TRANSPARENT;
    };
    let x = t.clamp(0.0, 1.0) * last as f32;
    let i = (x.floor() as usize).min(last.saturating_sub(1));
    let f = x - i as f32;
    let a = anchors.get(i).copied().unwrap_or([0, 0, 0]);
    let b = anchors.get(i + 1).copied().unwrap_or(a);
    let mix = |k: usize| (f32::from(a[k]) + (f32::from(b[k]) - f32::from(a[k])) * f).round() as u8;
    [mix(0), mix(1), mix(2), 255]
}

fn sample(anchors: &[[u8; 3]], n: usize) -> Vec<Rgba> {
    (0..n)
        .map(|k| {
            ramp(
                anchors,
                if n > 1 {
                    k as f32 / (n - 1) as f32
                } else {
                    0.5
                },
            )
        })
        .collect()
}

/// About `target` evenly spaced round boundaries (steps of 1, 2, 2.5 or 5 × 10ⁿ) strictly
/// inside `min…max`; one boundary for a constant field, none without data.
pub fn nice_bounds(min: f32, max: f32, target: usize) -> Vec<f32> {
    if !min.is_finite() || !max.is_finite() || max < min {
        return Vec::new();
    }
    let range = f64::from(max) - f64::from(min);
    if range < 1e-9 {
        return vec![min];
    }
    let raw = range / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude);
    let mut bounds = Vec::new();
    let mut k = (f64::from(min) / step).floor() + 1.0;
    while k * step < f64::from(max) && bounds.len() < 40 {
        let b = k * step;
        // Round away float noise (0.30000000000000004).
        let digits = (-step.log10().floor()).max(0.0) as i32 + 1;
        let p = 10f64.powi(digits);
        bounds.push(((b * p).round() / p) as f32);
        k += 1.0;
    }
    if bounds.is_empty() {
        bounds.push(((f64::from(min) + f64::from(max)) / 2.0) as f32);
    }
    bounds
}

/// Minimum and maximum of the finite values of a frame (over every stamp).
pub fn data_range(data: &FrameData) -> Option<(f32, f32)> {
    let fields: Vec<&[f32]> = match data {
        FrameData::Field(f) => vec![f.as_slice()],
        FrameData::Stamps(s) => s.iter().map(|(_, f)| f.as_slice()).collect(),
    };
    let mut range: Option<(f32, f32)> = None;
    for v in fields
        .into_iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
    {
        range = Some(match range {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }
    range
}

impl ColourScale {
    /// The scale for a frame: fixed classes for precipitation and probability (the driest and
    /// least likely class left transparent), round classes over the data's range otherwise
    /// (symmetric around 0 for wind components).
    pub fn for_frame(quantity: Quantity, unit: &str, data: &FrameData) -> Self {
        let unit = pretty_unit(unit);
        match quantity {
            Quantity::Precipitation => Self::fixed(&PRECIPITATION_BOUNDS, &RAIN, unit),
            Quantity::Probability => Self::fixed(&PROBABILITY_BOUNDS, &YL_GN_BU, unit),
            _ => {
                let (lo, hi) = data_range(data).unwrap_or((0.0, 1.0));
                let (lo, hi, anchors): (f32, f32, &[[u8; 3]]) = match quantity {
                    Quantity::Temperature => (lo, hi, &RD_YL_BU),
                    Quantity::Spread => (0f32.min(lo), hi, &OR_RD),
                    Quantity::Wind => {
                        let m = lo.abs().max(hi.abs());
                        (-m, m, &RD_BU)
                    }
                    _ => (lo, hi, &VIRIDIS),
                };
                let bounds = nice_bounds(lo, hi, 12);
                let colours = sample(anchors, bounds.len() + 1);
                Self {
                    bounds,
                    colours,
                    unit,
                }
            }
        }
    }

    fn fixed(bounds: &[f32], anchors: &[[u8; 3]], unit: String) -> Self {
        let mut colours = vec![TRANSPARENT];
        colours.extend(sample(anchors, bounds.len()));
        Self {
            bounds: bounds.to_vec(),
            colours,
            unit,
        }
    }

    /// The colour of a value.
    pub fn colour(&self, v: f32) -> Rgba {
        if v.is_nan() {
            return TRANSPARENT;
        }
        let class = self.bounds.partition_point(|&b| b <= v);
        self.colours.get(class).copied().unwrap_or(TRANSPARENT)
    }
}

/// A unit as people read it: `m s**-1` → `m/s`, `kg m**-2` → `kg/m²`.
pub fn pretty_unit(unit: &str) -> String {
    match unit.trim() {
        "m s**-1" | "m s-1" => "m/s".into(),
        "kg m**-2" | "kg m-2" => "kg/m²".into(),
        "m**2 s**-2" => "m²/s²".into(),
        "(0 - 1)" | "0-1" => "fraction".into(),
        "1" | "" | "unknown" | "~" => String::new(),
        other => other
            .replace("**-1", "⁻¹")
            .replace("**-2", "⁻²")
            .replace("**2", "²")
            .replace("**3", "³"),
    }
}

/// A value for the cursor readout (`12.3 mm`, `-0.25 °C`, `85 %`).
pub fn format_value(v: f32, unit: &str) -> String {
    if v.is_nan() {
        return "no data".into();
    }
    let a = v.abs();
    let text = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if unit.is_empty() {
        text
    } else {
        format!("{text} {unit}")
    }
}

/// `3.25°S, 36.75°E`.
pub fn format_position(lat: f64, lon: f64) -> String {
    let ns = if lat < 0.0 { 'S' } else { 'N' };
    let ew = if lon < 0.0 { 'W' } else { 'E' };
    format!("{:.2}°{ns}, {:.2}°{ew}", lat.abs(), lon.abs())
}

/// A rectangle in CSS pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// Whether the point is inside.
    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.x && x <= self.x + self.w && y >= self.y && y <= self.y + self.h
    }
}

const MARGIN: f64 = 12.0;
const TITLE_H: f64 = 58.0;
const LEGEND_H: f64 = 52.0;
const LINE_H: f64 = 14.0;
const AXIS_W: f64 = 38.0;
const AXIS_H: f64 = 18.0;
const STAMP_LABEL_H: f64 = 15.0;
const STAMP_GAP: f64 = 6.0;
const STAMP_MIN_W: f64 = 120.0;

/// Where everything goes on the canvas.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Canvas width.
    pub width: f64,
    /// Canvas height.
    pub height: f64,
    /// The map panels (one, or one per stamp).
    pub panels: Vec<Rect>,
    /// The box every panel shows.
    pub bbox: BBox,
    /// Colour bar area.
    pub legend: Rect,
    /// Top of the attribution text.
    pub attribution_y: f64,
}

impl Layout {
    /// Lays out `panels` maps of `bbox` on a canvas `width` wide, with `attribution_lines`
    /// lines of attribution at the bottom; a single map is at most `max_map_height` tall (and
    /// never less than 160 pixels).
    pub fn new(
        bbox: &BBox,
        panels: usize,
        width: f64,
        attribution_lines: usize,
        max_map_height: f64,
    ) -> Self {
        let width = width.max(320.0);
        let mid = ((bbox.north + bbox.south) / 2.0)
            .to_radians()
            .cos()
            .max(0.2);
        let aspect = bbox.width() * mid / bbox.height(); // width / height
        let inner = width - 2.0 * MARGIN;
        let mut rects = Vec::new();
        let maps_bottom;
        if panels <= 1 {
            let avail = inner - AXIS_W;
            let max_h = max_map_height.max(160.0);
            let (mut w, mut h) = (avail, avail / aspect);
            if h > max_h {
                h = max_h;
                w = h * aspect;
            }
            let x = MARGIN + AXIS_W + (avail - w) / 2.0;
            rects.push(Rect {
                x,
                y: TITLE_H,
                w,
                h,
            });
            maps_bottom = TITLE_H + h + AXIS_H;
        } else {
            let fit = ((inner + STAMP_GAP) / (STAMP_MIN_W + STAMP_GAP)).floor() as usize;
            let cols = fit.clamp(1, panels);
            let rows = panels.div_ceil(cols);
            let w = (inner - STAMP_GAP * (cols as f64 - 1.0)) / cols as f64;
            let h = w / aspect;
            for k in 0..panels {
                let (r, c) = ((k / cols) as f64, (k % cols) as f64);
                rects.push(Rect {
                    x: MARGIN + c * (w + STAMP_GAP),
                    y: TITLE_H + r * (h + STAMP_LABEL_H + STAMP_GAP) + STAMP_LABEL_H,
                    w,
                    h,
                });
            }
            maps_bottom = TITLE_H + rows as f64 * (h + STAMP_LABEL_H + STAMP_GAP);
        }
        let legend = Rect {
            x: MARGIN,
            y: maps_bottom + 6.0,
            w: inner,
            h: LEGEND_H,
        };
        let attribution_y = legend.y + legend.h + 4.0;
        Self {
            width,
            height: attribution_y + attribution_lines as f64 * LINE_H + MARGIN,
            panels: rects,
            bbox: *bbox,
            legend,
            attribution_y,
        }
    }

    /// Pixel position of (`lat`, `lon`) in panel `p` (longitudes in either convention; a box
    /// across 180° is drawn continuously).
    pub fn to_pixel(&self, p: &Rect, lat: f64, lon: f64) -> (f64, f64) {
        (
            p.x + self.bbox.east_of_west(lon) / self.bbox.width() * p.w,
            p.y + (self.bbox.north - lat) / self.bbox.height() * p.h,
        )
    }

    /// The panel and (lat, lon) under a pixel, if it is on a map (longitude in −180…180).
    pub fn locate(&self, x: f64, y: f64) -> Option<(usize, f64, f64)> {
        let (k, p) = self
            .panels
            .iter()
            .enumerate()
            .find(|(_, p)| p.contains(x, y))?;
        let lon = wrap_lon(self.bbox.west + (x - p.x) / p.w * self.bbox.width());
        let lat = self.bbox.north - (y - p.y) / p.h * self.bbox.height();
        Some((k, lat, lon))
    }
}

/// Country borders and coastlines (Natural Earth), as lines of (lon, lat).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Borders {
    /// Each line's points.
    pub lines: Vec<Vec<(f32, f32)>>,
    /// Each line's (west, south, east, north), to skip lines outside the box.
    pub extents: Vec<[f32; 4]>,
}

/// Why a borders file cannot be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BordersError {
    /// Not JSON of the expected shape.
    #[error("borders file: {reason}")]
    Json {
        /// The parser's reason.
        reason: String,
    },
    /// The scale is not a positive number.
    #[error("borders file: bad scale {scale}")]
    Scale {
        /// The scale found.
        scale: f32,
    },
}

#[derive(Deserialize)]
struct BordersFile {
    scale: f32,
    lines: Vec<Vec<i32>>,
}

impl Borders {
    /// Reads `static/borders/borders-50m.json` (see `static/borders/README.md`): per line, the
    /// first point then deltas, all as integers of degrees × `scale`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, BordersError> {
        let file: BordersFile = serde_json::from_slice(bytes).map_err(|e| BordersError::Json {
            reason: e.to_string(),
        })?;
        if !file.scale.is_finite() || file.scale <= 0.0 {
            return Err(BordersError::Scale { scale: file.scale });
        }
        let mut b = Borders::default();
        for raw in file.lines {
            let (mut x, mut y) = (0i64, 0i64);
            let mut pts = Vec::with_capacity(raw.len() / 2);
            let mut ext = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
            for pair in raw.chunks_exact(2) {
                x += i64::from(pair[0]);
                y += i64::from(pair[1]);
                let (lon, lat) = (x as f32 / file.scale, y as f32 / file.scale);
                ext = [
                    ext[0].min(lon),
                    ext[1].min(lat),
                    ext[2].max(lon),
                    ext[3].max(lat),
                ];
                pts.push((lon, lat));
            }
            if pts.len() >= 2 {
                b.lines.push(pts);
                b.extents.push(ext);
            }
        }
        Ok(b)
    }
}

/// RGBA bytes of a raster (row by row, north first) in a colour scale.
pub fn rgba(field: &[f32], scale: &ColourScale) -> Vec<u8> {
    field.iter().flat_map(|&v| scale.colour(v)).collect()
}

/// Degrees between graticule lines for a box this wide.
pub fn graticule_step(span: f64) -> f64 {
    match span {
        s if s <= 3.0 => 0.5,
        s if s <= 8.0 => 1.0,
        s if s <= 20.0 => 2.0,
        s if s <= 45.0 => 5.0,
        s if s <= 100.0 => 10.0,
        _ => 30.0,
    }
}

/// Splits text into lines no wider than `max` according to `measure`.
pub fn wrap_text(text: &str, max: f64, measure: impl Fn(&str) -> f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if measure(&candidate) > max && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

type Ctx = web_sys::CanvasRenderingContext2d;

/// Why the map could not be drawn on its canvas, or exported from it. (The browser's
/// exceptions in these places say no more than the variant does.)
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanvasError {
    /// The canvas gives no 2D context.
    #[error("this browser gives no 2D canvas")]
    NoContext,
    /// The device-pixel-ratio transform could not be set.
    #[error("cannot scale the canvas")]
    Scale,
    /// The page has no document.
    #[error("no document")]
    NoDocument,
    /// An element could not be created.
    #[error("cannot create a {what}")]
    Create {
        /// What it was for (`canvas`, `link`).
        what: &'static str,
    },
    /// A field's raster image could not be made.
    #[error("cannot make a {cols}×{rows} image")]
    Image {
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
    },
    /// A raster could not be put on its canvas.
    #[error("cannot draw the image")]
    PutImage,
    /// The browser refused to export the canvas as a PNG.
    #[error("the browser refused to export the canvas")]
    Export,
}

fn context(canvas: &web_sys::HtmlCanvasElement) -> Result<Ctx, CanvasError> {
    canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<Ctx>().ok())
        .ok_or(CanvasError::NoContext)
}

/// A new `tag` element of the page's document (`what` names it in the error).
pub(crate) fn new_element<T: JsCast>(tag: &str, what: &'static str) -> Result<T, CanvasError> {
    web_sys::window()
        .and_then(|w| w.document())
        .ok_or(CanvasError::NoDocument)?
        .create_element(tag)
        .ok()
        .and_then(|e| e.dyn_into::<T>().ok())
        .ok_or(CanvasError::Create { what })
}

fn text(ctx: &Ctx, s: &str, x: f64, y: f64) {
    // fill_text only fails for a detached context; nothing useful to do then.
    let _ = ctx.fill_text(s, x, y);
}

/// Draws `frame` (with `borders`, if loaded) on `canvas`, `width` CSS pixels wide with a
/// single map at most `max_map_height` tall, and returns the layout (for the cursor readout).
pub fn draw(
    canvas: &web_sys::HtmlCanvasElement,
    frame: &Frame,
    borders: Option<&Borders>,
    width: f64,
    max_map_height: f64,
    pixel_ratio: f64,
) -> Result<Layout, CanvasError> {
    let ctx = context(canvas)?;
    let plan = &frame.plan;
    let scale = ColourScale::for_frame(plan.quantity, &plan.unit, &frame.data);
    // Attribution lines decide the height, so measure them first.
    let attribution = attribution_lines(&ctx, frame, width);
    let panels = match &frame.data {
        FrameData::Field(_) => 1,
        FrameData::Stamps(s) => s.len().max(1),
    };
    let layout = Layout::new(&plan.bbox, panels, width, attribution.len(), max_map_height);
    size_canvas(canvas, &ctx, &layout, pixel_ratio)?;
    ctx.set_fill_style_str("#ffffff");
    ctx.fill_rect(0.0, 0.0, layout.width, layout.height);
    draw_title(&ctx, frame);
    draw_maps(&ctx, &layout, frame, borders, &scale)?;
    draw_legend(&ctx, &layout, &scale);
    draw_attribution(&ctx, &layout, &attribution);
    Ok(layout)
}

/// The credit line (product attribution, borders, gik) wrapped to the figure's width, in the
/// font it is drawn in.
fn attribution_lines(ctx: &Ctx, frame: &Frame, width: f64) -> Vec<String> {
    ctx.set_font("11px sans-serif");
    let credit = format!(
        "{} {} Made with gik.",
        frame.plan.attribution,
        crate::compute::BORDERS_ATTRIBUTION
    );
    let measure = |s: &str| ctx.measure_text(s).map(|m| m.width()).unwrap_or(0.0);
    wrap_text(&credit, width.max(320.0) - 2.0 * MARGIN, measure)
}

/// Sizes the canvas for `layout`: CSS pixels on the page, device pixels in its backing store.
fn size_canvas(
    canvas: &web_sys::HtmlCanvasElement,
    ctx: &Ctx,
    layout: &Layout,
    pixel_ratio: f64,
) -> Result<(), CanvasError> {
    let ratio = pixel_ratio.clamp(1.0, 3.0);
    canvas.set_width((layout.width * ratio).round() as u32);
    canvas.set_height((layout.height * ratio).round() as u32);
    let style = canvas.style();
    let _ = style.set_property("width", &format!("{}px", layout.width));
    let _ = style.set_property("height", &format!("{}px", layout.height));
    ctx.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0)
        .map_err(|_| CanvasError::Scale)
}

/// The title and, under it, the subtitle with the members on the map.
fn draw_title(ctx: &Ctx, frame: &Frame) {
    ctx.set_text_baseline("alphabetic");
    ctx.set_text_align("left");
    ctx.set_fill_style_str("#111111");
    ctx.set_font("bold 15px sans-serif");
    text(ctx, &frame.plan.title, MARGIN, 22.0);
    ctx.set_font("13px sans-serif");
    ctx.set_fill_style_str("#333333");
    text(
        ctx,
        &format!("{} · {}", frame.plan.subtitle, frame.members_line()),
        MARGIN,
        42.0,
    );
}

/// Each panel: background, raster, graticule (single map), borders, frame and member name
/// (postage stamps); then the axis labels of a single map.
fn draw_maps(
    ctx: &Ctx,
    layout: &Layout,
    frame: &Frame,
    borders: Option<&Borders>,
    scale: &ColourScale,
) -> Result<(), CanvasError> {
    let image = raster_canvas(&frame.crop, &frame.data, scale)?;
    let stamps: Vec<&str> = match &frame.data {
        FrameData::Stamps(s) => s.iter().map(|(n, _)| n.as_str()).collect(),
        FrameData::Field(_) => Vec::new(),
    };
    for (k, panel) in layout.panels.iter().enumerate() {
        ctx.save();
        ctx.begin_path();
        ctx.rect(panel.x, panel.y, panel.w, panel.h);
        ctx.clip();
        ctx.set_fill_style_str("#f3f3f0");
        ctx.fill_rect(panel.x, panel.y, panel.w, panel.h);
        if let Some(img) = image.get(k) {
            draw_raster(ctx, layout, panel, &frame.crop, img);
        }
        if layout.panels.len() == 1 {
            draw_graticule(ctx, layout, panel);
        }
        if let Some(b) = borders {
            draw_borders(ctx, layout, panel, b);
        }
        ctx.restore();
        ctx.set_stroke_style_str("#555555");
        ctx.set_line_width(1.0);
        ctx.stroke_rect(panel.x, panel.y, panel.w, panel.h);
        if let Some(name) = stamps.get(k) {
            ctx.set_font("11px sans-serif");
            ctx.set_fill_style_str("#222222");
            text(ctx, name, panel.x, panel.y - 3.0);
        }
    }
    if layout.panels.len() == 1 {
        if let Some(p) = layout.panels.first() {
            draw_axis_labels(ctx, layout, p);
        }
    }
    Ok(())
}

/// The credit lines under the legend.
fn draw_attribution(ctx: &Ctx, layout: &Layout, lines: &[String]) {
    ctx.set_font("11px sans-serif");
    ctx.set_fill_style_str("#444444");
    ctx.set_text_align("left");
    for (i, line) in lines.iter().enumerate() {
        text(
            ctx,
            line,
            MARGIN,
            layout.attribution_y + LINE_H * (i as f64 + 1.0) - 3.0,
        );
    }
}

/// One small canvas per field holding its raster at one pixel per grid point.
fn raster_canvas(
    crop: &crate::compute::Crop,
    data: &FrameData,
    scale: &ColourScale,
) -> Result<Vec<web_sys::HtmlCanvasElement>, CanvasError> {
    let fields: Vec<&[f32]> = match data {
        FrameData::Field(f) => vec![f.as_slice()],
        FrameData::Stamps(s) => s.iter().map(|(_, f)| f.as_slice()).collect(),
    };
    let (cols, rows) = (crop.cols() as u32, crop.rows() as u32);
    let mut out = Vec::with_capacity(fields.len());
    for field in fields {
        let bytes = rgba(field, scale);
        let image =
            web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(&bytes), cols, rows)
                .map_err(|_| CanvasError::Image { cols, rows })?;
        let c: web_sys::HtmlCanvasElement = new_element("canvas", "canvas")?;
        c.set_width(cols);
        c.set_height(rows);
        context(&c)?
            .put_image_data(&image, 0.0, 0.0)
            .map_err(|_| CanvasError::PutImage)?;
        out.push(c);
    }
    Ok(out)
}

fn draw_raster(
    ctx: &Ctx,
    layout: &Layout,
    panel: &Rect,
    crop: &crate::compute::Crop,
    img: &web_sys::HtmlCanvasElement,
) {
    let raster = &crop.raster;
    let (Some(&north), Some(&south), Some(&west), Some(&east)) = (
        raster.latitudes.first(),
        raster.latitudes.last(),
        raster.longitudes.first(),
        raster.longitudes.last(),
    ) else {
        return;
    };
    let (dlat, dlon) = (raster.dlat(), raster.dlon());
    let (x0, y0) = layout.to_pixel(panel, north + dlat / 2.0, west - dlon / 2.0);
    let (x1, y1) = layout.to_pixel(panel, south - dlat / 2.0, east + dlon / 2.0);
    ctx.set_image_smoothing_enabled(false);
    let _ = ctx.draw_image_with_html_canvas_element_and_dw_and_dh(img, x0, y0, x1 - x0, y1 - y0);
}

fn draw_borders(ctx: &Ctx, layout: &Layout, panel: &Rect, borders: &Borders) {
    let b = &layout.bbox;
    ctx.set_stroke_style_str("#262626");
    ctx.set_line_width(if layout.panels.len() > 1 { 0.5 } else { 0.8 });
    ctx.begin_path();
    for (line, ext) in borders.lines.iter().zip(&borders.extents) {
        let [w, s, e, n] = ext.map(f64::from);
        let outside_lon = if b.crosses_antimeridian() {
            w > b.east && e < b.west
        } else {
            e < b.west || w > b.east
        };
        if outside_lon || n < b.south || s > b.north {
            continue;
        }
        let mut previous: Option<f64> = None;
        for &(lon, lat) in line {
            let (x, y) = layout.to_pixel(panel, f64::from(lat), f64::from(lon));
            // A line crossing the meridian opposite the box's middle jumps across the map:
            // lift the pen there.
            let east = b.east_of_west(f64::from(lon));
            let jump = previous.is_none_or(|p| (east - p).abs() > 180.0);
            previous = Some(east);
            if jump {
                ctx.move_to(x, y);
            } else {
                ctx.line_to(x, y);
            }
        }
    }
    ctx.stroke();
}

fn graticule_values(from: f64, to: f64) -> Vec<f64> {
    let step = graticule_step(to - from);
    let mut v = (from / step).ceil() * step;
    let mut out = Vec::new();
    while v <= to + 1e-9 && out.len() < 100 {
        out.push(v);
        v += step;
    }
    out
}

fn draw_graticule(ctx: &Ctx, layout: &Layout, panel: &Rect) {
    let b = &layout.bbox;
    ctx.set_stroke_style_str("rgba(0,0,0,0.15)");
    ctx.set_line_width(0.6);
    ctx.begin_path();
    for lat in graticule_values(b.south, b.north) {
        let (_, y) = layout.to_pixel(panel, lat, b.west);
        ctx.move_to(panel.x, y);
        ctx.line_to(panel.x + panel.w, y);
    }
    for lon in graticule_values(b.west, b.west + b.width()) {
        let (x, _) = layout.to_pixel(panel, b.north, lon);
        ctx.move_to(x, panel.y);
        ctx.line_to(x, panel.y + panel.h);
    }
    ctx.stroke();
}

fn degrees(v: f64, pos: char, neg: char) -> String {
    if v.abs() < 1e-9 {
        "0°".into()
    } else {
        format!(
            "{}°{}",
            short_number(v.abs()),
            if v < 0.0 { neg } else { pos }
        )
    }
}

fn draw_axis_labels(ctx: &Ctx, layout: &Layout, panel: &Rect) {
    let b = &layout.bbox;
    ctx.set_font("10px sans-serif");
    ctx.set_fill_style_str("#444444");
    ctx.set_text_align("right");
    ctx.set_text_baseline("middle");
    for lat in graticule_values(b.south, b.north) {
        let (_, y) = layout.to_pixel(panel, lat, b.west);
        text(ctx, &degrees(lat, 'N', 'S'), panel.x - 4.0, y);
    }
    ctx.set_text_align("center");
    ctx.set_text_baseline("top");
    for lon in graticule_values(b.west, b.west + b.width()) {
        let (x, _) = layout.to_pixel(panel, b.north, lon);
        text(
            ctx,
            &degrees(wrap_lon(lon), 'E', 'W'),
            x,
            panel.y + panel.h + 3.0,
        );
    }
    ctx.set_text_baseline("alphabetic");
    ctx.set_text_align("left");
}

fn draw_legend(ctx: &Ctx, layout: &Layout, scale: &ColourScale) {
    let r = layout.legend;
    let classes = scale.colours.len().max(1);
    let unit_w = 60.0;
    let bar_x = r.x + unit_w;
    let bar_w = (r.w - unit_w - 10.0).max(100.0);
    let box_w = bar_w / classes as f64;
    let (bar_y, bar_h) = (r.y + 8.0, 16.0);
    ctx.set_font("bold 12px sans-serif");
    ctx.set_fill_style_str("#222222");
    ctx.set_text_align("left");
    ctx.set_text_baseline("middle");
    text(ctx, &scale.unit, r.x, bar_y + bar_h / 2.0);
    for (k, c) in scale.colours.iter().enumerate() {
        let x = bar_x + k as f64 * box_w;
        let fill = if c[3] == 0 {
            "#ffffff".to_string()
        } else {
            format!("rgb({},{},{})", c[0], c[1], c[2])
        };
        ctx.set_fill_style_str(&fill);
        ctx.fill_rect(x, bar_y, box_w, bar_h);
    }
    ctx.set_stroke_style_str("#555555");
    ctx.set_line_width(0.8);
    ctx.stroke_rect(bar_x, bar_y, box_w * classes as f64, bar_h);
    ctx.set_font("11px sans-serif");
    ctx.set_fill_style_str("#222222");
    ctx.set_text_align("center");
    ctx.set_text_baseline("top");
    // Label every boundary, or every other one when they would collide.
    let every = if box_w < 28.0 { 2 } else { 1 };
    for (k, b) in scale.bounds.iter().enumerate() {
        if k % every != 0 {
            continue;
        }
        let x = bar_x + (k + 1) as f64 * box_w;
        ctx.begin_path();
        ctx.move_to(x, bar_y + bar_h);
        ctx.line_to(x, bar_y + bar_h + 4.0);
        ctx.stroke();
        text(ctx, &short_number(f64::from(*b)), x, bar_y + bar_h + 6.0);
    }
    ctx.set_text_baseline("alphabetic");
    ctx.set_text_align("left");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_scales_leave_dry_and_unlikely_transparent() {
        let p = ColourScale::for_frame(Quantity::Precipitation, "mm", &FrameData::Field(vec![]));
        assert_eq!(p.colours.len(), p.bounds.len() + 1);
        assert_eq!(p.colour(0.5)[3], 0);
        assert_eq!(p.colour(1.0), p.colours[1]);
        assert_eq!(p.colour(250.0), *p.colours.last().unwrap());
        assert_eq!(p.colour(f32::NAN), TRANSPARENT);
        let q = ColourScale::for_frame(Quantity::Probability, "%", &FrameData::Field(vec![]));
        assert_eq!(q.unit, "%");
        assert_eq!(q.colour(4.9)[3], 0);
        assert_eq!(q.colour(100.0)[3], 255);
    }

    #[test]
    fn data_scales_use_round_classes() {
        assert_eq!(nice_bounds(0.0, 10.0, 5), [2.0, 4.0, 6.0, 8.0]);
        assert_eq!(
            nice_bounds(12.3, 37.9, 12),
            [12.5, 15.0, 17.5, 20.0, 22.5, 25.0, 27.5, 30.0, 32.5, 35.0, 37.5]
        );
        assert_eq!(nice_bounds(0.0, 0.7, 7), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
        assert_eq!(nice_bounds(5.0, 5.0, 10), [5.0]);
        assert!(nice_bounds(f32::NAN, 1.0, 10).is_empty());
        let t = ColourScale::for_frame(
            Quantity::Temperature,
            "°C",
            &FrameData::Stamps(vec![
                ("a".into(), vec![10.0, f32::NAN]),
                ("b".into(), vec![35.0]),
            ]),
        );
        assert_eq!(t.bounds.first(), Some(&12.5));
        assert_eq!(t.bounds.last(), Some(&32.5));
        assert_eq!(t.colours.len(), t.bounds.len() + 1);
        assert_eq!(t.colour(-50.0), t.colours[0]);
        let w = ColourScale::for_frame(
            Quantity::Wind,
            "m s**-1",
            &FrameData::Field(vec![-3.0, 12.0]),
        );
        assert_eq!(w.unit, "m/s");
        assert_eq!(
            (w.bounds.first(), w.bounds.last()),
            (Some(&-10.0), Some(&10.0))
        );
    }

    #[test]
    fn units_and_values_read_well() {
        assert_eq!(pretty_unit("kg m**-2"), "kg/m²");
        assert_eq!(pretty_unit("m**2 s**-2"), "m²/s²");
        assert_eq!(pretty_unit("J m**-2"), "J m⁻²");
        assert_eq!(pretty_unit("°C"), "°C");
        assert_eq!(format_value(12.345, "mm"), "12.3 mm");
        assert_eq!(format_value(-0.254, "°C"), "-0.25 °C");
        assert_eq!(format_value(100.0, "%"), "100 %");
        assert_eq!(format_value(f32::NAN, "%"), "no data");
        assert_eq!(format_position(-3.25, 36.75), "3.25°S, 36.75°E");
        assert_eq!(format_position(10.0, -5.5), "10.00°N, 5.50°W");
    }

    #[test]
    fn layout_round_trips_pixels_and_coordinates() {
        let bbox = crate::view_state::DEFAULT_BBOX;
        let l = Layout::new(&bbox, 1, 900.0, 2, 680.0);
        assert_eq!(l.panels.len(), 1);
        let p = l.panels[0];
        assert!(p.h <= 680.0 + 1e-9 && p.w > 100.0);
        let (x, y) = l.to_pixel(&p, -3.0, 36.0);
        let (k, lat, lon) = l.locate(x, y).unwrap();
        assert_eq!(k, 0);
        assert!((lat + 3.0).abs() < 1e-9 && (lon - 36.0).abs() < 1e-9);
        assert!(l.locate(1.0, 1.0).is_none());
        let short = Layout::new(&bbox, 1, 900.0, 2, 300.0);
        assert_eq!(short.panels[0].h, 300.0);
        assert!(short.panels[0].w < p.w);
        assert!(l.height > p.y + p.h + 2.0 * LINE_H);
        let s = Layout::new(&bbox, 31, 900.0, 2, 680.0);
        assert_eq!(s.panels.len(), 31);
        assert!(s
            .panels
            .iter()
            .all(|r| r.w >= STAMP_MIN_W && r.x + r.w <= 900.0));
        let (x, y) = s.to_pixel(&s.panels[30], 0.0, 40.0);
        assert_eq!(s.locate(x, y).map(|t| t.0), Some(30));
    }

    #[test]
    fn maps_across_180_are_continuous() {
        let pacific: BBox = "-20,10,160,-150".parse().unwrap();
        let l = Layout::new(&pacific, 1, 900.0, 2, 680.0);
        let p = l.panels[0];
        let x = |lon: f64| l.to_pixel(&p, 0.0, lon).0;
        assert!((x(160.0) - p.x).abs() < 1e-9);
        assert!((x(-150.0) - (p.x + p.w)).abs() < 1e-9);
        assert!(x(170.0) < x(180.0) && x(180.0) < x(-170.0) && x(-170.0) < x(-160.0));
        assert!((x(180.0) - x(-180.0)).abs() < 1e-9);
        for lon in [170.0, -175.0, -150.5] {
            let (_, lat, back) = l.locate(x(lon), l.to_pixel(&p, 5.0, lon).1).unwrap();
            assert!(
                (back - lon).abs() < 1e-6 && (lat - 5.0).abs() < 1e-9,
                "{lon} {back}"
            );
        }
        assert_eq!(graticule_values(160.0, 160.0 + pacific.width()).len(), 6);
    }

    #[test]
    fn borders_decode_deltas() {
        let b = Borders::from_json(br#"{"scale":100,"lines":[[3600,-300,50,25,0,-25],[1,2]]}"#)
            .unwrap();
        assert_eq!(b.lines.len(), 1);
        assert_eq!(b.lines[0], [(36.0, -3.0), (36.5, -2.75), (36.5, -3.0)]);
        assert_eq!(b.extents[0], [36.0, -3.0, 36.5, -2.75]);
        assert!(Borders::from_json(b"{}").is_err());
        assert_eq!(
            Borders::from_json(br#"{"scale":0,"lines":[]}"#),
            Err(BordersError::Scale { scale: 0.0 })
        );
    }

    #[test]
    fn the_committed_border_file_reads() {
        let bytes = include_bytes!("../../static/borders/borders-50m.json");
        let b = Borders::from_json(bytes).unwrap();
        assert!(b.lines.len() > 1000);
        // Some line passes near Lake Victoria's Kenya–Uganda border (about 0°, 34°E).
        assert!(b
            .lines
            .iter()
            .flatten()
            .any(|&(lon, lat)| (lon - 34.0).abs() < 0.3 && lat.abs() < 0.3));
    }

    #[test]
    fn helpers() {
        assert_eq!(graticule_step(32.0), 5.0);
        assert_eq!(
            graticule_values(-12.0, 23.0),
            [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]
        );
        let lines = wrap_text("aa bb cc dd", 5.0, |s| s.len() as f64);
        assert_eq!(lines, ["aa bb", "cc dd"]);
        assert_eq!(
            rgba(
                &[f32::NAN],
                &ColourScale::for_frame(Quantity::Probability, "%", &FrameData::Field(vec![]))
            ),
            [0, 0, 0, 0]
        );
        assert_eq!(ramp(&VIRIDIS, 0.0), [68, 1, 84, 255]);
        assert_eq!(ramp(&VIRIDIS, 1.0), [253, 231, 37, 255]);
        assert_eq!(degrees(-10.0, 'N', 'S'), "10°S");
    }
}
