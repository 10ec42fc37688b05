#!/usr/bin/env python3
"""Bytes per map: drives headless Chromium through chromedriver (W3C WebDriver over HTTP, no
extra packages) and measures, for one app view URL, what a user waits for:

- time to the first member on the map and to the finished map (polling the status line the
  page shows: "N of M members on the map", class "progress done"), from navigation start;
- bytes transferred and requests, split into data (member manifests, catalog, GRIB2 messages)
  and the app shell (html, js, wasm, css, borders), from the browser's Resource Timing entries
  (everything is same-origin on the mirror, so transfer sizes are visible);
- the floor: data bytes divided by the bandwidth (what no design can beat on that line);
- the longest main-thread task (Long Tasks API), overall and while the view loads (from the
  first manifest request on). Resources fetched by the decode workers (their wasm) are in the
  workers' own timelines, not counted in the shell bytes.

Used by scripts/bench-app.sh, which starts the mirror (latency and bandwidth) and builds the
manifests; this file only measures. Prints one JSON object per view on stdout.

    bench_app_network.py --chromedriver-port 9515 --bandwidth-mbps 10 URL [URL ...]
"""
import argparse
import json
import sys
import time
import urllib.request

POLL_S = 0.02
TIMEOUT_S = 300

# Which resources count as data (what the view needs from the buckets and the catalog host)
# and which are the app itself (cached by the browser after the first visit).
DATA_MARKERS = (".parquet", "catalog.json", "config.json", "noaa-gefs-pds/", "ecmwf-forecasts/",
                "subsets/")

STATUS_JS = """
const p = document.querySelector('section.status p.progress');
const err = document.querySelector('p.error');
return {text: p ? p.textContent : '', done: !!(p && p.classList.contains('done')),
        error: err ? err.textContent : null};
"""

# Main-thread tasks over 50 ms (the Long Tasks API), recorded from the page's first script.
LONGTASKS_JS = """
window.__gikLongTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__gikLongTasks.push([e.startTime, e.duration]);
  }).observe({type: 'longtask', buffered: true});
} catch (e) {}
"""

RESOURCES_JS = """
return performance.getEntriesByType('resource').map(e => ({
  name: e.name, transfer: e.transferSize, body: e.encodedBodySize, start: e.startTime}));
"""


class WebDriver:
    """The few W3C WebDriver commands this benchmark needs."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "none",
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--no-first-run",
                            "--disable-quic", "--window-size=1200,900",
                        ],
                    },
                }
            }
        }
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())["value"]

    def cdp(self, cmd, params):
        return self._call("POST", f"/session/{self.session}/goog/cdp/execute",
                          {"cmd": cmd, "params": params})

    def navigate(self, url):
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def script(self, js):
        return self._call("POST", f"/session/{self.session}/execute/sync",
                          {"script": js, "args": []})

    def quit(self):
        try:
            self._call("DELETE", f"/session/{self.session}")
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def members_on_map(text):
    """The N of 'N of M members on the map', or None."""
    words = text.split()
    for i, w in enumerate(words):
        if w == "of" and i > 0 and words[i - 1].isdigit() and "members" in text:
            return int(words[i - 1])
    return None


def measure(driver_port, url, bandwidth_mbps):
    wd = WebDriver(driver_port)
    try:
        # Room for every entry: the default buffer (250) is smaller than a 51-member view.
        wd.cdp("Page.addScriptToEvaluateOnNewDocument",
               {"source": "performance.setResourceTimingBufferSize(100000);" + LONGTASKS_JS})
        wd.cdp("Network.enable", {})
        wd.cdp("Network.setCacheDisabled", {"cacheDisabled": True})
        start = time.monotonic()
        wd.navigate(url)
        first = finished = None
        status = {}
        while time.monotonic() - start < TIMEOUT_S:
            status = wd.script(STATUS_JS) or {}
            now = time.monotonic() - start
            n = members_on_map(status.get("text", ""))
            if first is None and n:
                first = now
            if status.get("done"):
                finished = now
                break
            if status.get("error"):
                break
            time.sleep(POLL_S)
        resources = wd.script(RESOURCES_JS) or []
        long_tasks = wd.script("return window.__gikLongTasks || [];") or []
    finally:
        wd.quit()
    data = [r for r in resources if any(m in r["name"] for m in DATA_MARKERS)]
    shell = [r for r in resources if r not in data]
    data_bytes = sum(r["transfer"] or r["body"] for r in data)
    result = {
        "url": url,
        "status": status.get("text") or status.get("error"),
        "first_member_s": first,
        "finished_s": finished,
        "data_requests": len(data),
        "data_bytes": data_bytes,
        "manifest_bytes": sum(r["transfer"] or r["body"] for r in data if ".parquet" in r["name"]),
        "message_bytes": sum(r["transfer"] or r["body"] for r in data
                             if "noaa-gefs-pds/" in r["name"] or "ecmwf-forecasts/" in r["name"]
                             or r["name"].split("?")[0].endswith(".grib2")),
        "shell_requests": len(shell),
        "shell_bytes": sum(r["transfer"] or r["body"] for r in shell),
    }
    # "While the view loads": from the first manifest request on (start-up, wasm compilation
    # and the first render come before).
    loading = min((r["start"] for r in data if ".parquet" in r["name"]), default=None)
    result["longest_task_ms"] = max((d for _, d in long_tasks), default=0)
    result["longest_task_loading_ms"] = max(
        (d for t, d in long_tasks if loading is not None and t >= loading), default=0)
    if bandwidth_mbps:
        result["floor_s"] = data_bytes * 8 / (bandwidth_mbps * 1e6)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chromedriver-port", type=int, required=True)
    ap.add_argument("--bandwidth-mbps", type=float, default=0)
    ap.add_argument("urls", nargs="+")
    args = ap.parse_args()
    ok = True
    for url in args.urls:
        result = measure(args.chromedriver_port, url, args.bandwidth_mbps)
        ok &= result["finished_s"] is not None
        print(json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
