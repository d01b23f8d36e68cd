// Small behaviours any page may use, declared with data attributes instead of inline handlers: the
// Content-Security-Policy lets the browser run the app's own script files only.
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
