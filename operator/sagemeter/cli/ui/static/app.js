// sagemeter's page: rows from the server's event stream, the time left counted down here,
// and the plugin's actions as buttons. Plain JavaScript, no build step; every value from the
// cluster is written with textContent, never parsed as HTML.
"use strict";

(() => {
  const token = document.querySelector('meta[name="sagemeter-token"]').content;
  const tbody = document.querySelector("#endpoints tbody");
  const namespaceFilter = document.getElementById("filter-namespace");
  const phaseFilter = document.getElementById("filter-phase");
  const rows = new Map(); // key -> {data, tr, cells, buttons, output}
  let policies = {};

  // Timings the browser tests and `make bench` read: first render, and when each row was
  // redrawn for a change (kept for the last 500 changes).
  const timings = { firstRender: null, updates: [] };
  window.sagemeterTimings = timings;

  function element(tag, attributes = {}, text = null) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== null) node.textContent = text;
    return node;
  }

  // ------------------------------------------------------------------ time left

  const pad = (n) => String(n).padStart(2, "0");

  function human(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s >= 86400) return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (h > 0) return `${h}h ${pad(m)}m ${pad(s % 60)}s`;
    if (m > 0) return `${m}m ${pad(s % 60)}s`;
    return `${s}s`;
  }

  function timeLeft(expiresAt, now) {
    if (!expiresAt) return "never";
    const left = (Date.parse(expiresAt) - now) / 1000;
    return left > 0 ? human(left) : `expired ${human(-left)} ago`;
  }

  function tick() {
    const now = Date.now();
    for (const row of rows.values()) {
      row.cells.time.firstChild.textContent = timeLeft(row.data.expiresAt, now);
      row.tr.classList.toggle("expired", !!row.data.expiresAt && Date.parse(row.data.expiresAt) <= now);
    }
  }

  // ------------------------------------------------------------------ one row

  function createRow(data) {
    const tr = element("tr", { "data-key": data.key });
    const cells = {};
    const header = element("th", { scope: "row", "data-col": "endpoint" });
    header.append(element("span", { class: "namespace" }, `${data.namespace}/`));
    header.append(element("span", { class: "name" }, data.name));
    header.append(element("div", { class: "instance" }));
    tr.append(header);
    cells.endpoint = header;
    for (const column of ["phase", "reason", "time", "cost", "route", "conditions", "budgets"]) {
      cells[column] = element("td", { "data-col": column });
      tr.append(cells[column]);
    }
    cells.time.append(element("time"));
    const actions = element("td", { "data-col": "actions" });
    const group = element("div", { class: "actions", role: "group", "aria-label": `Actions for ${data.name}` });
    const meter = element("div", { class: "line" });
    const switches = element("div", { class: "line" });
    group.append(meter, switches);
    const buttons = {};
    let line = meter;
    const act = (action, label, body, busy) => {
      const button = element("button", { type: "button", "data-action": label, "aria-label": `${label} ${data.name}` }, label);
      button.addEventListener("click", () => send(data.key, action, body(), busy));
      line.append(button);
      return button;
    };
    buttons.extend1h = act("extend", "Extend 1h", () => ({ duration: "1h" }), "Extending…");
    buttons.extend1h.setAttribute("aria-label", `Extend ${data.name} by 1h`);
    buttons.extend4h = act("extend", "Extend 4h", () => ({ duration: "4h" }), "Extending…");
    buttons.extend4h.setAttribute("aria-label", `Extend ${data.name} by 4h`);
    const form = element("form", { class: "extend-by" });
    const inputId = `duration-${data.key.replace(/[^A-Za-z0-9-]/g, "_")}`;
    form.append(element("label", { for: inputId }, "Extend by"));
    const input = element("input", {
      id: inputId, name: "duration", type: "text", size: "6", placeholder: "90m",
      autocomplete: "off", spellcheck: "false",
    });
    form.append(input);
    buttons.extendBy = element("button", { type: "submit", "aria-label": `Extend ${data.name} by the duration typed` }, "Extend");
    form.append(buttons.extendBy);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(data.key, "extend", { duration: input.value.trim() }, "Extending…");
    });
    meter.append(form);
    line = switches;
    buttons.suspend = act("suspend", "Suspend", () => ({}), "Suspending…");
    buttons.resume = act("resume", "Resume", () => ({}), "Resuming…");
    buttons.wake = act("wake", "Wake", () => ({}), "Waking…");
    actions.append(group);
    const output = element("output", { class: "result", "aria-live": "polite" });
    actions.append(output);
    tr.append(actions);
    return { data, tr, cells, buttons, input, output, busy: false };
  }

  function fill(row) {
    const d = row.data;
    const c = row.cells;
    c.endpoint.querySelector(".instance").textContent = d.instance === "-" ? "" : d.instance;
    c.phase.replaceChildren(element("span", { class: `phase phase-${d.phase || "none"}` }, d.phase || "–"));
    c.reason.textContent = d.reason || "–";
    const time = c.time.firstChild;
    if (d.expiresAt) {
      time.setAttribute("datetime", d.expiresAt);
      time.title = `expires at ${d.expiresAt}`;
    } else {
      time.removeAttribute("datetime");
      time.title = "no expiry";
    }
    time.textContent = timeLeft(d.expiresAt, Date.now());
    // What it costs now: a parked endpoint costs nothing, its rate applies when it runs again.
    const parked = d.phase === "Parked";
    c.cost.textContent = !d.costPerHour ? "–" : parked ? `$${d.costPerHour} when running` : `$${d.costPerHour}`;
    c.cost.classList.toggle("muted", parked);
    c.route.replaceChildren();
    if (d.route) {
      c.route.append(element("span", { class: "auth" }, d.route.authorization));
      c.route.append(" ");
      c.route.append(d.route.url ? element("code", { class: "url" }, d.route.url)
        : element("span", { class: "pending" }, `/${d.route.path || ""} (not deployed yet)`));
    } else {
      c.route.textContent = "–";
    }
    c.conditions.replaceChildren(...d.badges.map((badge) =>
      element("span", { class: `badge badge-${badge.type}`, title: badge.message }, badge.text)));
    c.budgets.replaceChildren(...d.policies.map((name) => budget(name)));
    if (!d.policies.length) c.budgets.textContent = "–";
    row.buttons.suspend.disabled = row.busy || d.suspended;
    row.buttons.resume.disabled = row.busy || !d.suspended;
    for (const name of ["extend1h", "extend4h", "extendBy", "wake"]) row.buttons[name].disabled = row.busy;
  }

  function budget(name) {
    const policy = policies[name];
    const box = element("div", { class: "budget" });
    if (!policy) return box;
    if (policy.budget) {
      const label = `${name}: $${policy.usdPerHour} of $${policy.budget}/h`;
      box.append(element("span", {}, label));
      box.append(element("meter", {
        min: "0", max: policy.budget, value: policy.usdPerHour, "aria-label": `${name} budget used`,
      }));
      if (policy.waiting) box.append(element("span", { class: "waiting" }, ` ${policy.waiting} waiting`));
    } else {
      box.append(element("span", {}, `${name}: $${policy.usdPerHour}/h, no budget`));
    }
    return box;
  }

  // ------------------------------------------------------------------ the table

  function upsert(data, receivedAt) {
    let row = rows.get(data.key);
    if (!row) {
      row = createRow(data);
      rows.set(data.key, row);
      const keys = [...rows.keys()].sort();
      const next = rows.get(keys[keys.indexOf(data.key) + 1]);
      tbody.insertBefore(row.tr, next ? next.tr : null);
    }
    row.data = data;
    fill(row);
    if (receivedAt !== undefined) {
      timings.updates.push({ key: data.key, resourceVersion: data.resourceVersion, receivedAt: receivedAt * 1000, renderedAt: Date.now() });
      if (timings.updates.length > 500) timings.updates.shift();
    }
  }

  function remove(key) {
    const row = rows.get(key);
    if (row) {
      row.tr.remove();
      rows.delete(key);
    }
  }

  function applyFilters() {
    const namespaces = [...new Set([...rows.values()].map((r) => r.data.namespace))].sort();
    const chosen = namespaceFilter.value;
    const offered = [...namespaceFilter.options].slice(1).map((o) => o.value);
    if (offered.join("\n") !== namespaces.join("\n")) {
      namespaceFilter.replaceChildren(namespaceFilter.options[0],
        ...namespaces.map((ns) => element("option", { value: ns }, ns)));
      namespaceFilter.value = namespaces.includes(chosen) ? chosen : "";
    }
    let shown = 0;
    for (const row of rows.values()) {
      const visible = (!namespaceFilter.value || row.data.namespace === namespaceFilter.value)
        && (!phaseFilter.value || row.data.phase === phaseFilter.value);
      row.tr.hidden = !visible;
      shown += visible ? 1 : 0;
    }
    document.getElementById("count").textContent = `${shown} of ${rows.size} endpoints`;
    document.getElementById("empty").hidden = shown > 0;
  }

  function showHealth(health) {
    const problem = document.getElementById("problem");
    const endpoints = health.endpoints;
    problem.hidden = endpoints.ok || endpoints.message === "connecting";
    problem.textContent = problem.hidden ? "" : `Cannot watch ManagedEndpoints: ${endpoints.message}`;
    const note = document.getElementById("policy-note");
    const watched = health.policies;
    note.hidden = watched.ok || watched.message === "connecting";
    note.textContent = note.hidden ? "" : `Budgets are not shown: ${watched.message}`;
  }

  function handle(message) {
    switch (message.type) {
      case "snapshot": {
        document.getElementById("scope").textContent = `${message.context} · ${message.scope}`;
        policies = message.policies;
        const keys = new Set(message.rows.map((r) => r.key));
        for (const key of [...rows.keys()]) if (!keys.has(key)) remove(key);
        for (const data of message.rows) upsert(data);
        showHealth(message.health);
        if (timings.firstRender === null && message.health.endpoints.message !== "connecting") {
          timings.firstRender = 0; // taken once the rows are painted
          requestAnimationFrame(() => { timings.firstRender = performance.now(); });
        }
        break;
      }
      case "row":
        upsert(message.row, message.receivedAt);
        break;
      case "gone":
        remove(message.key);
        break;
      case "health":
        showHealth(message.health);
        break;
    }
    applyFilters();
  }

  // ------------------------------------------------------------------ actions

  async function send(key, action, body, busyText) {
    const row = rows.get(key);
    if (!row) return;
    const [namespace, name] = key.split("/");
    row.busy = true;
    fill(row);
    row.output.className = "result";
    row.output.textContent = busyText;
    try {
      const response = await fetch(`/api/endpoints/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${action}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Sagemeter-Token": token },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({ message: response.statusText }));
      if (response.ok) {
        row.output.textContent = answer.note ? `${answer.message}. ${answer.note}` : answer.message;
        if (action === "extend" && body.duration === row.input.value.trim()) row.input.value = "";
      } else {
        row.output.className = "result error";
        const reason = answer.reason ? ` ${answer.reason}` : "";
        row.output.textContent = `${answer.status || response.status}${reason}: ${answer.message}`;
      }
    } catch (error) {
      row.output.className = "result error";
      row.output.textContent = `The page's server did not answer: ${error}`;
    } finally {
      row.busy = false;
      const current = rows.get(key);
      if (current) fill(current);
    }
  }

  // ------------------------------------------------------------------ live updates

  const connection = document.getElementById("connection");
  function connected(state, text) {
    connection.dataset.state = state;
    connection.textContent = text;
  }
  const source = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
  source.onopen = () => connected("live", "live");
  source.onerror = () => connected("lost", "reconnecting…");
  source.onmessage = (event) => handle(JSON.parse(event.data));
  namespaceFilter.addEventListener("change", applyFilters);
  phaseFilter.addEventListener("change", applyFilters);
  setInterval(tick, 1000);
})();
