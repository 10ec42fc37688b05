//! The view as typed state, and its URL query form.
//!
//! Why the URL: forecasters share maps by pasting links into chats and bulletins, and embed them
//! in other pages (`embed=1`). So everything that defines a view — product, run, variable,
//! forecast time, kind of view, threshold, accumulation window, box, member — lives in the query
//! string, and [`ViewState::from_query`] / [`ViewState::to_query`] are the only places that know
//! its spelling. This module is pure (no DOM) so the round trip is tested natively.
//!
//! Parsing is lenient: an unknown key is ignored and a bad value falls back to its default with
//! a note the page shows ("bbox: …"), because a half-broken link should still show a map.
//! Product, run, variable, step and member may be left out; the catalog decides them
//! ([`crate::compute::plan_view`]) and the page then writes the chosen values back, so the link
//! in the address bar always pins the view being shown.

/// The map box type: gik-core's, shared with `gik stream` (either longitude convention in,
/// −180…180 kept, a box may cross 180°).
pub use gik_core::geo::BBox;
use gik_core::geo::GeoError;
use gik_core::icpac;
use gik_core::time::RunTime;

/// Default map box: East Africa (ICPAC's region).
pub const DEFAULT_BBOX: BBox = icpac::EAST_AFRICA;

/// Thresholds offered for the exceedance probability, in mm (any other value may be typed).
pub const DEFAULT_THRESHOLDS: [f32; 5] = icpac::THRESHOLDS_MM;

/// Threshold used when the URL names none, in mm.
pub const DEFAULT_THRESHOLD: f32 = icpac::DEFAULT_THRESHOLD_MM;

/// Precipitation accumulation window used when the URL names none, in hours.
pub const DEFAULT_WINDOW_HOURS: u32 = icpac::WINDOW_HOURS;

/// What the map shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ViewKind {
    /// One ensemble member.
    Member,
    /// Ensemble mean.
    #[default]
    Mean,
    /// Ensemble spread (population standard deviation).
    Spread,
    /// Percentage of members whose precipitation over the window exceeds the threshold.
    Probability,
    /// Every member's map side by side ("postage stamps").
    Stamps,
}

impl ViewKind {
    /// Every kind, in the order the page offers them.
    pub const ALL: [ViewKind; 5] = [
        Self::Mean,
        Self::Spread,
        Self::Probability,
        Self::Member,
        Self::Stamps,
    ];

    /// The URL spelling (`member`, `mean`, `spread`, `prob`, `stamps`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Mean => "mean",
            Self::Spread => "spread",
            Self::Probability => "prob",
            Self::Stamps => "stamps",
        }
    }

    /// Parses the URL spelling (also accepts `probability`), ignoring case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "member" => Some(Self::Member),
            "mean" => Some(Self::Mean),
            "spread" => Some(Self::Spread),
            "prob" | "probability" => Some(Self::Probability),
            "stamps" => Some(Self::Stamps),
            _ => None,
        }
    }

    /// Label for the view selector.
    pub fn label(self) -> &'static str {
        match self {
            Self::Member => "One member",
            Self::Mean => "Ensemble mean",
            Self::Spread => "Ensemble spread",
            Self::Probability => "Probability of rain above a threshold",
            Self::Stamps => "Postage stamps (all members)",
        }
    }

    /// Whether the view needs every member of the run (all but [`ViewKind::Member`]).
    pub fn is_ensemble(self) -> bool {
        self != Self::Member
    }
}

/// Parses the `bbox` query value `S,N,W,E` for a map: [`BBox`]'s rules (latitudes within ±90,
/// longitudes in −180…180 or 0…360, west > east crosses 180°, west = east all the way round),
/// and a map needs some height, so south must be below north.
pub fn parse_bbox(text: &str) -> Result<BBox, GeoError> {
    let b: BBox = text.parse()?;
    if b.height() <= 0.0 {
        return Err(GeoError::BadBox {
            text: text.to_string(),
            reason: "south must be below north".into(),
        });
    }
    Ok(b)
}

/// Everything that defines a view. `None` fields are decided by the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewState {
    /// Product name (`gefs`, `ecmwf`).
    pub product: Option<String>,
    /// Run (`run=YYYYMMDDHH` in the URL).
    pub run: Option<RunTime>,
    /// Variable, as the catalog names it (`TMP:2 m above ground`, `2t`).
    pub var: Option<String>,
    /// Forecast step in hours after the run.
    pub step: Option<u32>,
    /// What the map shows.
    pub view: ViewKind,
    /// Precipitation threshold in mm for [`ViewKind::Probability`].
    pub threshold: f32,
    /// Precipitation accumulation window in hours (ending at `step`).
    pub window: u32,
    /// Map box.
    pub bbox: BBox,
    /// Member name for [`ViewKind::Member`] (`gep01`, `ens07`).
    pub member: Option<String>,
    /// Show only the map and its legend (for an iframe).
    pub embed: bool,
    /// A point (latitude, longitude) whose value the readout shows when the cursor is not on
    /// the map: a link can point a reader at a place (and tests read the value there).
    pub probe: Option<(f64, f64)>,
}

