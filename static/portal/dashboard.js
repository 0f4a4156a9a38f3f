/* The dashboard refreshes itself in place: no reload, no library, no network beyond the portal.
 *
 * Every few seconds (data-refresh-seconds) it asks data-refresh-url for the rows that changed, telling
 * the server which rows it holds (each row's data-digest): the server renders the rows as the page
 * does and sends back only those whose content changed, with the summary line and the workers'
 * banner — a few hundred bytes when nothing changed. Each changed row replaces the one with the
 * same data-integration, unless the person is using it (an acknowledge form open). It pauses while
 * the tab is hidden, and says status changes in a polite live region.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-dashboard]");
  if (!root || !window.fetch) {
    return;
  }
  var url = root.getAttribute("data-refresh-url");
  var interval = Math.max(1, Number(root.getAttribute("data-refresh-seconds")) || 3) * 1000;
  var timer = null;
  var controller = null;
  var stopped = false;

  function field(scope, name) {
    return scope.querySelector('[data-field="' + name + '"]');
  }

  function setText(element, text) {
    if (element && element.textContent !== text) {
      element.textContent = text;
    }
  }

  function setHtml(element, html) {
    // Only for fragments the server built and escaped (the summary line).
    if (element && element.innerHTML !== html) {
      element.innerHTML = html;
    }
  }

  function setAttr(element, name, value) {
    if (!element) {
      return;
    }
    if (value === null || value === undefined || value === "") {
      element.removeAttribute(name);
    } else if (element.getAttribute(name) !== String(value)) {
      element.setAttribute(name, value);
    }
  }

  function notice(text) {
    var box = field(root, "notice");
    if (!box) {
      return;
    }
    box.textContent = text || "";
    box.hidden = !text;
  }

  function announce(messages) {
    var region = field(root, "announcer");
    if (!region || !messages.length) {
      return;
    }
    // Emptied first, so that the same words said twice are announced twice.
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = messages.join(". ");
    }, 100);
  }

  function knownRows() {
    // What the page holds, so that the server sends only the rows that changed.
    var pairs = [];
    root.querySelectorAll("tr[data-integration][data-digest]").forEach(function (row) {
      pairs.push(row.getAttribute("data-integration") + ":" + row.getAttribute("data-digest"));
    });
    return pairs.join(",");
  }

  function inUse(row) {
    // A row whose acknowledge form is open keeps its note; its old digest brings it back at a later poll.
    return Boolean(row.querySelector("details[open]"));
  }

  function statusWords(row) {
    var name = field(row, "name");
    var status = field(row, "status");
    return (name ? name.textContent.trim() : "") + ": " + (status ? status.textContent.trim() : "");
  }

  function apply(poll) {
    var workers = field(root, "workers");
    var workersPart = poll.querySelector('[data-part="workers"]');
    if (workers && workersPart) {
      setText(workers, workersPart.textContent);
      workers.hidden = workersPart.hidden;
    }
    var summaryPart = poll.querySelector('[data-part="summary"]');
    if (summaryPart) {
      setHtml(field(root, "summary"), summaryPart.innerHTML);
    }
    var generated = field(root, "generated-at");
    setText(generated, poll.getAttribute("data-generated-at-text"));
    setAttr(generated, "datetime", poll.getAttribute("data-generated-at"));

    var messages = [];
    poll.querySelectorAll("tr[data-integration]").forEach(function (fresh) {
      var id = String(Number(fresh.getAttribute("data-integration")));
      var row = root.querySelector('tr[data-integration="' + id + '"]');
      if (!row || inUse(row)) {
        return;
      }
      var before = row.getAttribute("data-status");
      var imported = document.importNode(fresh, true);
      row.replaceWith(imported);
      if (before !== imported.getAttribute("data-status")) {
        messages.push(statusWords(imported));
      }
    });

    var seen = {};
    (poll.getAttribute("data-ids") || "").split(",").forEach(function (id) {
      if (id) {
        seen[id] = true;
      }
    });
    var changed = false;
    root.querySelectorAll("tr[data-integration]").forEach(function (row) {
      if (!seen[row.getAttribute("data-integration")]) {
        changed = true;
        row.classList.add("dash-row-gone");
      }
    });
    Object.keys(seen).forEach(function (id) {
      if (!root.querySelector('tr[data-integration="' + id + '"]')) {
        changed = true;
      }
    });
    notice(changed ? root.getAttribute("data-text-changed") : "");
    announce(messages);
  }

  function stop(message) {
    stopped = true;
    window.clearTimeout(timer);
    root.classList.add("dash-stale");
    notice(message);
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!stopped && document.visibilityState === "visible") {
      timer = window.setTimeout(refresh, interval);
    }
  }

  function refresh() {
    if (stopped || document.visibilityState !== "visible") {
      return;
    }
    if (controller) {
      controller.abort();
    }
    controller = window.AbortController ? new AbortController() : null;
    fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "text/html", "X-Dashboard-Rows": knownRows() },
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          // The session ended (the admin sent the login page): stop asking.
          stop(root.getAttribute("data-text-signed-out"));
          return null;
        }
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.text();
      })
      .then(function (text) {
        if (text === null) {
          return;
        }
        var holder = document.createElement("template");
        holder.innerHTML = text;
        var poll = holder.content.querySelector("[data-poll]");
        if (!poll) {
          // Not the dashboard's answer (a login page, after a redirect the browser hid): stop asking.
          stop(root.getAttribute("data-text-signed-out"));
          return;
        }
        root.classList.remove("dash-stale");
        apply(poll);
      })
      .catch(function (error) {
        if (error && error.name === "AbortError") {
          return;
        }
        root.classList.add("dash-stale");
        notice(root.getAttribute("data-text-failed"));
      })
      .then(schedule, schedule);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      refresh(); // catch up at once, then every few seconds again
    } else {
      window.clearTimeout(timer);
      if (controller) {
        controller.abort();
      }
    }
  });

  schedule();
})();
