// gik's service worker: once visited, the page opens without a network.
//
// It keeps the app shell: the page, its JS and wasm (the decode worker's too), styles,
// borders and config.json. When it installs it caches everything the build listed in
// `shell.json` (written by Trunk's post-build hook, Trunk.toml), so one visit is enough; after
// that it answers shell requests network first, so a new build is seen when online, and from
// its cache when offline. Data are not its business: the catalog, manifests and decoded fields
// are kept by the page itself (Cache API "gik-data-v1", app/src/store.rs and
// app/src/offline.rs), which then knows it is offline and says so; GRIB2 Range requests pass
// straight through. dist/ stays a static site; this file is copied to its root.
const SHELL = "gik-shell-v1";

// A new version takes over at once for the next page load; pages already open stay as they
// are (no clients.claim(): a first visit is never switched to the worker mid-load).
self.addEventListener("install", (event) => {
  self.skipWaiting();
  event.waitUntil(precache());
});

// The build's files and the page itself; a build without `shell.json` is cached as it is used.
async function precache() {
  try {
    const response = await fetch("shell.json", { cache: "no-cache" });
    if (!response.ok) return;
    const files = await response.json();
    if (!Array.isArray(files)) return;
    const cache = await caches.open(SHELL);
    await cache.addAll(["./", ...files.filter((f) => typeof f === "string")]);
  } catch (e) {
    // Offline or a partial list: the fetch handler below still caches what the page uses.
  }
}

function isShell(request, url) {
  if (request.mode === "navigate") return true;
  if (url.pathname.endsWith("/config.json") || url.pathname.includes("/borders/")) return true;
  return /\.(html|js|wasm|css)$/.test(url.pathname);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || request.headers.has("range")) return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.includes("/.gik-store/")) return;
  if (!isShell(request, url)) return;
  // Pages are stored without their query (the view lives in the query).
  const key = request.mode === "navigate" ? url.origin + url.pathname : request;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.status === 200) {
          const copy = response.clone();
          event.waitUntil(caches.open(SHELL).then((cache) => cache.put(key, copy)));
        }
        return response;
      })
      .catch(() =>
        caches
          .match(key, { cacheName: SHELL })
          .then((cached) => cached || Response.error()),
      ),
  );
});
