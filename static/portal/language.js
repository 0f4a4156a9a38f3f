/* The language chooser in the header: choosing a language applies it (no inline handler: the CSP allows none). */
document.addEventListener("change", function (event) {
  var select = event.target;
  if (select.matches && select.matches("select[data-submit-on-change]") && select.form) {
    select.form.submit();
  }
});
