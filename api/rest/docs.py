"""The interactive API docs page at /api/v1/docs, self-contained (works offline, no CDN).

It reads /api/v1/openapi.json in the browser and lists every operation with its roles, parameters
and request example; "Send" performs the request with the token obtained on the page. All text is
inserted with `textContent`, never as HTML.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response

DESCRIPTION = """\
The REST API of Yekuo, the 业扩报装 (service-connection) BPM.

**Auth.** `POST /api/v1/auth/token` with `{"username", "password"}` returns `{access_token, token_type,
expires_in}`; send `Authorization: Bearer <access_token>` with every other request. Tokens are signed
and expire (8 h by default). Each operation lists the roles that may call it in `x-roles` (`*`: any
signed-in user); others get 403, calls without a valid token 401.

**Errors.** Every error is `{"error": {"code", "message", "details"}}` with the HTTP status: 400, 401,
403, 404, 405, 409 (conflict: someone else changed it, the task is held or closed, an idempotency key was
reused with another body), 413, 415, 422 (`details` maps field paths to messages), 429.

**Lists** take `page` (from 1) and `page_size` (1–100, default 20) and answer
`{"items": [...], "total": N, "page": p, "page_size": s}`.
"""

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>Yekuo API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/svg+xml" href="/favicon.svg">
<style>
body{font:14px/1.5 system-ui,"Noto Sans CJK SC",sans-serif;margin:0;color:#1f2933;background:#f5f7fa}
header{background:#0b4f8a;color:#fff;padding:12px 24px}header h1{margin:0;font-size:20px}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
#auth{background:#fff;border:1px solid #d9e2ec;border-radius:6px;padding:12px;margin-bottom:16px}
.op{background:#fff;border:1px solid #d9e2ec;border-radius:6px;margin:8px 0}
.op summary{cursor:pointer;padding:8px 12px;display:flex;gap:10px;align-items:center}
.m{font-weight:700;min-width:60px;text-align:center;border-radius:4px;color:#fff;padding:1px 6px}
.GET{background:#2f80ed}.POST{background:#27ae60}.PATCH{background:#f2994a}.DELETE{background:#eb5757}.PUT{background:#9b51e0}
.path{font-family:monospace}.roles{color:#627d98;margin-left:auto;font-size:12px}
.body{padding:8px 12px;border-top:1px solid #eef2f7}
textarea{width:100%;min-height:140px;font-family:monospace;font-size:12px}
input[type=text],input[type=password]{padding:3px 6px}
pre{background:#102a43;color:#d9e2ec;padding:8px;overflow:auto;max-height:360px;white-space:pre-wrap}
label{display:inline-block;margin:2px 8px 2px 0}h2{font-size:16px;margin:20px 0 4px}
</style></head><body>
<header><h1>Yekuo 业扩报装 REST API</h1><div>OpenAPI: <a style="color:#fff" href="openapi.json">/api/v1/openapi.json</a></div></header>
<main>
<section id="auth"><strong>Token</strong>
<label>用户名 <input type="text" id="u" value="clerk"></label>
<label>密码 <input type="password" id="p" value=""></label>
<button id="login">获取令牌</button> <span id="who"></span>
<div><label>Bearer <input type="text" id="token" size="80"></label></div></section>
<div id="intro"></div><div id="ops">Loading…</div>
</main><script nonce="%(nonce)s" src="docs.js"></script></body></html>
"""

