"use strict";
// Drawing for the run page, as SVG strings: the DAG (layered by dependency depth, the
// critical path highlighted), the Gantt timeline of attempts (folded from the run's events)
// and a pattern's topology. Pure functions of the data.
const TroupeDraw = (() => {
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
  const cut = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

  /** Depth of each task: 0 for roots, else one more than its deepest dependency. */
  function depths(tasks) {
    const byId = new Map(tasks.map((t) => [t.id, t]));
    const depth = new Map();
    const visit = (id, seen) => {
      if (depth.has(id)) return depth.get(id);
      if (seen.has(id)) return 0; // a cycle cannot be planned; draw it flat
      seen.add(id);
      const t = byId.get(id);
      const deps = (t && t.depends_on) || [];
      const d = deps.length ? 1 + Math.max(...deps.map((x) => visit(x, seen))) : 0;
      depth.set(id, d);
      return d;
    };
    tasks.forEach((t) => visit(t.id, new Set()));
    return depth;
  }

  /**
   * The critical path: the chain of dependencies with the largest total duration (a
   * finished task counts its duration, a running one the time it has run so far, a pending
   * one nothing). Returns the task ids and the edges ("from>to") on it.
   */
  function criticalPath(tasks, now) {
    const depth = depths(tasks);
    const order = [...tasks].sort((a, b) => depth.get(a.id) - depth.get(b.id));
    const byId = new Map(tasks.map((t) => [t.id, t]));
    const weight = (t) => {
      if (t.duration_ms != null) return t.duration_ms;
      if (t.started_at) return Math.max(0, now - Date.parse(t.started_at));
      return 0;
    };
    const best = new Map();
    const prev = new Map();
    for (const t of order) {
      let b = 0;
      let p = null;
      for (const d of t.depends_on || []) {
        if (byId.has(d) && best.get(d) >= b) { b = best.get(d); p = d; }
      }
      best.set(t.id, b + weight(t) + 1e-3);
      prev.set(t.id, p);
    }
    let end = null;
    for (const [id, b] of best) if (end === null || b > best.get(end)) end = id;
    const nodes = new Set();
    const edges = new Set();
    while (end !== null) {
      nodes.add(end);
      const p = prev.get(end);
      if (p !== null) edges.add(p + ">" + end);
      end = p;
    }
    return { nodes, edges };
  }

  /** The DAG as SVG; `progress` maps a parallel task's id to its item progress text. */
  function dag(tasks, progress, now) {
    const W = 160, H = 46, GX = 56, GY = 14, PAD = 12;
    const depth = depths(tasks);
    const columns = [];
    for (const t of tasks) {
      const d = depth.get(t.id);
      (columns[d] = columns[d] || []).push(t);
    }
    const pos = new Map();
    columns.forEach((col, x) => col.forEach((t, y) => {
      pos.set(t.id, { x: PAD + x * (W + GX), y: PAD + y * (H + GY) });
    }));
    const width = PAD * 2 + Math.max(1, columns.length) * (W + GX) - GX;
    const height = PAD * 2 + Math.max(1, ...columns.map((c) => c.length)) * (H + GY) - GY;
    const crit = criticalPath(tasks, now);
    let edges = "";
    for (const t of tasks) {
      for (const d of t.depends_on || []) {
        const a = pos.get(d), b = pos.get(t.id);
        if (!a || !b) continue;
        const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
        const cls = crit.edges.has(d + ">" + t.id) ? "dag-edge critical" : "dag-edge";
        edges += `<path class="${cls}" data-edge="${esc(d)}>${esc(t.id)}" d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}" marker-end="url(#arrow)"/>`;
      }
    }
    let nodes = "";
    for (const t of tasks) {
      const p = pos.get(t.id);
      const cls = crit.nodes.has(t.id) ? "dag-node critical" : "dag-node";
      let sub = t.state;
      if (t.attempts > 1) sub += ` · ${t.attempts} attempts`;
      if (t.parallel && progress[t.id]) sub += ` · ${progress[t.id]}`;
      else if (t.wait && t.wait.signal) sub += ` · signal ${t.wait.signal}`;
      else if (t.wait && t.wait.sleep_ms != null) sub += " · timer";
      const label = `task ${t.id}: ${sub}${crit.nodes.has(t.id) ? " (critical path)" : ""}`;
      nodes += `<g class="${cls}" data-task="${esc(t.id)}" data-state="${esc(t.state)}" tabindex="0" role="button" aria-label="${esc(label)}" transform="translate(${p.x},${p.y})">` +
        `<title>${esc(label)}</title><rect width="${W}" height="${H}" rx="6"/>` +
        `<text x="10" y="19">${esc(cut(t.id, 20))}${t.parallel ? " ⇉" : ""}</text>` +
        `<text class="sub" x="10" y="36">${esc(cut(sub, 26))}</text></g>`;
    }
    return `<svg role="img" aria-label="Task graph" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
      `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8892a6"/></marker></defs>` +
      edges + nodes + "</svg>";
  }

  /**
   * The Gantt timeline: `rows` is [{label, segments: [{kind, start, end, title}]}] with times
   * in ms; kinds: attempt, ok, err (attempts by how they ended), backoff, timer, wait.
   */
  function gantt(rows, t0, t1, width) {
    const LABEL = 110, LANE = 22, PAD = 8;
    const WIDTH = Math.max(300, Math.floor(width || 900));
    const span = Math.max(1, t1 - t0);
    const x = (t) => LABEL + ((Math.min(Math.max(t, t0), t1) - t0) / span) * (WIDTH - LABEL - PAD);
    const height = PAD * 2 + Math.max(1, rows.length) * LANE + 16;
    let out = `<svg class="gantt" role="img" aria-label="Timeline of attempts" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`;
    rows.forEach((r, i) => {
      const y = PAD + i * LANE;
      out += `<rect class="lane" x="${LABEL}" y="${y + 2}" width="${WIDTH - LABEL - PAD}" height="${LANE - 4}"/>`;
      out += `<text class="label" x="4" y="${y + 15}">${esc(cut(r.label, 16))}</text>`;
      for (const s of r.segments) {
        const cls = { attempt: "attempt", ok: "attempt ok", err: "attempt err" }[s.kind] || s.kind;
        const w = Math.max(2, x(s.end) - x(s.start));
        out += `<rect class="${cls}" data-kind="${esc(s.kind)}" x="${x(s.start)}" y="${y + 4}" width="${w}" height="${LANE - 8}" rx="2"><title>${esc(s.title)}</title></rect>`;
      }
    });
    const yAxis = PAD + rows.length * LANE + 12;
    out += `<text class="label" x="${LABEL}" y="${yAxis}">0 s</text>`;
    out += `<text class="label" x="${WIDTH - PAD}" y="${yAxis}" text-anchor="end">${(span / 1000).toFixed(1)} s</text>`;
    return out + "</svg>";
  }

  /**
   * A pattern's topology from its definition: its members (each pool's agents) around the
   * pattern — a supervisor's (or hierarchy's) spokes, a handoff's chain of turns, a swarm's
   * ring of peers, a network's mesh.
   */
  function topology(pattern) {
    const nodes = [];
    for (const m of pattern.members || []) {
      const n = Math.min(m.count || 1, 4);
      for (let i = 0; i < n; i++) nodes.push(n > 1 ? `${m.pool}#${i}` : m.pool);
      if ((m.count || 1) > n) nodes.push(`${m.pool} +${m.count - n}`);
    }
    const shown = nodes.slice(0, 14);
    const W = 420, H = 300, cx = W / 2, cy = H / 2, r = 110;
    const at = shown.map((_, i) => {
      const a = (2 * Math.PI * i) / Math.max(1, shown.length) - Math.PI / 2;
      return { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) };
    });
    const kind = String(pattern.name || "");
    let edges = "";
    const line = (a, b, cls) => `<line class="${cls}" x1="${a.x}" y1="${a.y}" x2="${b.x}" y2="${b.y}"/>`;
    const hub = kind === "supervisor" || kind === "hierarchical" || !["handoff", "swarm", "network"].includes(kind);
    if (hub) at.forEach((p) => { edges += line({ x: cx, y: cy }, p, "dag-edge"); });
    if (kind === "handoff") at.forEach((p, i) => { if (i + 1 < at.length) edges += line(p, at[i + 1], "dag-edge"); });
    if (kind === "swarm") at.forEach((p, i) => { if (at.length > 1) edges += line(p, at[(i + 1) % at.length], "dag-edge"); });
    if (kind === "network") at.forEach((p, i) => at.slice(i + 1).forEach((q) => { edges += line(p, q, "dag-edge"); }));
    let out = `<svg role="img" aria-label="${esc(kind)} topology" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${edges}`;
    if (hub) {
      out += `<g class="dag-node" data-state="running"><rect x="${cx - 55}" y="${cy - 16}" width="110" height="32" rx="6"/><text x="${cx}" y="${cy + 5}" text-anchor="middle">${esc(kind === "hierarchical" ? "manager" : kind === "supervisor" ? "supervisor" : kind)}</text></g>`;
    }
    shown.forEach((name, i) => {
      const p = at[i];
      out += `<g class="dag-node" data-state="completed" data-member="${esc(name)}"><rect x="${p.x - 48}" y="${p.y - 13}" width="96" height="26" rx="6"/><text x="${p.x}" y="${p.y + 4}" text-anchor="middle">${esc(cut(name, 14))}</text></g>`;
    });
    return out + "</svg>";
  }

  /** What the run's event stream says, folded: the Gantt rows, outputs, errors, compensations. */
  function foldEvents(events, tasks, now, seenStart) {
    const byTask = new Map(tasks.map((t) => [t.id, t]));
    const rows = new Map();
    const row = (label) => {
      if (!rows.has(label)) rows.set(label, { label, segments: [] });
      return rows.get(label);
    };
    tasks.forEach((t) => row(t.id));
    const open = new Map(); // "task/attempt/item" -> {start, task, attempt, item}
    const outputs = {}, errors = {}, items = {}, comps = [], timers = new Map();
    let t0 = null, t1 = null;
    const close = (task, attempt, at, kind, title) => {
      for (const [k, o] of open) {
        if (o.task === task && o.attempt === attempt) {
          const waiting = byTask.get(task) && byTask.get(task).wait && byTask.get(task).wait.signal;
          row(task).segments.push({ kind: waiting ? "wait" : kind, start: o.start, end: at,
            title: `${task} attempt ${attempt}${o.item != null ? " item " + o.item : ""}: ${title}` });
          open.delete(k);
        }
      }
    };
    for (const m of events) {
      const at = Date.parse(m.timestamp);
      t0 = t0 === null ? at : Math.min(t0, at);
      t1 = t1 === null ? at : Math.max(t1, at);
      const d = m.data || {};
      switch (m.type) {
        case "task.started": {
          // The journal writes a start with the run's next write: the status may have shown
          // it running earlier.
          const seen = seenStart[`${d.task}/${d.attempt}`];
          const start = seen != null && d.item == null ? Math.min(seen, at) : at;
          open.set(`${d.task}/${d.attempt}/${d.item}`, { start, task: d.task, attempt: d.attempt, item: d.item });
          t0 = Math.min(t0, start);
          if (d.item != null) (items[d.task] = items[d.task] || new Set()).add(d.item);
          break;
        }
        case "task.completed":
          outputs[d.task] = d.output;
          close(d.task, d.attempt, at, "ok", "completed");
          break;
        case "error.occurred":
          (errors[d.task] = errors[d.task] || []).push({ attempt: d.attempt, error: d.error, retry_at: d.retry_at });
          close(d.task, d.attempt, at, "err", d.error);
          if (d.retry_at) {
            const until = Date.parse(d.retry_at);
            t1 = Math.max(t1, until);
            row(d.task).segments.push({ kind: "backoff", start: at, end: until, title: `${d.task}: backoff until ${d.retry_at}` });
          }
          break;
        case "timer.set": {
          const until = Date.parse(d.fires_at);
          timers.set(d.timer, { start: at, until });
          t1 = Math.max(t1, until);
          break;
        }
        case "timer.fired": {
          const tm = timers.get(d.timer);
          if (tm) tm.fired = at;
          break;
        }
        case "compensation.started":
          comps.push({ task: d.task, attempt: d.attempt, at: m.timestamp, state: "running" });
          break;
        case "compensation.finished": {
          const c = [...comps].reverse().find((x) => x.task === d.task && x.state === "running");
          if (c) { c.state = d.error ? "failed" : "completed"; c.error = d.error; }
          else comps.push({ task: d.task, at: m.timestamp, state: d.error ? "failed" : "completed", error: d.error });
          break;
        }
        default:
      }
    }
    // An attempt the status shows running whose start is not in the journal's events yet.
    for (const t of tasks) {
      if (t.state !== "running" || !t.started_at) continue;
      if ([...open.values()].some((o) => o.task === t.id)) continue;
      const at = Date.parse(t.started_at);
      open.set(`${t.id}/${t.attempts}/live`, { start: at, task: t.id, attempt: t.attempts, item: null });
      t0 = t0 === null ? at : Math.min(t0, at);
    }
    if (t0 === null) t0 = now;
    t1 = Math.max(t1 || now, ...[...open.values()].map(() => now));
    for (const o of open.values()) {
      row(o.task).segments.push({ kind: "attempt", start: o.start, end: now, title: `${o.task} attempt ${o.attempt}: running` });
    }
    for (const [name, tm] of timers) {
      row("timer " + name).segments.push({ kind: "timer", start: tm.start, end: tm.fired || tm.until,
        title: `timer ${name}: fires at ${new Date(tm.until).toISOString()}${tm.fired ? " (fired)" : ""}` });
    }
    const progress = {};
    for (const t of tasks) {
      if (!t.parallel) continue;
      const n = Array.isArray(outputs[t.id]) ? outputs[t.id].length : null;
      const started = items[t.id] ? items[t.id].size : 0;
      progress[t.id] = n != null ? `${n}/${n} items` : `${started} items started`;
    }
    return { rows: [...rows.values()], t0, t1, outputs, errors, progress, comps };
  }

  return { esc, dag, gantt, criticalPath, depths, topology, foldEvents };
})();
