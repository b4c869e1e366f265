"""Where a benchmark result came from: what every `--json` carries under `provenance`.

* `code`: the git commit of the checkout the package runs from, whether the tree had uncommitted changes
  (and how many paths), and the package's version;
* `config`: the run's full configuration (the command's options, as given and as resolved);
* `versions`: python, torch, numpy, scikit-learn and metatutor;
* `data`: a SHA-256 over the dataset's files (relative path and content of each, in sorted order);
* `machine`: cores (and the ones this process may use), RAM, CPU model, GPU if any, load average, threads,
  and a CPU probe (seconds for a fixed pure-Python loop) so that times from different runs can be compared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parents[1]  # src/metatutor


def git_state(where: Path = SOURCE) -> dict[str, Any]:
    """`{"commit", "dirty", "changed_paths"}` of the checkout holding `where` (None values outside git)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "changed_paths": None}
    status = git("status", "--porcelain") or ""
    changed = [line for line in status.splitlines() if line.strip()]
    return {"commit": commit.strip(), "dirty": bool(changed), "changed_paths": len(changed)}


def data_digest(path: str | Path | None) -> dict[str, Any] | None:
    """SHA-256 over a dataset file or every file under a folder (names relative to it, sorted)."""
    if path is None:
        return None
    root = Path(path)
    if not root.exists():
        return {"path": str(path), "sha256": None, "files": 0, "bytes": 0}
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    size = 0
    for f in files:
        digest.update((f.name if f == root else f.relative_to(root).as_posix()).encode() + b"\0")
        with f.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
                size += len(block)
        digest.update(b"\0")
    return {"path": str(path), "sha256": digest.hexdigest(), "files": len(files), "bytes": size}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name, dist in (("torch", "torch"), ("numpy", "numpy"), ("scikit-learn", "scikit-learn"),
                       ("metatutor", "metatutor")):
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def cpu_probe() -> float:
    """Seconds for 3 M iterations of a pure-Python loop (about 0.15 s on a quiet core of the project's machine)."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i & 7
    return round(time.perf_counter() - started, 3)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_bytes": _ram_bytes(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "gpu": None,
        "cpu_probe_s": cpu_probe(),
    }
    if "torch" in sys.modules:  # the benchmarks that use torch have loaded it; the others need no GPU
        torch = sys.modules["torch"]
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def collect(config: dict[str, Any], data: str | Path | None = None) -> dict[str, Any]:
    """Everything `provenance` holds (see the module docstring)."""
    return {"code": git_state(), "config": config, "versions": versions(), "data": data_digest(data),
            "machine": machine(), "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
