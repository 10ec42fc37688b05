//! The mirror seen from the wire: HTTP semantics, faults, throttling, and the synthetic runs'
//! files and indexes (offsets land on message boundaries; gik-core's parsers read them; the
//! precipitation messages decode to the documented values).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use gik_core::index::{EnsembleMember, ForecastTime, IndexFormat, Statistic};
use gik_core::time::RunTime;
use gik_tests::client::{self, Connection};
use gik_tests::mirror::{
    DirContent, FaultKind, FaultRule, MemContent, MirrorConfig, MirrorServer, Mount,
};
use gik_tests::synthetic::{
    self, ecmwf_key, gefs_key, Model, Synthetic, SyntheticConfig, ECMWF_BUCKET, GEFS_BUCKET,
};

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn mem_server() -> MirrorServer {
    let content = MemContent::new()
        .with("bucket/obj", data(1000))
        .with("bucket/big", data(200_000))
        .with("bucket/gep05.idx", b"1:0:d=2025080100:APCP".to_vec())
        .with("bucket/gep06.idx", b"1:0:d=2025080100:APCP".to_vec());
    MirrorServer::start(MirrorConfig::new(content)).unwrap()
}

#[test]
fn range_semantics_on_one_keep_alive_connection() {
    let server = mem_server();
    let body = data(1000);
    let mut c = Connection::open(server.addr()).unwrap();

    let r = c.get("/bucket/obj").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert!(r.header("etag").is_some_and(|e| e.starts_with('"')));
    assert_eq!(r.header("content-range"), None);

    let r = c.get_range("/bucket/obj", 10, 19).unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/1000"));
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.body, &body[10..20]);

    let r = c
        .request("GET", "/bucket/obj", &[("Range", "bytes=990-")])
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (206, &body[990..]));
    assert_eq!(r.header("content-range"), Some("bytes 990-999/1000"));

    let r = c
        .request("GET", "/bucket/obj", &[("Range", "bytes=-5")])
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (206, &body[995..]));

    let r = c.get_range("/bucket/obj", 995, 5000).unwrap();
    assert_eq!(r.header("content-range"), Some("bytes 995-999/1000"));
    assert_eq!(r.body.len(), 5);

    for range in ["bytes=1000-", "bytes=1000-1001", "bytes=-0"] {
        let r = c
            .request("GET", "/bucket/obj", &[("Range", range)])
            .unwrap();
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */1000"));
        assert!(r.text().contains("<Code>InvalidRange</Code>"));
    }

    // Multi-range and malformed ranges are ignored: the whole object with 200.
    for range in ["bytes=0-1,5-6", "bytes=9-3", "lines=1-2"] {
        let r = c
            .request("GET", "/bucket/obj", &[("Range", range)])
            .unwrap();
        assert_eq!((r.status, r.body.len()), (200, 1000), "{range}");
    }

    let r = c.request("HEAD", "/bucket/obj", &[]).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(1000));
    assert!(r.body.is_empty());
    let r = c
        .request("HEAD", "/bucket/obj", &[("Range", "bytes=0-9")])
        .unwrap();
    assert_eq!((r.status, r.content_length()), (206, Some(10)));

    let r = c.get("/bucket/nope?x=1").unwrap();
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<Code>NoSuchKey</Code>"));
    assert!(r.text().contains("<Key>nope</Key>"));

    // Still the same connection after all of that.
    let r = c.get_range("/bucket/obj", 0, 0).unwrap();
    assert_eq!(r.body, [0]);
    let stats = server.stats();
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.requests, 15);
    assert_eq!(stats.head, 2);
    assert_eq!(stats.get, 13);
    assert_eq!(stats.by_status.get(&416), Some(&3));
    assert!(server.wait_idle(Duration::from_secs(5)));
    assert_eq!(server.requests().len(), 15);
}

