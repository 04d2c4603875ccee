// Copy buttons for customer pages (portal, survey thank-you), in a static file: the
// Content-Security-Policy allows scripts from this site only. Markup:
// <button data-copy-target="element id" data-copied="Copied"> and a .copy-status next to it,
// which tells screen readers that the text was copied.
(function () {
  "use strict";
  function copied(button) {
    var status = button.parentNode.querySelector(".copy-status");
    if (status) { status.textContent = button.getAttribute("data-copied"); }
    button.classList.add("done");
  }
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) { return; }
    var text = (source.value || source.textContent).trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); }, function () {
        fallbackCopy(text); copied(button);
      });
    } else {
      fallbackCopy(text);
      copied(button);
    }
  });
})();
