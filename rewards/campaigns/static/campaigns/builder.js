/* The campaign builder: show only the fields of the chosen trigger, audience and action kind,
   and add or remove condition rows (actions rows: the admin's own inlines.js).
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

  // Condition rows are added (a copy of the formset's empty form, numbered TOTAL_FORMS) and
  // removed (its Delete box ticked, which the server skips, and the row hidden) before any
  // save. Without this script each row's Delete box does the removing.
  function setUpConditions() {
    var box = document.querySelector(".campaign-conditions");
    if (!box) {
      return;
    }
    var prefix = box.getAttribute("data-formset-prefix");
    var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    var most = document.getElementById("id_" + prefix + "-MAX_NUM_FORMS");
    var template = box.querySelector(".condition-row-template");
    var add = box.querySelector(".condition-add");
    var rows = box.querySelector("tbody");
    box.classList.add("rows-editable");
    add.classList.remove("hidden");
    box.querySelectorAll(".condition-remove").forEach(function (button) {
      button.classList.remove("hidden");
    });
    add.querySelector("button").addEventListener("click", function () {
      var index = parseInt(total.value, 10);
      if (index >= parseInt(most.value, 10)) {
        return;
      }
      rows.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__prefix__/g, String(index)));
      total.value = String(index + 1);
      var row = rows.lastElementChild;
      row.querySelector(".condition-remove").classList.remove("hidden");
      row.querySelector("select").focus();
    });
    box.addEventListener("click", function (event) {
      var button = event.target.closest(".condition-remove");
      if (!button) {
        return;
      }
      var row = button.closest("tr");
      row.querySelector("input[name$='-DELETE']").checked = true;
      row.classList.add("hidden");
      add.querySelector("button").focus();
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("#id_trigger_kind, #id_audience, select[name$='-kind']")) {
      refresh();
    }
  });
  document.addEventListener("formset:added", refresh);
  function start() {
    setUpConditions();
    refresh();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
