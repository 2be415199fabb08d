// tune serve: live updates without a reload. Polls /mark (a few counts) every 2 s; when it
// differs from the mark the page was rendered with, fetches the same URL again and swaps in its
// <main>, keeping what the reader is doing: no swap while a form field has the focus (it comes
// at the next poll after), typed text and open <details> carried over. No other network access;
// works offline.
(function () {
  "use strict";
  var mark = document.body.getAttribute("data-mark");
  var live = document.getElementById("live");
  var busy = false;
  if (!mark) { return; } // error pages do not update
  function typing(main) {
    var f = document.activeElement;
    return f && main.contains(f) && /^(INPUT|TEXTAREA|SELECT)$/.test(f.tagName);
  }
  function summary(d) {
    var s = d.querySelector("summary");
    return s ? s.textContent : "";
  }
  // Carries the reader's state from the old <main> to the fresh one.
  function carry(old, fresh) {
    var open = {};
    old.querySelectorAll("details").forEach(function (d) { if (d.open) { open[summary(d)] = true; } });
    fresh.querySelectorAll("details").forEach(function (d) { if (open[summary(d)]) { d.open = true; } });
    old.querySelectorAll("input[name]").forEach(function (i) {
      if (i.type === "hidden" || i.value === i.defaultValue) { return; }
      var twin = fresh.querySelector("input[name='" + i.name + "']:not([type=hidden])");
      if (twin) { twin.value = i.value; }
    });
  }
  function poll() {
    if (busy) { return; }
    busy = true;
    fetch("/mark", { cache: "no-store" })
      .then(function (r) { return r.text(); })
      .then(function (m) {
        m = m.trim();
        if (m === mark || typing(document.querySelector("main"))) { return null; }
        return fetch(location.href, { cache: "no-store" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var fresh = doc.querySelector("main");
            var old = document.querySelector("main");
            if (!fresh || !old || typing(old)) { return; }
            carry(old, fresh);
            old.replaceWith(fresh);
            mark = m;
            document.body.setAttribute("data-mark", m);
          });
      })
      .then(function () { if (live) { live.className = "live on"; } })
      .catch(function () { if (live) { live.className = "live off"; } })
      .then(function () { busy = false; });
  }
  setInterval(poll, 2000);
})();
