// A running job's page: ask where the job stands every two seconds and move the bar; once the job
// has ended, reload the page to show its outcome. Without JavaScript the page reloads itself
// (a meta refresh inside <noscript>), so this only makes it smoother.
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("job-progress");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-progress-url");
  var phase = box.querySelector('[data-job="phase"]');
  var bar = box.querySelector('[data-job="bar"]');
  var rows = box.querySelector('[data-job="rows"]');
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) { window.setTimeout(poll, 5000); return; }
        if (state.finished) { window.location.reload(); return; }
        if (phase.textContent !== state.phase) { phase.textContent = state.phase; }
        if (state.total) { bar.max = state.total; bar.value = state.done; }
        else if (bar.hasAttribute("value")) { bar.value = 0; }  // no value: a bar that only says "working"
        bar.textContent = state.percent + " %";
        bar.setAttribute("aria-label", state.phase);
        rows.textContent = state.rows;
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
});
