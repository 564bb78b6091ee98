"""Start-up stays light: a classical-method photo run imports neither torch nor onnx (the rewritten
CenterFace graph comes from the cache folder), and that cache is rebuilt when its source changes or
its file is damaged (models_registry.cached_derivation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HEAVY = ("torch", "torchvision", "onnx", "ml_dtypes", "ray", "skimage", "matplotlib")

_PROBE = """
import json, sys
from faceveil.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
""" % (HEAVY,)


def _run_cli(args: list[str], cache: Path) -> dict:
    env = {**os.environ, "FACEVEIL_CACHE_DIR": str(cache), "FACEVEIL_PASSPHRASE": "correct horse battery staple",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_photo_run_imports_neither_torch_nor_onnx(tmp_path, hopper_jpg):
    cache = tmp_path / "cache"
    first = _run_cli(["anonymize", str(hopper_jpg), "-o", str(tmp_path / "a.jpg"), "-q"], cache)
    assert first["code"] == 0
    assert not [m for m in first["modules"] if m.split(".")[0] in ("torch", "torchvision")], first["modules"]
    assert list(cache.glob("centerface-dynamic-*.bin")), "the first run keeps the rewritten graph"
    second = _run_cli(["anonymize", str(hopper_jpg), "-o", str(tmp_path / "b.jpg"), "-q"], cache)
    assert second == {"code": 0, "modules": []}
    # the run did its job: a face was found and hidden, and the payload recovers the photo
    rec = _run_cli(["recover", str(tmp_path / "b.jpg"), "-o", str(tmp_path / "back.jpg"), "-q"], cache)
    assert rec == {"code": 0, "modules": []}
    assert (tmp_path / "back.jpg").read_bytes() == hopper_jpg.read_bytes()  # source coding: the file itself


def test_help_imports_no_numpy():
    proc = subprocess.run([sys.executable, "-c", "import sys; from faceveil.cli import main; main(['--help']);"
                           "print('numpy' in sys.modules)"], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "False", proc.stderr


def test_cached_derivation_rebuilds_on_changed_source_and_damage(tmp_path, monkeypatch):
    from faceveil.models_registry import cached_derivation

    monkeypatch.setenv("FACEVEIL_CACHE_DIR", str(tmp_path))
    calls = []

    def derive(source: bytes) -> bytes:
        calls.append(source)
        return source[::-1] * 3

    assert cached_derivation("x", b"abc", 1, derive) == b"cbacbacba"
    assert cached_derivation("x", b"abc", 1, derive) == b"cbacbacba"
    assert len(calls) == 1, "the second call reads the cache"
    [path] = tmp_path.glob("x-*.bin")

    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # a damaged byte: rebuilt, never returned
    path.write_bytes(bytes(data))
    assert cached_derivation("x", b"abc", 1, derive) == b"cbacbacba"
    assert len(calls) == 2
    path.write_bytes(path.read_bytes()[:20])  # truncated
    assert cached_derivation("x", b"abc", 1, derive) == b"cbacbacba"
    assert len(calls) == 3
    assert cached_derivation("x", b"abc", 1, derive) == b"cbacbacba" and len(calls) == 3  # repaired

    assert cached_derivation("x", b"abd", 1, derive) == b"dbadbadba"  # changed source: its own entry
    assert cached_derivation("x", b"abc", 2, derive) == b"cbacbacba"  # changed derivation version
    assert len(calls) == 5
    assert len(list(tmp_path.glob("x-*.bin"))) == 3


def test_unwritable_cache_still_detects(tmp_path, monkeypatch, astronaut):
    from faceveil.faces.detect import CenterFaceDetector

    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("FACEVEIL_CACHE_DIR", str(blocker / "sub"))  # a path under a file: mkdir fails
    faces = CenterFaceDetector().detect(astronaut)
    assert len(faces) == 1


def test_cached_centerface_graph_detects_like_a_fresh_rewrite(tmp_path, monkeypatch, astronaut):
    from faceveil.faces import detect

    monkeypatch.setenv("FACEVEIL_CACHE_DIR", str(tmp_path))
    fresh = detect.CenterFaceDetector().detect(astronaut)  # builds the cache
    [path] = tmp_path.glob("centerface-dynamic-*.bin")
    body = path.read_bytes()
    path.write_bytes(body[:100] + bytes([body[100] ^ 1]) + body[101:])  # corrupt one weight byte
    cached = detect.CenterFaceDetector().detect(astronaut)
    assert path.read_bytes() == body, "the damaged file was rebuilt"
    assert len(cached) == len(fresh) == 1
    assert np.allclose(cached[0].box, fresh[0].box, atol=1e-3)


def test_classical_path_runs_without_torch_and_learned_methods_say_what_to_install(tmp_path, hopper_jpg):
    """The `learned` extra (PyTorch) is optional: with torch unimportable a mosaic run still writes a
    recoverable output, and asking for a learned method is one line on stderr and exit 10."""
    blocker = tmp_path / "blocker"
    for name in ("torch", "torchvision"):
        (blocker / name).mkdir(parents=True)
        message = f"No module named {name!r}"
        (blocker / name / "__init__.py").write_text(f"raise ModuleNotFoundError({message!r}, name={name!r})\n")
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), root]), "FACEVEIL_CACHE_DIR": str(tmp_path / "c"),
           "FACEVEIL_PASSPHRASE": "correct horse battery staple"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "faceveil", *args], env=env, capture_output=True, text=True, timeout=300)

    ok = cli("anonymize", str(hopper_jpg), "-o", str(tmp_path / "a.jpg"), "-q")
    assert ok.returncode == 0, ok.stderr
    back = cli("recover", str(tmp_path / "a.jpg"), "-o", str(tmp_path / "b.jpg"), "-q")
    assert back.returncode == 0 and (tmp_path / "b.jpg").read_bytes() == hopper_jpg.read_bytes()
    for method in ("proface-s", "g2face"):
        learned = cli("anonymize", str(hopper_jpg), "-o", str(tmp_path / f"{method}.jpg"), "-m", method)
        assert learned.returncode == 10, learned.stderr
        lines = learned.stderr.strip().splitlines()
        assert len(lines) == 1 and "faceveil[learned]" in lines[0] and "Traceback" not in learned.stderr
        assert not (tmp_path / f"{method}.jpg").exists()
