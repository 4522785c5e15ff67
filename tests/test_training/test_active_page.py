"""A person in the loop: `worldclass al` commands end to end, and the annotation page driven by a real
headless browser (Chromium + ChromeDriver via Selenium): it loads the batch with previews, answers are
clicked, and they reach the run's journal; the retrain button proposes the next round."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from active_pool import CLASSES, make_pool
from worldclass.training.active import ActiveSettings, Run, init_run

BROWSER = next(
    (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
)
DRIVER = shutil.which("chromedriver")


def test_cli_person_loop_and_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_reliability.harness import run_cli

    def wc(*args: str) -> Any:
        r = run_cli(list(args), capsys)
        return SimpleNamespace(returncode=r.code, stdout=r.out, stderr=r.err)

    emb = make_pool(tmp_path / "emb", n=200, n_test=100)
    run = tmp_path / "run"
    r = wc(
        "al",
        "init",
        str(run),
        "--embeddings",
        str(emb),
        "--strategy",
        "margin+coreset",
        "--batch",
        "5",
        "--budget",
        "15",
        "--initial",
        "5",
    )
    assert r.returncode == 0, r.stderr
    r = wc("al", "next", str(run), "--json")
    batch = json.loads(r.stdout)
    assert batch["round"] == 0 and len(batch["items"]) == 5 and batch["classes"] == CLASSES
    # a person fills in batch.csv (';'-separated class names; '-' = no label) and hands it back
    rows = (run / "batch.csv").read_text().splitlines()
    filled = [rows[0]] + [line.rstrip(",") + ",Urban;Water" for line in rows[1:]]
    (tmp_path / "answers.csv").write_text("\n".join(filled) + "\n")
    r = wc("al", "answer", str(run), str(tmp_path / "answers.csv"))
    assert r.returncode == 0 and json.loads(r.stdout)["recorded"] == 5, r.stderr
    r = wc("al", "step", str(run))
    assert r.returncode == 0 and "round 0: 5 answered" in r.stderr, r.stderr
    assert json.loads(r.stdout)["annotations"] == 5
    assert Run.open(run).state().answered[batch["items"][0]["key"]] == ["Urban", "Water"]
    # the same answers file again: it is for round 0, the run is at round 1
    for args, message in [
        (
            ("al", "answer", str(run), str(tmp_path / "answers.csv")),
            "answers for round 0, the pending batch is round 1",
        ),
        (("al", "step", str(run)), "5 of 5 items of round 1 are not answered"),
        (
            ("al", "init", str(tmp_path / "r2"), "--embeddings", str(emb), "--budget", "500"),
            "larger than the pool",
        ),
        (("al", "init", str(tmp_path / "r3"), "--embeddings", str(tmp_path)), "not an embedding set"),
        (
            ("al", "init", str(tmp_path / "r4"), "--embeddings", str(emb), "--strategy", "entropy+dbscan"),
            "choose one of",
        ),
        (("al", "step", str(tmp_path / "nothing")), "not an active-learning run"),
    ]:
        r = wc(*args)
        assert r.returncode != 0 and message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert len(Run.open(run).state().answered) == 5  # nothing answered was lost on the way


@pytest.fixture
def page(ssl_embeddings: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    from worldclass.training.active.server import Annotation, make_server

    s = ActiveSettings(
        embeddings=str(ssl_embeddings),
        mode="pairs",
        strategy="mgue",
        batch=4,
        budget=12,
        initial=4,
        oracle="person",
        sensor="s2",
        eval_split="validation",
        anchors=50,
        neighbours=3,
        steps=30,
    )
    run = init_run(tmp_path / "run", s)
    server = make_server(Annotation(run.path), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield run, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.mark.skipif(BROWSER is None or DRIVER is None, reason="no chromium + chromedriver on this machine")
def test_page_answers_reach_the_run_in_a_real_browser(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    run, url = page
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(BROWSER)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=opts)
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".item")) == 4)
        items = driver.find_elements(By.CSS_SELECTOR, ".item")
        keys = [it.get_attribute("data-key") for it in items]
        assert keys == run.state().pending["items"]
        # previews are real PNGs of the archive's patches (both images of each pair)
        wait.until(
            lambda d: d.execute_script(
                "return [...document.images].every(i => i.complete && i.naturalWidth == 120)"
            )
        )
        assert len(driver.find_elements(By.TAG_NAME, "img")) == 8
        # retrain before everything is answered: the page shows the run's one-line refusal
        driver.find_element(By.ID, "step").click()
        wait.until(lambda d: "not answered" in d.find_element(By.ID, "status").text)
        clicks = {keys[0]: True, keys[1]: False, keys[2]: True, keys[3]: False}
        for it, key in zip(items, keys, strict=True):
            it.find_element(By.CSS_SELECTOR, ".ans-similar" if clicks[key] else ".ans-dissimilar").click()
            wait.until(
                lambda d, k=key: (
                    "done" in d.find_element(By.CSS_SELECTOR, f'.item[data-key="{k}"]').get_attribute("class")
                )
            )
        # the person changes their mind on the first pair: the last answer wins
        driver.find_elements(By.CSS_SELECTOR, ".item")[0].find_element(
            By.CSS_SELECTOR, ".ans-dissimilar"
        ).click()
        wait.until(lambda d: "4 of 4 answered" in d.find_element(By.ID, "status").text)
        wait.until(lambda d: run.pending_answers(run.state()).get(keys[0]) is False)
        assert run.pending_answers(run.state()) == {**clicks, keys[0]: False}
        assert all(a["by"] == "person" and a["run"] == run.id for a in run.journal())
        driver.find_element(By.ID, "step").click()
        wait.until(lambda d: "round 1" in d.find_element(By.ID, "summary").text)
        state = Run.open(run.path).state()
        assert state.round == 1 and state.answered == {**clicks, keys[0]: False}
        assert len(driver.find_elements(By.CSS_SELECTOR, ".item")) == 4
        assert set(state.pending["items"]).isdisjoint(keys)
    finally:
        driver.quit()
