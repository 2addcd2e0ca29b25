// The operator page. Public API only, with the key the operator pasted (kept
// in this tab's sessionStorage). Every value from the API is put in the page as
// text (textContent), never as HTML.
"use strict";

const KEY_STORAGE = "schemata.apiKey";
const POLL_MS = 3000;
const FOLLOW_MS = 400;

const $ = (selector) => document.querySelector(selector);
const state = { key: sessionStorage.getItem(KEY_STORAGE), timer: null, following: new Map(), history: null };

/** An element with text and attributes; children appended in order. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const badge = (value) => el("span", { class: `badge ${value}`, text: value.replace(/_/g, " ") });

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.requestId = error.requestId;
  }
}

/** Calls the API with the pasted key; resolves to {status, body, response}. */
async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${state.key}`, Accept: "application/json", ...(options.headers || {}) },
    cache: "no-store",
    credentials: "omit",
  });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401) signOut("The API key was not accepted.");
    throw new ApiError(response.status, body);
  }
  return { status: response.status, body, response };
}

/** Every page of a cursor-paginated list. */
async function all(path) {
  const items = [];
  let cursor = null;
  do {
    const separator = path.includes("?") ? "&" : "?";
    const page = await api(`${path}${separator}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.body.data);
    cursor = page.body.pagination && page.body.pagination.next_cursor;
  } while (cursor);
  return items;
}

function notice(message) {
  const box = $("#notice");
  box.textContent = message || "";
  box.hidden = !message;
}

function describe(error) {
  return error.requestId ? `${error.message} (request ${error.requestId})` : error.message;
}

// --- time -------------------------------------------------------------------

