"""What a worker runs on: Python and package versions, the user's git commit, host, CPU and GPU models.

Captured once per worker process and stored once per distinct environment (by digest); each worker row points
at its environment and each trial run at its worker.

    >>> env = capture()
    >>> {"python", "packages", "host", "cpu"} <= set(env)
    True
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from itero.tracking._energy import EnergyMeter, cpu_model, gpu_names

_GIT_TIMEOUT = 5.0


def git_state(path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty", "root", "branch"}`` of the git repository holding ``path`` (default: the current
    directory), or None outside a repository or without git. ``dirty``: tracked files differ from the commit."""
    where = str(path or os.getcwd())

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", where, *args], capture_output=True, text=True, timeout=_GIT_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    head = git("rev-parse", "HEAD", "--show-toplevel", "--abbrev-ref", "HEAD")
    if head is None or len(head.splitlines()) != 3:
        return None
    commit, root, branch = head.splitlines()
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status), "root": root, "branch": branch}


def _packages() -> dict[str, str]:
    """Installed distributions and versions, read from the ``name-version.dist-info`` folder names on
    ``sys.path`` (parsing every METADATA file through importlib.metadata costs ~50 ms; this ~1 ms)."""
    out: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                stem = name.rsplit(".", 1)[0]
                dist, _, version = stem.partition("-")
                if dist and version:
                    out.setdefault(dist.lower().replace("_", "-"), version.split("-")[0])
    if not out:  # unusual layouts (zip imports, custom finders)
        for d in metadata.distributions():
            out.setdefault(str(d.metadata["Name"]).lower(), d.version)
    return dict(sorted(out.items()))


def _gpus() -> list[str]:
    names = gpu_names()
    if names:
        return names
    torch = sys.modules.get("torch")  # only if the objective already imported it
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        except Exception:
            return []
    return []


@functools.lru_cache(maxsize=8)
def capture(repo: str | None = None, energy: bool = True) -> dict[str, Any]:
    """This process's environment (cached: packages do not change under a running worker)."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": _gpus(),
        "git": git_state(repo),
        "packages": _packages(),
        "energy": EnergyMeter.detect(energy).describe(),
    }


def digest(env: dict[str, Any]) -> str:
    """A stable hash of an environment, so identical workers share one stored record."""
    return hashlib.blake2b(json.dumps(env, sort_keys=True, default=str).encode(), digest_size=32).hexdigest()


def repo_of(obj: Any) -> str | None:
    """The folder of the file defining ``obj`` (an objective), where its git repository is looked for; None
    (the current directory) for itero's own built-in tasks, whose code is not the user's."""
    import inspect

    if str(getattr(obj, "__module__", "") or "").split(".")[0] == "itero":
        return None
    try:
        source = inspect.getsourcefile(obj)
    except TypeError:
        return None
    return str(Path(source).resolve().parent) if source else None
