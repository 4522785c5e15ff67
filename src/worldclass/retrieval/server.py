"""``worldclass serve INDEX``: a small local web page to search an index (standard library HTTP server).

Routes: ``GET /`` the page; ``GET /api/info`` index summary and example ids; ``GET /api/search?id=&sensor=&k=``
search by stored patch; ``POST /api/search?k=&sensor=`` (multipart ``files``: the band files of one patch
or one multi-band GeoTIFF) search by upload; ``GET /preview/<sensor>/<patch_id>.png`` RGB/VV preview.
Errors come back as JSON ``{"error": "..."}`` with status 400 (bad query) or 404. Binds to 127.0.0.1 by
default: it is a local tool, with no authentication.
"""

from __future__ import annotations

import json
import tempfile
import threading
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from worldclass.errors import WorldclassError
from worldclass.retrieval.service import SearchService

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>worldclass search</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
#hits{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin-top:1em}
.hit{border:1px solid #ccc;border-radius:6px;padding:6px;font-size:12px;background:#fafafa}
.hit img,.q img{width:120px;height:120px;image-rendering:pixelated;display:block;background:#ddd}
.err{color:#b00020}.q{display:flex;gap:1em;align-items:center}
form{margin:.5em 0}
</style></head><body>
<h1>worldclass: find patches like this one</h1>
<p id="summary">loading index...</p>
<form id="byid">Patch id <input id="pid" list="ids" size="60"> <datalist id="ids"></datalist>
sensor <select id="sensor"></select> k <input id="k" type="number" value="10" min="1" max="100" size="3">
<button type="submit">Search</button></form>
<form id="byfile">or upload the band files of a patch (or one multi-band GeoTIFF)
<input id="files" type="file" multiple accept=".tif,.tiff"> <button type="submit">Search by image</button></form>
<div id="status"></div><div id="query" class="q"></div><div id="hits"></div>
<script>
const $ = (id) => document.getElementById(id);
function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));}
function img(h){return `<img alt="${esc(h.patch_id)}" src="/preview/${encodeURIComponent(h.sensor)}/${encodeURIComponent(h.patch_id)}.png">`;}
function show(data){
  if(data.error){$("status").innerHTML=`<span class="err">${esc(data.error)}</span>`;$("hits").innerHTML="";return;}
  const q=data.query;
  $("status").textContent=`${data.results.length} results (${data.kind} index)`;
  $("query").innerHTML=q.patch_id?`${img(q)}<div><b>query</b> ${esc(q.patch_id)} [${esc(q.sensor)}]<br>${esc((q.labels||[]).join(", "))}</div>`
                                  :`<div><b>query</b> ${esc(q.files.join(", "))} [${esc(q.sensor)}]</div>`;
  $("hits").innerHTML=data.results.map(h=>`<div class="hit" data-id="${esc(h.patch_id)}">${img(h)}<b>#${h.rank}</b> ${h.score.toFixed(3)} [${esc(h.sensor)}]<br>${esc(h.patch_id)}<br><i>${esc(h.labels.join(", "))}</i></div>`).join("");
}
async function byId(id){
  const url=`/api/search?id=${encodeURIComponent(id)}&k=${$("k").value}`+($("sensor").value?`&sensor=${encodeURIComponent($("sensor").value)}`:"");
  show(await (await fetch(url)).json());
}
$("byid").onsubmit=(e)=>{e.preventDefault();byId($("pid").value);};
$("byfile").onsubmit=async(e)=>{e.preventDefault();const fd=new FormData();
  for(const f of $("files").files) fd.append("files",f,f.name);
  show(await (await fetch(`/api/search?k=${$("k").value}`,{method:"POST",body:fd})).json());};
(async()=>{const info=await (await fetch("/api/info")).json();
  $("summary").textContent=`${info.n} patches in a ${info.kind} index (${info.sensors.join(", ")}), model ${info.model}`;
  $("ids").innerHTML=info.examples.map(i=>`<option value="${esc(i)}">`).join("");
  $("sensor").innerHTML=`<option value="">(auto)</option>`+info.query_sensors.map(s=>`<option>${esc(s)}</option>`).join("");
  const p=new URLSearchParams(location.search); if(p.get("id")){$("pid").value=p.get("id");
  if(p.get("sensor"))$("sensor").value=p.get("sensor"); byId(p.get("id"));}})();
