// The batch page follows its batch without reloading: /api/batches/<id> every few seconds
// into the live region and the failures table, until the batch is finished.
(function () {
  "use strict";
  var box = document.getElementById("batch");
  if (!box) { return; }
  var api = box.getAttribute("data-api");
  var line = document.getElementById("progress");
  var bar = document.getElementById("bar");
  var body = document.getElementById("failures");
  var count = document.getElementById("failcount");
  var purge = box.getAttribute("data-purge");
  var csrf = box.getAttribute("data-csrf");

  function hidden(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }

  function giveUp(row, doc) {  // the same form as the page's own "Bỏ văn bản này"
    var td = document.createElement("td");
    if (purge && doc) {
      var form = document.createElement("form");
      form.method = "post";
      form.action = purge;
      form.className = "inline";
      hidden(form, "csrf", csrf);
      hidden(form, "doc", doc);
      var button = document.createElement("button");
      button.type = "submit";
      button.textContent = "Bỏ văn bản này";
      form.appendChild(button);
      td.appendChild(form);
    }
    row.appendChild(td);
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function show(st) {
    if (line.textContent !== st.line) { line.textContent = st.line; }
    bar.max = st.pages_total || 1;
    bar.value = st.pages_done + st.pages_failed;
    count.textContent = "(" + st.failures_total + ")";
    body.textContent = "";
    if (!st.failures.length) {
      var empty = document.createElement("tr");
      cell(empty, "Không có lỗi.");
      empty.firstChild.colSpan = 4;
      body.appendChild(empty);
    }
    st.failures.forEach(function (f) {
      var row = document.createElement("tr");
      cell(row, f.what);
      cell(row, f.reason);
      cell(row, f.final ? "Hết lượt" : "Đang thử lại");
      giveUp(row, f.doc);
      body.appendChild(row);
    });
  }

  function poll() {
    fetch(api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) {
          line.textContent = "Phiên làm việc đã hết hạn: tải lại trang và đăng nhập.";
          return null;
        }
        return r.ok ? r.json() : null;
      })
      .then(function (st) {
        if (st === null) { return; }
        show(st);
        if (!st.finished) { window.setTimeout(poll, 2000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  window.setTimeout(poll, 1000);
})();
