// The export job page: asks the job's status.json every few seconds and moves the progress bar; when the
// job has finished, reloads the page (the server shows the download link or the error). Without
// JavaScript the page refreshes itself (<noscript> meta refresh) and has a reload link.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var every = Math.max(1, parseInt(box.getAttribute("data-poll"), 10) || 2) * 1000;
  var failures = 0;

  function fmt(n) { return (n || 0).toLocaleString("zh-CN"); }

  function show(s) {
    var bar = document.getElementById("job-progress");
    var pct = document.getElementById("job-percent");
    var status = document.getElementById("job-status");
    var rows = document.getElementById("job-rows");
    if (bar) { bar.value = s.progress; bar.textContent = s.progress + "%"; }
    if (pct) { pct.textContent = s.progress + "%"; }
    if (status) { status.textContent = s.status_label; }
    if (rows) {
      rows.textContent = s.total_rows ? "（已写 " + fmt(s.rows_written) + " / " + fmt(s.total_rows) + " 行）"
        : (s.rows_written ? "（已写 " + fmt(s.rows_written) + " 行）" : "");
    }
    box.setAttribute("data-status", s.status);
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: csrfHeaders({"Accept": "application/json"}), cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (s) {
        failures = 0;
        show(s);
        if (s.finished) { window.location.reload(); return; }
        window.setTimeout(poll, every);
      })
      .catch(function () {
        failures += 1;  // keep trying, slower; the reload link stays for the person to use
        if (failures < 20) { window.setTimeout(poll, every * Math.min(failures + 1, 5)); }
      });
  }

  window.setTimeout(poll, every);
})();
