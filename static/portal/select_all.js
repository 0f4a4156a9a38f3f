/* Select-all checkboxes (data-select-all="group" ticks every box with that word in data-group) and
   confirmations (button[data-confirm]) on the review queue and the held deletes. */
(function () {
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-select-all]")) return;
    var group = box.getAttribute("data-select-all");
    document.querySelectorAll('input[type="checkbox"][data-group~="' + group + '"]').forEach(function (other) {
      other.checked = box.checked;
    });
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-confirm]") : null;
    if (!button) return;
    var form = button.form;
    var ticked = form ? form.querySelectorAll('input[name="selected"]:checked').length : 0;
    if (!ticked) return;
    if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
  });
})();
