"""The GPU check script runs end to end on the CPU in its tiny mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_in_tiny_mode():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--tiny", "--prompts", "8",
         "--batch-size", "4", "--tokens", "48", "--prefix", "20", "--new-tokens", "4"],
        check=True, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    report = json.loads(out.stdout[:out.stdout.rindex("}") + 1])
    assert report["dtype"] == "bfloat16" and report["model"] == "llama-tiny-random"
    assert report["locate"]["prompts"] == 8 and report["locate"]["ratio"] > 0
    assert report["generation"]["tokens"] == 4 * 4 and report["generation"]["ratio"] > 0
    assert report["matmul_tflops"] > 0
    assert "locate / bare forward" in out.stdout and "edited / plain generation" in out.stdout
