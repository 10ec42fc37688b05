//! The URL policy against hostile URLs (a table), and a seeded differential fuzz loop that
//! checks no accepted URL's `url::Url` origin is outside the allowed set (`FUZZING.md`).

use super::*;

const PAGE: &str = "http://127.0.0.1:8080/gik/index.html?product=gefs";
const GEFS: &str = "https://noaa-gefs-pds.s3.amazonaws.com";
const ECMWF: &str = "https://ecmwf-forecasts.s3.eu-central-1.amazonaws.com";

fn policy() -> UrlPolicy {
    UrlPolicy::new(PAGE, &[GEFS.to_string(), ECMWF.to_string()], None).unwrap()
}

fn mirrored(mirror: &str) -> UrlPolicy {
    UrlPolicy::new(PAGE, &[GEFS.to_string(), ECMWF.to_string()], Some(mirror)).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Accepted, fetched as this exact (normalised) URL.
    Fetch(&'static str),
    Invalid,
    Scheme,
    UserInfo,
    BadS3,
    NotAllowed,
}

fn verdict(r: &Result<AllowedUrl, Refused>) -> Want {
    match r {
        Ok(_) => Want::Fetch(""),
        Err(Refused::Invalid { .. }) => Want::Invalid,
        Err(Refused::Scheme { .. }) => Want::Scheme,
        Err(Refused::UserInfo { .. }) => Want::UserInfo,
        Err(Refused::BadS3 { .. }) => Want::BadS3,
        Err(Refused::NotAllowed { .. }) => Want::NotAllowed,
    }
}

fn check_table(
    name: &str,
    table: &[(&str, Want)],
    run: impl Fn(&str) -> Result<AllowedUrl, Refused>,
) {
    for (input, want) in table {
        let got = run(input);
        match (want, &got) {
            (Want::Fetch(url), Ok(a)) => assert_eq!(a.as_str(), *url, "{name}: {input:?}"),
            (w, r) => assert_eq!(verdict(r), *w, "{name}: {input:?} gave {r:?}"),
        }
    }
}

#[test]
fn hostile_chunk_urls_are_refused() {
    use Want::*;
    let table: &[(&str, Want)] = &[
        // The plain cases.
        (
            "https://noaa-gefs-pds.s3.amazonaws.com/gefs.20250801/00/x",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/gefs.20250801/00/x"),
        ),
        ("https://evil.example/x.grib2", NotAllowed),
        // Backslash: the browser ends the host at `\`, so this goes to evil.example.
        (
            "https://evil.example\\@noaa-gefs-pds.s3.amazonaws.com/x",
            NotAllowed,
        ),
        ("https:\\\\evil.example\\x", NotAllowed),
        (
            "https:\\\\noaa-gefs-pds.s3.amazonaws.com\\x",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/x"),
        ),
        // User-info, either way round.
        ("https://user@noaa-gefs-pds.s3.amazonaws.com/x", UserInfo),
        (
            "https://noaa-gefs-pds.s3.amazonaws.com:pw@evil.example/x",
            UserInfo,
        ),
        (
            "https://noaa-gefs-pds.s3.amazonaws.com@evil.example/x",
            UserInfo,
        ),
        (
            "https://:@noaa-gefs-pds.s3.amazonaws.com/x",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/x"),
        ),
        // Protocol-relative and relative: a chunk reference must be absolute.
        ("//evil.example/x", Invalid),
        ("//noaa-gefs-pds.s3.amazonaws.com/x", Invalid),
        ("/noaa-gefs-pds/x", Invalid),
        // Percent-encoded and IDN hosts: decoded as the browser decodes them.
        (
            "https://noaa%2Dgefs-pds.s3.amazonaws.com/x",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/x"),
        ),
        ("https://evil%2Eexample/x", NotAllowed),
        (
            "https://noaa-gefs-pds.s3.amazonaws.com%2F.evil.example/x",
            Invalid,
        ),
        (
            "https://noaa-gefs-pds.s3.amazonaws.com%40evil.example/x",
            Invalid,
        ),
        ("https://nоaa-gefs-pds.s3.amazonaws.com/x", NotAllowed), // Cyrillic о
        (
            "https://xn--naa-gefs-pds-3tg.s3.amazonaws.com/x",
            NotAllowed,
        ),
        (
            "https://ｎｏａａ-gefs-pds.s3.amazonaws.com/x",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/x"),
        ), // full-width
        // Case, trailing dot, ports.
        (
            "HTTPS://NOAA-GEFS-PDS.S3.AMAZONAWS.COM/Key",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/Key"),
        ),
        ("https://noaa-gefs-pds.s3.amazonaws.com./x", NotAllowed),
        (
            "https://noaa-gefs-pds.s3.amazonaws.com:443/x",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/x"),
        ),
        ("https://noaa-gefs-pds.s3.amazonaws.com:444/x", NotAllowed),
        ("http://noaa-gefs-pds.s3.amazonaws.com/x", NotAllowed),
        ("https://noaa-gefs-pds.s3.amazonaws.com:99999/x", Invalid),
        // Look-alike suffixes and prefixes.
        (
            "https://noaa-gefs-pds.s3.amazonaws.com.evil.example/x",
            NotAllowed,
        ),
        ("https://evil-noaa-gefs-pds.s3.amazonaws.com/x", NotAllowed),
        ("https://s3.amazonaws.com/noaa-gefs-pds/x", NotAllowed),
        // s3:// forms.
        (
            "s3://ecmwf-forecasts/20250801/00z/a.grib2",
            Fetch("https://ecmwf-forecasts.s3.eu-central-1.amazonaws.com/20250801/00z/a.grib2"),
        ),
        (
            "S3://noaa-gefs-pds/k",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/k"),
        ),
        ("s3://other-bucket/k", NotAllowed),
        ("s3://evil.example\\@noaa-gefs-pds/x", UserInfo),
        ("s3://evil.example@noaa-gefs-pds/x", UserInfo),
        ("s3://noaa-gefs-pds@evil.example/x", UserInfo),
        ("s3://noaa-gefs-pds:443/x", BadS3),
        ("s3://NOAA-GEFS-PDS/x", BadS3),
        ("s3://evil.example%2F/x", BadS3),
        (
            "s3://noaa-gefs-pds.s3.amazonaws.com.evil.example/x",
            NotAllowed,
        ),
        ("s3:///x", BadS3),
        ("s3:noaa-gefs-pds/x", Scheme),
        // Other schemes.
        ("data:text/plain,hello", Scheme),
        ("javascript:fetch('https://evil.example')", Scheme),
        (
            "blob:https://noaa-gefs-pds.s3.amazonaws.com/0b2c-uuid",
            Scheme,
        ),
        ("file:///etc/passwd", Scheme),
        ("ftp://noaa-gefs-pds.s3.amazonaws.com/x", Scheme),
        ("ws://noaa-gefs-pds.s3.amazonaws.com/x", Scheme),
        // Whitespace and control characters the parser strips.
        (
            " https://noaa-gefs-pds.s3.amazonaws.com/x ",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/x"),
        ),
        ("https://evil\t.example/x", NotAllowed),
        (
            "https://noaa-gefs-pds.s3.amazon\naws.com/x",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/x"),
        ),
        // The page's own origin is allowed (the page's server may serve the data).
        (
            "http://127.0.0.1:8080/noaa-gefs-pds/x",
            Fetch("http://127.0.0.1:8080/noaa-gefs-pds/x"),
        ),
        ("http://127.0.0.2:8080/x", NotAllowed),
        ("http://127.0.0.1:8081/x", NotAllowed),
        ("http://0x7f.0.0.1:8080/x", Fetch("http://127.0.0.1:8080/x")),
        ("http://2130706433:8080/x", Fetch("http://127.0.0.1:8080/x")),
        ("http://localhost:8080/x", NotAllowed),
        ("http://[::1]:8080/x", NotAllowed),
        // Fragments are dropped.
        (
            "https://noaa-gefs-pds.s3.amazonaws.com/x#frag",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/x"),
        ),
    ];
    let p = policy();
    check_table("chunk", table, |u| p.chunk_url(u));
}

#[test]
fn hostile_catalog_and_manifest_references_are_refused() {
    use Want::*;
    let p = policy();
    let catalog = p.resolve("data/catalog.json", None).unwrap();
    assert_eq!(
        catalog.as_str(),
        "http://127.0.0.1:8080/gik/data/catalog.json"
    );
    let table: &[(&str, Want)] = &[
        (
            "gefs/20250801/00z/gep01.parquet",
            Fetch("http://127.0.0.1:8080/gik/data/gefs/20250801/00z/gep01.parquet"),
        ),
        (
            "../up.parquet",
            Fetch("http://127.0.0.1:8080/gik/up.parquet"),
        ),
        ("/root.parquet", Fetch("http://127.0.0.1:8080/root.parquet")),
        ("//127.0.0.1:9999/x.parquet", NotAllowed),
        ("//evil.example/x.parquet", NotAllowed),
        ("\\\\evil.example\\x.parquet", NotAllowed),
        ("/\\evil.example/x.parquet", NotAllowed),
        ("http://127.0.0.1:9999/x.parquet", NotAllowed),
        (
            "https://noaa-gefs-pds.s3.amazonaws.com/m.parquet",
            Fetch("https://noaa-gefs-pds.s3.amazonaws.com/m.parquet"),
        ),
        ("https://u:p@127.0.0.1:8080/x.parquet", UserInfo),
        (
            "http:evil.example/x",
            Fetch("http://127.0.0.1:8080/gik/data/evil.example/x"),
        ),
        ("https:evil.example/x", NotAllowed),
        ("javascript:alert(1)", Scheme),
        ("data:application/octet-stream,PAR1", Scheme),
        ("blob:http://127.0.0.1:8080/uuid", Scheme),
        ("http://[::1", Invalid),
    ];
    check_table("manifest", table, |u| p.resolve(u, Some(&catalog)));
}

#[test]
fn a_mirror_re_roots_bucket_urls_and_is_allowed() {
    let p = mirrored("http://127.0.0.1:9000/");
    assert_eq!(
        p.chunk_url("https://noaa-gefs-pds.s3.amazonaws.com/gefs.20250801/x")
            .unwrap()
            .as_str(),
        "http://127.0.0.1:9000/noaa-gefs-pds/gefs.20250801/x"
    );
    assert_eq!(
        p.chunk_url("s3://ecmwf-forecasts/a/b.grib2")
            .unwrap()
            .as_str(),
        "http://127.0.0.1:9000/ecmwf-forecasts/a/b.grib2"
    );
    assert!(p.chunk_url("http://127.0.0.1:9000/noaa-gefs-pds/x").is_ok());
    assert!(p
        .chunk_url("http://127.0.0.1:9001/noaa-gefs-pds/x")
        .is_err());
    // A key with dot segments or encoded slashes stays on the mirror.
    let odd = p
        .chunk_url("https://noaa-gefs-pds.s3.amazonaws.com/../../%2F%2Fevil.example/x")
        .unwrap();
    assert_eq!(odd.origin(), "http://127.0.0.1:9000");
    let proxied = mirrored("buckets/");
    assert_eq!(
        proxied.mirror().unwrap().as_str(),
        "http://127.0.0.1:8080/buckets/"
    );
    assert_eq!(
        proxied
            .chunk_url("s3://noaa-gefs-pds/k?x=1")
            .unwrap()
            .as_str(),
        "http://127.0.0.1:8080/buckets/noaa-gefs-pds/k?x=1"
    );
    let with_path = mirrored("https://proxy.example/s3");
    assert_eq!(
        with_path
            .chunk_url("https://noaa-gefs-pds.s3.amazonaws.com/k")
            .unwrap()
            .as_str(),
        "https://proxy.example/s3/noaa-gefs-pds/k"
    );
}

#[test]
fn bad_configuration_entries_are_named() {
    for (hosts, mirror) in [
        (vec!["noaa-gefs-pds.s3.amazonaws.com".to_string()], None),
        (vec!["https://user@host".to_string()], None),
        (vec!["https://host/prefix".to_string()], None),
        (vec!["ftp://host".to_string()], None),
        (vec![], Some("javascript:alert(1)")),
        (vec![], Some("https://h/x?q")),
    ] {
        let e = UrlPolicy::new(PAGE, &hosts, mirror).unwrap_err();
        assert!(e.to_string().starts_with("config.json: "), "{e}");
    }
    assert!(UrlPolicy::new("file:///index.html", &[], None).is_err());
    let p = UrlPolicy::new(PAGE, &["HTTPS://Host:443/".to_string()], None).unwrap();
    assert_eq!(
        p.allowed_origins(),
        ["http://127.0.0.1:8080", "https://host"]
    );
}

#[test]
fn refusals_name_the_url_and_why() {
    let e = policy()
        .chunk_url("https://evil.example/x.grib2")
        .unwrap_err();
    assert_eq!(
        e,
        Refused::NotAllowed {
            url: "https://evil.example/x.grib2".into(),
            origin: "https://evil.example".into()
        }
    );
    assert!(e.to_string().contains("allowed_hosts"), "{e}");
    let e = policy().chunk_url("https://u@evil.example/x").unwrap_err();
    assert!(e.to_string().contains("user-info"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Differential fuzzing (stable Rust, fixed budget, seeded): see FUZZING.md, "URL policy".

/// Fuzz iterations per run (each tries `chunk_url` with and without a mirror, and `resolve`).
pub(crate) const FUZZ_ITERATIONS: u64 = 100_000;

/// splitmix64: a small seeded generator (no dependency, same sequence everywhere).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const SCHEMES: &[&str] = &[
    "https://",
    "http://",
    "HTTPS://",
    "s3://",
    "S3://",
    "//",
    "/",
    "\\\\",
    "https:\\\\",
    "https:",
    "http:/",
    "data:",
    "blob:https://",
    "javascript:",
    "file://",
    "ftp://",
    "",
    " ",
    "https:/\\",
    "\t https://",
];
const USERINFO: &[&str] = &[
    "",
    "",
    "",
    "",
    "user@",
    "user:pw@",
    ":@",
    "@",
    "evil.example\\@",
    "evil.example@",
    "noaa-gefs-pds.s3.amazonaws.com@",
    "%40@",
    "a%3Ab@",
];
const HOSTS: &[&str] = &[
    "noaa-gefs-pds.s3.amazonaws.com",
    "NOAA-GEFS-PDS.S3.AMAZONAWS.COM",
    "noaa-gefs-pds.s3.amazonaws.com.",
    "ecmwf-forecasts.s3.eu-central-1.amazonaws.com",
    "noaa-gefs-pds",
    "ecmwf-forecasts",
    "other-bucket",
    "evil.example",
    "evil%2Eexample",
    "noaa%2Dgefs-pds.s3.amazonaws.com",
    "xn--naa-gefs-pds-3tg.s3.amazonaws.com",
    "nоaa-gefs-pds.s3.amazonaws.com",
    "127.0.0.1",
    "127.0.0.1:8080",
    "127.0.0.1:9000",
    "0x7f.1",
    "2130706433",
    "[::1]",
    "localhost",
    "",
    "%00",
    "a\\b",
    "evil.example#",
    "noaa-gefs-pds.s3.amazonaws.com.evil.example",
    "s3.amazonaws.com",
    "ｎｏａａ-gefs-pds.s3.amazonaws.com",
];
const PORTS: &[&str] = &[
    "", "", "", ":443", ":80", ":444", ":8080", ":9000", ":", ":0", ":99999", ":08080",
];
const PATHS: &[&str] = &[
    "",
    "/",
    "/x",
    "/a/b.grib2",
    "\\x",
    "/../..",
    "/%2F%2Fevil.example/x",
    "?q=1",
    "#f",
    "/@evil.example",
    "//evil.example/x",
    "/x?y#z",
    "\\@evil.example/",
    "/x%20y",
];

fn fuzz_input(rng: &mut Rng) -> String {
    let mut s = String::new();
    s.push_str(rng.pick(SCHEMES));
    s.push_str(rng.pick(USERINFO));
    s.push_str(rng.pick(HOSTS));
    s.push_str(rng.pick(PORTS));
    s.push_str(rng.pick(PATHS));
    // Sometimes splice a second piece anywhere, or a stray byte.
    match rng.next() % 6 {
        0 => {
            let extra = rng.pick(HOSTS);
            let at = (rng.next() as usize) % (s.len() + 1);
            if s.is_char_boundary(at) {
                s.insert_str(at, extra);
            }
        }
        1 => {
            let c = [b'@', b'\\', b'/', b':', b'.', b'%', b'\t', b'#', b'?', b' ']
                [(rng.next() % 10) as usize];
            let at = (rng.next() as usize) % (s.len() + 1);
            if s.is_char_boundary(at) {
                s.insert(at, c as char);
            }
        }
        _ => {}
    }
    s
}

/// The property: an accepted URL re-parses to itself, is http(s) without user-info, and its
/// origin (as `url::Url` computes it) is one of the allowed origins.
fn assert_sound(p: &UrlPolicy, input: &str, accepted: &AllowedUrl) {
    let reparsed = Url::parse(accepted.as_str()).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    assert_eq!(reparsed.as_str(), accepted.as_str(), "{input:?}");
    assert!(matches!(reparsed.scheme(), "http" | "https"), "{input:?}");
    assert!(
        reparsed.username().is_empty() && reparsed.password().is_none(),
        "{input:?}"
    );
    let origin = reparsed.origin().ascii_serialization();
    assert!(
        p.allowed_origins().contains(&origin),
        "{input:?} accepted as {accepted} on {origin}"
    );
}

#[test]
fn origin_policy_fuzz_never_accepts_a_foreign_origin() {
    let plain = policy();
    let mirror = mirrored("http://127.0.0.1:9000/");
    let mut rng = Rng(0x6769_6b5f_7572_6c31); // "gik_url1"
    let (mut accepted, mut refused) = (0u64, 0u64);
    for _ in 0..FUZZ_ITERATIONS {
        let input = fuzz_input(&mut rng);
        for p in [&plain, &mirror] {
            match p.chunk_url(&input) {
                Ok(a) => {
                    assert_sound(p, &input, &a);
                    accepted += 1;
                }
                Err(_) => refused += 1,
            }
        }
        // Differential: for http(s) inputs without a mirror, the verdict must equal the naive
        // reference built on the same parser (absolute, no user-info, allowed origin).
        if let Ok(reference) = Url::parse(&input) {
            if matches!(reference.scheme(), "http" | "https") {
                let expect = reference.username().is_empty()
                    && reference.password().is_none()
                    && plain
                        .allowed_origins()
                        .contains(&reference.origin().ascii_serialization());
                assert_eq!(plain.chunk_url(&input).is_ok(), expect, "{input:?}");
            }
        }
        match plain.resolve(&input, None) {
            Ok(a) => {
                assert_sound(&plain, &input, &a);
                accepted += 1;
            }
            Err(_) => refused += 1,
        }
    }
    // The generator must reach both outcomes often, or the loop proves little.
    assert!(accepted > FUZZ_ITERATIONS / 20, "only {accepted} accepted");
    assert!(refused > FUZZ_ITERATIONS, "only {refused} refused");
    eprintln!(
        "origin fuzz: {FUZZ_ITERATIONS} inputs, {accepted} accepted, {refused} refused checks"
    );
}
