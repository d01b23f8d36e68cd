// assetreg pages: the only script. Fills [data-fragment] boxes with server-rendered HTML after the page
// has shown (figures that take a while to compute), leaving the link inside them for when this fails.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-fragment]").forEach(function (box) {
    fetch(box.getAttribute("data-fragment"), {credentials: "same-origin", headers: csrfHeaders({"Accept": "text/html"})})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
      .then(function (html) { box.innerHTML = html; box.setAttribute("data-loaded", "1"); })
      .catch(function () {
        box.innerHTML = '<p class="muted">预警统计暂不可用，请<a href="/flags">查看预警页面</a>。</p>';
        box.setAttribute("data-loaded", "0");
      });
  });
});
