/* featvis: small vanilla JS, no dependencies, nothing loaded from outside the site.
   - zoom: images marked data-zoom show an enlarged copy near the pointer, and open an enlarged
     view (a modal dialog) on a click, a tap, Enter or Space; Escape or a click closes it; those
     inside a link follow it, and show their enlarged copy beside it while it has the focus;
   - interpolation slider: moves every row of an interpolation-grid figure to frame t; each
     row's thumbnails are a radio group that does the same (click, arrow keys, Home, End);
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

  function setupZoom() {  // the enlarged view, for every pointer and the keyboard
    var view = null;
    var opener = null;

    function zoomable(target) {
      var img = target && target.closest && target.closest("img[data-zoom]");
      return img && img.classList.contains("fv-zoomable") ? img : null;
    }

    function makeView() {  // made on first use, so no empty image sits in the page
      view = document.createElement("dialog");
      view.className = "fv-zoom";
      view.setAttribute("aria-labelledby", "fv-zoom-caption");
      view.innerHTML = '<figure><img alt=""><figcaption id="fv-zoom-caption"></figcaption></figure>' +
        '<button type="button" class="fv-zoom-close">Close</button>';
      view.addEventListener("click", function () { view.close(); });  // a click anywhere, a tap
      view.addEventListener("close", function () {
        if (opener) opener.focus();
        opener = null;
      });
      document.body.appendChild(view);
    }

    function open(img) {
      if (!view) makeView();
      var big = view.querySelector("img");
      big.src = img.currentSrc || img.src;
      big.alt = img.alt;
      big.classList.toggle("pixelated", img.naturalWidth > 0 && img.naturalWidth < 96);
      view.querySelector("figcaption").textContent = img.getAttribute("title") || img.alt;
      opener = img;
      view.showModal();
    }

    // Pictures inside a link or a button are left to it (a second control inside one is no use):
    // its focus shows them enlarged beside it (setupLens).
    Array.prototype.forEach.call(document.querySelectorAll("img[data-zoom]"), function (img) {
      if (img.parentElement.closest("a, button")) return;
      img.classList.add("fv-zoomable");
      img.tabIndex = 0;
      img.setAttribute("role", "button");
      img.setAttribute("aria-haspopup", "dialog");
    });
    // A strip of photos is one tab stop (a layer page has two a channel): the arrow keys, Home
    // and End move along it, and the stop stays on the photo last focused.
    Array.prototype.forEach.call(document.querySelectorAll(".examples"), function (strip) {
      var photos = Array.prototype.slice.call(strip.querySelectorAll("img.fv-zoomable"));
      if (photos.length < 2) return;
      var label = strip.querySelector(".examples-label");
      strip.setAttribute("role", "toolbar");
      if (!strip.hasAttribute("aria-label")) {
        strip.setAttribute("aria-label", (label ? label.textContent + " " : "") + "photos");
      }
      photos.forEach(function (img, i) { img.tabIndex = i ? -1 : 0; });
      strip.addEventListener("keydown", function (ev) {
        var img = zoomable(ev.target);
        if (!img || ev.ctrlKey || ev.metaKey || ev.altKey) return;
        var i = photos.indexOf(img);
        var to = ev.key === "Home" ? 0 : ev.key === "End" ? photos.length - 1
          : FRAME_KEYS.hasOwnProperty(ev.key) ? i + FRAME_KEYS[ev.key] : null;
        if (to === null) return;
        ev.preventDefault();  // no page scrolled or turned
        to = Math.max(0, Math.min(photos.length - 1, to));
        img.tabIndex = -1;
        photos[to].tabIndex = 0;
        photos[to].focus();
      });
    });
    document.addEventListener("click", function (ev) {
      var img = zoomable(ev.target);
      if (img) open(img);
    });
    // as a button does: Enter opens on the key's press, Space on its release (else the release
    // would reach the view's own button and close it at once)
    document.addEventListener("keydown", function (ev) {
      var img = (ev.key === "Enter" || ev.key === " ") && zoomable(ev.target);
      if (!img) return;
      ev.preventDefault();  // Space scrolls no page
      if (ev.key === "Enter") open(img);
    });
    document.addEventListener("keyup", function (ev) {
      var img = ev.key === " " && zoomable(ev.target);
      if (img) open(img);
    });
    if (!(window.matchMedia && window.matchMedia("(hover: none)").matches)) setupLens();
  }

  function setupLens() {  // the hover zoom: an enlarged copy near the pointer
    var lens = null;
    var shown = null;  // the link whose pictures the keyboard's focus shows

    function makeLens() {  // made on first use, so no empty image sits in the page
      lens = document.createElement("div");
      lens.className = "fv-lens";
      document.body.appendChild(lens);
    }

    function fill(imgs) {  // one picture fills the lens; several share it, side by side
      if (!lens) makeLens();
      lens.textContent = "";
      imgs.forEach(function (img) {
        var big = document.createElement("img");
        big.alt = "";
        big.src = img.currentSrc || img.src;
        lens.appendChild(big);
      });
      lens.classList.toggle("several", imgs.length > 1);
      lens.classList.toggle("pixelated", imgs[0].naturalWidth < 96);
      lens.style.display = imgs.length > 1 ? "flex" : "block";
    }

    function place(x0, y0, left) {  // beside the point, on the side with room
      var width = lens.offsetWidth || 288;
      var height = lens.offsetHeight || 288;
      var x = x0 + 18;
      if (x + width > window.innerWidth - 8) x = (left === undefined ? x0 : left) - width - 18;
      var y = Math.max(8, Math.min(y0 - height / 2, window.innerHeight - height - 8));
      lens.style.left = Math.max(8, x) + "px";
      lens.style.top = y + "px";
    }

    function hide() {
      if (lens) lens.style.display = "none";
      shown = null;
    }

    function ready(img) { return img.complete && img.naturalWidth > 0; }

    document.addEventListener("mouseover", function (ev) {
      var img = ev.target.closest && ev.target.closest("img[data-zoom]");
      if (!img || !ready(img)) return;
      shown = null;  // the pointer's picture, from now on
      fill([img]);
      place(ev.clientX, ev.clientY);
    });
    document.addEventListener("mousemove", function (ev) {
      if (lens && lens.style.display !== "none" && !shown) place(ev.clientX, ev.clientY);
    });
    document.addEventListener("mouseout", function (ev) {
      var img = ev.target.closest && ev.target.closest("img[data-zoom]");
      if (img && lens && !shown) hide();
    });
    document.addEventListener("click", hide);  // the enlarged view, or the link's page, replaces it
    // A link around pictures that zoom follows its link on Enter, as on a click: its focus shows
    // the enlarged copies beside it, as the mouse does over each; Escape or the focus leaving
    // hides them.
    document.addEventListener("focusin", function (ev) {
      var link = ev.target.closest && ev.target.closest("a, button");
      var imgs = link ? Array.prototype.filter.call(link.querySelectorAll("img[data-zoom]"), ready) : [];
      if (!imgs.length) return;
      fill(imgs);
      var r = link.getBoundingClientRect();
      place(r.right, r.top + r.height / 2, r.left);
      shown = link;
    });
    document.addEventListener("focusout", function (ev) {
      if (shown && ev.target === shown) hide();
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && shown) hide();
    });
  }

  var FRAME_KEYS = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 };

  function setupInterpolation() {
    var figures = document.querySelectorAll(".fv-interp");
    Array.prototype.forEach.call(figures, function (fig) {
      var slider = fig.querySelector(".fv-slider");
      var output = fig.querySelector(".fv-t");
      var rows = fig.querySelectorAll(".interp-row");
      if (!slider) return;
      var last = Number(slider.max);

      function show(index) {
        var i = Math.max(0, Math.min(last, index));
        slider.value = String(i);
        Array.prototype.forEach.call(rows, function (row) {
          var frames = row.getAttribute("data-frames").split(" ");
          var labels = (row.getAttribute("data-labels") || "").split("|");
          var stage = row.querySelector(".interp-stage");
          if (stage.getAttribute("src") !== frames[i]) stage.setAttribute("src", frames[i]);
          if (output && labels[i]) output.textContent = labels[i];
          Array.prototype.forEach.call(row.querySelectorAll(".interp-frame"), function (f) {
            var current = Number(f.getAttribute("data-index")) === i;
            f.classList.toggle("current", current);
            f.setAttribute("aria-checked", current ? "true" : "false");
            f.tabIndex = current ? 0 : -1;  // one tab stop a row, on the frame shown
            if (current) stage.alt = f.alt;  // the text alternative follows the picture
          });
        });
        return i;
      }

      slider.addEventListener("input", function () { show(Number(slider.value)); });
      Array.prototype.forEach.call(rows, function (row) {
        // the frames of a row: a radio group, as the slider moves, by click or arrow key
        function pick(index) {
          var i = show(index);
          var frame = row.querySelector('.interp-frame[data-index="' + i + '"]');
          if (frame) frame.focus();
        }
        row.addEventListener("click", function (ev) {
          var f = ev.target.closest(".interp-frame");
          if (f) pick(Number(f.getAttribute("data-index")));
        });
        row.addEventListener("keydown", function (ev) {
          var f = ev.target.closest(".interp-frame");
          if (!f || ev.ctrlKey || ev.metaKey || ev.altKey) return;
          var i = Number(f.getAttribute("data-index"));
          var to = ev.key === "Home" ? 0 : ev.key === "End" ? last
            : ev.key === " " ? i : FRAME_KEYS.hasOwnProperty(ev.key) ? i + FRAME_KEYS[ev.key] : null;
          if (to === null) return;
          ev.preventDefault();  // no page scrolled or turned
          pick(to);
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
      if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey || ev.shiftKey) return;
      if (typing(ev.target)) return;
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
