/* featvis channel search: works from file://, no fetch, no external request.
 *
 * Needs window.FEATVIS_SEARCH (the index, generator/atlas/search.py) loaded before this file, and
 * on the page one or more
 *   <div class="fv-search" data-root="../../"> <input class="fv-search-input" type="search">
 *     <p class="fv-search-status"></p> <ol class="fv-search-results"></ol> </div>
 * data-root is the relative URL of the site root from the page (the index's URLs are relative
 * to the root).
 *
 * Queries: "blocks.4.2:70" (a channel), "blocks.4.2:" or "blocks.4.2" (a layer), either after
 * "MODEL/" (one model's, by its id or its name: "efficientnet_lite1/blocks.4.2"), "4.2:70"
 * (any layer ending so), "70" or ":70" (channel 70 of every layer that has it; "70" also every
 * channel of a layer named "70", as nn.Sequential names its layers), a band ("textures"), and words, each of which must occur in the
 * channel's labels, the names of the classes that drive it or their kinds in the ImageNet
 * hierarchy ("dog" finds every breed, "vehicle", "fruit"), its layer or band ("eyes front").
 * A word matches a whole term, the start of a word or any part of one, in that order of rank.
 * Results: labelled and class matches first, and among those the channels the class drives
 * hardest; computed channels before uncomputed ones.
 * Keys: "/" focuses the box; the down arrow moves into the results, up and down move between
 * them, Enter opens one (Enter in the box opens the first), Escape goes back to the box.
 */
