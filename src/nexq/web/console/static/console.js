// Progressive enhancement for the Nexq console: copy buttons, confirmation dialogs, the
// Bucket Access switch and "select all". Every page works without this file: forms post as
// they are, and the server asks for confirmation itself when no dialog did.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function announce(text) {
    const live = document.getElementById("live");
    if (live) live.textContent = text;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain HTTP on a LAN is not a secure context, so there is no clipboard API there.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function relabel(button, text) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = button.dataset.label; }, 2000);
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const text = source.tagName === "INPUT" ? source.value : source.textContent;
    copyText(text).then(
      function () { relabel(button, "Copied"); announce("Copied to the clipboard."); },
      function () {
        if (source.select) source.select();
        relabel(button, "Press Ctrl+C");
      }
    );
  });

  // Forms marked data-confirm ask first in a dialog; the answer travels as confirm=yes.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
    const answer = form.querySelector('input[name="confirm"]');
    const dialog = document.getElementById("confirm-dialog");
    if (!answer || answer.value === "yes" || !dialog || !dialog.showModal) return;
    // Nothing selected: no question to ask; the server says what to do.
    const submitter = event.submitter || null;
    if (form.hasAttribute("data-needs-selection") && !(submitter && submitter.value) &&
        !form.querySelector('input[name="key"]:checked')) return;
    event.preventDefault();
    const source = submitter && submitter.dataset.confirm ? submitter : form;
    const ok = document.getElementById("confirm-ok");
    document.getElementById("confirm-message").textContent = source.dataset.confirm;
    ok.textContent = source.dataset.confirmButton || form.dataset.confirmButton || "Confirm";
    ok.className = "btn btn-" + (source.dataset.confirmStyle || form.dataset.confirmStyle || "danger");
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue !== "ok") return;
      answer.value = "yes";
      form.requestSubmit(submitter);
    };
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });

  // Bucket Access: the bucket list matters only for Specific Buckets.
  const specific = document.getElementById("specific-buckets");
  if (specific) {
    const radios = document.querySelectorAll('input[name="bucket_access"]');
    const sync = function () {
      const chosen = document.getElementById("access-specific").checked;
      specific.hidden = !chosen;
      specific.querySelector("select").disabled = !chosen;
    };
    radios.forEach(function (radio) { radio.addEventListener("change", sync); });
    sync();
  }

  document.addEventListener("change", function (event) {
    const all = event.target.closest("[data-select-all]");
    if (!all || !all.form) return;
    all.form.querySelectorAll('input[type="checkbox"][name="key"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });
})();
