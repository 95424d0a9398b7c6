// The shell's service worker. Its bytes carry the app's version (derived from the files by the
// server), so a deployment is a new worker with a new cache; the page offers to switch, and items
// waiting in IndexedDB are untouched by the switch. API calls always go to the network.
const VERSION = "__APP_VERSION__";
const CACHE = `pantau-shell-${VERSION}`;
const FILES = "__APP_FILES__";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES.map((f) => new Request(f, { cache: "reload" })))));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("pantau-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith("/app/")) return;
  // The page itself (any hash route) is the cached shell; everything else by its path.
  const key = event.request.mode === "navigate" ? "./" : event.request;
  event.respondWith(
    caches.open(CACHE).then((cache) => cache.match(key, { ignoreSearch: true })).then((hit) => hit || fetch(event.request)),
  );
});
