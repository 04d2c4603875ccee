// Autosave: every change is saved in the background (action=save), so a customer who picks
// a score and closes the tab can resume from the same link. Works without JS too (buttons).
(function () {
  "use strict";
  var form = document.getElementById("survey-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var timer = null;
  function save() {
    var data = new FormData(form);
    data.set("action", "save");
    fetch(window.location.pathname, {
      method: "POST", body: data, credentials: "same-origin", headers: { "X-Requested-With": "fetch" }
    }).catch(function () { /* the explicit buttons still work */ });
  }
  form.addEventListener("change", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(save, 400);
  });
  form.addEventListener("submit", function () { window.clearTimeout(timer); });
})();
