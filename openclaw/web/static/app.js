// openclaw-agent dashboard: the overview (/) and a task's page (/tasks/ID), over the JSON API
// and its event stream (/api/events). Plain JavaScript, no build step, no outside requests.
"use strict";

const STATES = ["queued", "pending", "running", "completed", "failed", "killed", "lost", "unknown"];
const FINAL = new Set(["completed", "failed", "killed", "lost"]);
const main = document.getElementById("main");
const conn = document.getElementById("conn");

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: {}, ...options };
  if (init.body !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(init.body);
  }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
  }
  return data;
}

function connect(url, handlers) {
  const source = new EventSource(url);
  source.onopen = () => { conn.textContent = "live"; conn.className = "conn live"; };
  source.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn down"; };
  for (const [name, fn] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => fn(JSON.parse(event.data)));
  }
  source.addEventListener("reload", () => location.reload());
  return source;
}

function age(iso) {
  if (!iso) return "";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}`;
  return `${Math.floor(s / 86400)}d`;
}

function cost(value) {
  return typeof value === "number" ? `$${value.toFixed(value < 1 ? 4 : 2)}` : "";
}

function badge(status) {
  return `<span class="badge s-${esc(status)}">${esc(status)}</span>`;
}

function changes(task) {
  const ch = task.changes;
  if (!ch) return task.worktree ? esc(task.worktree.branch) : "";
  return `${ch.files} file${ch.files === 1 ? "" : "s"} +${ch.insertions} −${ch.deletions}`;
}

function labelsOf(task) {
  return new Set([...(task.labels || []), ...((task.routing && task.routing.labels) || [])]);
}

function isToday(iso) {
  if (!iso) return false;
  const d = new Date(iso);
  const now = new Date();
  return d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
}

// -- the overview ----------------------------------------------------------------------------
function overview() {
  const tasks = new Map();
  let executors = [];
  const filter = { status: "", executor: "", label: "" };
  let pending = false;

  main.innerHTML = `
    <section class="card" id="summary" aria-label="summary"></section>
    <details class="card" id="start-card">
      <summary><b>Start a task</b></summary>
      <form id="start-form" class="form" autocomplete="off">
        <div class="row">
          <label>Executor<select name="executor" id="f-executor"></select></label>
          <label>or labels (comma-separated)<input name="labels" id="f-labels" placeholder="rust, heavy"></label>
          <label>Agent<select name="agent" id="f-agent"></select></label>
        </div>
        <label>Workspace<input name="workspace" id="f-workspace" required placeholder="/path/to/repo"></label>
        <label>Prompt<textarea name="prompt" id="f-prompt" required placeholder="What should the agent do?"></textarea></label>
        <div class="row"><button type="submit" id="f-submit">Start</button><span id="f-error" class="error-line"></span></div>
      </form>
    </details>
    <section class="card">
      <div class="filters">
        <label>Status <select id="flt-status"><option value="">all</option>${STATES.map((s) => `<option>${s}</option>`).join("")}</select></label>
        <label>Executor <select id="flt-executor"><option value="">all</option></select></label>
        <label>Label <select id="flt-label"><option value="">all</option></select></label>
        <span class="muted" id="shown"></span>
      </div>
      <div class="table-wrap">
        <table id="tasks">
          <thead><tr><th>Status</th><th>Task</th><th class="wide">Agent</th><th>Executor</th><th class="wide">Workspace</th>
          <th>Age</th><th class="num wide">Turns</th><th class="num">Cost</th><th class="wide">Changes</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
    </section>`;
  const body = main.querySelector("#tasks tbody");

  function options(select, values, keep) {
    const current = select.value;
    select.innerHTML = (keep || "") + values.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join("");
    if ([...select.options].some((o) => o.value === current)) select.value = current;
  }

  function drawSummary() {
    const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
    let today = 0;
    for (const t of tasks.values()) {
      counts[t.status] = (counts[t.status] || 0) + 1;
      const c = t.result && t.result.total_cost_usd;
      if (typeof c === "number" && isToday(t.created_at)) today += c;
    }
    const load = executors.map((e) => {
      const cap = e.max_concurrent == null ? "∞" : e.max_concurrent;
      const queued = e.queued_tasks ? `, ${e.queued_tasks} queued` : "";
      return `<span class="cap" data-executor="${esc(e.name)}"><b>${esc(e.name)}</b> ${e.active_tasks}/${cap}${queued}</span>`;
    });
    main.querySelector("#summary").innerHTML = `
      <div class="summary">${STATES.map((s) => `<span class="count" data-state="${s}">${badge(s)} <b>${counts[s]}</b></span>`).join("")}
        <span class="count" id="cost-today">cost today <b>${cost(today) || "$0"}</b></span></div>
      <div class="capacity">${load.join("") || '<span class="muted">no executors configured</span>'}</div>`;
  }

  function visible(t) {
    if (filter.status && t.status !== filter.status) return false;
    if (filter.executor && t.executor !== filter.executor) return false;
    if (filter.label && !labelsOf(t).has(filter.label)) return false;
    return true;
  }

  function row(t) {
    const result = t.result || {};
    return `<tr data-task-id="${esc(t.task_id)}">
      <td class="status">${badge(t.status)}</td>
      <td><a href="/tasks/${esc(t.task_id)}">${esc(t.task_id.slice(0, 8))}</a></td>
      <td class="wide">${esc(t.agent)}</td><td>${esc(t.executor)}</td>
      <td class="ws wide" title="${esc(t.workspace)}"><span dir="ltr">${esc(t.workspace)}</span></td>
      <td title="${esc(t.created_at)}">${age(t.created_at)}</td>
      <td class="num wide">${esc(result.num_turns ?? "")}</td><td class="num">${cost(result.total_cost_usd)}</td>
      <td class="wide">${changes(t)}</td></tr>`;
  }

  function draw() {
    pending = false;
    const all = [...tasks.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    const shown = all.filter(visible);
    body.innerHTML = shown.map(row).join("") ||
      `<tr><td colspan="9" class="muted">${all.length ? "no task matches the filters" : "no tasks yet: start one above, or with openclaw-agent start"}</td></tr>`;
    main.querySelector("#shown").textContent = `${shown.length} of ${all.length}`;
    drawSummary();
    const labels = new Set(executors.flatMap((e) => e.labels || []));
    for (const t of all) for (const l of labelsOf(t)) labels.add(l);
    options(main.querySelector("#flt-label"), [...labels].sort(), '<option value="">all</option>');
    options(main.querySelector("#flt-executor"), executors.map((e) => e.name), '<option value="">all</option>');
  }

  function later() {
    if (!pending) { pending = true; requestAnimationFrame(draw); }
  }

  function formOptions() {
    options(main.querySelector("#f-executor"), executors.map((e) => e.name), '<option value="">(by labels)</option>');
    const agents = new Set();
    for (const e of executors) for (const a of Object.keys(e.agents || {})) agents.add(a);
    options(main.querySelector("#f-agent"), [...agents].filter((a) => a !== "command").sort(), '<option value="">(the executor\'s)</option>');
  }

  for (const key of ["status", "executor", "label"]) {
    main.querySelector(`#flt-${key}`).addEventListener("change", (event) => { filter[key] = event.target.value; draw(); });
  }

  main.querySelector("#start-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const error = main.querySelector("#f-error");
    const request = { prompt: form.prompt.value, workspace: form.workspace.value.trim() };
    const labels = form.labels.value.split(",").map((l) => l.trim()).filter(Boolean);
    if (form.executor.value) request.executor = form.executor.value;
    if (labels.length) request.labels = labels;
    if (form.agent.value) request.agent = form.agent.value;
    error.textContent = "";
    main.querySelector("#f-submit").disabled = true;
    try {
      const task = await api("/api/tasks", { body: request });
      tasks.set(task.task_id, task);
      form.prompt.value = "";
      draw();
    } catch (e) {
      error.textContent = e.message;
    } finally {
      main.querySelector("#f-submit").disabled = false;
    }
  });

  Promise.all([api("/api/tasks"), api("/api/executors")]).then(([list, ex]) => {
    for (const t of list.tasks) tasks.set(t.task_id, t);
    executors = ex.executors;
    formOptions();
    draw();
    document.body.dataset.ready = "overview";
    connect("/api/events", {
      task: (t) => { tasks.set(t.task_id, t); later(); },
      removed: (d) => { tasks.delete(d.task_id); later(); },
      executors: (d) => { executors = d.executors; formOptions(); later(); },
    });
    setInterval(later, 30000); // ages move on
  }).catch((e) => { main.innerHTML = `<p class="error-line">${esc(e.message)}</p>`; });
}

