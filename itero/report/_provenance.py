"""Provenance sections: which data the trials saw (dataset versions) and which code and machines ran them
(environments: Python, packages, git commit, CPU and GPU, energy method)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from itero.report import _format as f
from itero.report._format import esc
from itero.report._html import kv, section, table

if TYPE_CHECKING:
    from itero.report._sections import Context

RELEVANT_PACKAGES = (
    "itero", "torch", "torchvision", "numpy", "scikit-learn", "scipy", "pandas", "jax", "jaxlib", "tensorflow",
    "lightning", "pytorch-lightning", "transformers", "xgboost", "lightgbm", "plotly", "sqlalchemy", "codecarbon",
)  # fmt: skip


def data_and_environment(ctx: Context) -> str:
    """Dataset versions, and the environments (Python, packages, git commit, hardware) workers ran in."""
    versions = ctx.study.data_versions()
    if versions:
        counts = Counter(v.name for v in versions)
        rows = [
            (
                esc(v.name) + (' <span class="badge FAILED">changed</span>' if counts[v.name] > 1 else ""),
                esc(v.kind),
                f'<code title="{esc(v.digest)}">{esc(v.digest[:12])}</code>',
                esc(f.shorten(describe(v.info), 160)),
                esc(f.when(v.first_seen)),
                esc(f"{len(v.trials):,}: {f.shorten(f.ranges(v.trials), 60)}"),
            )
            for v in versions
        ]
        data = table(["dataset", "kind", "digest", "description", "first seen", "trials"], rows)
    else:
        data = (
            '<p class="note">No dataset was tracked. Call <code>itero.track_dataset("train", data)</code> in the '
            "objective to record which data each trial saw.</p>"
        )
    envs = ctx.study.environments()
    env_html = "".join(environment_html(e, len(envs)) for e in envs) or (
        '<p class="note">No environment was recorded (trials told through ask/tell, or tracking off).</p>'
    )
    if len(envs) > 1:
        env_html = _package_differences(envs) + env_html
    return section(
        "data", "Data and environment", f"<h3>Dataset versions</h3>{data}<h3>Environments ({len(envs)})</h3>{env_html}"
    )


def environment_html(env: Any, n_envs: int) -> str:
    """One environment (a ``study.environments()`` record) as a key/value table, with its packages folded."""
    info = env.info
    git = info.get("git")
    if git:
        dirty = ' <span class="badge FAILED">uncommitted changes</span>' if git.get("dirty") else ""
        code = f"<code>{esc(str(git.get('commit', ''))[:12])}</code> on {esc(git.get('branch') or '?')}{dirty}"
        code += f' <span class="d">({esc(git.get("root") or "")})</span>'
    else:
        code = "not a git repository (or git missing)"
    energy = info.get("energy") or {}
    cpu = energy.get("cpu") or {}
    power = ""
    if cpu:
        power = f"{f.number(cpu.get('tdp_watts'))} W for {cpu.get('threads', '?')} threads ({cpu.get('source', '')})"
    pairs = [
        ("python", esc(f"{info.get('python', '?')} {info.get('implementation', '')}")),
        ("platform", esc(info.get("platform", "?"))),
        ("host", esc(info.get("host", "?"))),
        ("cpu", esc(f"{info.get('cpu', '?')} ({info.get('cpu_count', '?')} threads)")),
        ("gpus", esc(", ".join(info.get("gpus") or []) or "none")),
        ("code", code),
        ("energy method", f"<code>{esc(energy.get('method', '-'))}</code>" + (f"<br>{esc(power)}" if power else "")),
        ("workers", f"{env.workers:,}"),
        ("trials", esc(f"{len(env.trials):,}: {f.shorten(f.ranges(env.trials), 80)}")),
    ]
    packages: dict[str, str] = info.get("packages") or {}
    key = [(p, packages[p]) for p in RELEVANT_PACKAGES if p in packages]
    pairs.append(("key packages", esc(", ".join(f"{p} {v}" for p, v in key) or "-")))
    listing = "".join(f"<div>{esc(p)} <span class='d'>{esc(v)}</span></div>" for p, v in sorted(packages.items()))
    details = f"<details><summary>All {len(packages)} packages</summary><div class='pkgs'>{listing}</div></details>"
    title = f"<h3>Environment {env.id}</h3>" if n_envs > 1 else ""
    return f"{title}{kv(pairs)}{details if packages else ''}"


def _package_differences(envs: Sequence[Any]) -> str:
    names = sorted({p for e in envs for p in (e.info.get("packages") or {})})
    differ = [p for p in names if len({(e.info.get("packages") or {}).get(p) for e in envs}) > 1]
    if not differ:
        return '<p class="note">The environments have the same package versions.</p>'
    header = ["package", *[f"env {e.id}" for e in envs]]
    rows = [(esc(p), *[esc((e.info.get("packages") or {}).get(p, "-")) for e in envs]) for p in differ[:60]]
    return '<div class="warning"><strong>Package versions differ between environments</strong></div>' + table(
        header, rows
    )


def describe(info: Any) -> str:
    """A dataset's info in a few words: ``{"shape": [360, 64], "dtype": "float32"}`` -> ``"360×64 float32"``;
    parts of a tuple in parentheses, named parts as ``name: ...``."""
    if isinstance(info, Mapping):
        words = []
        if "shape" in info:
            shape = info["shape"]
            words.append("×".join(map(str, shape)) if isinstance(shape, (list, tuple)) else str(shape))
            if "dtype" in info:
                words.append(str(info["dtype"]))
        parts = info.get("parts")
        if isinstance(parts, Mapping):
            words.append(", ".join(f"{k}: {describe(v)}" for k, v in parts.items()))
        elif isinstance(parts, (list, tuple)):
            words.append("(" + ", ".join(describe(p) for p in parts) + ")")
        skip = {"shape", "dtype", "parts"} | ({"length"} if parts is not None else set())
        words += [f"{k} {describe(v)}" for k, v in info.items() if k not in skip]
        return " ".join(words)
    if isinstance(info, (list, tuple)):
        return "[" + ", ".join(describe(x) for x in info) + "]"
    return str(info)
