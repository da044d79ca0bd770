// gatehouse: small progressive enhancements; every page works without them.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: <button data-copy="#id">Copy</button>
  for (const btn of document.querySelectorAll("button[data-copy]")) {
    btn.addEventListener("click", async () => {
      const el = document.querySelector(btn.dataset.copy);
      if (!el) return;
      try {
        await navigator.clipboard.writeText(el.textContent.trim());
        btn.textContent = "Copied";
      } catch (e) {
        const range = document.createRange();
        range.selectNodeContents(el);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
    });
  }
  // Confirmations: <form data-confirm="Delete this token?">
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  }
});
// Access token form. Each "Add" button also works without JavaScript: it
// posts the form back and the page returns with one more input.
document.addEventListener("DOMContentLoaded", () => {
  // <button data-add-row="#list">: copy the list's last [data-row], emptied.
  for (const btn of document.querySelectorAll("button[data-add-row]")) {
    btn.addEventListener("click", (ev) => {
      const list = document.querySelector(btn.dataset.addRow);
      const rows = list ? list.querySelectorAll("[data-row]") : [];
      if (rows.length === 0) return;
      ev.preventDefault();
      const n = rows.length;
      const row = rows[n - 1].cloneNode(true);
      for (const el of row.querySelectorAll("[id]")) el.id = el.id.replace(/\d+$/, String(n));
      for (const label of row.querySelectorAll("label")) {
        label.htmlFor = label.htmlFor.replace(/\d+$/, String(n));
        label.textContent = label.textContent.replace(/\d+$/, String(n + 1));
      }
      const input = row.querySelector("input");
      if (input) input.value = "";
      list.appendChild(row);
      if (input) input.focus();
    });
  }
  // <button data-pick="#input" data-pick-into="#textarea" data-pick-check="#radio">:
  // add the input's value to the textarea's lines and check the radio.
  for (const btn of document.querySelectorAll("button[data-pick]")) {
    btn.addEventListener("click", (ev) => {
      const from = document.querySelector(btn.dataset.pick);
      const into = document.querySelector(btn.dataset.pickInto);
      if (!from || !into) return;
      ev.preventDefault();
      const value = from.value.trim();
      if (value) {
        const lines = into.value.split(/[\s,]+/).filter(Boolean);
        if (!lines.includes(value)) lines.push(value);
        into.value = lines.join("\n");
        const check = btn.dataset.pickCheck && document.querySelector(btn.dataset.pickCheck);
        if (check) check.checked = true;
      }
      from.value = "";
      from.focus();
    });
  }
  // <select data-show="#el" data-show-when="value">: show #el only for that value.
  for (const sel of document.querySelectorAll("select[data-show]")) {
    const target = document.querySelector(sel.dataset.show);
    if (!target) continue;
    const update = () => { target.hidden = sel.value !== sel.dataset.showWhen; };
    sel.addEventListener("change", update);
    update();
  }
});
