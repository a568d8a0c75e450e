// Review queue keys: j / k move between rows, a accepts the current row, r moves to its
// category list to relabel it, space/x ticks it for "accept the ticked". A row's preview
// (page 1 image) loads when the row becomes current or its preview is opened.
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-doc]"));
  var at = -1;

  function load(row) {
    var img = row.querySelector("img[data-src]");
    if (img && !img.getAttribute("src")) { img.setAttribute("src", img.getAttribute("data-src")); }
  }

  function go(i) {
    if (!rows.length) { return; }
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, n) { r.classList.toggle("current", n === at); });
    var row = rows[at];
    var details = row.querySelector("details");
    if (details) { details.open = true; }
    load(row);
    row.focus();
  }

  rows.forEach(function (row, n) {
    var details = row.querySelector("details");
    if (details) { details.addEventListener("toggle", function () { load(row); }); }
    row.addEventListener("click", function () { at = n; });
  });

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (t && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(t.tagName) && t.type !== "checkbox") { return; }
    var row = rows[at];
    if (e.key === "j") { go(at + 1); }
    else if (e.key === "k") { go(at - 1); }
    else if (e.key === "a" && row) { row.querySelector("button[value=accept]").click(); }
    else if (e.key === "r" && row) { row.querySelector("select").focus(); }
    else if (e.key === "x" && row) { var c = row.querySelector("input[type=checkbox]"); c.checked = !c.checked; }
    else { return; }
    e.preventDefault();
  });
})();
