/* calmopsd dashboard: progressive enhancement only. Every page works without this file.
 * - times in the viewer's zone (the UTC time stays in the title, shown on hover);
 * - "Approve…" and "Reject…" open the confirmation as a modal dialog instead of a page;
 * - pages marked data-refresh reload their main content every N seconds, but never
 *   while a dialog is open or a form field has focus.
 * Vendored, no build step, no dependencies, nothing loaded from elsewhere. */
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (!isNaN(at.getTime())) {
        el.textContent = at.toLocaleString(undefined, {
          year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
        });
      }
    });
  }

  function dialogs(root) {
    root.querySelectorAll("a[data-dialog]").forEach(function (link) {
      var dialog = document.getElementById("dialog-" + link.getAttribute("data-dialog"));
      if (!dialog || typeof dialog.showModal !== "function") {
        return; // no dialog support: the link opens the confirmation page
      }
      link.addEventListener("click", function (event) {
        event.preventDefault();
        dialog.showModal();
        var first = dialog.querySelector("textarea, button[type=submit]");
        if (first) { first.focus(); }
      });
      dialog.querySelectorAll("button.close").forEach(function (button) {
        button.addEventListener("click", function () { dialog.close("cancel"); });
      });
      dialog.addEventListener("close", function () { link.focus(); });
    });
  }

  function busy() {
    if (document.querySelector("dialog[open]")) { return true; }
    var active = document.activeElement;
    return !!active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }

  function refresh(seconds) {
    window.setInterval(function () {
      if (busy() || document.hidden) { return; }
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (!response.ok || response.redirected) { throw new Error("not refreshed"); }
          return response.text();
        })
        .then(function (html) {
          if (busy()) { return; }
          var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
          var main = document.querySelector("main");
          if (next && main) {
            main.innerHTML = next.innerHTML;
            enhance(main);
            var said = document.getElementById("refreshed");
            if (said) { said.textContent = "Updated " + new Date().toLocaleTimeString(); }
          }
        })
        .catch(function () { /* keep the page as it is; the next round tries again */ });
    }, seconds * 1000);
  }

  function enhance(root) {
    localTimes(root);
    dialogs(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    var every = parseInt(document.body.getAttribute("data-refresh") || "", 10);
    if (every > 0) { refresh(every); }
  });
})();