// -- a task's page ---------------------------------------------------------------------------
function entryHtml(e) {
  const kind = e.kind;
  const text = esc(e.text);
  if (kind === "tool_call") {
    const input = e.input ? JSON.stringify(e.input, null, 2) : "";
    const brief = e.input ? Object.values(e.input).filter((v) => typeof v === "string")[0] || "" : "";
    return `<li class="e-tool_call"><details><summary><span class="kind">tool</span><b>${esc(e.name)}</b> ${esc(String(brief).slice(0, 120))}</summary><pre>${esc(input)}</pre></details></li>`;
  }
  if (kind === "tool_result") {
    const first = (e.text || "").split("\n")[0].slice(0, 160);
    const failed = e.is_error ? " failed" : "";
    return `<li class="e-tool_result${failed}"><details${e.is_error ? " open" : ""}><summary><span class="kind">${e.is_error ? "tool error" : "result"}</span>${esc(first)}</summary><pre>${text}</pre></details></li>`;
  }
  if (kind === "result") {
    const d = e.data || {};
    const facts = [d.num_turns != null ? `${d.num_turns} turns` : "", cost(d.total_cost_usd)].filter(Boolean).join(", ");
    return `<li class="e-result${e.is_error ? " failed" : ""}"><span class="kind">result</span>${esc(e.name || "")} ${facts ? `(${esc(facts)})` : ""}<pre>${text}</pre></li>`;
  }
  if (kind === "error") return `<li class="e-error"><span class="kind">error</span>${text}</li>`;
  if (kind === "system") return `<li class="e-system"><span class="kind">system</span>${esc(e.name || "")} ${text}</li>`;
  if (kind === "output") return `<li class="e-output">${text}</li>`;
  return `<li class="e-${esc(kind)}"><span class="kind">${esc(kind)}</span>${text}</li>`;
}

