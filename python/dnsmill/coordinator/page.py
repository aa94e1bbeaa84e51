"""The status page: one self-contained HTML document (no external assets), which long-polls
the JSON API and redraws the streams as they change. Data is put in with ``textContent`` only,
never as HTML, so a stream's reason or a zone file's error cannot inject markup."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dnsmill streams</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2430; background: #f7f8fa; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
  #summary { color: #555; margin-bottom: 1rem; }
  .stream { background: #fff; border: 1px solid #d8dde6; border-radius: 6px; margin-bottom: 1rem; padding: .8rem 1rem; }
  .head { display: flex; align-items: center; gap: .6rem; flex-wrap: wrap; }
  .name { font-weight: 600; font-size: 1.05rem; }
  .status { border-radius: 10px; padding: 0 .6rem; font-size: .85rem; color: #fff; }
  .status.active { background: #1f883d; } .status.paused { background: #9a6700; }
  .status.failed { background: #cf222e; } .status.stopped { background: #57606a; }
  .status.pending { background: #8250df; }
  .reason { color: #cf222e; margin: .4rem 0 0; white-space: pre-wrap; }
  .actions { margin-left: auto; display: flex; gap: .4rem; }
  button { font: inherit; padding: .15rem .7rem; border: 1px solid #c4cad3; border-radius: 4px; background: #f3f4f6; cursor: pointer; }
  button:hover { background: #e6e9ee; }
  table { border-collapse: collapse; width: 100%; margin-top: .6rem; }
  th, td { text-align: left; padding: .25rem .5rem; border-top: 1px solid #eef0f3; vertical-align: top; }
  th { font-weight: 600; color: #555; font-size: .85rem; }
  td.error { color: #cf222e; white-space: pre-wrap; }
  #problem { color: #cf222e; }
</style>
</head>
<body>
<h1>dnsmill streams</h1>
<div id="summary">loading…</div>
<div id="problem"></div>
<div id="streams"></div>
<script>
"use strict";
const ACTIONS = {
  pending: ["start", "stop"], active: ["pause", "stop"], paused: ["resume", "stop"],
  stopped: ["start"], failed: ["resume", "stop"],
};
let version = -1;

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleTimeString() : "";
}

async function act(stream, action) {
  const headers = { "Content-Type": "application/json" };
  const token = sessionStorage.getItem("dnsmill-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch("api/streams/" + encodeURIComponent(stream) + "/" + action, { method: "POST", headers, body: "{}" });
  if (response.status === 401) {
    const given = prompt("API token");
    if (given) { sessionStorage.setItem("dnsmill-token", given); return act(stream, action); }
  }
  const body = await response.json().catch(() => ({}));
  document.getElementById("problem").textContent = response.ok ? "" : (body.error || response.statusText);
  refresh(false);
}

function draw(data) {
  const s = data.stats;
  document.getElementById("summary").textContent =
    `${s.streams} streams: ${s.active} active, ${s.paused} paused, ${s.failed} failed, ` +
    `${s.pending} pending, ${s.stopped} stopped; ${s.workers} sources running, ${s.restarts} restarts`;
  const root = document.getElementById("streams");
  root.replaceChildren();
  for (const stream of data.streams) {
    const box = document.createElement("section");
    box.className = "stream";
    box.dataset.stream = stream.name;
    box.dataset.status = stream.status;
    const head = document.createElement("div");
    head.className = "head";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = stream.name;
    const status = document.createElement("span");
    status.className = "status " + stream.status;
    status.textContent = stream.status;
    const restarts = document.createElement("span");
    restarts.textContent = `${stream.restarts} restarts`;
    const actions = document.createElement("span");
    actions.className = "actions";
    for (const action of ACTIONS[stream.status] || []) {
      const button = document.createElement("button");
      button.textContent = action;
      button.dataset.action = action;
      button.addEventListener("click", () => act(stream.name, action));
      actions.appendChild(button);
    }
    head.append(name, status, restarts, actions);
    box.appendChild(head);
    if (stream.reason) {
      const reason = document.createElement("p");
      reason.className = "reason";
      reason.textContent = stream.reason;
      box.appendChild(reason);
    }
    const table = document.createElement("table");
    const header = table.insertRow();
    for (const title of ["source", "kind", "state", "restarts", "events", "last event", "last error"]) {
      const th = document.createElement("th");
      th.textContent = title;
      header.appendChild(th);
    }
    for (const source of stream.sources) {
      const row = table.insertRow();
      row.dataset.source = source.name;
      cell(row, source.name);
      cell(row, source.kind);
      cell(row, source.state);
      cell(row, source.restarts);
      cell(row, source.events ?? 0);
      cell(row, source.last_event ? `${when(source.last_event_at)} ${source.last_event}` : "");
      cell(row, source.last_error ? `${when(source.last_error_at)} ${source.last_error}` : "", "error");
    }
    box.appendChild(table);
    root.appendChild(box);
  }
}

async function refresh(wait) {
  const query = wait ? `?version=${version}&wait=25` : "";
  const response = await fetch("api/streams" + query);
  if (!response.ok) throw new Error(response.statusText);
  const data = await response.json();
  version = data.version;
  draw(data);
}

async function follow() {
  for (;;) {
    try {
      await refresh(true);
      document.getElementById("problem").textContent = "";
    } catch (error) {
      document.getElementById("problem").textContent = "the coordinator does not answer; retrying";
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}
follow();
</script>
</body>
</html>
"""
