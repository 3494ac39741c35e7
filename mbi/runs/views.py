"""Precomputed first views a shipped model carries, restored into ``$MBI_HOME`` instead of computed.

On an empty ``$MBI_HOME`` (a hosted copy woken from sleep has one) the dashboard's computing pages pay their
results once: the RAM's glimpse trace of the 10,000 test digits, the table-size curve, the k-means tree, the
lookups' traces (10-16 s each on 2 cores, BENCHMARKS.md). Those results are files with content-addressed names:
each name is a digest of everything the result depends on (the model's or the table's fingerprint, the weights,
the search settings, the images, the format version; :func:`mbi.runs.tracecache.trace_name`,
:func:`mbi.runs.treecache.view_path`, :func:`mbi.inference.tablesize.budget_curve_path`). So the files a shipped
model's default views compute can ship beside its weights, in ``views/`` (same sub-folders as under
``$MBI_HOME``, plus ``manifest.json`` with each file's SHA-256), and a cache that misses a file asks
:func:`restore` first: when a shipped model carries a file of that name whose checksum holds, it is copied into
``$MBI_HOME`` and read from there like any cached result. Other models, other weights or settings have other
names and are computed as before.

``python -m dashboard.warm --record-views MODEL`` writes a model's ``views/`` (every page opened in its default state
on an empty ``$MBI_HOME`` with restoring off); ``tests/test_views.py`` recomputes the default model's and compares
them array by array. ``MBI_SHIPPED_VIEWS=off`` turns restoring off (to record, to measure the computation).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from mbi.store import artifacts_root, atomic_write_bytes, atomic_write_json, read_json
from mbi.validate import env_switch

VIEWS_DIR = "views"
"""The folder beside a model's weights that holds its precomputed views."""
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
CACHES = ("traces", "budgets", "trees")
"""The sub-folders of ``$MBI_HOME`` whose files are content-addressed results (what views may hold)."""
VARIABLE = "MBI_SHIPPED_VIEWS"
"""Set to ``off`` to compute every result instead of restoring shipped views."""


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether :func:`restore` may copy shipped views (``$MBI_SHIPPED_VIEWS``, :func:`mbi.validate.env_switch`)."""
    return env_switch(os.environ if env is None else env, VARIABLE)


def shipped_sources() -> tuple[Path, ...]:
    """The ``views/`` folders of the shipped models (:data:`mbi.model.checkpoint.SHIPPED_MODELS`)."""
    from mbi.model.checkpoint import SHIPPED_MODELS, resolve_checkpoint

    return tuple(resolve_checkpoint(name) / VIEWS_DIR for name in SHIPPED_MODELS)


def _valid_relative(name: str) -> bool:
    """``name`` is ``CACHE/FILE`` with CACHE one of :data:`CACHES` and FILE a plain file name."""
    parts = name.split("/")
    return (len(parts) == 2 and parts[0] in CACHES and parts[1] not in ("", ".", "..")
            and not parts[1].startswith(".") and "\\" not in parts[1])


@lru_cache(maxsize=16)
def _manifest(folder: Path, stamp: float) -> dict[str, str]:
    """``{"traces/NAME": sha256, ...}`` of ``folder/manifest.json`` (``stamp``: its mtime, so a rewrite is re-read);
    empty when missing or not a manifest of this format."""
    try:
        data = read_json(folder / MANIFEST)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION or not isinstance(data.get("files"), dict):
        return {}
    return {name: entry["sha256"] for name, entry in data["files"].items()
            if _valid_relative(name) and isinstance(entry, dict) and isinstance(entry.get("sha256"), str)}


def manifest(folder: str | Path) -> dict[str, str]:
    """The files a ``views/`` folder lists, with their SHA-256 (``{}`` when it has no valid manifest)."""
    folder = Path(folder)
    try:
        stamp = (folder / MANIFEST).stat().st_mtime
    except OSError:
        return {}
    return _manifest(folder, stamp)


def restore(path: str | Path, root: Path | None = None, sources: Sequence[Path] | None = None) -> bool:
    """Make the cache file ``path`` (under ``root``, default ``$MBI_HOME``) exist from a shipped view when it is
    missing: True when ``path`` is a file afterwards (it was there, or a source folder of ``sources`` (default: the
    shipped models') lists a file of the same relative name whose SHA-256 matches, and it was copied, atomically).
    False when it must be computed: not shipped, restoring off (:func:`enabled`), or the shipped copy damaged."""
    path = Path(path)
    if path.is_file():
        return True
    if not enabled():
        return False
    try:
        relative = path.resolve().relative_to((root or artifacts_root()).resolve()).as_posix()
    except ValueError:  # not a cache file under the root
        return False
    if not _valid_relative(relative):
        return False
    for folder in shipped_sources() if sources is None else sources:
        digest = manifest(folder).get(relative)
        if digest is None:
            continue
        try:
            data = (Path(folder) / relative).read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            continue  # damaged or edited: compute instead
        atomic_write_bytes(path, data)
        return True
    return False


def machine_signature() -> dict[str, str]:
    """What a result's last bits depend on besides its inputs: the CPU (model name, architecture) and the numerical
    libraries' versions. Float results (a softmax, a k-means split) computed on another CPU may differ in the last
    bits, and a k-means tree built there may split differently; :func:`record` keeps the recording machine's
    signature in the manifest so a comparison can tell which case it is in."""
    import platform
    from importlib import metadata

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    out = {"cpu": cpu, "machine": platform.machine()}
    for package in ("numpy", "torch", "scikit-learn", "numba"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "-"
    return out


def recorded_machine(folder: str | Path) -> dict[str, str]:
    """The :func:`machine_signature` a ``views/`` folder was recorded on (``{}`` when its manifest names none)."""
    try:
        found = read_json(Path(folder) / MANIFEST).get("machine", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def record(home: str | Path, folder: str | Path, keep: Iterable[str] | None = None) -> dict[str, str]:
    """Replace ``folder/views/`` by the content-addressed results under ``home`` (its :data:`CACHES` sub-folders;
    only the relative names in ``keep`` when given) and their manifest; returns ``{relative name: sha256}``."""
    home, target = Path(home), Path(folder) / VIEWS_DIR
    files = sorted(p for cache in CACHES for p in (home / cache).glob("*")
                   if p.is_file() and _valid_relative(f"{cache}/{p.name}"))
    if keep is not None:
        wanted = set(keep)
        files = [p for p in files if f"{p.parent.name}/{p.name}" in wanted]
    if target.exists():
        shutil.rmtree(target)
    listed = {}
    for path in files:
        relative = f"{path.parent.name}/{path.name}"
        data = path.read_bytes()
        atomic_write_bytes(target / relative, data)
        listed[relative] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    atomic_write_json(target / MANIFEST, {"format": FORMAT_VERSION, "files": listed, "machine": machine_signature(),
                                          "recorded_by": "python -m dashboard.warm --record-views"})
    return {name: entry["sha256"] for name, entry in listed.items()}


def describe(folder: str | Path) -> str:
    """One line on what ``folder/views`` holds (for the CLI and the README)."""
    entries = read_json(Path(folder) / VIEWS_DIR / MANIFEST).get("files", {})
    total = sum(int(e.get("bytes", 0)) for e in entries.values())
    return f"{len(entries)} files, {total / 1e6:.1f} MB: " + ", ".join(sorted(entries))


__all__ = ["CACHES", "MANIFEST", "VARIABLE", "VIEWS_DIR", "describe", "enabled", "machine_signature", "manifest",
           "record", "recorded_machine", "restore",
           "shipped_sources"]
