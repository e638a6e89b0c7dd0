"use strict";
// Troupe operations UI: one page, hash routes, only the public API (/api/v1) and its event
// streams (SSE). The bearer token is entered once and kept in sessionStorage (this tab only).
(() => {
  const { esc } = TroupeDraw;
  let main = document.getElementById("main");
  const KEY = "troupe.token";
  let token = sessionStorage.getItem(KEY);
  /** What the current page must stop when another is shown (streams, timers). */
  let cleanup = [];

  const FINISHED = new Set(["completed", "failed", "cancelled"]);
  const RUN_EVENTS = ["workflow.status_changed", "task.started", "task.completed", "error.occurred",
    "signal.received", "timer.set", "timer.fired", "compensation.started",
    "compensation.finished", "journal.entry", "checkpoint.created", "agent.assigned"];
  const CLUSTER_EVENTS = ["member.up", "member.suspect", "member.alive", "member.down",
    "agent.placed", "agent.migrated", "agent.failed_over", "agent.removed", "tasks.stolen",
    "migrations", "failovers"];

  function toast(text) {
    const box = document.getElementById("toast");
    const d = document.createElement("div");
    d.textContent = text;
    box.appendChild(d);
    setTimeout(() => d.remove(), 5000);
  }

  /** A call of the API with the token; throws an Error with the API's message. */
  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await r.json(); } catch (_) { /* no JSON body */ }
    if (!r.ok) {
      const e = new Error((data && data.error && data.error.message) || r.statusText);
      e.status = r.status;
      if (r.status === 401) signOut("The token was refused: " + e.message);
      throw e;
    }
    return data;
  }

  /** An SSE stream (the token as `access_token`, which EventSource cannot send as a header). */
  function stream(path, types, onEvent) {
    const sep = path.includes("?") ? "&" : "?";
    const es = new EventSource(path + sep + "access_token=" + encodeURIComponent(token));
    for (const t of types) {
      es.addEventListener(t, (e) => {
        let m = null;
        try { m = JSON.parse(e.data); } catch (_) { return; }
        onEvent(m, t);
      });
    }
    cleanup.push(() => es.close());
    return es;
  }

  /** Calls `f` at most once per `ms`, the last call winning. */
  function debounce(f, ms) {
    let t = null;
    return () => { clearTimeout(t); t = setTimeout(f, ms); };
  }

  function every(ms, f) {
    const id = setInterval(f, ms);
    cleanup.push(() => clearInterval(id));
  }

  const shown = new WeakMap();
  /** Replaces an element's content only when it changed (keeps focus and open details). */
  function setHtml(id, html) {
    const el = document.getElementById(id);
    if (el && shown.get(el) !== html) {
      el.innerHTML = html;
      shown.set(el, html);
      return true;
    }
    return false;
  }

  const badge = (state) => `<span class="badge" data-state="${esc(state)}">${esc(state)}</span>`;
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
  const json = (v) => esc(JSON.stringify(v, null, 2));

  function signOut(why) {
    token = null;
    sessionStorage.removeItem(KEY);
    route();
    if (why) toast(why);
  }
  document.getElementById("signout").addEventListener("click", () => signOut("Signed out"));

  // ---- sign in ----
  function login() {
    document.getElementById("signout").hidden = true;
    main.innerHTML = `<section class="login card"><h1>Sign in</h1>
      <form id="login">
        <label for="token-input">Bearer token (the admin token <code>troupe serve</code> prints, or a JWT)</label>
        <textarea id="token-input" required autocomplete="off" spellcheck="false"></textarea>
        <button class="primary" type="submit" id="signin">Sign in</button>
        <p class="error" id="login-error" role="alert"></p>
      </form></section>`;
    const input = document.getElementById("token-input");
    input.focus();
    document.getElementById("login").addEventListener("submit", async (e) => {
      e.preventDefault();
      token = input.value.trim();
      try {
        await api("GET", "/api/v1/executions?limit=1");
        sessionStorage.setItem(KEY, token);
        route();
      } catch (err) {
        token = null;
        document.getElementById("login-error").textContent = "Not accepted: " + err.message;
      }
    });
  }

  // ---- runs ----
  const AGES = { "": "any age", "900": "last 15 min", "3600": "last hour", "86400": "last day", "604800": "last week" };
  const STATUSES = ["", "pending", "running", "paused", "interrupted", "completed", "failed", "cancelled"];

  function runsPage(q) {
    const opt = (v, label, cur) => `<option value="${esc(v)}"${v === cur ? " selected" : ""}>${esc(label)}</option>`;
    main.innerHTML = `<h1>Runs</h1>
      <form class="filters" id="filters">
        <label>Status<select name="status">${STATUSES.map((s) => opt(s, s || "any", q.get("status") || "")).join("")}</select></label>
        <label>Workflow<input name="workflow" value="${esc(q.get("workflow") || "")}"></label>
        <label>Tenant<input name="tenant" value="${esc(q.get("tenant") || "")}"></label>
        <label>Age<select name="age">${Object.entries(AGES).map(([v, l]) => opt(v, l, q.get("age") || "")).join("")}</select></label>
        <button type="submit" class="primary">Apply</button>
        <span class="muted" id="runs-live" aria-live="off"></span>
      </form>
      <div class="table-wrap"><table><thead><tr><th>Execution</th><th>Workflow</th><th>Status</th>
        <th class="opt">Tenant</th><th class="opt">Created</th><th class="opt">Finished</th></tr></thead>
        <tbody id="runs-body"><tr><td colspan="6" class="empty">Loading…</td></tr></tbody></table></div>
      <div class="pager"><button type="button" id="first-page">First page</button>
        <button type="button" id="next-page" disabled>Next page</button><span class="muted" id="page-info"></span></div>`;
    document.getElementById("filters").addEventListener("submit", (e) => {
      e.preventDefault();
      const p = new URLSearchParams();
      for (const [k, v] of new FormData(e.target)) if (v) p.set(k, v);
      location.hash = "#/runs?" + p.toString();
    });
    let next = null;
    document.getElementById("first-page").addEventListener("click", () => {
      q.delete("after");
      location.hash = "#/runs?" + q.toString();
    });
    document.getElementById("next-page").addEventListener("click", () => {
      if (next == null) return;
      q.set("after", next);
      location.hash = "#/runs?" + q.toString();
    });
    const load = async () => {
      const p = new URLSearchParams({ limit: "25" });
      for (const k of ["status", "workflow", "after"]) if (q.get(k)) p.set(k, q.get(k));
      let page;
      try { page = await api("GET", "/api/v1/executions?" + p); } catch (e) {
        document.getElementById("runs-live").textContent = "error: " + e.message;
        return;
      }
      const age = Number(q.get("age") || 0);
      const tenant = q.get("tenant") || "";
      const rows = page.executions.filter((x) =>
        (!tenant || (x.tenant || "") === tenant) &&
        (!age || Date.now() - Date.parse(x.created_at) <= age * 1000));
      if (!document.getElementById("runs-body")) return;
      setHtml("runs-body", rows.length ? rows.map((x) => `<tr data-run="${esc(x.execution_id)}">
          <td class="id"><a href="#/run/${encodeURIComponent(x.execution_id)}">${esc(x.execution_id)}</a></td>
          <td>${esc(x.workflow)}</td><td>${badge(x.status)}</td><td class="opt">${esc(x.tenant || "—")}</td>
          <td class="opt">${esc(when(x.created_at))}</td><td class="opt">${esc(when(x.finished_at))}</td></tr>`).join("")
        : `<tr><td colspan="6" class="empty">No runs match.</td></tr>`);
      next = page.next;
      document.getElementById("next-page").disabled = next == null;
      document.getElementById("page-info").textContent = q.get("after") ? "after #" + q.get("after") : "first page";
      document.getElementById("runs-live").textContent = "live · updated " + new Date().toLocaleTimeString();
    };
    load();
    every(2000, load);
  }

  // ---- a run ----
  function runPage(id) {
    const path = "/api/v1/executions/" + encodeURIComponent(id);
    main.innerHTML = `<h1>Run <span id="run-id">${esc(id)}</span></h1>
      <p><span id="run-status-wrap"></span> <span class="muted" id="run-meta"></span></p>
      <div class="actions" id="actions">
        <button type="button" id="act-pause">Pause</button>
        <button type="button" id="act-resume">Resume</button>
        <button type="button" id="act-cancel" class="danger">Cancel</button>
        <label>Signal name<input id="signal-name" size="12"></label>
        <label>Value (JSON)<input id="signal-value" size="12" value="null"></label>
        <button type="button" id="act-signal">Send signal</button>
        <a id="act-dlq" hidden></a>
      </div>
      <h2>Graph</h2>
      <div class="legend"><span><i style="background:var(--pending)"></i>pending</span><span><i style="background:var(--running)"></i>running</span>
        <span><i style="background:var(--completed)"></i>completed</span><span><i style="background:var(--retrying)"></i>retrying</span>
        <span><i style="background:var(--failed)"></i>failed</span><span><i style="background:#fff;border:3px solid var(--critical)"></i>critical path</span><span>⇉ parallel</span></div>
      <div class="svg-wrap" id="dag"></div>
      <div class="grid2"><section><h2>Timeline</h2>
        <div class="legend"><span><i style="background:var(--running)"></i>attempt</span><span><i style="background:var(--completed)"></i>succeeded</span>
          <span><i style="background:var(--failed)"></i>failed</span><span><i style="background:var(--retrying);opacity:.55"></i>backoff</span>
          <span><i style="background:var(--paused)"></i>timer</span><span><i style="background:var(--cancelled);opacity:.55"></i>signal wait</span></div>
        <div class="svg-wrap" id="gantt"></div></section>
        <section><h2>Saga compensations</h2><ul class="log" id="compensations"></ul>
        <h2>Pattern</h2><div id="pattern" class="muted"></div></section></div>
      <h2>Tasks</h2><div id="task-details"></div>`;
    const events = [];
    let status = null;
    let es = null;
    const openDetails = new Set();
    const seenStart = {};
    const state = () => (status ? (status.current_phase === "paused" ? "paused" : status.status) : "");

    const render = () => {
      if (!status || !document.getElementById("dag")) return;
      const now = Date.now();
      const s = state();
      document.getElementById("run-status-wrap").innerHTML = `<span class="badge" id="run-status" data-state="${esc(s)}">${esc(s)}</span>`;
      document.getElementById("run-meta").textContent =
        `workflow ${status.workflow} · phase ${status.current_phase}` +
        (status.tenant ? ` · tenant ${status.tenant}` : "") +
        ` · ${status.performance_metrics.tasks_completed}/${status.performance_metrics.tasks_total} tasks` +
        (status.error_details ? ` · error: ${status.error_details.message}` : "");
      const live = !FINISHED.has(status.status);
      document.getElementById("act-pause").disabled = !live || s === "paused";
      document.getElementById("act-resume").disabled = !live || s !== "paused";
      document.getElementById("act-cancel").disabled = !live;
      document.getElementById("act-signal").disabled = !live;
      for (const t of status.tasks) {
        const k = `${t.id}/${t.attempts}`;
        if (t.state === "running" && t.started_at && seenStart[k] == null) seenStart[k] = Date.parse(t.started_at);
      }
      const f = TroupeDraw.foldEvents(events, status.tasks, now, seenStart);
      const focused = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.task;
      setHtml("dag", TroupeDraw.dag(status.tasks, f.progress, now));
      if (focused) {
        const again = document.querySelector(`#dag [data-task="${CSS.escape(focused)}"]`);
        if (again) again.focus();
      }
      const box = document.getElementById("gantt");
      box.innerHTML = TroupeDraw.gantt(f.rows, f.t0, Math.max(f.t1, live ? now : f.t1), box.clientWidth - 2);
      setHtml("compensations", f.comps.length
        ? f.comps.map((c) => `<li>${badge(c.state)} compensation of <b>${esc(c.task)}</b> at ${esc(when(c.at))}${c.error ? ` — <span class="error">${esc(c.error)}</span>` : ""}</li>`).join("")
        : `<li class="muted">None ran${status.status === "failed" ? "" : " (they run when a saga rolls back)"}.</li>`);
      const patterned = status.tasks.filter((t) => t.agent === "pattern" || String(t.agent || "").startsWith("pattern."));
      const pat = status.pattern;
      setHtml("pattern", pat
        ? `<p>Pattern <b>${esc(pat.name)}</b>${patterned.length ? `, run by task${patterned.length > 1 ? "s" : ""} ${patterned.map((t) => `<b>${esc(t.id)}</b>`).join(", ")}` : ""}: its members as the definition declares them.</p>` +
          `<div class="svg-wrap" id="topology">${TroupeDraw.topology(pat)}</div>` +
          `<p>Not shown: what the pattern did in this run (the turns actually taken, queue depths, steals between peers, network hops) — the run's journal events carry the pattern task's attempts and output only.</p>`
        : (patterned.length ? `<p>Task ${patterned.map((t) => esc(t.id)).join(", ")} runs a pattern whose definition the status does not name.</p>` : "No pattern task in this workflow (a plain DAG)."));
      const detailsHtml = status.tasks.map((t) => {
        const errs = f.errors[t.id] || [];
        const input = t.input != null ? `<pre>${json(t.input)}</pre>`
          : (t.depends_on && t.depends_on.length ? `<p class="muted">the outputs of ${t.depends_on.map(esc).join(", ")}</p>` : `<p class="muted">none</p>`);
        return `<details data-task="${esc(t.id)}"><summary>${esc(t.id)} ${badge(t.state)} <span class="muted">${esc(t.agent || (t.wait ? "wait" : ""))} · attempts ${t.attempts}${t.duration_ms != null ? ` · ${t.duration_ms} ms` : ""}</span></summary>
          <h3>Input</h3>${input}
          <h3>Output</h3>${f.outputs[t.id] !== undefined ? `<pre>${json(f.outputs[t.id])}</pre>` : `<p class="muted">none yet</p>`}
          <h3>Errors</h3>${errs.length ? `<ol>${errs.map((e) => `<li>attempt ${esc(e.attempt)}: <span class="error">${esc(e.error)}</span>${e.retry_at ? ` (retry at ${esc(when(e.retry_at))})` : ""}</li>`).join("")}</ol>` : `<p class="muted">none</p>`}
          ${t.compensate ? `<p class="muted">has a compensation (saga)</p>` : ""}</details>`;
      }).join("");
      if (setHtml("task-details", detailsHtml)) {
        document.querySelectorAll("#task-details details").forEach((d) => {
          d.open = openDetails.has(d.dataset.task);
          d.addEventListener("toggle", () => {
            if (d.open) openDetails.add(d.dataset.task); else openDetails.delete(d.dataset.task);
          });
        });
      }
    };

    const refresh = async () => {
      try { status = await api("GET", path); } catch (e) {
        if (e.status === 404) main.innerHTML = `<h1>Run ${esc(id)}</h1><p class="empty">No such run (for this token).</p>`;
        return;
      }
      render();
    };
    const soon = debounce(refresh, 100);
    es = stream(path + "/events", RUN_EVENTS, (m) => {
      events.push(m);
      soon();
      if (m.type === "workflow.status_changed" && m.data && m.data.final) es.close();
    });
    // The stream ends after the run's last entry; the browser would reconnect: not for a run that is over.
    es.onerror = () => { if (status && FINISHED.has(status.status)) es.close(); };
    refresh();
    // Running attempts grow on the timeline between events; attempts that started since show
    // (the journal writes a start only with the run's next write).
    every(1000, () => { if (status && !FINISHED.has(status.status)) refresh(); });
    api("GET", "/api/v1/dead-letters?execution=" + encodeURIComponent(id)).then((d) => {
      const a = document.getElementById("act-dlq");
      if (!a || !d.dead_letters.length) return;
      a.hidden = false;
      a.href = "#/dead-letters?execution=" + encodeURIComponent(id);
      a.textContent = `Replay from the dead-letter queue (${d.dead_letters.length})`;
    }).catch(() => {});

    const act = (verb, body) => async () => {
      try {
        const r = await api("POST", `${path}/${verb}`, body);
        toast(`${verb}: ${r.status || "ok"}`);
      } catch (e) { toast(`${verb} refused: ${e.message}`); }
      refresh();
    };
    document.getElementById("act-pause").addEventListener("click", act("pause"));
    document.getElementById("act-resume").addEventListener("click", act("resume"));
    document.getElementById("act-cancel").addEventListener("click", act("cancel"));
    document.getElementById("act-signal").addEventListener("click", () => {
      const name = document.getElementById("signal-name").value.trim();
      if (!name) { toast("Give the signal a name"); return; }
      let value;
      try { value = JSON.parse(document.getElementById("signal-value").value || "null"); } catch (e) {
        toast("The value is not JSON: " + e.message);
        return;
      }
      act("signals/" + encodeURIComponent(name), { value })();
    });
    main.addEventListener("keydown", (e) => {
      const t = e.target.dataset && e.target.dataset.task;
      if (!t || e.target.tagName === "DETAILS" || (e.key !== "Enter" && e.key !== " ")) return;
      e.preventDefault();
      const d = document.querySelector(`#task-details [data-task="${CSS.escape(t)}"]`);
      if (d) { d.open = true; d.querySelector("summary").focus(); }
    });
    main.addEventListener("click", (e) => {
      const g = e.target.closest && e.target.closest("#dag [data-task]");
      if (!g) return;
      const d = document.querySelector(`#task-details [data-task="${CSS.escape(g.dataset.task)}"]`);
      if (d) { d.open = true; d.scrollIntoView({ block: "nearest" }); }
    });
  }

  // ---- cluster ----
  function clusterPage() {
    main.innerHTML = `<h1>Cluster</h1><p class="muted" id="cluster-summary">Loading…</p>
      <div class="members" id="members"></div>
      <div class="grid2"><section><h2>Agents</h2><div class="table-wrap"><table><thead><tr><th>Agent</th><th>Node</th><th class="opt">State</th><th>Move to</th></tr></thead>
        <tbody id="agents-body"></tbody></table></div></section>
      <section><h2>Events (live)</h2><ul class="log" id="cluster-log" aria-live="polite"></ul></section></div>`;
    const log = [];
    const load = async () => {
      let members, agents;
      try {
        [members, agents] = await Promise.all([api("GET", "/api/v1/cluster/members"), api("GET", "/api/v1/cluster/agents")]);
      } catch (e) {
        const s = document.getElementById("cluster-summary");
        if (!s) return;
        if (e.status === 501) {
          main.innerHTML = `<h1>Cluster</h1><p class="empty">This server is not a cluster node. Start one with <code>troupe node … --api ADDR</code> to see the cluster here.</p>`;
          cleanup.forEach((f) => f());
          cleanup = [];
        } else s.textContent = "error: " + e.message;
        return;
      }
      const ms = members.members;
      const alive = ms.filter((m) => m.state !== "down");
      const summary = document.getElementById("cluster-summary");
      if (!summary) return;
      summary.textContent = `${ms.length} members (${alive.length} live), ${agents.agents.length} agents · live · updated ${new Date().toLocaleTimeString()}`;
      const onNode = (name) => agents.agents.filter((a) => a.node === name && a.state === "active");
      setHtml("members", ms.map((m) => `<article class="card member" data-member="${esc(m.name)}" data-state="${esc(m.state)}">
          <h3><span>${esc(m.name)}${m.self ? ' <span class="muted">(this node)</span>' : ""}</span>${badge(m.state)}</h3>
          <dl><dt>transport</dt><dd>${esc(m.transport)}</dd><dt>gossip</dt><dd>${esc(m.gossip)}</dd>
          <dt>capacity</dt><dd>${esc(m.resources.capacity)}</dd><dt>kinds</dt><dd>${esc(m.resources.kinds ? m.resources.kinds.join(", ") || "none (client)" : "all")}</dd>
          ${m.resources.task_slots != null ? `<dt>task slots</dt><dd>${esc(m.resources.task_slots)}</dd>` : ""}
          ${m.tasks_queued != null ? `<dt>queued</dt><dd>${esc(m.tasks_queued)}</dd><dt>executed</dt><dd>${esc(m.tasks_executed)}</dd><dt>stolen</dt><dd>${esc(m.tasks_stolen)}</dd><dt>migrations</dt><dd>${esc(m.migrations)}</dd><dt>failovers</dt><dd>${esc(m.failovers)}</dd>` : ""}
          <dt>agents</dt><dd>${onNode(m.name).length}</dd></dl>
          <ul class="agents">${onNode(m.name).slice(0, 12).map((a) => `<li>${esc(a.id)}</li>`).join("")}${onNode(m.name).length > 12 ? `<li class="muted">…</li>` : ""}</ul>
        </article>`).join(""));
      const targets = alive.filter((m) => !(m.resources.kinds && m.resources.kinds.length === 0));
      setHtml("agents-body", agents.agents.length ? agents.agents.map((a) => `<tr data-agent="${esc(a.id)}">
          <td class="id">${esc(a.id)}</td><td>${esc(a.node)}</td><td class="opt">${esc(a.state)}</td>
          <td><select aria-label="move ${esc(a.id)} to">${targets.filter((m) => m.name !== a.node).map((m) => `<option>${esc(m.name)}</option>`).join("")}</select>
            <button type="button" data-move="${esc(a.id)}">Move</button></td></tr>`).join("")
        : `<tr><td colspan="4" class="empty">No agents yet.</td></tr>`);
    };
    main.addEventListener("click", async (e) => {
      const b = e.target.closest && e.target.closest("button[data-move]");
      if (!b) return;
      const to = b.parentElement.querySelector("select").value;
      if (!to) return;
      try {
        await api("POST", `/api/v1/agents/${encodeURIComponent(b.dataset.move)}/migrate`, { to });
        toast(`${b.dataset.move} moved to ${to}`);
      } catch (err) { toast("move refused: " + err.message); }
      load();
    });
    const soon = debounce(load, 100);
    stream("/api/v1/cluster/events", CLUSTER_EVENTS, (m) => {
      log.unshift(m);
      log.length = Math.min(log.length, 200);
      const ul = document.getElementById("cluster-log");
      if (ul) {
        ul.innerHTML = log.map((x) => `<li data-type="${esc(x.type)}"><span class="muted">${esc(new Date(x.timestamp).toLocaleTimeString())}</span> <b>${esc(x.type)}</b> ${esc(describe(x))}</li>`).join("");
      }
      soon();
    });
    load();
    every(2000, load);
  }

  function describe(e) {
    const d = e.data || {};
    switch (e.type) {
      case "agent.migrated": return `${d.agent}: ${d.from} → ${d.to}`;
      case "agent.failed_over": return `${d.agent}: ${d.from} (down) → ${d.to}`;
      case "agent.placed": return `${d.agent} on ${d.node}`;
      case "agent.removed": return `${d.agent} (was on ${d.node})`;
      case "tasks.stolen": return `${d.node} stole ${d.count} task(s)`;
      default: return d.node ? d.node : JSON.stringify(d);
    }
  }

  // ---- dead letters ----
  function lettersPage(q) {
    main.innerHTML = `<h1>Dead letters</h1>
      <form class="filters" id="dlq-filter"><label>Execution<input name="execution" value="${esc(q.get("execution") || "")}"></label>
        <button type="submit" class="primary">Apply</button></form>
      <div class="table-wrap"><table><thead><tr><th>#</th><th>Execution</th><th>Task</th><th class="opt">Attempts</th><th class="opt">At</th><th>Last error</th><th>Actions</th></tr></thead>
      <tbody id="dlq-body"><tr><td colspan="7" class="empty">Loading…</td></tr></tbody></table></div>
      <div class="pager"><button type="button" id="dlq-next" disabled>Next page</button></div>`;
    document.getElementById("dlq-filter").addEventListener("submit", (e) => {
      e.preventDefault();
      const v = new FormData(e.target).get("execution");
      location.hash = "#/dead-letters" + (v ? "?execution=" + encodeURIComponent(v) : "");
    });
    let next = null;
    const load = async () => {
      const p = new URLSearchParams({ limit: "50" });
      for (const k of ["execution", "after"]) if (q.get(k)) p.set(k, q.get(k));
      let d;
      try { d = await api("GET", "/api/v1/dead-letters?" + p); } catch (e) {
        document.getElementById("dlq-body").innerHTML = `<tr><td colspan="7" class="error">${esc(e.message)}</td></tr>`;
        return;
      }
      next = d.next;
      document.getElementById("dlq-next").disabled = next == null;
      const errs = (l) => (Array.isArray(l.errors) && l.errors.length ? l.errors[l.errors.length - 1] : "");
      document.getElementById("dlq-body").innerHTML = d.dead_letters.length ? d.dead_letters.map((l) => `<tr data-letter="${esc(l.id)}">
          <td>${esc(l.id)}</td><td class="id">${l.execution_id ? `<a href="#/run/${encodeURIComponent(l.execution_id)}">${esc(l.execution_id)}</a>` : "—"}</td>
          <td>${esc(l.task || "—")}</td><td class="opt">${esc(l.attempts)}</td><td class="opt">${esc(when(l.at))}</td>
          <td class="error">${esc(typeof errs(l) === "string" ? errs(l) : JSON.stringify(errs(l)))}</td>
          <td><button type="button" data-replay="${esc(l.id)}">Replay</button> <button type="button" class="danger" data-drop="${esc(l.id)}">Drop</button></td></tr>`).join("")
        : `<tr><td colspan="7" class="empty">No dead letters.</td></tr>`;
    };
    document.getElementById("dlq-next").addEventListener("click", () => {
      q.set("after", next);
      location.hash = "#/dead-letters?" + q;
    });
    main.addEventListener("click", async (e) => {
      const r = e.target.closest && e.target.closest("button[data-replay],button[data-drop]");
      if (!r) return;
      try {
        if (r.dataset.replay) { await api("POST", `/api/v1/dead-letters/${r.dataset.replay}/replay`); toast(`letter ${r.dataset.replay} replayed`); }
        else { await api("DELETE", `/api/v1/dead-letters/${r.dataset.drop}`); toast(`letter ${r.dataset.drop} dropped`); }
      } catch (err) { toast("refused: " + err.message); }
      load();
    });
    load();
  }

  // ---- schedules ----
  async function schedulesPage() {
    main.innerHTML = `<h1>Schedules</h1><div id="schedules"><p class="empty">Loading…</p></div>`;
    let d;
    try { d = await api("GET", "/api/v1/schedules"); } catch (e) {
      const box = document.getElementById("schedules");
      if (box) {
        box.innerHTML = e.status === 404 || e.status === 501
          ? `<p class="empty" id="no-schedules">This server has no schedules API (<code>/api/v1/schedules</code>): no schedules to show.</p>`
          : `<p class="error">${esc(e.message)}</p>`;
      }
      return;
    }
    const list = Array.isArray(d) ? d : (d.schedules || d.items || []);
    const box = document.getElementById("schedules");
    if (!box) return;
    if (!list.length) { box.innerHTML = `<p class="empty" id="no-schedules">No schedules yet.</p>`; return; }
    const cols = [...new Set(list.flatMap((s) => Object.keys(s)))];
    const cell = (v) => (v == null ? "" : typeof v === "object" ? (Array.isArray(v) ? v.map((x) => (typeof x === "object" ? JSON.stringify(x) : x)).join(", ") : JSON.stringify(v)) : v);
    box.innerHTML = `<div class="table-wrap"><table><thead><tr>${cols.map((c) => `<th>${esc(c.replace(/_/g, " "))}</th>`).join("")}</tr></thead>
      <tbody>${list.map((s) => `<tr>${cols.map((c) => `<td>${esc(cell(s[c]))}</td>`).join("")}</tr>`).join("")}</tbody></table></div>`;
  }

  // ---- routing ----
  function route() {
    cleanup.forEach((f) => f());
    cleanup = [];
    // Page handlers are attached to a fresh <main> each time.
    const fresh = main.cloneNode(false);
    main.replaceWith(fresh);
    main = fresh;
    if (!token) { login(); return; }
    document.getElementById("signout").hidden = false;
    const h = location.hash || "#/runs";
    const [path, query] = h.slice(1).split("?");
    const parts = path.split("/").filter(Boolean);
    const page = parts[0] === "run" ? "runs" : (parts[0] || "runs");
    document.querySelectorAll("header nav a").forEach((a) => {
      if (a.dataset.page === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
    const q = new URLSearchParams(query || "");
    if (parts[0] === "run" && parts[1]) runPage(decodeURIComponent(parts[1]));
    else if (parts[0] === "cluster") clusterPage();
    else if (parts[0] === "dead-letters") lettersPage(q);
    else if (parts[0] === "schedules") schedulesPage();
    else runsPage(q);
  }
  window.addEventListener("hashchange", route);
  route();
})();