#[test]
fn connection_close_is_honoured() {
    let server = mem_server();
    let mut c = Connection::open(server.addr()).unwrap();
    let r = c
        .request("GET", "/bucket/obj", &[("Connection", "close")])
        .unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed(Duration::from_secs(2)));
}

#[test]
fn cors_headers_and_preflight() {
    let server = mem_server();
    let r = client::get(server.addr(), "/bucket/obj", Some((0, 3))).unwrap();
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let exposed = r.header("access-control-expose-headers").unwrap();
    for h in ["Content-Length", "Content-Range", "ETag"] {
        assert!(exposed.contains(h), "{exposed}");
    }
    let r = client::request(
        server.addr(),
        "OPTIONS",
        "/bucket/obj",
        &[
            ("Origin", "http://localhost:8000"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range"),
        ],
    )
    .unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r
        .header("access-control-allow-headers")
        .unwrap()
        .contains("Range"));
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("GET"));
    // 404s carry CORS headers too, so the browser can read the error.
    let r = client::get(server.addr(), "/bucket/missing", None).unwrap();
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn bad_requests_get_400_and_the_server_survives() {
    let server = mem_server();
    for junk in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /x HTTP/9.9\r\n\r\n",
        b"GET nopath HTTP/1.1\r\n\r\n",
        b"\xff\xfe\xfd\r\n\r\n",
        b"GET / HTTP/1.1\r\nbroken header\r\n\r\n",
        b"GET /bucket/obj HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    ] {
        let mut c = Connection::open(server.addr()).unwrap();
        c.send_raw(junk).unwrap();
        let r = c.read_response(false).unwrap();
        assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(junk));
        assert!(c.is_closed(Duration::from_secs(2)));
    }
    let mut c = Connection::open(server.addr()).unwrap();
    c.send_raw(&vec![b'a'; 70 * 1024]).unwrap();
    assert_eq!(c.read_response(false).unwrap().status, 431);

    let r = client::request(server.addr(), "DELETE", "/bucket/obj", &[]).unwrap();
    assert_eq!(r.status, 405);
    assert!(r.header("allow").unwrap().contains("HEAD"));
    // A request with a body is read past and answered.
    let mut c = Connection::open(server.addr()).unwrap();
    c.send_raw(b"POST /bucket/obj HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /bucket/obj HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(c.read_response(false).unwrap().status, 405);
    assert_eq!(c.read_response(false).unwrap().status, 200);

    assert_eq!(
        client::get(server.addr(), "/bucket/obj", None)
            .unwrap()
            .status,
        200
    );
    assert_eq!(server.stats().bad_requests, 7);
}

#[test]
fn slow_down_bursts() {
    let server = mem_server();
    server.faults().add(FaultRule::slow_down().times(2));
    let mut c = Connection::open(server.addr()).unwrap();
    for _ in 0..2 {
        let r = c.get("/bucket/obj").unwrap();
        assert_eq!(r.status, 503);
        assert!(
            r.text().contains("<Error><Code>SlowDown</Code>"),
            "{}",
            r.text()
        );
    }
    assert_eq!(c.get("/bucket/obj").unwrap().status, 200);

    // By path pattern, letting the first matching request through.
    server
        .faults()
        .set(vec![FaultRule::slow_down().path("*.idx").skip(1).times(3)]);
    assert_eq!(c.get("/bucket/gep05.idx").unwrap().status, 200);
    for _ in 0..3 {
        assert_eq!(c.get("/bucket/gep06.idx").unwrap().status, 503);
        assert_eq!(c.get("/bucket/obj").unwrap().status, 200);
    }
    assert_eq!(c.get("/bucket/gep06.idx").unwrap().status, 200);
    assert_eq!(server.faults().fired(), 3);
    assert_eq!(server.stats().faults, 5);
    assert_eq!(server.stats().by_status.get(&503), Some(&5));
}