function taskPage(id) {
  let task = null;
  main.innerHTML = `
    <p><a href="/">← all tasks</a></p>
    <section class="card"><dl class="head" id="head"></dl>
      <div class="actions">
        <button class="danger" id="kill">Kill</button>
        <button id="cleanup">Clean up</button>
        <div class="resume"><textarea id="resume-prompt" placeholder="A new prompt to continue this conversation"></textarea>
          <button id="resume">Resume</button></div>
      </div>
      <p id="action-error" class="error-line"></p>
    </section>
    <section class="card"><h3>Log</h3><ol class="log" id="log"></ol><p class="muted" id="log-state">reading…</p></section>`;
  const log = main.querySelector("#log");
  const actionError = main.querySelector("#action-error");

  function drawHead() {
    const t = task;
    const r = t.result || {};
    const rows = [
      ["status", badge(t.status) + (t.status_reason ? ` <span class="muted">${esc(t.status_reason)}</span>` : "")],
      ["task", esc(t.task_id)],
      ["agent", esc(t.agent) + (t.model ? ` · ${esc(t.model)}` : "")],
      ["executor", esc(t.executor) + (t.host ? ` (${esc(t.host)})` : "")],
      ["workspace", esc(t.workspace)],
      ["created", esc(t.created_at)],
      ["started", esc(t.started_at || "")],
      ["finished", esc(t.finished_at || "")],
      ["exit code", esc(t.exit_code ?? "")],
      ["turns", esc(r.num_turns ?? "")],
      ["cost", cost(r.total_cost_usd)],
      ["changes", changes(t)],
      ["error", t.error ? `<span class="error-line">${esc(t.error)}</span>` : ""],
      ["result", esc(r.text || "")],
      ["chain", (t.chain || []).length > 1 ? t.chain.map((c) => `<a href="/tasks/${esc(c)}">${esc(c.slice(0, 8))}</a>`).join(" → ") : ""],
    ].filter(([, v]) => v !== "");
    main.querySelector("#head").innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd data-field="${k}">${v}</dd>`).join("");
    const ended = FINAL.has(t.status);
    main.querySelector("#kill").disabled = ended;
    main.querySelector("#resume").disabled = !ended;
    main.querySelector("#cleanup").disabled = !ended;
    document.title = `${t.status} · ${t.task_id.slice(0, 8)} · openclaw-agent`;
  }

  async function act(button, fn) {
    actionError.textContent = "";
    button.disabled = true;
    try { await fn(); } catch (e) { actionError.textContent = e.message; } finally { if (task) drawHead(); }
  }

  main.querySelector("#kill").addEventListener("click", (event) => {
    if (!confirm(`Kill task ${task.task_id.slice(0, 8)}? Its agent gets SIGTERM, then SIGKILL.`)) return;
    act(event.target, async () => { const t = await api(`/api/tasks/${task.task_id}/kill`, { body: {} }); task = { ...task, ...t }; });
  });
  main.querySelector("#cleanup").addEventListener("click", (event) => {
    if (!confirm(`Remove task ${task.task_id.slice(0, 8)}'s record and files?`)) return;
    act(event.target, async () => { await api(`/api/tasks/${task.task_id}/cleanup`, { body: {} }); location.href = "/"; });
  });
  main.querySelector("#resume").addEventListener("click", (event) => {
    const prompt = main.querySelector("#resume-prompt").value;
    act(event.target, async () => {
      const t = await api(`/api/tasks/${task.task_id}/resume`, { body: { prompt } });
      location.href = `/tasks/${t.task_id}`;
    });
  });

  api(`/api/tasks/${encodeURIComponent(id)}`).then((t) => {
    task = t;
    drawHead();
    connect(`/api/events?task=${encodeURIComponent(t.task_id)}`, {
      task: (record) => { task = { ...record, chain: task.chain }; drawHead(); },
      removed: () => { main.querySelector("#log-state").textContent = "this task was removed"; },
      log: (d) => {
        log.insertAdjacentHTML("beforeend", d.entries.map(entryHtml).join(""));
        main.querySelector("#log-state").textContent = FINAL.has(task.status) ? "" : "following…";
      },
      log_end: () => { main.querySelector("#log-state").textContent = `ended: ${task.status}`; },
      log_error: (d) => { main.querySelector("#log-state").textContent = d.error; },
    });
    document.body.dataset.ready = "task";
  }).catch((e) => { main.innerHTML = `<p><a href="/">← all tasks</a></p><p class="error-line">${esc(e.message)}</p>`; });
}

const match = location.pathname.match(/^\/tasks\/([^/]+)$/);
if (match) taskPage(decodeURIComponent(match[1])); else overview();
