// Copy buttons of the portal (no inline scripts: the CSP allows script-src 'self' only).
// <button data-copy="#input-id" data-copied="Link copied"> copies the input's value and
// announces it in the page's [data-copy-status] live region.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var status = document.querySelector("[data-copy-status]");
    var done = function () { if (status) status.textContent = button.getAttribute("data-copied"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(done, function () { source.select(); document.execCommand("copy"); done(); });
    } else {
      source.select();
      document.execCommand("copy");
      done();
    }
  });
})();
