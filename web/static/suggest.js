// Suggestions under the search field while the officer types: /api/suggest after a pause in
// typing, shown as an ARIA combobox's listbox (arrows move, Enter takes one, Escape closes).
// Taking a suggestion puts it in the field; Enter again (or "Tìm") searches.
(function () {
  "use strict";
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  var status = document.getElementById("suggest-status");
  if (!input || !list || !window.fetch) { return; }
  var api = input.getAttribute("data-api");
  var PAUSE = 250;  // ms after the last key before asking
  var MIN = 2;  // letters before anything is asked
  var timer = null;
  var items = [];
  var active = -1;

  function say(text) {
    if (status && status.textContent !== text) { status.textContent = text; }
  }

  function close() {
    list.hidden = true;
    list.textContent = "";
    items = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function mark(n) {
    items.forEach(function (li, i) {
      li.setAttribute("aria-selected", i === n ? "true" : "false");
    });
    active = n;
    if (n >= 0) {
      input.setAttribute("aria-activedescendant", items[n].id);
      items[n].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function choose(n) {
    input.value = items[n].textContent;
    close();
    say("Đã chọn: " + input.value + ". Nhấn Enter để tìm.");
    input.focus();
  }

  function show(words) {
    close();
    words.forEach(function (word, n) {
      var li = document.createElement("li");
      li.id = "suggestion-" + n;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.textContent = word;
      li.addEventListener("mousedown", function (e) {
        e.preventDefault();  // keep the focus in the field
        choose(n);
      });
      list.appendChild(li);
      items.push(li);
    });
    if (items.length) {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      say(items.length + " gợi ý; dùng phím mũi tên để chọn.");
    } else {
      say("");
    }
  }

  function ask() {
    var prefix = input.value;
    if (prefix.trim().length < MIN) {
      close();
      input.setAttribute("data-suggested", prefix);
      return;
    }
    fetch(api + "?q=" + encodeURIComponent(prefix), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (input.value !== prefix) { return; }  // typed on meanwhile: a newer ask follows
        show(data && data.suggestions ? data.suggestions : []);
        input.setAttribute("data-suggested", prefix);  // answered (tests wait on it)
      })
      .catch(function () { close(); });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(ask, PAUSE);
  });

  input.addEventListener("keydown", function (e) {
    var n = items.length;
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && n) {
      e.preventDefault();
      var step = e.key === "ArrowDown" ? 1 : -1;
      mark(active < 0 ? (step > 0 ? 0 : n - 1) : (active + step + n) % n);
    } else if (e.key === "Enter" && active >= 0) {
      e.preventDefault();
      choose(active);
    } else if (e.key === "Escape" && !list.hidden) {
      e.preventDefault();
      close();
    }
  });

  input.addEventListener("blur", close);
}());