</script></body></html>
"""


class PageHandler(BaseHTTPRequestHandler):
    """Shared plumbing of the local pages (search, annotation): quiet log, JSON answers, one-line errors."""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the CLI prints the address
        return

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except WorldclassError as exc:
            self._json({"error": str(exc)}, 400)
        except (ValueError, KeyError) as exc:
            self._json({"error": f"bad request: {exc}"}, 400)

    def _preview(self, path: str, png_of: Any) -> None:
        """``/preview/<sensor>/<patch_id>.png`` through ``png_of(patch_id, sensor)``."""
        sensor, _, pid = path[len("/preview/") : -4].partition("/")
        png = png_of(unquote(pid), unquote(sensor))
        self._send(200, png, "image/png") if png else self._json({"error": "no preview"}, 404)


def _handler(service: SearchService) -> type[BaseHTTPRequestHandler]:
    class Handler(PageHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/":
                self._send(200, PAGE.encode(), "text/html; charset=utf-8")
            elif url.path == "/api/info":
                self._json(info(service))
            elif url.path == "/api/search":
                self._guard(
                    lambda: self._json(
                        service.by_id(q["id"], sensor=q.get("sensor") or None, k=int(q.get("k", 10)))
                    )
                )
            elif url.path.startswith("/preview/") and url.path.endswith(".png"):
                self._preview(url.path, service.preview_png)
            else:
                self._json({"error": f"no route {url.path}"}, 404)

        def do_POST(self) -> None:
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path != "/api/search":
                self._json({"error": f"no route {url.path}"}, 404)
                return
            try:
                length = int(self.headers.get("Content-Length", 0))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_UPLOAD_BYTES:
                self._json(
                    {
                        "error": f"upload of {length} bytes refused: one patch is at most {MAX_UPLOAD_BYTES} bytes"
                    },
                    413,
                )
                self.close_connection = True
                return
            head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
            message = BytesParser(policy=email_policy).parsebytes(head + self.rfile.read(length))

            def run() -> None:
                with tempfile.TemporaryDirectory() as tmp:
                    paths = []
                    for part in message.iter_parts():
                        name = Path(part.get_filename() or "").name
                        if name:
                            payload = part.get_payload(decode=True)
                            (Path(tmp) / name).write_bytes(payload if isinstance(payload, bytes) else b"")
                            paths.append(Path(tmp) / name)
                    if not paths:
                        raise ValueError("upload the band files of one patch as 'files'")
                    self._json(service.by_image(paths, sensor=q.get("sensor") or None, k=int(q.get("k", 10))))

            self._guard(run)

    return Handler


#: Largest accepted upload: the band files of one patch (12 S2 bands of 120 x 120 uint16 are ~0.4 MB, a
#: multi-band GeoTIFF a few MB); anything bigger is refused before it is read.
MAX_UPLOAD_BYTES = 32 * 1024 * 1024


def info(service: SearchService) -> dict[str, Any]:
    idx = service.index
    sensors = sorted(set(idx.rows.column("sensor").to_pylist()))
    src = idx.source(0)
    return {
        "n": len(idx),
        "kind": idx.kind,
        "sensors": sensors,
        "query_sensors": sorted(set(src.rows.column("sensor").to_pylist())),
        "model": Path(str(idx.info.get("model", {}).get("checkpoint", "?"))).name,
        "examples": idx.rows.column("patch_id").to_pylist()[:200],
    }


def make_server(service: SearchService, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A bound server (``port=0`` picks a free port: ``server.server_address``)."""
    return ThreadingHTTPServer((host, port), _handler(service))


def serve_in_thread(
    service: SearchService, host: str = "127.0.0.1", port: int = 0
) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a daemon thread; returns (server, base URL). Stop with ``server.shutdown()``."""
    server = make_server(service, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    h, p = server.server_address[:2]
    return server, f"http://{h if isinstance(h, str) else h.decode()}:{p}/"


__all__ = ["PageHandler", "info", "make_server", "serve_in_thread"]
