"""``worldclass al serve RUN``: the annotation page (the search page's server, previews and style).

Routes: ``GET /`` the page; ``GET /api/batch`` the pending batch (items, answers given so far, classes,
model suggestions, the last history rows); ``POST /api/answer`` JSON ``{"run", "round", "key", "answer"}``
(recorded in the run's journal at once; ``answer``: a list of class names, or true/false for similar);
``POST /api/step`` retrain and propose the next batch (`worldclass al step`); ``GET /preview/<sensor>/<id>.png``.
Errors come back as ``{"error": "..."}`` with status 400. Binds to 127.0.0.1 by default.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from worldclass.retrieval.server import PageHandler
from worldclass.retrieval.service import Previews
from worldclass.training.active.answers import check_answer
from worldclass.training.active.run import Run

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>worldclass: annotate</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
#items{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:10px;margin-top:1em}
.item{border:1px solid #ccc;border-radius:6px;padding:6px;font-size:12px;background:#fafafa}
.item.done{background:#e8f5e9;border-color:#7cb342}
.item img{width:120px;height:120px;image-rendering:pixelated;background:#ddd;margin-right:4px}
.err{color:#b00020} label{display:inline-block;margin-right:6px} button{margin:3px}
</style></head><body>
<h1>worldclass: annotate the next batch</h1>
<p id="summary">loading batch...</p>
<div id="status"></div>
<button id="step">Retrain and propose the next batch</button>
<div id="items"></div>
<script>
const $ = (id) => document.getElementById(id);
let B = null;
function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));}
function img(id){return `<img alt="${esc(id)}" src="/preview/${encodeURIComponent(B.sensor)}/${encodeURIComponent(id)}.png">`;}
function count(){const n=B.items.filter(i=>i.answer!==null).length;
  $("status").textContent=`${n} of ${B.items.length} answered`;}
function card(it){
  const done=it.answer!==null?" done":"";
  if(B.mode==="pairs"){const [a,b]=it.key.split("|");
    return `<div class="item${done}" data-key="${esc(it.key)}">${img(a)}${img(b)}<br>${esc(a)}<br>${esc(b)}<br>
      <button class="ans-similar">similar</button><button class="ans-dissimilar">dissimilar</button>
      <span class="given">${it.answer===null?"":(it.answer?"similar":"dissimilar")}</span></div>`;}
  const chosen=it.answer!==null?it.answer:(B.suggestions[it.key]||[]);
  const boxes=B.classes.map(c=>`<label><input type="checkbox" value="${esc(c)}"${chosen.includes(c)?" checked":""}> ${esc(c)}</label>`).join("");
  return `<div class="item${done}" data-key="${esc(it.key)}">${img(it.key)}<br>${esc(it.key)}<br>${boxes}<br>
    <button class="save">save labels</button><span class="given">${it.answer===null?"":"saved"}</span></div>`;}
async function answer(key, value, el){
  const r=await fetch("/api/answer",{method:"POST",headers:{"Content-Type":"application/json"},
    body:JSON.stringify({run:B.run,round:B.round,key:key,answer:value})});
  const d=await r.json();
  if(d.error){$("status").innerHTML=`<span class="err">${esc(d.error)}</span>`;return;}
  B.items.find(i=>i.key===key).answer=value; el.classList.add("done");
  el.querySelector(".given").textContent=B.mode==="pairs"?(value?"similar":"dissimilar"):"saved"; count();}
function show(){
  if(B.error){$("summary").innerHTML=`<span class="err">${esc(B.error)}</span>`;$("items").innerHTML="";return;}
  const h=B.history.length?B.history[B.history.length-1]:null;
  $("summary").textContent=`run ${B.run}, round ${B.round} (${B.mode}, ${B.strategy}): ${B.items.length} items`+
    (h?`; after round ${h.round}: ${h.annotations} answered, `+Object.entries(h).filter(([k])=>k.startsWith("f1_")||k.startsWith("map")).map(([k,v])=>`${k} ${v.toFixed(3)}`).join(", "):"");
  $("items").innerHTML=B.items.map(card).join(""); count();
  for(const el of document.querySelectorAll(".item")){const key=el.dataset.key;
    for(const b of el.querySelectorAll(".ans-similar")) b.onclick=()=>answer(key,true,el);
    for(const b of el.querySelectorAll(".ans-dissimilar")) b.onclick=()=>answer(key,false,el);
    for(const b of el.querySelectorAll(".save")) b.onclick=()=>answer(key,[...el.querySelectorAll("input:checked")].map(x=>x.value),el);}}
async function load(){B=await (await fetch("/api/batch")).json(); show();}
$("step").onclick=async()=>{$("status").textContent="retraining...";
  const d=await (await fetch("/api/step",{method:"POST"})).json();
  if(d.error){$("status").innerHTML=`<span class="err">${esc(d.error)}</span>`;return;} await load();};
load();
</script></body></html>
"""


