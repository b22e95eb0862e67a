// itero dashboard: fetch the parts of a page (elements with data-src), draw their figures, and fetch them again
// when the study's version changes (polled once a second). Writes send the token kept in this tab only.
"use strict";
(function () {
  var POLL_MS = 1000;
  var body = document.body;
  var plotConfig = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"]};
  var tableState = {sort: "rank", order: "asc", state: "", q: "", page: 1};
  var pages = 1;

  function toast(text, bad) {
    var el = document.getElementById("toast");
    el.textContent = text;
    el.className = bad ? "show bad" : "show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.className = ""; }, 4000);
  }

  function url(el) {
    var src = el.getAttribute("data-src");
    if (!el.hasAttribute("data-table")) return src;
    var q = new URLSearchParams();
    Object.keys(tableState).forEach(function (k) { if (tableState[k] !== "") q.set(k, tableState[k]); });
    return src + "?" + q.toString();
  }

  // Figures waiting for plotly.js, which loads on the side (async) so that tables are drawn first.
  var pending = {};
  // A figure is drawn when it is on screen (or about to be): drawing a 10,000-trial study's curves takes the
  // browser seconds, and redrawing figures nobody looks at would hold up the table at every change.
  var offscreen = {};
  var watcher = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (!e.isIntersecting || !offscreen[e.target.id]) return;
      var spec = offscreen[e.target.id];
      delete offscreen[e.target.id];
      watcher.unobserve(e.target);
      draw_(e.target, spec);
    });
  }, {rootMargin: "300px"}) : null;
  function draw_(div, spec) {
    if (!window.Plotly) { pending[div.id] = spec; return; }
    var preview = div.querySelector("svg.preview");  // the server's static drawing, until now
    if (preview) preview.remove();
    Plotly.react(div, spec.data, spec.layout, plotConfig);
  }
  function plot(id, spec) {
    var div = document.getElementById(id);
    if (!div) return;
    if (watcher) { offscreen[id] = spec; watcher.observe(div); }
    else draw_(div, spec);
  }
  function hasPreview(id) {
    var div = document.getElementById(id);
    return div && div.querySelector("svg.preview") ? 1 : 0;
  }
  function loadPlotly() {
    if (window.Plotly || document.getElementById("plotly-js")) return;
    var tag = document.createElement("script");
    tag.id = "plotly-js";
    tag.src = "/static/plotly.min.js";
    tag.addEventListener("load", function () {
      var waiting = pending; pending = {};
      var ids = Object.keys(waiting);  // the figures with a preview (best so far) first
      ids.sort(function (a, b) { return hasPreview(b) - hasPreview(a); });
      ids.forEach(function (id) { plot(id, waiting[id]); });
    });
    document.head.appendChild(tag);
  }

  function draw(el, part) {
    el.innerHTML = part.html;  // HTML rendered and escaped by the server
    var figures = part.figures || {};
    Object.keys(figures).forEach(function (id) { plot(id, figures[id]); });
    if (el.hasAttribute("data-table")) {
      pages = part.pages || 1;
      tableState.page = part.page || 1;
      var info = document.getElementById("page-info");
      if (info) info.textContent = "page " + tableState.page + " of " + pages + " · " + part.total + " trials";
    }
    if (part.version !== undefined) el.setAttribute("data-version", String(part.version));
    el.setAttribute("data-loaded", String(Date.now()));
  }

  function load(el) {
    if (el.loading) return el.loading;
    el.loading = fetch(url(el), {headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
      .then(function (res) {
        if (!res[0]) { el.innerHTML = ""; var p = document.createElement("p"); p.className = "err";
          p.textContent = res[1].error || "error"; el.appendChild(p); return; }
        draw(el, res[1]);
      })
      .catch(function () { /* the next poll retries */ })
      .then(function () { el.loading = null; });
    return el.loading;
  }

  // The quick parts (the trial table, the summary, the best so far, the actions) together, then the figures one
  // after the other: a browser opens six connections to a host, and slow figures of a big study must not hold
  // them all while the table waits.
  function loadAll(afterQuick) { return reload(Array.prototype.slice.call(document.querySelectorAll("[data-src]")), afterQuick); }
  var slowChain = null;  // at most one run of slow parts at a time; a later poll picks up what it left stale
  function reload(parts, afterQuick) {
    var quick = parts.filter(function (el) { return rank(el) < 3; });
    var slow = parts.filter(function (el) { return rank(el) >= 3; });
    return Promise.all(quick.map(load)).then(function () {
      if (afterQuick) afterQuick();
      if (slowChain || !slow.length) return slowChain;
      slowChain = slow.reduce(function (chain, el) { return chain.then(function () { return load(el); }); },
                              Promise.resolve()).then(function () { slowChain = null; });
      return slowChain;
    });
  }
  function rank(el) {
    if (el.hasAttribute("data-table")) return 0;
    if (el.id === "part-summary") return 1;
    if (el.id === "part-history" || el.parentElement.id === "actions") return 2;
    return 3;
  }

  // A part built from an older version than the latest (the server rebuilds a big study's parts at most every
  // few seconds) is asked for again at the next poll, until it is current.
  var version = null;
  var live = document.getElementById("live");
  function stale(el) {
    var v = el.getAttribute("data-version");
    return v !== null && v !== String(version);
  }
  function poll() {
    var src = body.getAttribute("data-poll");
    if (!src) return;
    fetch(src).then(function (r) { return r.json(); }).then(function (j) {
      live.className = "live on";
      if (j.version !== version) {
        var first = version === null;
        version = j.version;
        if (!first) { loadAll(); return; }
      }
      reload(Array.prototype.slice.call(document.querySelectorAll("[data-src]")).filter(stale));
    }).catch(function () { live.className = "live off"; })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  // ------------------------------------------------------------------ the trial table's controls
  var controls = document.getElementById("table-controls");
  var table = document.getElementById("trial-table");
  if (controls && table) {
    controls.addEventListener("change", function (e) {
      if (e.target.name) { tableState[e.target.name] = e.target.value; tableState.page = 1; load(table); }
    });
    controls.addEventListener("input", function (e) {
      if (e.target.name === "q") {
        clearTimeout(controls.timer);
        controls.timer = setTimeout(function () { tableState.q = e.target.value; tableState.page = 1; load(table); }, 250);
      }
    });
    controls.addEventListener("submit", function (e) { e.preventDefault(); });
    controls.querySelectorAll("button[data-page]").forEach(function (b) {
      b.addEventListener("click", function () {
        var next = tableState.page + Number(b.getAttribute("data-page"));
        if (next >= 1 && next <= pages) { tableState.page = next; load(table); }
      });
    });
  }

  // ------------------------------------------------------------------ writes
  var TOKEN_KEY = "itero-token";
  function token(ask) {
    var t = sessionStorage.getItem(TOKEN_KEY);
    if (!t || ask) {
      t = window.prompt("The dashboard's token (printed when it started, or from ITERO_DASHBOARD_TOKEN):");
      if (t) sessionStorage.setItem(TOKEN_KEY, t.trim());
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }
  function post(path, payload) {
    var t = token(false);
    if (!t) return Promise.resolve();
    return fetch(path, {method: "POST", headers: {"Content-Type": "application/json", "Authorization": "Bearer " + t},
                        body: JSON.stringify(payload)})
      .then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); })
      .then(function (res) {
        if (res[0] === 401) sessionStorage.removeItem(TOKEN_KEY);
        if (res[0] >= 400) { toast(res[1].error || ("error " + res[0]), true); return; }
        toast("done" + (res[1].number !== undefined ? ": trial #" + res[1].number : "") + " (as " + res[1].who + ")");
        loadAll();
        return res[1];
      });
  }
  var study = body.getAttribute("data-study");
  var trial = body.getAttribute("data-trial");
  var apiStudy = study === null ? null : "/api/studies/" + encodeURIComponent(study);
  var link = document.getElementById("token-link");
  if (link) link.addEventListener("click", function (e) {
    e.preventDefault();
    var t = token(true);
    if (!t) return;
    fetch("/api/whoami", {method: "POST", headers: {"Content-Type": "application/json", "Authorization": "Bearer " + t},
                          body: "{}"})
      .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
      .then(function (res) {
        if (res[0]) toast("token accepted: changes are recorded as " + res[1].who);
        else { sessionStorage.removeItem(TOKEN_KEY); toast(res[1].error, true); }
      });
  });

  var enqueue = document.getElementById("enqueue-form");
  if (enqueue) enqueue.addEventListener("submit", function (e) {
    e.preventDefault();
    var params;
    try { params = JSON.parse(enqueue.elements.params.value); }
    catch (err) { toast("the parameters are not valid JSON: " + err.message, true); return; }
    post(apiStudy + "/enqueue", {params: params}).then(function (r) { if (r) enqueue.reset(); });
  });
  // Narrow: numbers and JSON values are sent as such, other text as strings; "reset" widens again.
  function value(text) {
    text = text.trim();
    if (text === "") return null;
    try { return JSON.parse(text); } catch (err) { return text; }
  }
  var narrow = document.getElementById("narrow-form");
  if (narrow) {
    var send = function (reset) {
      var f = narrow.elements, body = {name: f.name.value};
      if (reset) body.reset = true;
      else {
        ["low", "high", "value"].forEach(function (k) { var v = value(f[k].value); if (v !== null) body[k] = v; });
        if (f.choices.value.trim()) body.choices = f.choices.value.split(",").map(value);
      }
      post(apiStudy + "/narrow", body).then(function (r) {
        if (r) { toast(r.action + " (as " + r.who + ")"); narrow.reset(); }
      });
    };
    narrow.addEventListener("submit", function (e) { e.preventDefault(); send(false); });
    narrow.querySelector("button[data-reset]").addEventListener("click", function () { send(true); });
  }

  document.querySelectorAll("[data-action]").forEach(function (el) {
    if (trial === null || el.id === "enqueue-form" || el.id === "narrow-form") return;
    var path = function (action) { return apiStudy + "/trials/" + trial + "/" + action; };
    if (el.tagName === "FORM") {
      el.addEventListener("submit", function (e) {
        e.preventDefault();
        var action = el.getAttribute("data-action");
        var input = el.querySelector("input");
        var payload = {}; payload[input.name] = input.value;
        post(path(action), payload).then(function (r) { if (r) el.reset(); });
      });
    } else {
      el.querySelectorAll("button[data-action]").forEach(function (b) {
        b.addEventListener("click", function () { post(path(b.getAttribute("data-action")), {}); });
      });
    }
  });

  loadAll(function () { loadPlotly(); poll(); });
})();
