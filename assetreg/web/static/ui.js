// Small behaviours any page may use, declared with data attributes instead of inline handlers: the
// Content-Security-Policy lets the browser run the app's own script files only.

// Headers for every fetch() the pages make with the session cookie: the page's CSRF token (from
// <meta name="csrf-token">), which the API demands of any write signed in by the cookie (web/auth.py).
// Loaded first (deferred, in order) by base.html, so the other scripts may call it.
window.csrfHeaders = function (extra) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  var headers = {"X-CSRFToken": meta ? meta.getAttribute("content") : ""};
  Object.keys(extra || {}).forEach(function (k) { headers[k] = extra[k]; });
  return headers;
};

document.addEventListener("click", function (event) {
  var target = event.target instanceof Element ? event.target : null;
  if (!target) return;
  if (target.closest("[data-back]") && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  } else if (target.closest("[data-print]")) {
    event.preventDefault();
    window.print();
  }
});