class Annotation:
    """What the page serves: an opened run, its pool's classes and the archive's previews."""

    def __init__(self, run: str | Path, data: str | Path | None = None) -> None:
        from worldclass.retrieval.embeddings import Embeddings

        self.run = Run.open(run)
        emb = Embeddings.open(self.run.settings.embeddings)
        self.classes = emb.classes
        self.sensor = self.run.settings.sensor or emb.rows.column("sensor")[0].as_py()
        self.previews = Previews(data or emb.info.get("data", {}).get("root", ""))
        self.lock = threading.Lock()  # one step at a time; answers are appended under it too

    def batch(self) -> dict[str, Any]:
        state = self.run.state()
        s = self.run.settings
        out: dict[str, Any] = {
            "run": self.run.id,
            "mode": s.mode,
            "strategy": s.strategy,
            "sensor": self.sensor,
        }
        out["history"] = state.history[-5:]
        if state.pending is None:
            return {**out, "error": f"{self.run.path}: the budget of {s.budget} is spent; see history.csv"}
        given = self.run.pending_answers(state)
        batch_file = self.run.path / "batch.json"
        extra = json.loads(batch_file.read_text()) if batch_file.is_file() else {}
        items = [{"key": k, "answer": given.get(k)} for k in state.pending["items"]]
        return {
            **out,
            "round": state.pending["round"],
            "items": items,
            "classes": self.classes,
            "suggestions": extra.get("suggestions", {})
            if extra.get("round") == state.pending["round"]
            else {},
        }

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            entry = check_answer(
                self.run,
                self.classes,
                str(body["run"]),
                int(body["round"]),
                str(body["key"]),
                body["answer"],
                "answer",
            )
            self.run.record([entry])
            state = self.run.state()
            assert state.pending is not None
            return {
                "ok": True,
                "answered": len(self.run.pending_answers(state)),
                "total": len(state.pending["items"]),
            }

    def step(self) -> dict[str, Any]:
        from worldclass.training.active.loop import step

        with self.lock:
            return step(self.run)


def _handler(a: Annotation) -> type[BaseHTTPRequestHandler]:
    class Handler(PageHandler):
        def do_GET(self) -> None:
            path = urlparse(self.path).path
            if path == "/":
                self._send(200, PAGE.encode(), "text/html; charset=utf-8")
            elif path == "/api/batch":
                self._guard(lambda: self._json(a.batch()))
            elif path.startswith("/preview/") and path.endswith(".png"):
                self._preview(path, a.previews.png)
            else:
                self._json({"error": f"no route {path}"}, 404)

        def do_POST(self) -> None:
            path = urlparse(self.path).path
            if path == "/api/answer":
                length = int(self.headers.get("Content-Length", 0) or 0)
                if not 0 <= length <= 1 << 20:
                    self._json({"error": "an answer is at most 1 MB"}, 413)
                    return
                self._guard(lambda: self._json(a.answer(json.loads(self.rfile.read(length) or b"{}"))))
            elif path == "/api/step":
                self._guard(lambda: self._json(a.step()))
            else:
                self._json({"error": f"no route {path}"}, 404)

    return Handler


def make_server(a: Annotation, host: str = "127.0.0.1", port: int = 8766) -> ThreadingHTTPServer:
    """A bound server (``port=0`` picks a free port)."""
    return ThreadingHTTPServer((host, port), _handler(a))
