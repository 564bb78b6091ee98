"""``faceveil review``: a local web page to check and fix the faces before anything is written.

Security: the server listens on 127.0.0.1 only; every request must carry the random token printed in the
URL (query ``token=`` or header ``X-Faceveil-Token``) and a ``Host`` of this server (no DNS rebinding),
else 403. The page and its script and style are package data: nothing is fetched from anywhere.

Writing runs ``faceveil.api.anonymize`` (the same pipeline as ``faceveil anonymize``) with the decisions as
a ``--boxes`` file, saved next to the outputs, so ``faceveil anonymize ... --boxes FILE`` reproduces them.
"""

from __future__ import annotations

import hmac
import io
import json
import secrets
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from faceveil import api
from faceveil.errors import FaceveilError, InputError, UsageError
from faceveil.faces.boxes import ACTIONS, parse_boxes
from faceveil.faces.types import Face
from faceveil.io.images import load_image
from faceveil.io.suffixes import VIDEO_SUFFIXES
from faceveil.pipeline.options import DEFAULT_MASK_SCALE, DEFAULT_MASK_SHAPE, FaceOptions, mask_options
from faceveil.plugins import METHODS

STATIC = {"review.js": "text/javascript", "review.css": "text/css"}
MAX_BODY = 4 * 2**20  # decisions are small; refuse anything larger


@dataclass
class ReviewSettings:
    """What ``faceveil review`` was started with (the anonymize options the page may not change)."""

    inputs: list[Path]
    output: Path
    method: str = "mosaic"
    detector: str = "centerface"
    threshold: float | None = None
    passphrase: str | None = None
    recipients: list[Path] = field(default_factory=list)
    payload: str = "embedded"
    overwrite: bool = False
    mask_scale: float = DEFAULT_MASK_SCALE


def _face_options(settings: ReviewSettings, boxes=None) -> FaceOptions:
    """The CLI's defaults (--shape auto), so a preview looks like what is written."""
    return mask_options(DEFAULT_MASK_SHAPE, settings.mask_scale, boxes=boxes)


