// Live logs: follows <div data-log-stream="URL"> (a Server-Sent Events stream of the control
// plane) and appends new lines to its <pre data-log-lines>. Events: "lines" (a JSON array of new
// lines), "problem" (the agent could not answer: shown, and retried after a while), "end" (the
// server closed the stream: reconnect). Lines repeated across reconnects are dropped here too.
(function () {
  const MAX_LINES = 5000, RETRY_MS = 5000;
  function overlap(prev, next) {
    // The lines of next that come after the lines prev ends with (as the server does).
    for (let k = Math.min(prev.length, next.length); k > 0; k--) {
      if (prev[prev.length - k] !== next[0]) continue;
      let same = true;
      for (let i = 0; i < k && same; i++) same = prev[prev.length - k + i] === next[i];
      if (same) return next.slice(k);
    }
    return next;
  }
  function start(root) {
    const out = root.querySelector("[data-log-lines]");
    const state = root.querySelector("[data-log-state]");
    const pause = root.querySelector("[data-log-pause]");
    const clear = root.querySelector("[data-log-clear]");
    let paused = false, held = [], recent = [], source = null, fresh = true, count = 0;
    function show(lines) {
      const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
      const node = document.createTextNode(lines.join("\n") + "\n");
      node.lineCount = lines.length;
      out.append(node);
      count += lines.length;
      while (count > MAX_LINES && out.firstChild && out.firstChild !== node) {
        count -= out.firstChild.lineCount || 0;
        out.removeChild(out.firstChild);
      }
      if (atEnd) out.scrollTop = out.scrollHeight;
    }
    function receive(lines) {
      if (fresh) { lines = overlap(recent, lines); fresh = false; }
      if (!lines.length) return;
      recent = recent.concat(lines).slice(-2000);
      if (paused) { held = held.concat(lines); state.textContent = "Paused, " + held.length + " new lines held"; }
      else show(lines);
    }
    function connect() {
      source = new EventSource(root.dataset.logStream);
      // Every (re)connection starts with the log's tail again: drop what is already shown.
      source.addEventListener("open", () => { fresh = true; if (!paused) state.textContent = "Following"; });
      source.addEventListener("lines", e => receive(JSON.parse(e.data)));
      source.addEventListener("problem", e => {
        source.close();
        state.textContent = JSON.parse(e.data).message + " (retrying)";
        setTimeout(connect, RETRY_MS);
      });
      source.addEventListener("end", () => { source.close(); connect(); });
      source.addEventListener("error", () => { if (source.readyState === EventSource.CLOSED) state.textContent = "Disconnected"; else state.textContent = "Reconnecting…"; });
    }
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.setAttribute("aria-pressed", String(paused));
      pause.textContent = paused ? "Resume" : "Pause";
      if (!paused) { if (held.length) show(held); held = []; state.textContent = "Following"; }
      else state.textContent = "Paused";
    });
    clear.addEventListener("click", () => { out.textContent = ""; count = 0; });
    connect();
  }
  document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("[data-log-stream]").forEach(start));
})();
