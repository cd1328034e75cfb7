/* featvis: small vanilla JS, no dependencies, nothing loaded from outside the site.
   - hover zoom: images marked data-zoom show an enlarged copy near the pointer;
   - interpolation slider: moves every row of an interpolation-grid figure to frame t;
   - comparison toggles: buttons that switch a figure's data-view;
   - footnotes: hovering or focusing a footnote marker shows the note;
   - arrow keys: left and right follow the page's rel=prev / rel=next links (channel and layer
     pages), except while typing in a field;
   - copy link: a .fv-copy-link button copies the page's URL (the clipboard API where the page
     may use it, else a selected text copy, else the URL is shown to copy by hand). */
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function setupZoom() {
    if (window.matchMedia && window.matchMedia("(hover: none)").matches) return;
    var lens = null;
    var big = null;

    function makeLens() {  // made on the first hover, so no empty image sits in the page
      lens = document.createElement("div");
      lens.className = "fv-lens";
      big = document.createElement("img");
      big.alt = "";
      lens.appendChild(big);
      document.body.appendChild(lens);
    }

    function place(ev) {
      var size = lens.offsetWidth || 288;
      var x = ev.clientX + 18;
      var y = ev.clientY - size / 2;
      if (x + size > window.innerWidth - 8) x = ev.clientX - size - 18;
      y = Math.max(8, Math.min(y, window.innerHeight - size - 8));
      lens.style.left = x + "px";
      lens.style.top = y + "px";
    }

    document.addEventListener("mouseover", function (ev) {
      var img = ev.target.closest && ev.target.closest("img[data-zoom]");
      if (!img || !img.complete || !img.naturalWidth) return;
      if (!lens) makeLens();
      big.src = img.currentSrc || img.src;
      lens.classList.toggle("pixelated", img.naturalWidth < 96);
      lens.style.display = "block";
      place(ev);
    });
    document.addEventListener("mousemove", function (ev) {
      if (lens && lens.style.display === "block") place(ev);
    });
    document.addEventListener("mouseout", function (ev) {
      var img = ev.target.closest && ev.target.closest("img[data-zoom]");
      if (img && lens) lens.style.display = "none";
    });
  }

  function setupInterpolation() {
    var figures = document.querySelectorAll(".fv-interp");
    Array.prototype.forEach.call(figures, function (fig) {
      var slider = fig.querySelector(".fv-slider");
      var output = fig.querySelector(".fv-t");
      var rows = fig.querySelectorAll(".interp-row");
      if (!slider) return;

      function show(index) {
        Array.prototype.forEach.call(rows, function (row) {
          var frames = row.getAttribute("data-frames").split(" ");
          var labels = (row.getAttribute("data-labels") || "").split("|");
          var stage = row.querySelector(".interp-stage");
          var i = Math.max(0, Math.min(frames.length - 1, index));
          if (stage.getAttribute("src") !== frames[i]) stage.setAttribute("src", frames[i]);
          if (output && labels[i]) output.textContent = labels[i];
          Array.prototype.forEach.call(row.querySelectorAll(".interp-frame"), function (f) {
            var current = Number(f.getAttribute("data-index")) === i;
            f.classList.toggle("current", current);
            if (current) stage.alt = f.alt;  // the text alternative follows the picture
          });
        });
      }

      slider.addEventListener("input", function () { show(Number(slider.value)); });
      Array.prototype.forEach.call(fig.querySelectorAll(".interp-frame"), function (f) {
        f.addEventListener("click", function () {
          slider.value = f.getAttribute("data-index");
          show(Number(slider.value));
        });
      });
      show(Number(slider.value));
    });
  }

  function setupToggles() {
    var groups = document.querySelectorAll(".fv-toggle");
    Array.prototype.forEach.call(groups, function (group) {
      var fig = group.closest("figure") || group.parentNode;
      var target = fig.querySelector("[data-view]");
      if (!target) return;
      Array.prototype.forEach.call(group.querySelectorAll("button[data-show]"), function (button) {
        button.addEventListener("click", function () {
          target.setAttribute("data-view", button.getAttribute("data-show"));
          Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) {
            b.classList.toggle("active", b === button);
            b.setAttribute("aria-pressed", b === button ? "true" : "false");
          });
        });
      });
    });
  }

  function setupFootnotes() {  // a footnote's or a reference's text beside its mark in the text
    var tip = null;
    function hide() { if (tip) { tip.remove(); tip = null; } }
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") hide(); });
    var marks = document.querySelectorAll("a.footnote-ref, .citation a");
    Array.prototype.forEach.call(marks, function (ref) {
      var id = (ref.getAttribute("href") || "").slice(1);
      var note = id && document.getElementById(id);
      if (!note) return;
      ref.removeAttribute("title");  // the tip shows the same text
      function show() {
        hide();
        tip = document.createElement("div");
        tip.className = "fv-tip";
        tip.setAttribute("role", "tooltip");
        tip.innerHTML = note.innerHTML;
        Array.prototype.forEach.call(tip.querySelectorAll(".footnote-backref, .ref-back"), function (b) { b.remove(); });
        document.body.appendChild(tip);
        var r = ref.getBoundingClientRect();
        var left = Math.min(window.scrollX + r.left - 20, window.scrollX + window.innerWidth - tip.offsetWidth - 12);
        tip.style.left = Math.max(8, left) + "px";
        tip.style.top = (window.scrollY + r.bottom + 8) + "px";
      }
      ref.addEventListener("mouseenter", show);
      ref.addEventListener("focus", show);
      ref.addEventListener("mouseleave", hide);
      ref.addEventListener("blur", hide);
    });
  }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function setupArrows() {
    document.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.shiftKey || typing(ev.target)) return;
      var rel = ev.key === "ArrowLeft" ? "prev" : ev.key === "ArrowRight" ? "next" : null;
      var link = rel && document.querySelector("a[rel=" + rel + "]");
      if (!link) return;
      ev.preventDefault();
      window.location.href = link.href;
    });
  }

  function copyText(text) {  // true when the text reached the clipboard by the fallback
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    area.remove();
    return done;
  }

  function setupCopyLink() {
    Array.prototype.forEach.call(document.querySelectorAll(".fv-copy-link"), function (button) {
      var status = button.parentNode.querySelector(".fv-copy-status");
      function say(text) { if (status) status.textContent = text; }
      button.addEventListener("click", function () {
        var url = new URL(button.getAttribute("data-href") || "", window.location.href).href;
        button.setAttribute("data-copied", url);
        function fallback() {
          if (copyText(url)) say("Link copied.");
          else say(url);  // shown to copy by hand
        }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(url).then(function () { say("Link copied."); }, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  onReady(function () {
    setupArrows();
    setupCopyLink();
    setupZoom();
    setupInterpolation();
    setupToggles();
    setupFootnotes();
  });
})();
