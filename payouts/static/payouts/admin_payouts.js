// A payout's history tables (approvals, status changes, provider attempts) scroll sideways
// inside their box on a phone. A box that scrolls must be reachable by keyboard and named
// (WCAG 2.1.1), so each one that overflows gets a tab stop and its heading as its name.
"use strict";
(function () {
    function markScrollable() {
        document.querySelectorAll(".inline-group .tabular").forEach(function (box) {
            if (box.scrollWidth > box.clientWidth) {
                const heading = box.querySelector("h2");
                box.tabIndex = 0;
                box.setAttribute("role", "region");
                box.setAttribute("aria-label", heading ? heading.textContent.trim() : "");
            } else {
                box.removeAttribute("tabindex");
                box.removeAttribute("role");
                box.removeAttribute("aria-label");
            }
        });
    }
    document.addEventListener("DOMContentLoaded", markScrollable);
    window.addEventListener("resize", markScrollable);
})();
