// The portal's service worker (served at /portal/sw.js, scope /portal/). It shows the
// notifications the backend pushes: {"title", "body", "message_id"} (engagement.channels
// backends/webpush.py), and opens the portal when one is clicked.
self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (error) { data = { body: event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || "", {
    body: data.body || "",
    tag: data.message_id ? "message-" + data.message_id : undefined,
    data: { url: self.registration.scope }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(event.notification.data.url));
});