class ReviewSession:
    """The files under review, their detections (computed on first view) and the writing."""

    def __init__(self, settings: ReviewSettings) -> None:
        self.settings = settings
        self.found = api.InputSet.collect(settings.inputs)
        if not self.found.items:
            raise InputError("no input images found")
        api.check_batch_output(settings.output, self.found.items, self.found.batch)
        self.items = [src for src, _ in self.found.items]
        for src in self.items:  # refuse now rather than on the page
            if not src.is_file():
                raise InputError(f"{src}: no such file")
        self._detector = None
        self._cache: dict[int, dict] = {}
        self._previewers: dict[str, api.Anonymizer] = {}  # one per method: its model loads once, not per click
        self._lock = threading.Lock()  # one detection / anonymization at a time (models are not thread-safe)

    # -- reading

    def detector(self):
        if self._detector is None:
            from faceveil.faces.detect import create_detector

            options = {} if self.settings.threshold is None else {"threshold": self.settings.threshold}
            self._detector = create_detector(self.settings.detector, **options)
        return self._detector

    def summary(self) -> dict:
        return {"items": [{"id": i, "name": p.name, "kind": "video" if p.suffix.lower() in VIDEO_SUFFIXES else "photo"}
                          for i, p in enumerate(self.items)],
                "methods": METHODS.names(), "method": self.settings.method, "output": str(self.settings.output),
                "actions": list(ACTIONS)}

    def item(self, index: int) -> dict:
        with self._lock:
            if index not in self._cache:
                src = self.items[index]
                if src.suffix.lower() in VIDEO_SUFFIXES:
                    from faceveil.review.video import video_tracks

                    self._cache[index] = video_tracks(src, self.detector())
                else:
                    rgb = load_image(src).rgb()
                    faces = self.detector().detect(rgb)
                    self._cache[index] = {"kind": "photo", "width": rgb.shape[1], "height": rgb.shape[0],
                                          "frames": [None],
                                          "faces": [{"box": [round(float(v), 1) for v in f.box], "score": round(float(f.score), 3),
                                                     "detected": True} for f in faces]}
            return self._cache[index]

    def image(self, index: int, frame: int | None) -> bytes:
        """The picture to draw on, as JPEG (a video: one of its key frames)."""
        from PIL import Image

        src = self.items[index]
        if src.suffix.lower() in VIDEO_SUFFIXES:
            from faceveil.review.video import read_frame

            rgb = read_frame(src, int(frame or 0))
        else:
            rgb = load_image(src).rgb()
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
        return buf.getvalue()

    def preview(self, index: int, method: str, faces: list[dict]) -> bytes:
        """The anonymized result of the page's current boxes (nothing written, no payload)."""
        src = self.items[index]
        if src.suffix.lower() in VIDEO_SUFFIXES:
            raise UsageError("the result preview is for photos; write to see a video's result")
        chosen = [Face(box=tuple(float(v) for v in f["box"])) for f in _check_faces(faces) if f["action"] == "anonymize"]
        method = _check_method(method)
        with self._lock:
            if method not in self._previewers:
                self._previewers[method] = api.Anonymizer(method=method, detector=self.settings.detector, payload="none",
                                                          faces=_face_options(self.settings))
            encoded, _, _ = self._previewers[method].anonymize_image(load_image(src), "JPEG", faces=chosen)
        return encoded

    # -- writing

    def boxes_path(self) -> Path:
        out = self.settings.output
        if self.found.batch or out.is_dir():
            return out / "faceveil-review.boxes.json"
        return out.with_name(f"{out.stem}.boxes.json")

    def boxes_document(self, method: str, decisions: dict) -> dict:
        """The ``--boxes`` file: every face of every reviewed item with its action (module docstring)."""
        files = []
        for key, faces in decisions.items():
            index = int(key)
            if not 0 <= index < len(self.items):
                raise UsageError(f"no item {key}")
            files.append({"input": str(self.items[index]), "faces": _boxes_entries(_check_faces(faces))})
        return {"files": files, "method": method,
                "command": f"faceveil anonymize {' '.join(str(p) for p in self.settings.inputs)} -o {self.settings.output} "
                           f"-m {method} --boxes {self.boxes_path()}"}

    def write(self, method: str, decisions: dict) -> dict:
        method = _check_method(method)
        document = self.boxes_document(method, decisions)
        boxes = parse_boxes(document, self.boxes_path())  # the CLI's own validation
        path = self.boxes_path()
        with self._lock:
            if self.found.batch:
                self.settings.output.mkdir(parents=True, exist_ok=True)
            reports = api.anonymize(
                self.found, self.settings.output, method=method, faces=_face_options(self.settings, boxes),
                keys=api.KeyOptions(passphrase=self.settings.passphrase, recipients=self.settings.recipients),
                detect=api.DetectOptions(detector=self.settings.detector, threshold=self.settings.threshold),
                output_options=api.OutputOptions(payload=self.settings.payload, overwrite=self.settings.overwrite))
            if all(r.ok for r in reports):
                path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        return {"ok": all(r.ok for r in reports), "boxes": str(path) if all(r.ok for r in reports) else None,
                "command": document["command"], "files": [r.to_dict() for r in reports]}


def _check_method(method) -> str:
    if method not in METHODS.names():
        raise UsageError(f"unknown method {method!r}")
    return method


def _check_faces(faces) -> list[dict]:
    if not isinstance(faces, list):
        raise UsageError("faces must be a list")
    out = []
    for f in faces:
        box = f.get("box") if isinstance(f, dict) else None
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            raise UsageError("each face needs a box [x0, y0, x1, y1]")
        if f.get("action", "anonymize") not in ACTIONS:
            raise UsageError(f"unknown action {f.get('action')!r}")
        out.append({**f, "action": f.get("action", "anonymize")})
    return out


def _boxes_entries(faces: list[dict]) -> list[dict]:
    """Page faces -> boxes-file faces. A detection moved or resized is written as its original box
    ``ignore`` then the new box: a re-run's detector finds the original again, and the first entry takes
    it (IoU 1) so it is not anonymized a second time where the person said it is not."""
    out = []
    for f in faces:
        box = [round(float(v), 1) for v in f["box"]]
        if f.get("frames"):  # a video track: kept / ignored as its box in every frame it was seen
            if f["action"] != "anonymize":  # (an anonymized track needs nothing: its detections are anonymized)
                out += [{"box": fb["box"], "frame": int(fb["frame"]), "action": f["action"]} for fb in f["frames"]]
            continue
        orig = f.get("orig")
        if orig is not None and [round(float(v), 1) for v in orig] != box:
            out.append({"box": [round(float(v), 1) for v in orig], "action": "ignore"})
        entry = {"box": box, "action": f["action"]}
        if "score" in f and isinstance(f["score"], (int, float)) and 0 <= f["score"] <= 1:
            entry["score"] = f["score"]
        out.append(entry)
    return out


