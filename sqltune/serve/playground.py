"""The playground page at `/`: one self-contained HTML file (no external URLs), strict CSP.

Opening `/#q=<question>&adapter=<name>&run=1` fills the form and submits it at once; when the
answer is in, `<body data-state="done">` is set. That makes the page testable headless.
"""

from __future__ import annotations

import base64
import hashlib

STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
textarea { width: 100%; font: inherit; box-sizing: border-box; }
pre { background: #f4f4f4; padding: .75rem; white-space: pre-wrap; word-break: break-word; }
table { border-collapse: collapse; margin-top: .5rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; }
.error { color: #a00; } .ok { color: #070; } label { margin-right: 1rem; }
"""

SCRIPT = """
"use strict";
const $ = (id) => document.getElementById(id);
function show(id, text, cls) { const el = $(id); el.textContent = text; el.className = cls || ""; }
function renderRows(columns, rows) {
  const table = $("result"); table.replaceChildren();
  if (!columns) return;
  const head = table.createTHead().insertRow();
  for (const c of columns) { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); }
  const body = table.createTBody();
  for (const r of rows) { const tr = body.insertRow(); for (const v of r) { tr.insertCell().textContent = v === null ? "NULL" : String(v); } }
}
async function loadAdapters() {
  try {
    const health = await (await fetch("healthz")).json();
    const select = $("adapter");
    for (const name of health.adapters) { const o = document.createElement("option"); o.value = name; o.textContent = name; select.appendChild(o); }
    if (health.default_adapter) select.value = health.default_adapter;
    $("run").disabled = !health.execution;
  } catch (e) { show("status", "server unreachable: " + e, "error"); }
}
async function ask(event) {
  if (event) event.preventDefault();
  document.body.dataset.state = "busy";
  show("status", "generating...", ""); show("sql", ""); renderRows(null, []);
  const body = { question: $("question").value, execute: $("run").checked };
  const adapter = $("adapter").value;
  if (adapter !== "__default__") body.adapter = adapter === "__base__" ? "" : adapter;
  try {
    const resp = await fetch("v1/sql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const data = await resp.json();
    if (!resp.ok) { show("status", resp.status + " " + data.error.code + ": " + data.error.message, "error"); return; }
    show("sql", data.sql);
    const problem = data.validation_error || data.execution_error;
    if (problem) show("status", problem.code + ": " + problem.message, "error");
    else show("status", (data.executed ? data.rows.length + " row(s)" + (data.truncated ? " (truncated)" : "") : "valid SQL") + " in " + Math.round(data.latency_ms) + " ms", "ok");
    if (data.executed) renderRows(data.columns, data.rows);
  } catch (e) { show("status", "request failed: " + e, "error"); }
  finally { document.body.dataset.state = "done"; }
}
async function main() {
  $("form").addEventListener("submit", ask);
  await loadAdapters();
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("q")) {
    $("question").value = params.get("q");
    if (params.has("adapter")) $("adapter").value = params.get("adapter") || "__base__";
    $("run").checked = params.get("run") === "1";
    await ask(null);
  }
}
main();
"""

PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sqltune playground</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head>
<body data-state="idle">
<h1>sqltune playground</h1>
<form id="form">
  <textarea id="question" rows="3" placeholder="Ask a question about the warehouse" required></textarea>
  <p><label>adapter <select id="adapter"><option value="__default__">(server default)</option>
  <option value="__base__">(base / merged model)</option></select></label>
  <label><input type="checkbox" id="run"> run the SQL</label>
  <button type="submit">Ask</button></p>
</form>
<p id="status"></p>
<pre id="sql"></pre>
<table id="result"></table>
<script>{SCRIPT}</script>
</body></html>
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {_csp_hash(SCRIPT)}; style-src {_csp_hash(STYLE)}; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
