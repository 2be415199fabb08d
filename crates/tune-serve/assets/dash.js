// tune serve: live updates without a reload. Polls /mark (a few counts) every 2 s; when it
// differs from the mark the page was rendered with, fetches the same URL again and swaps in its
// <main>. No other network access; works offline.
(function () {
  "use strict";
  var mark = document.body.getAttribute("data-mark");
  var live = document.getElementById("live");
  var busy = false;
  if (!mark) { return; } // error pages do not update
  function poll() {
    if (busy) { return; }
    busy = true;
    fetch("/mark", { cache: "no-store" })
      .then(function (r) { return r.text(); })
      .then(function (m) {
        m = m.trim();
        if (m === mark) { return null; }
        return fetch(location.href, { cache: "no-store" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var fresh = doc.querySelector("main");
            var old = document.querySelector("main");
            if (fresh && old) { old.replaceWith(fresh); }
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