def _static(name: str) -> bytes:
    return resources.files("faceveil.review").joinpath("static", name).read_bytes()


def make_handler(session: ReviewSession, token: str, port_of):
    class Handler(BaseHTTPRequestHandler):
        server_version = "faceveil-review"
        sys_version = ""

        def log_message(self, format, *args):  # noqa: A002 - quiet: stdout's first line is the URL
            pass

        def _allowed(self) -> bool:
            host = self.headers.get("Host", "")
            if host not in {f"127.0.0.1:{port_of()}", f"localhost:{port_of()}"}:
                return False
            query = parse_qs(urlsplit(self.path).query)
            given = self.headers.get("X-Faceveil-Token") or (query.get("token") or [""])[0]
            return hmac.compare_digest(given.encode(), token.encode())

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")  # the token is in the URL
            self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; "
                                                        "connect-src 'self'; frame-ancestors 'none'")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, data, status: int = 200) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _refuse(self) -> None:
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: the review URL's token is missing or wrong\n", "text/plain")

        def _route(self, method: str) -> None:
            if not self._allowed():
                return self._refuse()
            parts = [p for p in urlsplit(self.path).path.split("/") if p]
            query = parse_qs(urlsplit(self.path).query)
            try:
                if method == "GET" and not parts:
                    # the page's own files carry the token too (a <script src> sends no header)
                    html = _static("review.html").decode().replace('.js"', f'.js?token={token}"').replace('.css"', f'.css?token={token}"')
                    return self._send(200, html.encode(), "text/html; charset=utf-8")
                if method == "GET" and parts[0] == "static" and len(parts) == 2 and parts[1] in STATIC:
                    return self._send(200, _static(parts[1]), STATIC[parts[1]] + "; charset=utf-8")
                if method == "GET" and parts == ["api", "items"]:
                    return self._json(session.summary())
                if method == "GET" and len(parts) == 3 and parts[:2] == ["api", "item"]:
                    return self._json(session.item(self._index(parts[2])))
                if method == "GET" and len(parts) == 3 and parts[:2] == ["api", "image"]:
                    frame = int(query.get("frame", ["0"])[0])
                    return self._send(200, session.image(self._index(parts[2]), frame), "image/jpeg")
                if method == "POST" and len(parts) == 3 and parts[:2] == ["api", "preview"]:
                    body = self._body()
                    return self._send(200, session.preview(self._index(parts[2]), body.get("method"), body.get("faces")),
                                      "image/jpeg")
                if method == "POST" and parts == ["api", "write"]:
                    body = self._body()
                    if not isinstance(body.get("decisions"), dict):
                        raise UsageError("decisions must be an object")
                    return self._json(session.write(body.get("method"), body["decisions"]))
                return self._send(404, b"not found\n", "text/plain")
            except FaceveilError as exc:
                return self._json({"ok": False, "error": str(exc)}, 400)
            except (ValueError, KeyError, TypeError) as exc:
                return self._json({"ok": False, "error": f"bad request: {exc}"}, 400)

        def _index(self, text: str) -> int:
            index = int(text)
            if not 0 <= index < len(session.items):
                raise UsageError(f"no item {index}")
            return index

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_BODY:
                raise UsageError("request body missing or too large")
            data = json.loads(self.rfile.read(length))
            if not isinstance(data, dict):
                raise UsageError("the request body must be a JSON object")
            return data

        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

    return Handler


def serve(settings: ReviewSettings, *, port: int = 0, open_browser: bool = True, on_url=print) -> None:
    """Start the review server (blocks until Ctrl-C). ``on_url`` gets the URL first of all output."""
    session = ReviewSession(settings)
    token = secrets.token_urlsafe(24)
    server = ThreadingHTTPServer(("127.0.0.1", port), None)  # handler set below, once the port is known
    server.daemon_threads = True
    bound = server.server_address[1]
    server.RequestHandlerClass = make_handler(session, token, lambda: bound)
    url = f"http://127.0.0.1:{bound}/?token={token}"
    on_url(url)
    if open_browser:
        import webbrowser

        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.serve_forever()
    finally:
        server.server_close()