/// `lat,lon` with latitude in −90…90 and longitude in −180…360.
fn parse_probe(text: &str) -> Option<(f64, f64)> {
    let (lat, lon) = text.split_once(',')?;
    let (lat, lon) = (
        lat.trim().parse::<f64>().ok()?,
        lon.trim().parse::<f64>().ok()?,
    );
    ((-90.0..=90.0).contains(&lat) && (-180.0..=360.0).contains(&lon)).then_some((lat, lon))
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            product: None,
            run: None,
            var: None,
            step: None,
            view: ViewKind::default(),
            threshold: DEFAULT_THRESHOLD,
            window: DEFAULT_WINDOW_HOURS,
            bbox: DEFAULT_BBOX,
            member: None,
            embed: false,
            probe: None,
        }
    }
}

impl ViewState {
    /// Parses a query string (with or without its leading `?`). Returns the state and one note
    /// per value that was ignored.
    pub fn from_query(query: &str) -> (Self, Vec<String>) {
        let mut state = Self::default();
        let mut notes = Vec::new();
        let query = query.strip_prefix('?').unwrap_or(query);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode_component(raw);
            let text = value.trim();
            let non_empty = || (!text.is_empty()).then(|| text.to_string());
            match decode_component(key).as_str() {
                "product" => state.product = non_empty().map(|p| p.to_ascii_lowercase()),
                "run" => match text {
                    "" => {}
                    t => match RunTime::parse_compact(t) {
                        Ok(run) => state.run = Some(run),
                        Err(_) => notes.push(format!("run {t:?} ignored: expected YYYYMMDDHH")),
                    },
                },
                "var" => state.var = non_empty(),
                "step" => match text.parse::<u32>() {
                    Ok(s) => state.step = Some(s),
                    Err(_) if text.is_empty() => {}
                    Err(_) => {
                        notes.push(format!("step {text:?} ignored: expected hours (e.g. 24)"))
                    }
                },
                "view" => match ViewKind::parse(text) {
                    Some(v) => state.view = v,
                    None => notes.push(format!(
                        "view {text:?} ignored: expected member, mean, spread, prob or stamps"
                    )),
                },
                "threshold" => match text.parse::<f32>() {
                    Ok(t) if t.is_finite() && t >= 0.0 => state.threshold = t,
                    _ => notes.push(format!(
                        "threshold {text:?} ignored: expected a number of mm, 0 or more"
                    )),
                },
                "window" => match text.parse::<u32>() {
                    Ok(w) if w > 0 => state.window = w,
                    _ => notes.push(format!(
                        "window {text:?} ignored: expected a number of hours above 0"
                    )),
                },
                "bbox" => match parse_bbox(text) {
                    Ok(b) => state.bbox = b,
                    Err(e) => notes.push(format!("bbox {e}; showing the default box")),
                },
                "member" => state.member = non_empty(),
                "embed" => state.embed = matches!(text, "1" | "true" | "yes" | ""),
                "probe" => match parse_probe(text) {
                    Some(p) => state.probe = Some(p),
                    None => notes.push(format!("probe {text:?} ignored: expected lat,lon")),
                },
                _ => {}
            }
        }
        (state, notes)
    }

    /// The query string (without `?`) that [`ViewState::from_query`] reads back to `self`.
    /// Defaults of view, threshold, window and box are left out to keep links short.
    pub fn to_query(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |key: &str, value: &str| {
            parts.push(format!("{key}={}", encode_component(value)));
        };
        if let Some(p) = &self.product {
            push("product", p);
        }
        if let Some(r) = &self.run {
            push("run", &r.compact());
        }
        if let Some(v) = &self.var {
            push("var", v);
        }
        if let Some(s) = self.step {
            push("step", &s.to_string());
        }
        if self.view != ViewKind::default() {
            push("view", self.view.as_str());
        }
        if self.threshold != DEFAULT_THRESHOLD {
            push("threshold", &short_number(f64::from(self.threshold)));
        }
        if self.window != DEFAULT_WINDOW_HOURS {
            push("window", &self.window.to_string());
        }
        if self.bbox != DEFAULT_BBOX {
            push("bbox", &self.bbox.to_string());
        }
        if let Some(m) = &self.member {
            push("member", m);
        }
        if self.embed {
            push("embed", "1");
        }
        if let Some((lat, lon)) = self.probe {
            push("probe", &format!("{lat},{lon}"));
        }
        parts.join("&")
    }
}

