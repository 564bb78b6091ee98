"""Issue 24 #2 and #3: ``faceveil review`` serves a local page (token-guarded) and, driven in a real headless
Chromium (Debian's package, scripts/install.sh), draws a box, keeps a face and writes through the
anonymize pipeline. The browser test saves its screenshot as docs/review.png (docs/review.md)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceveil.cli import main
from faceveil.crypto.container import read_info
from faceveil.io.carriers import extract_payload

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


class Review:
    """A ``faceveil review`` process; ``url`` is the first line it printed."""

    def __init__(self, tmp_path: Path, *inputs: Path, output: Path) -> None:
        env = dict(os.environ, FACEVEIL_PASSPHRASE="review test passphrase", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "faceveil", "review", *map(str, inputs), "-o", str(output),
                                      "--no-open", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, cwd=tmp_path)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            raise AssertionError(f"no URL on the first stdout line: {self.url!r} {self.proc.stderr.read()}")
        self.base, self.token = self.url.split("/?token=")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def review(tmp_path, astronaut):
    src = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(src)
    server = Review(tmp_path, src, output=tmp_path / "out.png")
    server.src, server.out = src, tmp_path / "out.png"
    yield server
    server.close()


def _status(url: str, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_every_request_needs_the_token_and_a_local_host(review):
    assert review.base.startswith("http://127.0.0.1:")
    assert _status(review.base + "/") == 403
    assert _status(review.base + "/api/items?token=wrong") == 403
    assert _status(review.base + "/static/review.js") == 403
    assert _status(review.base + "/api/items", {"X-Faceveil-Token": review.token}) == 200
    assert _status(review.url) == 200
    # a page on another site that resolves its name to 127.0.0.1 (DNS rebinding) is refused even with the token
    assert _status(review.url, {"Host": "attacker.example:80"}) == 403
    html = urllib.request.urlopen(review.url, timeout=30).read().decode()
    assert "http" not in html.replace(review.base, "")  # no external asset (the page names only its own files)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/install.sh installs it)")
def test_review_in_headless_chromium_draw_keep_write(review, astronaut, tmp_path, monkeypatch):
    playwright = pytest.importorskip("playwright.sync_api")

    def out_exists() -> bool:
        return review.out.exists()

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(review.url)
            page.wait_for_selector(".box", timeout=120_000)  # the detected face
            assert page.locator(".box").count() == 1
            picture = page.locator("#picture").bounding_box()
            scale = picture["width"] / astronaut.shape[1]
            # draw a box over a spot the detector does not call a face (image pixels 30..130, 380..480)
            page.mouse.move(picture["x"] + 30 * scale, picture["y"] + 380 * scale)
            page.mouse.down()
            page.mouse.move(picture["x"] + 80 * scale, picture["y"] + 430 * scale, steps=5)
            page.mouse.move(picture["x"] + 130 * scale, picture["y"] + 480 * scale, steps=5)
            page.mouse.up()
            assert page.locator(".box").count() == 2
            # keep the detected face, with the keyboard: focus it, press K
            page.locator(".box").first.focus()
            page.keyboard.press("k")
            assert "keep" in page.locator(".box").first.get_attribute("class")
            # keyboard only: A adds a box in the middle (selected), an arrow moves it, Delete marks it not a face
            page.keyboard.press("a")
            page.keyboard.press("ArrowRight")
            page.keyboard.press("Delete")
            assert page.locator(".box").count() == 3 and "ignore" in page.locator(".box").nth(2).get_attribute("class")
            page.screenshot(path=str(ROOT / "docs" / "review.png"))
            page.keyboard.press("r")  # the anonymized result, nothing written yet
            playwright.expect(page.locator("#status")).to_have_text(re.compile("^result of"), timeout=120_000)
            assert page.locator("#picture").get_attribute("src").startswith("blob:")
            assert not out_exists()
            page.keyboard.press("w")
            page.wait_for_selector("body[data-written=true]", timeout=180_000)
            status = page.locator("#status").inner_text()
        finally:
            browser.close()
    assert "written" in status and "out.boxes.json" in status

    out = review.out
    info = read_info(extract_payload(out.read_bytes()))
    assert len(info.faces) == 1 and info.faces[0]["box"] == pytest.approx([30, 380, 130, 480], abs=2)
    assert [k["reason"].split(" in ")[0] for k in info.extra["kept"]] == ["kept by hand", "not a face (ignored by hand)"]
    assert info.extra["kept"][1]["box"] == pytest.approx([256 - 32 + 5, 256 - 32, 256 + 32 + 5, 256 + 32], abs=1)
    anon = pixels(out)
    x0, y0, x1, y1 = (int(v) for v in info.extra["kept"][0]["box"])
    assert np.array_equal(anon[y0:y1, x0:x1], astronaut[y0:y1, x0:x1])  # the kept face is untouched
    assert np.any(anon[390:470, 40:120] != astronaut[390:470, 40:120])  # the drawn box is anonymized
    # the decisions file reproduces the same pixels through the CLI
    boxes = tmp_path / "out.boxes.json"
    document = json.loads(boxes.read_text())
    assert document["files"][0]["input"].endswith("astronaut.png")
    monkeypatch.setenv("FACEVEIL_PASSPHRASE", "another passphrase")
    again = tmp_path / "again.png"
    assert main(["anonymize", str(review.src), "-o", str(again), "--boxes", str(boxes), "-m", document["method"]]) == 0
    # (the method's per-face keys are random, so compare what was anonymized, where, and what was kept)
    info_again = read_info(extract_payload(again.read_bytes()))
    assert [(f["box"], f["rect"]) for f in info_again.faces] == [(f["box"], f["rect"]) for f in info.faces]
    assert info_again.extra["kept"] == info.extra["kept"]
    assert np.array_equal(pixels(again)[y0:y1, x0:x1], astronaut[y0:y1, x0:x1])
    # recovery is the usual one
    monkeypatch.setenv("FACEVEIL_PASSPHRASE", "review test passphrase")
    assert main(["recover", str(out), "-o", str(tmp_path / "back.png")]) == 0
    assert np.array_equal(pixels(tmp_path / "back.png"), astronaut)


def _post(review: Review, path: str, body: dict) -> dict:
    request = urllib.request.Request(review.base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"X-Faceveil-Token": review.token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as r:
        return json.loads(r.read())


@pytest.mark.slow
def test_review_a_video_keeps_a_whole_track(tmp_path):
    """A video shows its tracks on key frames; keeping the track writes its per-frame boxes, and the
    written video (and the CLI with the saved boxes) anonymizes no frame of it."""
    from faceveil.testing import write_synthetic_clip

    clip = write_synthetic_clip(tmp_path / "clip.mp4", seconds=0.6)
    server = Review(tmp_path, clip.path, output=tmp_path / "out.mkv")
    try:
        with urllib.request.urlopen(f"{server.base}/api/item/0?token={server.token}", timeout=300) as r:
            item = json.loads(r.read())
        assert item["kind"] == "video" and len(item["faces"]) == 1
        track = item["faces"][0]
        assert track["frame"] in item["frames"] and len(track["frames"]) == clip.frames
        assert _status(f"{server.base}/api/image/0?frame={track['frame']}&token={server.token}") == 200
        drawn = {"box": [260, 190, 310, 235], "action": "anonymize"}  # drawn on a video: every frame
        result = _post(server, "/api/write", {"method": "mosaic",
                                              "decisions": {"0": [track | {"action": "keep"}, drawn]}})
    finally:
        server.close()
    assert result["ok"]
    tracks = result["files"][0]["faces"]  # only the drawn box's track is anonymized, in every frame
    assert len(tracks) == 1 and tracks[0]["frames"] == clip.frames and tracks[0]["box"] == pytest.approx(drawn["box"], abs=1)
    saved = json.loads((tmp_path / "out.boxes.json").read_text())["files"][0]["faces"]
    assert len(saved) == clip.frames + 1 and [f["action"] for f in saved].count("keep") == clip.frames
    assert any("left untouched" in n for n in result["files"][0]["notes"])
