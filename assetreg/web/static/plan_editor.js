// Distribution plan editor (/plans/<id>): live totals of the amount inputs of the forms marked
// data-editor. Amounts are parsed from their text into integer fen ("1,234.56" → 123456) and summed as
// integers, never as floating-point yuan. A form whose figures do not reconcile shows the difference in
// red and keeps its save button disabled; the server checks everything again when it is saved.
(function () {
  "use strict";

  var AMOUNT = /^(\d{1,13})(?:\.(\d{1,2}))?$/;

  // Text → integer fen; null when blank; NaN when not an amount with at most two decimals.
  function parseFen(text) {
    var s = String(text == null ? "" : text).replace(/[,，\s]/g, "");
    if (s === "") { return null; }
    var m = AMOUNT.exec(s);
    if (!m) { return NaN; }
    var cents = ((m[2] || "") + "00").slice(0, 2);
    var fen = parseInt(m[1], 10) * 100 + parseInt(cents, 10);
    return Number.isSafeInteger(fen) ? fen : NaN;
  }

  // Integer fen → "12,345.67" (string arithmetic on the digits, no division of floats).
  function formatFen(fen) {
    var neg = fen < 0;
    var digits = String(Math.abs(fen));
    while (digits.length < 3) { digits = "0" + digits; }
    var yuan = digits.slice(0, -2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + yuan + "." + digits.slice(-2);
  }

  // Sum of integer fen; NaN as soon as the total leaves the range where integers are exact.
  function addFen(a, b) {
    var s = a + b;
    return Number.isSafeInteger(s) ? s : NaN;
  }

  function mark(input, bad) {
    if (!input) { return; }
    input.classList.toggle("mismatch", !!bad);
    if (bad) { input.setAttribute("aria-invalid", "true"); }
    else if (!input.closest(".has-error")) { input.removeAttribute("aria-invalid"); }
  }

  function show(form, ok, text) {
    var out = form.querySelector("[data-totals]");
    if (out) {
      out.textContent = text;
      out.classList.toggle("mismatch", !ok);
      out.classList.toggle("ok", ok);
    }
    form.querySelectorAll("[data-save]").forEach(function (b) { b.disabled = !ok; });
  }

  // The allocation table: every amount valid; an allocation with household lines equal to their total
  // (or blank: the allocation is dropped); the allocations together no more than what is available.
  function allocations(form) {
    var available = parseInt(form.getAttribute("data-available-fen"), 10);
    var total = 0, ok = true, problems = [];
    form.querySelectorAll("tr[data-row]").forEach(function (row) {
      var input = row.querySelector("[data-amount]");
      var fen = parseFen(input.value);
      var bad = false;
      if (fen !== null && (isNaN(fen) || fen <= 0)) {
        bad = true;
        problems.push("金额格式有误");
      } else if (fen !== null) {
        total = addFen(total, fen);
        var lines = row.getAttribute("data-lines-fen");
        if (lines !== null && parseInt(lines, 10) !== fen) {
          bad = true;
          problems.push("“" + row.querySelector("th").textContent + "”与到户明细合计 " +
                        formatFen(parseInt(lines, 10)) + " 元不符");
        }
      }
      mark(input, bad);
      if (bad) { ok = false; }
    });
    if (isNaN(total)) { ok = false; problems.push("合计过大"); }
    else if (total > available) { ok = false; problems.push("超出可分配 " + formatFen(total - available) + " 元"); }
    var text = "分配合计 " + (isNaN(total) ? "—" : formatFen(total)) + " 元，可分配 " + formatFen(available) + " 元";
    if (!isNaN(total) && total <= available) { text += "，未分配 " + formatFen(available - total) + " 元"; }
    show(form, ok, text + (problems.length ? "（" + problems.join("；") + "）" : ""));
  }

  // One purpose's household lines: the rows kept (a household or an amount, not ticked 删除) add up
  // exactly to the allocation amount; a row with months and monthly wage is their product.
  function lines(form) {
    var targetInput = form.querySelector("[data-target]");
    var target = parseFen(targetInput.value);
    var total = 0, count = 0, ok = true, problems = [];
    mark(targetInput, target === null || isNaN(target) || target <= 0);
    if (target === null || isNaN(target) || target <= 0) { ok = false; problems.push("请填写有效的分配额"); }
    form.querySelectorAll("tr[data-line]").forEach(function (row, i) {
      var drop = row.querySelector("[data-drop]");
      var amountInput = row.querySelector("[data-amount]");
      var household = row.querySelector("[data-household]");
      var dropped = drop && drop.checked;
      row.classList.toggle("dropped", !!dropped);
      var fen = parseFen(amountInput.value);
      var used = !dropped && (fen !== null || household.value.trim() !== "");
      var bad = false;
      if (used) {
        count += 1;
        if (fen === null || isNaN(fen) || fen <= 0) {
          bad = true;
          problems.push("第" + (i + 1) + "行金额有误");
        } else {
          total = addFen(total, fen);
          var months = row.querySelector("[data-months]"), wage = row.querySelector("[data-wage]");
          if (months && wage && months.value.trim() !== "" && wage.value.trim() !== "") {
            var n = /^\d{1,2}$/.test(months.value.trim()) ? parseInt(months.value.trim(), 10) : NaN;
            var w = parseFen(wage.value);
            if (isNaN(n) || w === null || isNaN(w) || n * w !== fen) {
              bad = true;
              problems.push("第" + (i + 1) + "行金额应为月数×月工资" +
                            (isNaN(n) || w === null || isNaN(w) ? "" : " = " + formatFen(n * w) + " 元"));
            }
          }
        }
      }
      mark(amountInput, bad);
      if (bad) { ok = false; }
    });
    var text;
    if (count === 0) {
      text = "尚无到户明细（保存后该项为未分配到户）";
    } else {
      text = "到户合计 " + (isNaN(total) ? "—" : formatFen(total)) + " 元（" + count + " 户），分配额 " +
             (target === null || isNaN(target) ? "—" : formatFen(target)) + " 元";
      if (isNaN(total)) { ok = false; problems.push("合计过大"); }
      else if (target !== null && !isNaN(target) && total !== target) {
        ok = false;
        problems.push(total > target ? "多出 " + formatFen(total - target) + " 元" : "还差 " + formatFen(target - total) + " 元");
      }
    }
    show(form, ok, text + (problems.length ? "（" + problems.join("；") + "）" : ""));
  }

  // Another empty row, numbered after the last one (names, ids and labels renumbered).
  function addRow(form) {
    var rows = form.querySelectorAll("tr[data-line]");
    var last = rows[rows.length - 1];
    if (!last) { return; }
    var k = rows.length;
    var row = last.cloneNode(true);
    row.classList.remove("dropped");
    row.querySelectorAll("input, select, textarea, label, p").forEach(function (el) {
      ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
        var v = el.getAttribute(attr);
        if (v) { el.setAttribute(attr, v.replace(/([.-])\d+([.-])/, "$1" + k + "$2")); }
      });
      if (el.tagName === "LABEL") { el.textContent = el.textContent.replace(/第\d+行/, "第" + (k + 1) + "行"); }
      if (el.tagName === "P" && el.classList.contains("field-error")) { el.remove(); return; }
      if (el.type === "checkbox") { el.checked = false; }
      else if (el.tagName !== "LABEL" && el.tagName !== "P") { el.value = ""; }
      el.classList.remove("mismatch");
      el.removeAttribute("aria-invalid");
    });
    row.querySelectorAll(".has-error").forEach(function (f) { f.classList.remove("has-error"); });
    var idx = row.querySelector("[data-index]");
    if (idx) { idx.textContent = String(k + 1); }
    last.parentNode.appendChild(row);
    var first = row.querySelector("[data-household]");
    if (first) { first.focus(); }
  }

  function setup(form) {
    var kind = form.getAttribute("data-editor");
    var update = kind === "lines" ? function () { lines(form); } : function () { allocations(form); };
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    var add = form.querySelector("[data-add-row]");
    if (add) {
      add.hidden = false;
      add.addEventListener("click", function () { addRow(form); update(); });
    }
    form.addEventListener("submit", function (e) {
      update();
      var save = form.querySelector("[data-save]");
      if (save && save.disabled) { e.preventDefault(); }
    });
    update();
  }

  // The fill form: choosing 按档次表 or 按权重 opens the part of the form that method reads.
  function fillForm() {
    var method = document.getElementById("f-method");
    if (!method) { return; }
    method.addEventListener("change", function () {
      document.querySelectorAll("details[data-method]").forEach(function (d) {
        if (d.getAttribute("data-method") === method.value) { d.open = true; }
      });
    });
  }

  if (typeof document !== "undefined") {
    document.addEventListener("DOMContentLoaded", function () {
      document.querySelectorAll("form[data-editor]").forEach(setup);
      fillForm();
    });
  }
  if (typeof module !== "undefined" && module.exports) {
    module.exports = {parseFen: parseFen, formatFen: formatFen, addFen: addFen};
  }
}());
