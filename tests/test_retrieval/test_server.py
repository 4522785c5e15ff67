"""``worldclass serve``: JSON API, uploads, previews, and the page rendered by a real headless browser."""

import json
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from worldclass.data.bigearthnet.naming import v2_s1_band_path
from worldclass.data.dataset import BigEarthNet
from worldclass.retrieval import build_index
from worldclass.retrieval.server import serve_in_thread
from worldclass.retrieval.service import SearchService

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _post_files(url: str, files: list[Path]) -> dict:  # type: ignore[type-arg]
    boundary = uuid.uuid4().hex
    body = b""
    for f in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{f.name}"\r\n'
                "Content-Type: image/tiff\r\n\r\n"
            ).encode()
            + f.read_bytes()
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as e:
        return json.loads(e.read())  # type: ignore[no-any-return]


@pytest.fixture()
def server(ssl_embeddings: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    build_index(ssl_embeddings, tmp_path / "idx", "hnsw", sensor="s2")
    srv, url = serve_in_thread(SearchService(tmp_path / "idx"))
    yield url
    srv.shutdown()


def test_api_upload_and_previews(server: str, v2_store: Path, v2_root: Path) -> None:
    ds = BigEarthNet(v2_store, split="all", sensors=("s2", "s1"))
    pid, s1 = ds.patch_ids[2], ds.s1_names[2]
    status, body = _get(server + "api/info")
    info = json.loads(body)
    assert status == 200 and info["kind"] == "hnsw" and info["sensors"] == ["s2"] and pid in info["examples"]
    status, body = _get(server + f"api/search?id={pid}&sensor=s1&k=4")
    res = json.loads(body)
    assert status == 200 and len(res["results"]) == 4 and res["query"]["sensor"] == "s1"
    status, png = _get(server + f"preview/s2/{res['results'][0]['patch_id']}.png")
    assert status == 200 and png.startswith(b"\x89PNG")
    assert _get(server + f"preview/s1/{pid}.png")[1].startswith(b"\x89PNG")
    assert _get(server + "preview/s2/nope.png")[0] == 404
    status, body = _get(server + "api/search?id=nope")
    assert status == 400 and "not in the embedding set" in json.loads(body)["error"]
    assert s1 is not None
    files = [v2_s1_band_path(v2_root, s1, b) for b in ("VV", "VH")]
    up = _post_files(server + "api/search?k=3", files)
    assert up["query"]["sensor"] == "s1" and len(up["results"]) == 3
    bad = _post_files(server + "api/search?k=3", files[:1])
    assert "lacks bands ['VH']" in bad["error"]


@pytest.mark.skipif(BROWSER is None, reason="no chromium/chrome on this machine")
def test_page_renders_results_in_headless_browser(server: str, v2_store: Path, tmp_path: Path) -> None:
    pid = BigEarthNet(v2_store, split="all", sensors=("s2", "s1")).patch_ids[0]
    url = server + f"?id={pid}&sensor=s1"
    flags = [
        str(BROWSER),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=15000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert dom.count('<div class="hit" data-id="S2') == 10, dom[-2000:]  # rendered by the page's script
    assert "patches in a hnsw index" in dom and f"<b>query</b> {pid} [s1]" in dom
    assert 'src="/preview/s2/' in dom
    shot = tmp_path / "page.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,900", url], capture_output=True, timeout=120
    )
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_oversized_upload_and_bad_k_are_refused(server: str) -> None:
    """An upload is bounded before it is read (one patch is a few MB at most); a bad k is a 400."""
    import http.client
    from urllib.parse import urlparse

    from worldclass.retrieval.server import MAX_UPLOAD_BYTES

    url = urlparse(server)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.putrequest("POST", "/api/search")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(MAX_UPLOAD_BYTES + 1))
    conn.endheaders()  # no body sent: the server must answer from the header alone
    r = conn.getresponse()
    assert r.status == 413 and "refused" in json.loads(r.read())["error"]
    conn.close()
    status, body = _get(server + "api/search?id=x&k=0")
    assert status == 400 and "-k 0" in json.loads(body)["error"]
