// gik's service worker: once visited, the page opens without a network.
//
// It keeps the app shell (the page, its JS and wasm, styles, borders, config.json and the last
// catalog.json): network first, so a new build or a new run is always seen when online, and the
// last copy when offline. Data are not its business: manifests and decoded fields are kept by
// the page itself (Cache API "gik-data-v1", see app/src/store.rs), and GRIB2 Range requests
// pass straight through. dist/ stays a static site; this file is copied to its root.
const SHELL = "gik-shell-v1";

// A new version takes over at once for the next page load; pages already open stay as they
// are (no clients.claim(): a first visit is never switched to the worker mid-load).
self.addEventListener("install", () => self.skipWaiting());

function isShell(request, url) {
  if (request.mode === "navigate") return true;
  return /\.(html|js|wasm|css|json)$/.test(url.pathname) || url.pathname.endsWith("/");
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || request.headers.has("range")) return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.includes("/.gik-store/")) return;
  if (!isShell(request, url)) return;
  const navigate = request.mode === "navigate";
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.status === 200) {
          const copy = response.clone();
          // Pages are stored without their query (the view lives in the query).
          const key = navigate ? url.origin + url.pathname : request;
          event.waitUntil(caches.open(SHELL).then((cache) => cache.put(key, copy)));
        }
        return response;
      })
      .catch(() =>
        caches
          .match(navigate ? url.origin + url.pathname : request, { cacheName: SHELL })
          .then((cached) => cached || Response.error()),
      ),
  );
});