SCRIPT = r"""
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) { if (k === "class") e.className = v; else e.setAttribute(k, v); }
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  };
  $("token").value = sessionStorage.getItem("yekuo-token") || "";
  $("token").addEventListener("change", () => sessionStorage.setItem("yekuo-token", $("token").value));
  $("login").addEventListener("click", async () => {
    const r = await fetch("auth/token", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({username: $("u").value, password: $("p").value})});
    const j = await r.json();
    if (r.ok) { $("token").value = j.access_token; sessionStorage.setItem("yekuo-token", j.access_token);
                $("who").textContent = "✓ " + $("u").value; }
    else { $("who").textContent = r.status + " " + (j.error ? j.error.message : ""); }
  });
  const example = (op) => {
    const rb = op.requestBody; if (!rb) return null;
    const [type, media] = Object.entries(rb.content)[0];
    if (type === "multipart/form-data") return {type, text: null};
    const ex = media.example !== undefined ? media.example : {};
    return {type, text: typeof ex === "string" ? ex : JSON.stringify(ex, null, 2)};
  };
  const render = (spec) => {
    $("intro").append(el("p", {}, spec.info.description.split("\n\n")[0]));
    const box = $("ops"); box.textContent = "";
    const byTag = {};
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (method === "parameters") continue;
        const tag = (op.tags || ["other"])[0];
        (byTag[tag] = byTag[tag] || []).push({path, method: method.toUpperCase(), op,
          params: [...(item.parameters || []), ...(op.parameters || [])]});
      }
    }
    for (const [tag, ops] of Object.entries(byTag)) {
      box.append(el("h2", {}, tag));
      for (const o of ops) box.append(operation(o));
    }
  };
  const operation = ({path, method, op, params}) => {
    const roles = op["x-roles"] ? "roles: " + op["x-roles"].join(", ") : "public";
    const d = el("details", {class: "op"}, el("summary", {}, el("span", {class: "m " + method}, method),
      el("span", {class: "path"}, path), el("span", {}, op.summary || ""), el("span", {class: "roles"}, roles)));
    const body = el("div", {class: "body"});
    if (op.description) body.append(el("p", {}, op.description));
    const inputs = {};
    for (const p of params) {
      if (p.in !== "path" && p.in !== "query" && p.in !== "header") continue;
      const i = el("input", {type: "text", placeholder: p.in});
      if (p.example !== undefined) i.value = p.example;
      inputs[p.in + ":" + p.name] = {p, i};
      body.append(el("label", {}, p.name + (p.required ? "*" : "") + " ", i));
    }
    const ex = example(op);
    let area = null, file = null;
    if (ex && ex.text !== null) { area = el("textarea", {}); area.value = ex.text; body.append(area); }
    if (ex && ex.text === null) { file = el("input", {type: "file", multiple: "multiple"}); body.append(file); }
    const out = el("pre", {});
    const send = el("button", {}, "Send");
    send.addEventListener("click", async () => {
      let url = path; const q = new URLSearchParams(); const headers = {};
      for (const {p, i} of Object.values(inputs)) {
        if (!i.value) continue;
        if (p.in === "path") url = url.replace("{" + p.name + "}", encodeURIComponent(i.value));
        else if (p.in === "query") q.append(p.name, i.value); else headers[p.name] = i.value;
      }
      if ($("token").value) headers["Authorization"] = "Bearer " + $("token").value;
      const init = {method, headers};
      if (area) { headers["Content-Type"] = ex.type; init.body = area.value; }
      if (file) { const f = new FormData(); const name = path.endsWith("deployments") ? "files" : "file";
                  for (const x of file.files) f.append(name, x); init.body = f; }
      const r = await fetch(url + (q.toString() ? "?" + q : ""), init);
      const text = await r.text();
      let shown = text; try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
      out.textContent = r.status + " " + r.statusText + "\n" + shown;
    });
    body.append(el("div", {}, send), out);
    d.append(body);
    return d;
  };
  fetch("openapi.json").then((r) => r.json()).then(render)
    .catch((e) => { $("ops").textContent = "could not load the OpenAPI document: " + e; });
})();
"""

bp = Blueprint("api_docs_page", __name__, url_prefix="/api/v1")


@bp.get("/docs")
def page() -> Response:
    from api.security import csp_nonce

    return Response(PAGE.replace("%(nonce)s", csp_nonce()), mimetype="text/html")


@bp.get("/docs.js")
def script() -> Response:
    return Response(SCRIPT, mimetype="text/javascript")


def register(app: Flask, api: Any) -> None:
    app.register_blueprint(bp)