/// A number without trailing zeros (`10`, `2.5`, `-11.75`).
pub fn short_number(x: f64) -> String {
    let text = format!("{x:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Percent-encodes a query component, keeping characters that are safe and readable in a
/// query value (letters, digits, `-_.~,:`).
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~,:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a query component: `+` is a space, `%XX` a byte; invalid escapes are kept as typed
/// and invalid UTF-8 is replaced.
pub fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(v) = hex {
                    out.push(v);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_query_is_the_default_view() {
        let (s, notes) = ViewState::from_query("");
        assert_eq!(s, ViewState::default());
        assert!(notes.is_empty());
        assert_eq!(s.bbox, DEFAULT_BBOX);
        assert_eq!(s.to_query(), "");
    }

    #[test]
    fn full_round_trip() {
        let state = ViewState {
            product: Some("gefs".into()),
            run: Some("2025080100".parse().unwrap()),
            var: Some("TMP:2 m above ground".into()),
            step: Some(48),
            view: ViewKind::Probability,
            threshold: 2.5,
            window: 12,
            bbox: BBox {
                south: -5.5,
                north: 10.0,
                west: 30.0,
                east: 45.25,
            },
            member: Some("gep07".into()),
            embed: true,
            probe: None,
        };
        let q = state.to_query();
        assert_eq!(
            q,
            "product=gefs&run=2025080100&var=TMP:2%20m%20above%20ground&step=48&view=prob\
             &threshold=2.5&window=12&bbox=-5.5,10,30,45.25&member=gep07&embed=1"
        );
        let (back, notes) = ViewState::from_query(&format!("?{q}"));
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(back, state);
    }

    #[test]
    fn every_view_kind_round_trips() {
        for kind in ViewKind::ALL {
            assert_eq!(ViewKind::parse(kind.as_str()), Some(kind));
            let state = ViewState {
                view: kind,
                ..ViewState::default()
            };
            assert_eq!(ViewState::from_query(&state.to_query()).0, state);
        }
        assert_eq!(ViewKind::parse("Probability"), Some(ViewKind::Probability));
        assert!(!ViewKind::Member.is_ensemble() && ViewKind::Stamps.is_ensemble());
    }

    #[test]
    fn bad_values_fall_back_with_notes() {
        let (s, notes) = ViewState::from_query(
            "bbox=1,2,3&step=x&view=median&threshold=-1&window=0&run=2025&unknown=1&product=GEFS",
        );
        assert_eq!(s.bbox, DEFAULT_BBOX);
        assert_eq!(s.step, None);
        assert_eq!(s.view, ViewKind::Mean);
        assert_eq!(s.threshold, DEFAULT_THRESHOLD);
        assert_eq!(s.window, DEFAULT_WINDOW_HOURS);
        assert_eq!(s.run, None);
        assert_eq!(s.product.as_deref(), Some("gefs"));
        assert_eq!(notes.len(), 6, "{notes:?}");
        assert!(notes[0].starts_with("bbox"), "{notes:?}");
        // A run that is not a date is refused at the edge, with a note.
        let (s, notes) = ViewState::from_query("run=2025023100");
        assert_eq!(s.run, None);
        assert!(notes.iter().any(|n| n.contains("2025023100")), "{notes:?}");
    }

    #[test]
    fn bbox_rules() {
        let b = parse_bbox(" -12, 23 ,21,53").unwrap();
        assert_eq!(b, DEFAULT_BBOX);
        assert_eq!(b.to_string(), "-12,23,21,53");
        let err = |t: &str| parse_bbox(t).unwrap_err().to_string();
        assert!(err("10,5,21,53").contains("south"));
        assert!(err("5,5,21,53").contains("south must be below north"));
        assert!(err("-12,23,21,400").contains("longitudes"));
        assert!(err("-95,23,21,50").contains("latitudes"));
        assert!(err("a,b,c,d").contains("S,N,W,E"));
        assert!(parse_bbox("nan,1,2,3").is_err());
        assert_eq!((b.width(), b.height()), (32.0, 35.0));
        // Across 180° (the Pacific), and the 0…360 convention.
        let pacific = parse_bbox("-20,10,160,-150").unwrap();
        assert!(pacific.crosses_antimeridian());
        assert_eq!(pacific.width(), 50.0);
        assert_eq!(parse_bbox("-20,10,160,210").unwrap(), pacific);
        let (s, notes) = ViewState::from_query("bbox=-20,10,160,-150");
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(ViewState::from_query(&s.to_query()).0.bbox, pacific);
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_component("u:700"), "u:700");
        assert_eq!(encode_component("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(decode_component("a%20b%26c%3Dd%2F%C3%A9"), "a b&c=d/é");
        assert_eq!(decode_component("TMP:2+m"), "TMP:2 m");
        assert_eq!(decode_component("100%"), "100%");
        assert_eq!(decode_component("%zz"), "%zz");
        let (p, notes) = ViewState::from_query("probe=-1.25,36.75");
        assert_eq!(p.probe, Some((-1.25, 36.75)));
        assert!(notes.is_empty());
        assert_eq!(ViewState::from_query(&p.to_query()).0.probe, p.probe);
        let (bad, notes) = ViewState::from_query("probe=95,10");
        assert_eq!(bad.probe, None);
        assert_eq!(notes.len(), 1);
        let (s, _) = ViewState::from_query("var=TMP%3A2+m+above+ground&embed");
        assert_eq!(s.var.as_deref(), Some("TMP:2 m above ground"));
        assert!(s.embed);
        assert_eq!(short_number(-0.0), "0");
        assert_eq!(short_number(10.0), "10");
        assert_eq!(short_number(0.125), "0.125");
    }
}
