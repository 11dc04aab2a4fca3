/* The staff console's live updates and case tools.
 *
 * Events come from GET /admin/events (the API's implementation behind the session cookie) as
 * server-sent events; they are wake-ups: the page then re-reads its [data-live] regions from the
 * server, so what it shows is always what the server renders. Where EventSource is missing or
 * refused (a busy server answers 503), the page polls the same URL for JSON every 5 s instead.
 * Every page also re-reads its regions once a minute ("waiting N min" moves on).
 */
(function () {
  "use strict";

  var body = document.body;
  var eventsUrl = body.getAttribute("data-events");
  if (!eventsUrl) { return; }
  var baseTitle = document.title;
  var statusEl = document.getElementById("live-status");
  var soundButton = document.getElementById("sound-toggle");
  var SOUND_KEY = "healthbot.sound";
  var POLL_MS = 5000;
  var REFRESH_MS = 60000;
  var cursor = null;
  var pollTimer = null;
  var refreshTimer = null;
  var live = window.healthbotLive = { mode: "starting", cursor: null, refreshes: 0 };

  function setStatus(mode, text) {
    live.mode = mode;
    if (statusEl) { statusEl.textContent = text; }
  }

  function stored(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function store(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode: not kept */ }
  }

  /* --- sound: off unless this browser turned it on ------------------------------------------ */
  var soundOn = stored(SOUND_KEY) === "on";
  var audio = null;

  function beep() {
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) { return; }
      audio = audio || new Context();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.15;
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.4);
    } catch (e) { /* no audio device */ }
  }

  function showSound() {
    if (!soundButton) { return; }
    soundButton.textContent = soundOn ? "Sound on" : "Sound off";
    soundButton.setAttribute("aria-pressed", soundOn ? "true" : "false");
  }

  if (soundButton) {
    soundButton.addEventListener("click", function () {
      soundOn = !soundOn;
      store(SOUND_KEY, soundOn ? "on" : "off");
      if (soundOn) { beep(); }  // a click lets the browser start audio, and the user hears it
      showSound();
    });
  }
  showSound();

  /* --- the tab title carries the open emergencies ---------------------------------------------- */
  function summary(data) {
    var n = (data && data.open_emergencies) || 0;
    body.setAttribute("data-open-emergencies", String(n));
    document.title = (n ? "(" + n + " emergenc" + (n === 1 ? "y" : "ies") + ") " : "") + baseTitle;
  }

  /* --- re-read the live regions from the server -------------------------------------------- */
  function regions() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  }

  function busy(region) {
    // Never pull a form from under someone choosing an outcome or typing.
    var active = document.activeElement;
    if (active && active !== body && region.contains(active) &&
        /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) { return true; }
    return region.querySelector("details.resolve[open]") !== null;
  }

  function refresh() {
    refreshTimer = null;
    var targets = regions();
    if (!targets.length) { return; }
    if (targets.some(busy)) { schedule(3000); return; }
    var url = targets[0].getAttribute("data-live-url") || window.location.pathname + window.location.search;
    window.fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/admin/login") >= 0) {
          window.location.reload();  // the session ended: show the sign-in page
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        regions().forEach(function (region) {
          var replacement = region.id && fresh.getElementById(region.id);
          if (replacement && !busy(region)) { region.replaceWith(document.importNode(replacement, true)); }
        });
        live.refreshes += 1;
        body.setAttribute("data-refreshes", String(live.refreshes));
      })
      .catch(function () { /* the next event or the minute tick tries again */ });
  }

  function schedule(delay) {
    if (refreshTimer === null) { refreshTimer = window.setTimeout(refresh, delay); }
  }

  function concerns(contactId) {
    return regions().some(function (region) {
      var only = region.getAttribute("data-live-contact");
      return !only || contactId === null || contactId === undefined || String(contactId) === only;
    });
  }

  function handle(kind, data) {
    if (kind === "summary") { summary(data); return; }
    if (kind === "escalation" && soundOn && (data.kind === "emergency" || data.kind === "self_harm")) {
      beep();
    }
    if (concerns(data.contact_id)) { schedule(250); }
  }

  /* --- server-sent events, or polling ----------------------------------------------------------- */
  function poll() {
    var url = eventsUrl + (cursor ? "?after=" + encodeURIComponent(cursor) : "");
    window.fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/admin/login") >= 0) {
          window.location.reload();
          return null;
        }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        if (!data) { return; }
        var first = cursor === null;
        cursor = live.cursor = data.last_event_id;
        if (!first) { data.items.forEach(function (item) { handle(item.event, item.data); }); }
        summary(data.summary);
        setStatus("polling", "updates every 5 s");
      })
      .catch(function () { setStatus("offline", "offline: retrying"); });
  }

  function startPolling() {
    if (pollTimer !== null) { return; }
    poll();
    pollTimer = window.setInterval(poll, POLL_MS);
  }

  function connect() {
    if (!window.EventSource) { startPolling(); return; }
    var source = new window.EventSource(eventsUrl);
    ["message", "escalation", "case", "summary"].forEach(function (kind) {
      source.addEventListener(kind, function (event) {
        cursor = live.cursor = event.lastEventId || cursor;
        var data = null;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        handle(kind, data);
      });
    });
    source.onopen = function () { setStatus("sse", "live"); };
    source.onerror = function () {
      // CONNECTING: the stream ended on time and EventSource reconnects with Last-Event-ID.
      // CLOSED: refused (busy, signed out, a proxy in the way): fall back to polling.
      if (source.readyState === window.EventSource.CLOSED) {
        source.close();
        startPolling();
      } else {
        setStatus("sse", "reconnecting…");
      }
    };
  }

  connect();
  window.setInterval(function () { schedule(0); }, REFRESH_MS);

  /* --- filters: folded on a phone, open on a wide screen ------------------------------------------ */
  if (window.matchMedia && window.matchMedia("(min-width: 48rem)").matches) {
    Array.prototype.forEach.call(document.querySelectorAll("details.fold"), function (d) { d.open = true; });
  }

  /* --- the reply box: quick replies, and a draft that survives a refused send --------------- */
  var box = document.getElementById("reply-body");
  var form = document.getElementById("reply-form");
  if (box && form) {
    var draftKey = "healthbot.draft." + form.getAttribute("data-contact");
    var saved = null;
    try { saved = window.sessionStorage.getItem(draftKey); } catch (e) { saved = null; }
    if (!box.value && saved) { box.value = saved; }
    box.addEventListener("input", function () {
      try { window.sessionStorage.setItem(draftKey, box.value); } catch (e) { /* not kept */ }
    });
    form.addEventListener("submit", function () {
      // The server puts a refused reply back in the box; a sent one needs no draft.
      try { window.sessionStorage.removeItem(draftKey); } catch (e) { /* nothing kept */ }
    });
    if (document.getElementById("reply-error")) { box.focus(); }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.quick-reply");
    if (!button || !box) { return; }
    var text = button.getAttribute("data-text") || "";
    var start = box.selectionStart || 0;
    var end = box.selectionEnd || 0;
    var before = box.value.slice(0, start);
    var spacer = before && !/\s$/.test(before) ? " " : "";
    box.value = before + spacer + text + box.value.slice(end);
    box.focus();
    box.selectionStart = box.selectionEnd = (before + spacer + text).length;
    box.dispatchEvent(new Event("input"));
  });
}());
