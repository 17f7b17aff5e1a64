// Forms that change something (those carrying the one-time _once token) submit once: on
// submit, every submit button of the form is disabled and the pressed one says "Working…" until the next page arrives. The
// server refuses a repeated form anyway (layers_ops/staff/once.py); this keeps a second
// click from being sent at all. A page restored by Back is usable again.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.querySelector("input[name=_once]")) return;
    if (form.dataset.submitting === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.submitting = "1";
    var pressed = event.submitter;  // posted with the form: disabled only after
    setTimeout(function () {
      form.querySelectorAll("input[type=submit], button[type=submit], button:not([type])").forEach(
        function (button) {
          button.disabled = true;
          button.dataset.onceLabel = button.tagName === "INPUT" ? button.value : button.textContent;
          if (button === pressed) {
            if (button.tagName === "INPUT") button.value = "Working…";
            else button.textContent = "Working…";
          }
        }
      );
    }, 0);
  });
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-submitting='1']").forEach(function (form) {
      form.dataset.submitting = "";
      form.querySelectorAll("[data-once-label]").forEach(function (button) {
        button.disabled = false;
        if (button.tagName === "INPUT") button.value = button.dataset.onceLabel;
        else button.textContent = button.dataset.onceLabel;
      });
    });
  });
})();