(function () {
  "use strict";
  var MAX_SHOWN = 48;  // result cards listed at most
  var BATCH = 12;  // cards drawn at a time: on a keystroke, then as the list is scrolled

  function buildIndex(data) {
    var items = [];
    var bands = {};
    data.bands.forEach(function (b) { bands[b] = true; });
    var terms = data.terms || [];
    // Per class, "|name|lemma|ancestor lemma|...|" in lower case: a query word is then a term
    // ("|dog|"), starts a word ("|dog", " dog", "-dog") or occurs anywhere, in one indexOf each.
    var classText = data.classes.map(function (name, c) {
      var kinds = (data.kinds && data.kinds[c]) || [];
      return ("|" + name + "|" + kinds.map(function (t) { return terms[t]; }).join("|") + "|").toLowerCase();
    });
    data.channels.forEach(function (row) {
      var layer = data.layers[row[0]];
      var classes = row[4].map(function (c) { return data.classes[c]; });
      var labels = row[5];
      var name = (data.names && data.names[layer[0]]) || data.models[layer[0]];
      items.push({
        model: name,  // shown: the display name; a query names the model by either
        modelLower: data.models[layer[0]].toLowerCase(),
        nameLower: name.toLowerCase(),
        layer: layer[1],
        layerLower: layer[1].toLowerCase(),
        band: data.bands[layer[2]],
        channel: row[1],
        key: (layer[1] + ":" + row[1]).toLowerCase(),
        thumb: row[2],
        page: row[3],
        classIds: row[4],
        strengths: (row[7] || []).map(function (p) { return p / 100; }),
        classes: classes,
        labels: labels,
        computed: row[6] === 1,
        labelText: ("|" + labels.join("|") + "|").toLowerCase()
      });
    });
    return { items: items, bands: bands, several: data.models.length > 1, classText: classText };
  }

  // How well a word matches a "|term|term|" text: 3 a whole term, 2 the start of a word in one,
  // 1 anywhere, 0 not at all.
  function quality(text, w) {
    var at = text.indexOf(w);
    if (at < 0) return 0;
    if (text.indexOf("|" + w + "|") >= 0) return 3;
    if (text.indexOf("|" + w) >= 0 || text.indexOf(" " + w) >= 0 || text.indexOf("-" + w) >= 0) return 2;
    return 1;
  }

  // A word against every class once per query (a plural falls back to its singular): the list
  // of qualities, by class position.
  function classQualities(index, w) {
    var single = w.length > 3 && w.charAt(w.length - 1) === "s" ? w.slice(0, -1) : null;
    return index.classText.map(function (text) {
      var q = quality(text, w);
      if (!q && single) q = quality(text, single) && quality(text, single) - 0.5;
      return q;
    });
  }

  // Score > 0 when `item` answers `q` (lowercase, trimmed); higher scores list first.
  function matcher(q, index) {
    if (/^\d+$/.test(q)) {  // a bare number: that channel of every layer, and a layer of that
      var channel = matcher(":" + q, index);  // name (nn.Sequential's "7"), after exact channels
      return function (item) { return channel(item) === 3 ? 3 : item.layerLower === q ? 2 : channel(item); };
    }
    var m = /^(?:(\S+)\/)?([^\s:\/]*):(\d*)$/.exec(q) ||  // [MODEL/]LAYER:CHANNEL, or
      /^(\S+)\/([^\s:\/]+)()$/.exec(q);  // MODEL/LAYER (every channel); MODEL its id or its name
    if (m) {
      var model = m[1] || "", layer = m[2], channel = m[3];
      return function (item) {
        if (model && item.modelLower !== model && item.nameLower !== model) return 0;
        var layerOk = layer === "" || item.layerLower === layer ||
          item.layerLower.slice(-layer.length - 1) === "." + layer;
        if (!layerOk) return 0;
        if (channel === "") return 1;
        var c = String(item.channel);
        return c === channel ? 3 : (c.indexOf(channel) === 0 ? 1 : 0);
      };
    }
    if (index.bands[q]) {
      return function (item) { return item.band === q ? 1 : 0; };
    }
    var words = q.split(/\s+/).filter(Boolean);
    var perClass = words.map(function (w) { return classQualities(index, w); });
    // A class match scores its quality plus how strongly the class drives the channel (0..1),
    // so among equal matches the channel the class drives hardest lists first.
    var match = function (item) {
      var score = 0;
      match.why = [];
      for (var i = 0; i < words.length; i++) {
        var w = words[i], best = 0, why = null;
        var label = quality(item.labelText, w);
        if (label) best = 4 + label;
        for (var k = 0; k < item.classIds.length; k++) {
          var cq = perClass[i][item.classIds[k]];
          if (cq) {
            var s = cq + (k < item.strengths.length ? item.strengths[k] : 1);
            if (s > best) { best = s; why = item.classes[k]; }
          }
        }
        if (why && match.why.indexOf(why) < 0) match.why.push(why);
        if (!best) {
          if (item.layerLower === w || item.key.indexOf(w) === 0) best = 1;
          else if (item.band.indexOf(w) === 0) best = 1;
          else if (index.several && (item.modelLower.indexOf(w) >= 0 ||
                                     item.nameLower.indexOf(w) >= 0)) best = 1;
          else return 0;
        }
        score += best;
      }
      return score;
    };
    return match;
  }

  // Every hit, best first (ties in index order).
  function search(index, query) {
    var q = query.trim().toLowerCase();
    if (!q) return [];
    var match = matcher(q, index);
    var items = index.items;
    var hits = [];
    for (var i = 0; i < items.length; i++) {
      var s = match(items[i]);
      if (s <= 0) continue;
      if (!items[i].computed) s *= 0.999;
      hits.push({ score: s, order: i, item: items[i], why: match.why || [] });
    }
    hits.sort(function (a, b) { return b.score - a.score || a.order - b.order; });
    return hits;
  }

  function card(item, root, several) {
    var li = document.createElement("li");
    li.className = "fv-search-hit" + (item.computed ? "" : " fv-search-uncomputed");
    var target = item.page ? document.createElement("a") : document.createElement("span");
    if (item.page) target.href = root + item.page;
    if (item.thumb) {
      var img = document.createElement("img");
      img.src = root + item.thumb;
      img.alt = "visualization";  // the unit is the link's text beside it
      img.loading = "lazy";
      img.decoding = "async";
      img.width = 64;
      img.height = 64;
      target.appendChild(img);
    }
    var name = document.createElement("code");
    name.textContent = item.layer + ":" + item.channel;
    target.appendChild(name);
    li.appendChild(target);
    var about = several ? [item.model, item.band] : [item.band];
    if (item.labels.length) about.push(item.labels.join("; "));
    var p = document.createElement("span");
    p.className = "fv-search-about";
    p.setAttribute("data-about", about.join(" \u00b7 "));
    li.appendChild(p);
    return li;
  }

  // A card's line under its name: band, labels, then the classes the query matched (else the
  // strongest three), and whether the build computed it.
  function describe(node, hit) {
    var p = node.querySelector(".fv-search-about");
    var parts = [p.getAttribute("data-about")];
    var classes = hit.why.length ? hit.why : hit.item.classes.slice(0, 3);
    if (classes.length) parts.push(classes.join(", "));
    if (!hit.item.computed) parts.push("not computed in this build");
    p.textContent = parts.join(" \u00b7 ");
  }

  function attach(box, index) {
    var input = box.querySelector(".fv-search-input");
    var status = box.querySelector(".fv-search-status");
    var list = box.querySelector(".fv-search-results");
    var root = box.getAttribute("data-root") || "";
    if (!input || !list) return;
    var cards = new Map();  // a card is built once and reused by later keystrokes
    var shown = "";
    var current = [];  // the hits listed for the present query (at most MAX_SHOWN)
    var drawn = 0;  // how many of them have cards in the list
    function cardOf(hit) {
      var node = cards.get(hit.order);
      if (!node) { node = card(hit.item, root, index.several); cards.set(hit.order, node); }
      describe(node, hit);
      return node;
    }
    // A keystroke draws the first BATCH cards only; the next BATCH follow when the last card
    // scrolls into view, so a query that matches thousands of channels costs a keystroke no
    // more than one that matches a few.
    var observer = "IntersectionObserver" in window ? new IntersectionObserver(function (seen) {
      if (seen.some(function (e) { return e.isIntersecting; })) more();
    }) : null;
    function more() {
      var fragment = document.createDocumentFragment();
      var end = Math.min(current.length, drawn + BATCH);
      for (var i = drawn; i < end; i++) fragment.appendChild(cardOf(current[i]));
      list.appendChild(fragment);
      drawn = end;
      if (observer) {
        observer.disconnect();
        if (drawn < current.length) observer.observe(list.lastElementChild);
      } else if (drawn < current.length) {
        more();  // no observer: list them all
      }
    }
    function show(top) {
      current = top;
      drawn = 0;
      if (observer) observer.disconnect();
      list.replaceChildren();
      more();
    }
    function update() {
      var hits = search(index, input.value);
      var top = hits.slice(0, MAX_SHOWN);
      var signature = top.map(function (h) { return h.order + ":" + h.why.join("/"); }).join(",");
      if (signature !== shown) {
        shown = signature;
        show(top);
      }
      if (status) {
        status.textContent = input.value.trim() === "" ? "" :
          hits.length + (hits.length === 1 ? " channel" : " channels") +
          (hits.length > MAX_SHOWN ? " (first " + MAX_SHOWN + " shown)" : "");
      }
    }
    input.addEventListener("input", update);
    function links() { return Array.prototype.slice.call(list.querySelectorAll("a")); }
    input.addEventListener("keydown", function (ev) {
      var all = links();
      if (ev.key === "ArrowDown" && all.length) { ev.preventDefault(); all[0].focus(); }
      else if (ev.key === "Enter" && all.length) { ev.preventDefault(); all[0].click(); }
    });
    list.addEventListener("keydown", function (ev) {
      var all = links();
      var at = all.indexOf(document.activeElement);
      if (at < 0) return;
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        var next = at + (ev.key === "ArrowDown" ? 1 : -1);
        if (next >= all.length && drawn < current.length) { more(); all = links(); }
        if (next < 0) input.focus();
        else if (next < all.length) all[next].focus();
      } else if (ev.key === "Escape") {
        input.focus();
      }
    });
    if (input.value) update();
  }

  // "/" anywhere but in a text field focuses the first search box.
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var box = document.querySelector(".fv-search-input");
    if (!box) return;
    ev.preventDefault();
    box.focus();
    box.select();
  });

  function init() {
    var data = window.FEATVIS_SEARCH;
    var boxes = document.querySelectorAll(".fv-search");
    if (!data || !boxes.length) return;
    var index = buildIndex(data);
    window.featvisSearch = function (query) { return search(index, query); };
    boxes.forEach(function (box) { attach(box, index); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