#[test]
fn resets_close_without_answering() {
    let server = mem_server();
    // A GET of the object on a connection of its own.
    let fresh_get = || client::get(server.addr(), "/bucket/obj", None);
    server
        .faults()
        .add(FaultRule::reset().path("bucket/obj").times(1));
    let mut c = Connection::open(server.addr()).unwrap();
    let err = c.get("/bucket/obj").unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
        ),
        "{err:?}"
    );
    assert_eq!(fresh_get().unwrap().status, 200);

    // By request ordinal. Let the first part's log entries land before clearing them.
    assert!(server.wait_idle(Duration::from_secs(5)));
    server.reset_stats();
    server
        .faults()
        .set(vec![FaultRule::reset().on_requests([2])]);
    assert_eq!(fresh_get().unwrap().status, 200);
    assert!(fresh_get().is_err());
    assert_eq!(fresh_get().unwrap().status, 200);
    assert!(server.wait_idle(Duration::from_secs(5)));
    // Log entries are written as requests finish, so find the second request by its ordinal.
    let log = server.requests();
    assert_eq!(log.len(), 3);
    let second = log
        .iter()
        .min_by_key(|r| r.ordinal)
        .map(|r| r.ordinal)
        .unwrap()
        + 1;
    let reset = log.iter().find(|r| r.ordinal == second).unwrap();
    assert_eq!(reset.status, None);
    assert_eq!(reset.fault, Some(FaultKind::Reset));
    assert!(log
        .iter()
        .filter(|r| r.ordinal != second)
        .all(|r| r.status == Some(200)));
}

#[test]
fn truncated_bodies_announce_more_than_they_send() {
    let server = mem_server();
    server.faults().add(FaultRule::truncate(100).path("*big"));
    let mut c = Connection::open(server.addr()).unwrap();
    let r = c.get("/bucket/big").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), Some(200_000));
    assert_eq!(r.body.len(), 100);
    assert!(!r.complete);
    let r = client::get(server.addr(), "/bucket/big", Some((1000, 1999))).unwrap();
    assert_eq!((r.status, r.body.len(), r.complete), (206, 100, false));
    assert_eq!(r.body, &data(200_000)[1000..1100]);
}

#[test]
fn not_found_added_midway_and_removed() {
    let server = mem_server();
    let mut c = Connection::open(server.addr()).unwrap();
    assert_eq!(c.get("/bucket/gep05.idx").unwrap().status, 200);
    server.faults().add(FaultRule::not_found().path("*gep05*"));
    let r = c.get("/bucket/gep05.idx").unwrap();
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<Code>NoSuchKey</Code>"));
    assert_eq!(
        c.request("HEAD", "/bucket/gep05.idx", &[]).unwrap().status,
        404
    );
    assert_eq!(c.get("/bucket/gep06.idx").unwrap().status, 200);
    server.faults().clear();
    assert_eq!(c.get("/bucket/gep05.idx").unwrap().status, 200);
    server.faults().add(FaultRule::status(500).times(1));
    let r = c.get("/bucket/obj").unwrap();
    assert_eq!(r.status, 500);
    assert!(r.text().contains("InternalError"));
}

#[test]
fn latency_delay_and_bandwidth_are_applied() {
    let server = mem_server();
    let mut c = Connection::open(server.addr()).unwrap();
    c.get("/bucket/obj").unwrap();
    server.set_latency(Duration::from_millis(150));
    let t = Instant::now();
    c.get_range("/bucket/obj", 0, 9).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150));
    server.set_latency(Duration::ZERO);
    assert_eq!(server.latency(), Duration::ZERO);

    server
        .faults()
        .add(FaultRule::delay(Duration::from_millis(120)).times(1));
    let t = Instant::now();
    assert_eq!(c.get("/bucket/obj").unwrap().status, 200);
    assert!(t.elapsed() >= Duration::from_millis(120));

    server.set_bandwidth(Some(1_000_000));
    let t = Instant::now();
    let r = c.get("/bucket/big").unwrap();
    assert_eq!(r.body.len(), 200_000);
    assert!(
        t.elapsed() >= Duration::from_millis(180),
        "{:?}",
        t.elapsed()
    );
    server.set_bandwidth(None);
    let t = Instant::now();
    c.get("/bucket/big").unwrap();
    assert!(t.elapsed() < Duration::from_millis(150));
    assert!(server.stats().bytes_sent >= 400_000);
}

