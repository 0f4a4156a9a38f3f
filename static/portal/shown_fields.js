/* Fields that follow a select (select[data-shows]): only those of the chosen value show, and a fieldset
   whose rows are all hidden hides too. A select with data-options-follow offers only the options its
   data-options lists for the other select's value (the chosen one always stays). Without this script
   every field shows and the server blanks those that do not apply. */
(function () {
  function rowOf(form, name) {
    return form.querySelector(".fieldBox.field-" + name) || form.querySelector(".form-row.field-" + name);
  }

  function fieldsetsOf(rows) {
    var found = [];
    rows.forEach(function (row) {
      var fieldset = row.closest("fieldset");
      if (fieldset && found.indexOf(fieldset) < 0) found.push(fieldset);
    });
    return found;
  }

  function showRows(select) {
    var shows = JSON.parse(select.getAttribute("data-shows"));
    var rows = [];
    Object.keys(shows).forEach(function (name) {
      var row = rowOf(select.form, name);
      if (!row) return;
      row.hidden = shows[name].indexOf(select.value) < 0;
      rows.push(row);
    });
    fieldsetsOf(rows).forEach(function (fieldset) {
      var all = fieldset.querySelectorAll(".form-row");
      var hidden = fieldset.querySelectorAll(".form-row[hidden]");
      fieldset.hidden = all.length > 0 && all.length === hidden.length;
    });
  }

  function offerOptions(select) {
    var control = select.form.elements[select.getAttribute("data-options-follow")];
    if (!control) return;
    var allowed = JSON.parse(select.getAttribute("data-options"))[control.value];
    Array.prototype.forEach.call(select.options, function (option) {
      var offered = !allowed || allowed.indexOf(option.value) >= 0 || option.value === select.value;
      option.hidden = !offered;
      option.disabled = !offered;
    });
  }

  function refresh(form) {
    form.querySelectorAll("select[data-options-follow]").forEach(offerOptions);
    form.querySelectorAll("select[data-shows]").forEach(showRows);
  }

  function start() {
    document.querySelectorAll("select[data-shows]").forEach(function (select) {
      if (select.form) refresh(select.form);
    });
    document.addEventListener("change", function (event) {
      var target = event.target;
      if (target.form && target.matches && target.matches("select")) refresh(target.form);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
