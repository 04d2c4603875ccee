// Web push on the profile page: subscribe and unsubscribe only after a click (browsers
// require a user gesture). No inline script: the CSP allows script-src 'self' only.
// The section carries data-vapid-key, data-subscribe-url, data-unsubscribe-url and the
// texts; the CSRF token comes from the page's csrfmiddlewaretoken input.
(function () {
  "use strict";
  var box = document.querySelector("[data-push]");
  if (!box) return;
  var status = box.querySelector("[data-push-status]");
  var subscribeButton = box.querySelector("[data-push-subscribe]");
  var unsubscribeButton = box.querySelector("[data-push-unsubscribe]");
  var csrf = box.querySelector("input[name=csrfmiddlewaretoken]").value;

  function say(key) { status.textContent = box.getAttribute("data-text-" + key); }
  function show(subscribed) {
    subscribeButton.hidden = subscribed;
    unsubscribeButton.hidden = !subscribed;
    say(subscribed ? "on" : "off");
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (response) { if (!response.ok) throw new Error(response.status); return response; });
  }
  function keyBytes(base64) {
    var padded = (base64 + "===".slice((base64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) { say("unsupported"); return; }

  var ready = navigator.serviceWorker.register(box.getAttribute("data-worker-url"), { scope: box.getAttribute("data-scope") })
    .then(function () { return navigator.serviceWorker.ready; });
  ready.then(function (registration) { return registration.pushManager.getSubscription(); })
    .then(function (subscription) { show(Boolean(subscription)); box.setAttribute("data-ready", "true"); })
    .catch(function () { say("error"); });

  subscribeButton.addEventListener("click", function () {
    ready.then(function (registration) {
      return registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: keyBytes(box.getAttribute("data-vapid-key"))
      });
    }).then(function (subscription) {
      return post(box.getAttribute("data-subscribe-url"), subscription.toJSON());
    }).then(function () { show(true); }).catch(function () { say("error"); });
  });

  unsubscribeButton.addEventListener("click", function () {
    ready.then(function (registration) { return registration.pushManager.getSubscription(); })
      .then(function (subscription) {
        if (!subscription) return null;
        var endpoint = subscription.endpoint;
        return subscription.unsubscribe().then(function () {
          return post(box.getAttribute("data-unsubscribe-url"), { endpoint: endpoint });
        });
      }).then(function () { show(false); }).catch(function () { say("error"); });
  });
})();