#[test]
fn static_directory_with_content_types_beside_a_bucket() {
    let dir = std::env::temp_dir().join(format!("gik-mirror-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html>").unwrap();
    std::fs::write(dir.join("pkg/app_bg.wasm"), b"\0asm").unwrap();
    std::fs::write(dir.join("pkg/app.js"), "export {}").unwrap();
    std::fs::write(dir.join("m.parquet"), b"PAR1").unwrap();
    let mount = Mount::new()
        .at("", DirContent::new(&dir))
        .at("bucket", MemContent::new().with("k", b"v".to_vec()));
    let server = MirrorServer::start(MirrorConfig::new(mount)).unwrap();
    let mut c = Connection::open(server.addr()).unwrap();
    let expect = [
        ("/", "text/html; charset=utf-8"),
        ("/pkg/app_bg.wasm", "application/wasm"),
        ("/pkg/app.js", "text/javascript; charset=utf-8"),
        ("/m.parquet", "application/vnd.apache.parquet"),
        ("/bucket/k", "application/octet-stream"),
    ];
    for (path, ty) in expect {
        let r = c.get(path).unwrap();
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(ty)),
            "{path}"
        );
    }
    assert_eq!(c.get("/../etc/passwd").unwrap().status, 404);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dropping_the_server_frees_the_port() {
    let server = mem_server();
    let addr = server.addr();
    drop(server);
    let again =
        MirrorServer::start(MirrorConfig::new(MemContent::new()).port(addr.port())).unwrap();
    assert_eq!(again.addr().port(), addr.port());
}

// ---------------------------------------------------------------------------------------------
// Synthetic runs.

fn run() -> RunTime {
    RunTime::parse("20250801", "00").unwrap()
}

fn synthetic_server() -> (Synthetic, MirrorServer) {
    let synthetic = Synthetic::load(SyntheticConfig::new([run(), run().days_before(1)])).unwrap();
    let server = synthetic.serve().unwrap();
    (synthetic, server)
}

/// Checks that `[offset, offset + length)` is one GRIB2 message in the file at `path`.
fn assert_message_at(c: &mut Connection, path: &str, offset: u64, length: u64) {
    let r = c.get_range(path, offset, offset + 15).unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(&r.body[..4], b"GRIB", "{path} @ {offset}");
    assert_eq!(r.body[7], 2);
    let total = u64::from_be_bytes(r.body[8..16].try_into().unwrap());
    assert_eq!(total, length, "{path} @ {offset}");
    let r = c
        .get_range(path, offset + length - 4, offset + length - 1)
        .unwrap();
    assert_eq!(r.body, b"7777", "{path} @ {offset}");
}

fn size_of(c: &mut Connection, path: &str) -> u64 {
    let r = c.request("HEAD", path, &[]).unwrap();
    assert_eq!(r.status, 200, "{path}");
    r.content_length().unwrap()
}

