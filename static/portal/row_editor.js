/* JSON fields edited as rows (sync/row_editors.py): add and remove rows, and switch between the rows and
   the JSON text, carrying what was typed across (the same reading as the server's). Without this script
   both show, with one blank row, and the "Edit as" switch says which is saved. */
(function () {
  function readsAsJson(text) {
    try {
      JSON.parse(text.trim());
      return true;
    } catch (error) {
      return false;
    }
  }

  function cellValue(text, op, listOp) {
    var stripped = text.trim();
    var value = stripped;
    if (stripped) {
      try {
        value = JSON.parse(stripped);
      } catch (error) {
        value = stripped;
      }
    }
    if (listOp && op === listOp && !Array.isArray(value)) {
      return text.split(",").filter(function (item) { return item.trim(); }).map(function (item) {
        return cellValue(item);
      });
    }
    return value;
  }

  function cellText(value, op, listOp) {
    if (typeof value === "string" && value && value === value.trim() && !readsAsJson(value)) return value;
    if (listOp && op === listOp && Array.isArray(value) && value.length) {
      var plain = value.every(function (item) {
        return typeof item === "string" && item.indexOf(",") < 0 && cellText(item) === item;
      });
      if (plain) return value.join(", ");
    }
    return JSON.stringify(value === undefined ? null : value);
  }

  function settings(editor) {
    return {
      list: editor.getAttribute("data-shape") === "list",
      unary: JSON.parse(editor.getAttribute("data-unary-ops") || "[]"),
      listOp: editor.getAttribute("data-list-op") || "",
    };
  }

  function cellsOf(row) {
    var cells = {};
    row.querySelectorAll("[data-key]").forEach(function (input) {
      cells[input.getAttribute("data-key")] = input.value;
    });
    return cells;
  }

  function valueOfRows(editor) {
    var shape = settings(editor);
    var value = shape.list ? [] : {};
    editor.querySelectorAll("tr[data-row]").forEach(function (row) {
      var cells = cellsOf(row);
      var filled = Object.keys(cells).some(function (key) { return cells[key].trim(); });
      if (!filled) return;
      if (!shape.list) {
        value[cells.key.trim()] = cellValue(cells.value);
        return;
      }
      var rule = {};
      if (cells.name.trim()) rule.name = cells.name.trim();
      rule.field = cells.field.trim();
      rule.op = cells.op;
      if (shape.unary.indexOf(cells.op) < 0 && cells.value.trim()) {
        rule.value = cellValue(cells.value, cells.op, shape.listOp);
      }
      value.push(rule);
    });
    return value;
  }

  // The cells of each row standing for value; null when rows cannot show it.
  function rowsOf(editor, value) {
    var shape = settings(editor);
    if (value === null) return [];
    if (!shape.list) {
      if (typeof value !== "object" || Array.isArray(value)) return null;
      return Object.keys(value).map(function (key) { return { key: key, value: cellText(value[key]) }; });
    }
    if (!Array.isArray(value)) return null;
    var ops = Array.prototype.map.call(editor.querySelector("select[data-key=op]").options, function (option) {
      return option.value;
    });
    var rows = [];
    for (var index = 0; index < value.length; index++) {
      var rule = value[index];
      if (!rule || typeof rule !== "object" || Array.isArray(rule)) return null;
      var known = Object.keys(rule).every(function (key) { return ["name", "field", "op", "value"].indexOf(key) >= 0; });
      var texts = ["name", "field", "op"].every(function (key) {
        return rule[key] === undefined || typeof rule[key] === "string";
      });
      if (!known || !texts || !rule.op || ops.indexOf(rule.op) < 0) return null;
      var unaryWithout = shape.unary.indexOf(rule.op) >= 0 && !("value" in rule);
      rows.push({
        name: rule.name || "",
        field: rule.field || "",
        op: rule.op,
        value: unaryWithout ? "" : cellText(rule.value, rule.op, shape.listOp),
      });
    }
    return rows;
  }

  function clearRow(row) {
    row.querySelectorAll("[data-key]").forEach(function (input) {
      if (input.tagName === "SELECT") input.selectedIndex = 0;
      else input.value = "";
    });
  }

  function fillRows(editor, rows) {
    var body = editor.querySelector("tbody");
    var model = body.querySelector("tr[data-row]");
    body.querySelectorAll("tr[data-row]").forEach(function (row) {
      if (row !== model) row.remove();
    });
    clearRow(model);
    rows.concat([{}]).forEach(function (cells, index) {
      var row = index === 0 ? model : model.cloneNode(true);
      clearRow(row);
      row.querySelectorAll("[data-key]").forEach(function (input) {
        var key = input.getAttribute("data-key");
        if (cells[key] !== undefined) input.value = cells[key];
      });
      if (index > 0) body.appendChild(row);
    });
    followOperators(editor);
  }

  function followOperators(editor) {
    var unary = settings(editor).unary;
    editor.querySelectorAll("tr[data-row]").forEach(function (row) {
      var op = row.querySelector("select[data-key=op]");
      var value = row.querySelector("[data-key=value]");
      if (op && value) value.hidden = unary.indexOf(op.value) >= 0;
    });
  }

  function show(editor, mode) {
    editor.querySelectorAll("[data-pane]").forEach(function (pane) {
      pane.classList.toggle("portal-shown", pane.getAttribute("data-pane") === mode);
    });
  }

  function problem(editor, text) {
    var note = editor.querySelector("[data-problem]");
    note.textContent = text || "";
    note.hidden = !text;
  }

  function switchTo(editor, radio) {
    var textarea = editor.querySelector("[data-pane=json] textarea");
    problem(editor, "");
    if (radio.value === "json") {
      textarea.value = JSON.stringify(valueOfRows(editor), null, 2);
      show(editor, "json");
      return;
    }
    var rows = null;
    try {
      rows = rowsOf(editor, textarea.value.trim() ? JSON.parse(textarea.value) : null);
    } catch (error) {
      rows = null;
    }
    if (rows === null) {
      problem(editor, editor.getAttribute("data-cannot-show"));
      editor.querySelector('input[type=radio][value="json"]').checked = true;
      return;
    }
    fillRows(editor, rows);
    show(editor, "rows");
  }

  function start(editor) {
    if (editor.hasAttribute("data-js")) return;
    editor.setAttribute("data-js", "");
    editor.querySelectorAll("[data-add-row], [data-remove-row]").forEach(function (button) {
      button.hidden = false;
    });
    var chosen = editor.querySelector("input[type=radio]:checked");
    show(editor, chosen ? chosen.value : "rows");
    followOperators(editor);
  }

  function startAll(root) {
    (root || document).querySelectorAll("[data-rows-editor]").forEach(function (editor) {
      // An inline's empty form is a model for the rows Django adds: they start when added.
      if (!editor.closest(".empty-form")) start(editor);
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-add-row], [data-remove-row]");
    if (!button) return;
    var editor = button.closest("[data-rows-editor]");
    var body = editor.querySelector("tbody");
    if (button.hasAttribute("data-add-row")) {
      var row = body.querySelector("tr[data-row]").cloneNode(true);
      clearRow(row);
      body.appendChild(row);
      followOperators(editor);
      row.querySelector("[data-key]").focus();
      return;
    }
    var current = button.closest("tr[data-row]");
    if (body.querySelectorAll("tr[data-row]").length > 1) current.remove();
    else clearRow(current);
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    var editor = target.closest && target.closest("[data-rows-editor]");
    if (!editor) return;
    if (target.type === "radio") switchTo(editor, target);
    else if (target.getAttribute("data-key") === "op") followOperators(editor);
  });

  document.addEventListener("formset:added", function (event) {
    startAll(event.target);
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { startAll(); });
  else startAll();
})();
