/* The history export form: one box ticks every table. */
(function () {
  // "Select all": progressive enhancement; without JavaScript every box still works on its own.
  var all = document.getElementById("history-all-tables");
  var boxes = document.querySelectorAll('#history-form input[name="tables"]');
  if (!all || !boxes.length) { return; }
  function sync() {
    var checked = Array.prototype.filter.call(boxes, function (box) { return box.checked; }).length;
    all.checked = checked === boxes.length;
    all.indeterminate = checked > 0 && checked < boxes.length;
  }
  all.hidden = false;
  all.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
  });
  boxes.forEach(function (box) { box.addEventListener("change", sync); });
  sync();
})();