#[test]
fn gefs_idx_lines_point_at_messages() {
    let (_synthetic, server) = synthetic_server();
    let mut c = Connection::open(server.addr()).unwrap();
    for (member, step) in [(0, 0), (1, 15), (30, 3), (12, 240), (5, 6)] {
        let key = gefs_key(run(), member, step);
        let grib = format!("/{GEFS_BUCKET}/{key}");
        let idx = c.get(&format!("{grib}.idx")).unwrap();
        assert_eq!(idx.status, 200);
        assert_eq!(
            idx.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        let text = idx.text();
        let size = size_of(&mut c, &grib);
        let offsets: Vec<u64> = text
            .lines()
            .map(|l| l.split(':').nth(1).unwrap().parse().unwrap())
            .collect();
        for (i, &offset) in offsets.iter().enumerate() {
            let end = offsets.get(i + 1).copied().unwrap_or(size);
            assert_message_at(&mut c, &grib, offset, end - offset);
        }
        let ens = if member == 0 {
            "ENS=low-res ctl".to_string()
        } else {
            format!("ENS=+{member}")
        };
        assert!(text.lines().all(|l| l.ends_with(&ens)), "{text}");
        assert!(text.lines().all(|l| l.contains(":d=2025080100:")));
        for expected in [
            "PRES:surface:",
            "TMP:2 m above ground:",
            "UGRD:10 m above ground:",
            "VGRD:10 m above ground:",
            "PWAT:entire atmosphere (considered as a single layer):",
            "CAPE:surface:",
            "MSLET:mean sea level:",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        match step {
            0 => {
                assert!(!text.contains("APCP"));
                assert!(text.lines().all(|l| l.contains(":anl:")));
            }
            15 => assert!(text.contains(":APCP:surface:12-15 hour acc fcst:ENS=+1\n")),
            6 => assert!(text.contains(":APCP:surface:0-6 hour acc fcst:")),
            _ => assert!(text.contains(&format!(":TMP:2 m above ground:{step} hour fcst:"))),
        }
        let records = IndexFormat::Noaa.parse(&text, &grib, Some(size)).unwrap();
        {
            assert_eq!(records.len(), offsets.len());
            let apcp = records.iter().find(|r| r.variable == "APCP");
            if let Some((a, b)) = synthetic::gefs_apcp_window(step) {
                let apcp = apcp.unwrap();
                assert_eq!(
                    apcp.time,
                    ForecastTime::window_hours(a, b, Statistic::Accumulation)
                );
                let member_expected = if member == 0 {
                    EnsembleMember::Control
                } else {
                    EnsembleMember::Perturbed(member)
                };
                assert_eq!(apcp.member, Some(member_expected));
                assert_eq!(apcp.reference_time, Some(run()));
            } else {
                assert!(apcp.is_none());
            }
            let lengths: u64 = records.iter().map(|r| r.length.unwrap()).sum();
            assert_eq!(lengths, size);
        }
    }
}

/// The number `name` holds in one line of an ECMWF `.index` file as the mirror writes it
/// (`"name": 123`).
fn index_number(line: &str, name: &str) -> u64 {
    let at = line.find(&format!("\"{name}\": ")).unwrap() + name.len() + 4;
    line[at..]
        .split([',', '}'])
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn ecmwf_index_lines_point_at_messages_and_parse() {
    let (_synthetic, server) = synthetic_server();
    let mut c = Connection::open(server.addr()).unwrap();
    let grib = format!("/{ECMWF_BUCKET}/{}", ecmwf_key(run(), 15));
    assert!(grib.ends_with("/20250801/00z/ifs/0p25/enfo/20250801000000-15h-enfo-ef.grib2"));
    let index = c.get(&grib.replace(".grib2", ".index")).unwrap();
    assert_eq!(index.status, 200);
    let text = index.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 51 * 17);
    let first = lines[0];
    assert!(first.starts_with(
        "{\"domain\": \"g\", \"date\": \"20250801\", \"time\": \"0000\", \"expver\": \"0001\", \
         \"class\": \"od\", \"type\": \"cf\", \"stream\": \"enfo\", \"step\": \"15\", \
         \"levtype\": \"sfc\", \"param\": \"tp\", \"_offset\": 0, \"_length\": "
    ));
    assert!(text.contains(
        "\"type\": \"pf\", \"stream\": \"enfo\", \"step\": \"15\", \"levelist\": \"700\", \
         \"levtype\": \"pl\", \"number\": \"50\", \"param\": \"v\", \"_offset\": "
    ));
    assert!(lines
        .iter()
        .filter(|l| l.contains("\"type\": \"cf\""))
        .all(|l| !l.contains("number")));
    let size = size_of(&mut c, &grib);
    let mut total = 0;
    for line in &lines {
        let (offset, length) = (index_number(line, "_offset"), index_number(line, "_length"));
        assert_eq!(offset, total);
        total += length;
        assert_message_at(&mut c, &grib, offset, length);
    }
    assert_eq!(total, size);

    let records = IndexFormat::Ecmwf.parse(&text, &grib, Some(size)).unwrap();
    {
        assert_eq!(records.len(), lines.len());
        let tp: Vec<_> = records.iter().filter(|r| r.variable == "tp").collect();
        assert_eq!(tp.len(), 51);
        assert_eq!(tp[0].member, Some(EnsembleMember::Control));
        assert_eq!(tp[50].member, Some(EnsembleMember::Perturbed(50)));
        assert_eq!(tp[0].time.end_whole_hours(), Some(15));
        let u700 = records
            .iter()
            .filter(|r| r.variable == "u" && r.level.value == Some(700.0))
            .count();
        assert_eq!(u700, 51);
    }
}

#[test]
fn precipitation_messages_decode_to_the_documented_values() {
    let (synthetic, server) = synthetic_server();
    let mut c = Connection::open(server.addr()).unwrap();
    let points = [
        (0.0, 37.0),
        (-11.75, 21.0),
        (23.0, 53.0),
        (9.0, 38.75),
        (2.5, 45.25),
    ];

    // GEFS gep05 f027: APCP over 24-27 h.
    let grib = format!("/{GEFS_BUCKET}/{}", gefs_key(run(), 5, 27));
    let text = c.get(&format!("{grib}.idx")).unwrap().text();
    let lines: Vec<&str> = text.lines().collect();
    let i = lines.iter().position(|l| l.contains(":APCP:")).unwrap();
    assert!(lines[i].ends_with(":APCP:surface:24-27 hour acc fcst:ENS=+5"));
    let offset: u64 = lines[i].split(':').nth(1).unwrap().parse().unwrap();
    let next: u64 = lines[i + 1].split(':').nth(1).unwrap().parse().unwrap();
    let msg = c.get_range(&grib, offset, next - 1).unwrap().body;
    assert_eq!(msg.len() as u64, synthetic.precip_message_len());
    let decoded = gik_core::grib::decode(&msg).unwrap();
    let meta = &decoded.info.metadata;
    assert_eq!(
        meta.time,
        ForecastTime::window_hours(24, 27, Statistic::Accumulation)
    );
    assert_eq!(meta.member, Some(EnsembleMember::Perturbed(5)));
    assert_eq!(meta.reference_time, Some(run()));
    let latlon = decoded.info.grid.latlon.as_ref().unwrap();
    assert_eq!((latlon.lon_first, latlon.lat_first), (21.0, 23.0));
    for (lat, lon) in points {
        let i = decoded.info.grid.nearest_index(lat, lon).unwrap();
        let want = synthetic::expected_field_value(Model::Gefs, run(), 5, 27, lat, lon).unwrap();
        let got = decoded.values[i];
        assert!(
            (got - want).abs() <= 1e-4,
            "GEFS at {lat},{lon}: {got} vs {want}"
        );
    }
    assert!(decoded.values.iter().any(|&v| v > 0.0));

    // ECMWF pf 17 at step 48: tp from 0 to 48 h in metres; minus step 24 = the day's rain.
    let tp = |step: u32, c: &mut Connection| {
        let grib = format!("/{ECMWF_BUCKET}/{}", ecmwf_key(run(), step));
        let text = c.get(&grib.replace(".grib2", ".index")).unwrap().text();
        let line = text
            .lines()
            .find(|l| l.contains("\"number\": \"17\",") && l.contains("\"param\": \"tp\""))
            .unwrap()
            .to_string();
        let (offset, length) = (
            index_number(&line, "_offset"),
            index_number(&line, "_length"),
        );
        let msg = c
            .get_range(&grib, offset, offset + length - 1)
            .unwrap()
            .body;
        gik_core::grib::decode(&msg).unwrap()
    };
    let (day2, day1) = (tp(48, &mut c), tp(24, &mut c));
    assert_eq!(
        day2.info.metadata.member,
        Some(EnsembleMember::Perturbed(17))
    );
    assert_eq!(
        day2.info.metadata.time,
        ForecastTime::window_hours(0, 48, Statistic::Accumulation)
    );
    for (lat, lon) in points {
        let i = day2.info.grid.nearest_index(lat, lon).unwrap();
        let want = synthetic::expected_field_value(Model::Ecmwf, run(), 17, 48, lat, lon).unwrap();
        assert!(
            (day2.values[i] - want).abs() <= 1e-7,
            "ECMWF at {lat},{lon}"
        );
        let mm = (day2.values[i] - day1.values[i]) * 1000.0;
        let want_mm = synthetic::expected_precip(Model::Ecmwf, run(), 17, (24, 48), lat, lon);
        assert!((mm - want_mm).abs() < 0.01, "{mm} vs {want_mm}");
    }
}

#[test]
fn unknown_files_runs_and_steps_are_404() {
    let (_synthetic, server) = synthetic_server();
    let mut c = Connection::open(server.addr()).unwrap();
    let served = [
        format!("/{GEFS_BUCKET}/{}", gefs_key(run(), 30, 240)),
        format!(
            "/{GEFS_BUCKET}/{}.idx",
            gefs_key(run().days_before(1), 0, 3)
        ),
        format!("/{ECMWF_BUCKET}/{}", ecmwf_key(run(), 360)),
        format!("/{ECMWF_BUCKET}/{}", ecmwf_key(run(), 144)),
    ];
    for path in &served {
        assert_eq!(c.request("HEAD", path, &[]).unwrap().status, 200, "{path}");
    }
    let missing = [
        format!("/{GEFS_BUCKET}/{}", gefs_key(run(), 31, 3)),
        format!("/{GEFS_BUCKET}/{}", gefs_key(run(), 1, 243)),
        format!("/{GEFS_BUCKET}/{}", gefs_key(run(), 1, 4)),
        format!("/{GEFS_BUCKET}/{}", gefs_key(run().days_before(2), 1, 3)),
        format!(
            "/{GEFS_BUCKET}/{}",
            gefs_key(RunTime::parse("20250801", "06").unwrap(), 1, 3)
        ),
        format!("/{ECMWF_BUCKET}/{}", ecmwf_key(run(), 147)),
        format!("/{ECMWF_BUCKET}/{}", ecmwf_key(run(), 366)),
        format!("/{GEFS_BUCKET}/gefs.20250801/00/atmos/pgrb2sp25/"),
        "/elsewhere/file".to_string(),
    ];
    for path in &missing {
        assert_eq!(c.request("HEAD", path, &[]).unwrap().status, 404, "{path}");
    }
}

#[test]
fn synthetic_06z_ecmwf_runs_stop_at_144h() {
    let r06 = RunTime::parse("20250801", "06").unwrap();
    let synthetic = Synthetic::load(SyntheticConfig::new([r06])).unwrap();
    let ecmwf = synthetic.ecmwf();
    use gik_tests::mirror::Content;
    assert!(ecmwf.len(&ecmwf_key(r06, 144)).is_some());
    assert!(ecmwf.len(&ecmwf_key(r06, 150)).is_none());
    assert_eq!(synthetic::ecmwf_steps(6).last(), Some(&144));
}
