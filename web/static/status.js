// The status page: every 5 s, the live part of the page is fetched again and replaced
// (no full reload, so focus and scroll stay where the reader left them).
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live || !window.fetch) return;
  setInterval(function () {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) live.innerHTML = fresh.innerHTML;
      })
      .catch(function () { /* the next round tries again */ });
  }, 5000);
})();
