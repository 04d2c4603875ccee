/* The campaign builder: show only the fields of the chosen trigger, audience and action kind.
   A field's widget says which kinds it belongs to (data-kind-group, data-kinds); loaded as a
   static file because the Content-Security-Policy allows no inline script. Without it every
   field shows and the server reads only the chosen kind's. */
(function () {
  "use strict";

  function kindSelect(el) {
    var group = el.getAttribute("data-kind-group");
    if (group === "trigger") {
      return document.getElementById("id_trigger_kind");
    }
    if (group === "audience") {
      return document.getElementById("id_audience");
    }
    var row = el.closest(".inline-related");
    return row ? row.querySelector("select[name$='-kind']") : null;
  }

  function refresh() {
    document.querySelectorAll("[data-kinds]").forEach(function (el) {
      var select = kindSelect(el);
      var box = el.closest(".fieldBox") || el.closest(".form-row");
      if (!select || !box) {
        return;
      }
      var shown = el.getAttribute("data-kinds").split(" ").indexOf(select.value) !== -1;
      box.classList.toggle("hidden", !shown);
    });
    // A line of the form whose fields are all hidden disappears too.
    document.querySelectorAll(".form-row").forEach(function (row) {
      var boxes = row.querySelectorAll(".fieldBox");
      if (boxes.length > 1) {
        var visible = Array.prototype.some.call(boxes, function (box) {
          return !box.classList.contains("hidden");
        });
        row.classList.toggle("hidden", !visible);
      }
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("#id_trigger_kind, #id_audience, select[name$='-kind']")) {
      refresh();
    }
  });
  document.addEventListener("formset:added", refresh);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
})();
