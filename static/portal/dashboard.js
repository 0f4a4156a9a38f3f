/* The dashboard refreshes itself in place: no reload, no library, no network beyond the portal.
 *
 * Every few seconds (data-refresh-seconds) it fetches the JSON at data-refresh-url and updates each
 * row found by data-integration="pk": text through textContent; the status badge, the trend, the
 * progress and the alerts link through fragments the server built and escaped. It pauses while the
 * tab is hidden, and says status changes in a polite live region.
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
    // Only for fragments the server built and escaped (badge, trend, progress, alerts link).
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

  function updateRow(row, item) {
    var before = row.getAttribute("data-status");
    row.setAttribute("data-status", item.status.value);
    setHtml(field(row, "status"), item.status.html);

    var progress = field(row, "progress");
    if (progress) {
      setHtml(progress, item.progress ? item.progress.html : "");
      progress.hidden = !item.progress;
    }

    var last = field(row, "last-success");
    setText(last, item.last_success.text);
    setAttr(last, "datetime", item.last_success.at);

    var next = field(row, "next-run");
    setText(next, item.next_run.text);
    setAttr(next, "datetime", item.next_run.at);
    setAttr(next, "title", item.next_run.title);

    var average = field(row, "avg-duration");
    setText(average, item.avg_duration.text);
    setAttr(average, "title", item.avg_duration.title);
    var p95 = field(row, "p95");
    if (p95) {
      p95.hidden = item.avg_duration.p95_seconds === null;
    }
    setText(field(row, "p95-duration"), item.avg_duration.p95_text);

    var rate = field(row, "success-rate");
    setText(rate, item.success_rate_7d.text);
    setAttr(rate, "title", item.success_rate_7d.title);

    setHtml(field(row, "trend"), item.trend.html);
    setHtml(field(row, "alerts"), item.open_alerts.html);

    var button = row.querySelector('[data-action="run-now"]');
    if (button && item.run_now) {
      button.disabled = !item.run_now.enabled;
      setAttr(button, "title", item.run_now.reason);
    }
    return before !== item.status.value ? item.name + ": " + item.status.label : null;
  }

  function apply(data) {
    var workers = field(root, "workers");
    if (workers && data.workers) {
      setText(workers, data.workers.text);
      workers.hidden = !data.workers.down;
    }
    var summary = field(root, "summary");
    setHtml(summary, data.summary.html);
    var generated = field(root, "generated-at");
    setText(generated, data.generated_at_text);
    setAttr(generated, "datetime", data.generated_at);

    var seen = {};
    var changed = false;
    var messages = [];
    data.integrations.forEach(function (item) {
      var id = String(Number(item.id));
      seen[id] = true;
      var row = root.querySelector('tr[data-integration="' + id + '"]');
      if (!row) {
        changed = true;
        return;
      }
      var message = updateRow(row, item);
      if (message) {
        messages.push(message);
      }
    });
    root.querySelectorAll("tr[data-integration]").forEach(function (row) {
      if (!seen[row.getAttribute("data-integration")]) {
        changed = true;
        row.classList.add("dash-row-gone");
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
      headers: { Accept: "application/json" },
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.redirected || response.status === 401 || response.status === 403 || type.indexOf("json") < 0) {
          // The session ended (the admin sent the login page): stop asking.
          stop(root.getAttribute("data-text-signed-out"));
          return null;
        }
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (data) {
        if (data) {
          root.classList.remove("dash-stale");
          apply(data);
        }
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
