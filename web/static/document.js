// The document page: page batches loaded as the reader nears them, the page navigator,
// zoom of the page images, the inline PDF viewer. Without it the page still works: the
// first pages are in the HTML and every other batch has a link of its own.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const pages = document.getElementById("pages");
  if (!pages) return;
  const nav = document.querySelector(".pagenav");
  const count = Number(nav.dataset.count) || 1;
  const loading = new Map(); // batch start -> Promise
  let zoom = "fit";

  function loadBatch(start) {
    if (!loading.has(start)) {
      const query = pages.dataset.query ? "?" + pages.dataset.query : "";
      const done = fetch(pages.dataset.url + start + query, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.text() : Promise.reject(new Error(r.status))))
        .then((html) => {
          const t = document.createElement("template");
          t.innerHTML = html;
          for (const section of t.content.querySelectorAll("section.page")) {
            const slot = document.getElementById(section.id);
            if (slot && slot.classList.contains("slot")) {
              slot.replaceWith(section);
              watch(section);
            }
          }
        })
        .catch(() => loading.delete(start)); // tried again when the slot comes near again
      loading.set(start, done);
    }
    return loading.get(start);
  }

  const near = new IntersectionObserver(
    (entries) => {
      for (const e of entries) {
        if (e.isIntersecting && e.target.classList.contains("slot")) {
          near.unobserve(e.target);
          loadBatch(Number(e.target.dataset.start));
        }
      }
    },
    { rootMargin: "600px 0px" }
  );
  for (const slot of pages.querySelectorAll("section.slot")) near.observe(slot);

  // the page being read: the first one still showing below the navigator (which stays
  // at the top of the window: pages scrolled to stop below it)
  function navHeight() {
    const h = nav.offsetHeight;
    document.documentElement.style.setProperty("--pagenav", h + "px");
    return h;
  }
  function current() {
    const top = navHeight() + 1;
    for (const s of pages.querySelectorAll("section.page")) {
      if (s.getBoundingClientRect().bottom > top) return Number(s.dataset.page);
    }
    return count;
  }
  const input = document.getElementById("goto-page");
  const prev = nav.querySelector(".prev");
  const next = nav.querySelector(".next");
  function update() {
    const n = current();
    if (document.activeElement !== input) input.value = n;
    prev.href = "#page-" + Math.max(1, n - 1);
    next.href = "#page-" + Math.min(count, n + 1);
  }
  window.addEventListener("scroll", update, { passive: true });
  window.addEventListener("resize", update);

  function go(n) {
    n = Math.min(Math.max(1, n), count);
    const target = document.getElementById("page-" + n);
    if (!target) return;
    history.replaceState(null, "", "#page-" + n);
    target.scrollIntoView();
    if (target.classList.contains("slot")) {
      loadBatch(Number(target.dataset.start)).then(() => {
        document.getElementById("page-" + n).scrollIntoView();
        update();
      });
    }
    update();
  }
  nav.querySelector("form.goto").addEventListener("submit", (e) => {
    e.preventDefault();
    go(Number(input.value));
  });
  for (const a of [prev, next]) {
    a.addEventListener("click", (e) => {
      e.preventDefault();
      go(Number(a.getAttribute("href").slice("#page-".length)));
    });
  }
  const hash = /^#page-(\d+)$/.exec(location.hash);
  if (hash) go(Number(hash[1]));
  update();

  // zoom: fit the column, or the screen image at 100% / 200% of its own width
  function sized(img) {
    img.style.width = zoom === "fit" ? "" : img.naturalWidth * Number(zoom) + "px";
  }
  function watch(section) {
    for (const img of section.querySelectorAll(".pageimg img")) {
      img.addEventListener("load", () => sized(img));
      if (img.complete) sized(img);
    }
  }
  for (const s of pages.querySelectorAll("section.page:not(.slot)")) watch(s);
  for (const b of nav.querySelectorAll("[data-zoom]")) {
    b.addEventListener("click", () => {
      zoom = b.dataset.zoom;
      pages.classList.toggle("zoomed", zoom !== "fit");
      for (const o of nav.querySelectorAll("[data-zoom]")) {
        o.setAttribute("aria-pressed", String(o === b));
      }
      for (const img of pages.querySelectorAll(".pageimg img")) sized(img);
    });
  }

  // the PDF viewer is made when first opened: no use copy is made for a reader who never looks
  const viewer = document.querySelector("details.pdfview");
  if (viewer) {
    viewer.addEventListener("toggle", () => {
      const frame = viewer.querySelector(".pdfframe");
      if (viewer.open && !frame.firstChild) {
        const obj = document.createElement("iframe");
        obj.src = viewer.dataset.src;
        obj.title = "PDF của văn bản";
        frame.appendChild(obj);
      }
    });
  }
});