function age(timestamp) {
  if (!timestamp) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(timestamp)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

const clock = (timestamp) => (timestamp ? new Date(timestamp).toLocaleString() : "—");

function duration(from, to) {
  if (!from || !to) return null;
  const ms = Date.parse(to) - Date.parse(from);
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// --- connections ------------------------------------------------------------

async function loadConnections() {
  // One request per page of 200, statuses included: hundreds of connections
  // cost a few requests per poll, not one each.
  const connections = await all("/api/connections?include=status");
  const statuses = connections.map((c) => c.schema_status || null);
  const body = $("#connections tbody");
  body.replaceChildren(...connections.map((c, i) => connectionRow(c, statuses[i])));
  $("#no-connections").hidden = connections.length > 0;
  $("#connections").hidden = connections.length === 0;
  state.names = new Map(connections.map((c) => [c.id, c.name]));
}

function connectionRow(connection, status) {
  const cache = status ? status.cache_status : "unknown";
  const result = status && status.last_result;
  const following = state.following.get(connection.id);
  const resultCell = el("td", { class: "result-cell" });
  if (following) {
    resultCell.append(following.view);
  } else if (result) {
    resultCell.append(el("span", { class: `result ${result.ok ? "" : "failed"}`, text: result.message }));
  } else if (status && status.last_refresh_error) {
    resultCell.append(el("span", { class: "result failed", text: status.last_refresh_error }));
  } else {
    resultCell.append(el("span", { class: "muted", text: "no refresh yet" }));
  }
  return el(
    "tr",
    { "data-connection": connection.name, "data-cache-status": cache },
    el("th", { scope: "row", text: connection.name }),
    el("td", { text: connection.type }),
    el("td", {}, badge(connection.health_status)),
    el("td", { class: "cache" }, badge(following ? "refreshing" : cache)),
    el("td", { title: status ? clock(status.last_refresh_finished) : "" }, status ? age(status.last_refresh_finished) : "—"),
    resultCell,
    el(
      "td",
      { class: "actions" },
      el("button", {
        type: "button",
        text: "Refresh",
        "aria-label": `Refresh ${connection.name}`,
        disabled: Boolean(following) || connection.status === "disabled",
        onclick: () => refresh(connection),
      }),
      el("button", {
        type: "button",
        class: "quiet",
        text: "History",
        "aria-label": `History of ${connection.name}`,
        onclick: () => showHistory(connection),
      }),
    ),
  );
}

// --- refresh with live progress ---------------------------------------------

async function refresh(connection) {
  const view = el("div", { class: "progress", role: "status", "aria-live": "polite" });
  const bar = el("progress", { max: 1, "aria-label": `Refresh progress of ${connection.name}` });
  const label = el("span", { text: "asking…" });
  view.append(bar, label);
  state.following.set(connection.id, { view });
  await render();
  try {
    const { status, body, response } = await api(`/api/connections/${connection.id}/schemas/refresh`, { method: "POST" });
    if (status === 200) {
      label.textContent = body.data.message || "Fresh enough: no refresh needed.";
      return;
    }
    const location = response.headers.get("Location");
    for (;;) {
      const current = (await api(location)).body.data;
      const job = current.current_job;
      if (current.cache_status !== "refreshing" || !job) {
        const result = current.last_result;
        view.replaceChildren(
          el("span", {
            class: `result ${result && result.ok ? "" : "failed"}`,
            text: result ? result.message : current.last_refresh_error || current.cache_status,
          }),
        );
        break;
      }
      const { objects_done: done, objects_total: total } = job.progress;
      if (total) {
        bar.max = total;
        bar.value = done || 0;
      } else {
        bar.removeAttribute("value");
      }
      label.textContent = `${job.status === "running" ? "reading" : job.status}${total ? ` ${done || 0}/${total}` : ""}`;
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
    }
  } catch (error) {
    view.replaceChildren(el("span", { class: "result failed", text: describe(error) }));
  } finally {
    state.following.delete(connection.id);
    // Keep the outcome visible in place until the next poll redraws the row.
    await render();
  }
}

// --- queue --------------------------------------------------------------------

async function loadQueue() {
  const { body } = await api("/api/refreshes?status=queued,running&limit=50");
  const rows = body.data.map((run) => {
    const { objects_done: done, objects_total: total } = run.progress;
    return el(
      "tr",
      { "data-job": run.job_id },
      el("th", { scope: "row", text: (state.names && state.names.get(run.connection_id)) || run.connection_id }),
      el("td", {}, badge(run.status)),
      el("td", { text: run.trigger }),
      el("td", { title: clock(run.queued_at), text: age(run.queued_at) }),
      el("td", { text: String(run.attempt) }),
      el("td", { text: total ? `${done || 0}/${total}` : "—" }),
    );
  });
  $("#queue tbody").replaceChildren(...rows);
  $("#queue").hidden = rows.length === 0;
  $("#queue-empty").hidden = rows.length > 0;
  $("#queue-counts").textContent = `${body.counts.running} running · ${body.counts.queued} queued`;
}

// --- history --------------------------------------------------------------------

async function showHistory(connection) {
  state.history = connection;
  $("#history").hidden = false;
  $("#history-title").textContent = `History of ${connection.name}`;
  await loadHistory();
  $("#history").scrollIntoView({ behavior: "smooth", block: "start" });
}

async function loadHistory() {
  const connection = state.history;
  if (!connection) return;
  const { body } = await api(`/api/connections/${connection.id}/schemas/refreshes?limit=20`);
  $("#runs").replaceChildren(...body.data.map(runItem));
  if (body.data.length === 0) $("#runs").append(el("li", { class: "empty", text: "No runs yet." }));
}

function runItem(run) {
  const changes = run.changes;
  const breaking = Boolean(changes && changes.breaking);
  const took = duration(run.started_at, run.finished_at);
  const item = el(
    "li",
    { class: `run${breaking ? " breaking" : ""}`, "data-job": run.job_id },
    el(
      "header",
      {},
      badge(run.status),
      breaking ? el("span", { class: "tag-breaking", text: "breaking" }) : null,
      el("span", { class: "when", text: `${clock(run.queued_at)} · ${run.trigger}${took ? ` · ${took}` : ""}` }),
    ),
  );
  const message = run.result ? run.result.message : run.error;
  if (message) item.append(el("div", { class: "result", text: message }));
  if (changes) item.append(changeList(changes));
  return item;
}

function changeList(changes) {
  const list = el("ul", { "aria-label": "Changes" });
  const add = (text, cls) => list.append(el("li", { class: cls, text }));
  for (const reason of changes.breaking_reasons || []) add(`breaking: ${reason}`, "breaking-reasons");
  for (const id of changes.objects_added || []) add(`+ ${id}`);
  for (const id of changes.objects_removed || []) add(`− ${id}`);
  for (const change of changes.objects_changed || []) {
    const parts = [
      ...change.fields_added.map((f) => `+${f}`),
      ...change.fields_removed.map((f) => `−${f}`),
      ...change.fields_changed.map((f) => `~${f.field}`),
      ...(change.changes || []).map((c) => `~${c.property}`),
    ];
    add(`~ ${change.schema_id}: ${parts.join(" ")}`);
  }
  if (list.children.length === 0) add("no changes", "muted");
  return list;
}

// --- the loop -------------------------------------------------------------------

async function render() {
  try {
    await loadConnections();
    await loadQueue();
    await loadHistory();
    $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    notice(null);
  } catch (error) {
    if (state.key) notice(describe(error));
  }
}

function schedule() {
  clearInterval(state.timer);
  state.timer = setInterval(() => {
    if (!document.hidden && state.key) render();
  }, POLL_MS);
}

function signIn(key) {
  state.key = key;
  sessionStorage.setItem(KEY_STORAGE, key);
  $("#app").hidden = false;
  $("#signed-out").hidden = true;
  $("#forget-key").hidden = false;
  $("#api-key").value = "";
  $("#api-key").placeholder = "key in use (paste another to switch)";
  $("#api-key").required = false;
  render();
  schedule();
}

function signOut(message) {
  state.key = null;
  sessionStorage.removeItem(KEY_STORAGE);
  clearInterval(state.timer);
  $("#app").hidden = true;
  $("#signed-out").hidden = false;
  $("#forget-key").hidden = true;
  $("#api-key").placeholder = "sk_schemata_…";
  $("#api-key").required = true;
  notice(message);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("#api-key").value.trim();
    if (key) signIn(key);
  });
  $("#forget-key").addEventListener("click", () => signOut(null));
  $("#close-history").addEventListener("click", () => {
    state.history = null;
    $("#history").hidden = true;
  });
  if (state.key) signIn(state.key);
});
