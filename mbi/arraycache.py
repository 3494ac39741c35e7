"""Decoded arrays kept on disk as plain ``.npy`` files and memory-mapped: decode once, map everywhere.

Decoding a compressed source (the MNIST pickle, a compressed lookup table) costs seconds and a
large transient peak of memory in every process that does it. :func:`mapped_arrays` decodes it
once, writes the arrays as uncompressed ``.npy`` files in a cache folder (under ``$MBI_HOME``)
and returns them memory-mapped read-only, so later processes (and the sessions of one server)
share one copy of the pages through the operating system instead of each holding its own.

The folder's ``manifest.json`` records, for every source file, its size, modification time and
SHA-256, and for every array its file, dtype, shape and SHA-256. A copy is used only when
every source still has the recorded content (a changed size or time triggers a re-hash; another
hash means the copy is stale) and every array file still hashes to its recorded digest (a
damaged or truncated copy); otherwise it is rebuilt. Building holds an exclusive lock on
``.lock`` in the folder, so two processes that start at once decode once; every file is written
to a temporary name and renamed (:func:`mbi.store.atomic_save_npy`), array files are named by
their digest and the manifest is written last, so a reader never sees a half-written copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from mbi.store import atomic_save_npy, atomic_write_json, read_json

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file, read in chunks (the file is never held in memory whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _source_record(path: Path, known: Mapping | None = None) -> dict:
    """Size, modification time and SHA-256 of ``path``; the hash is reused from ``known`` when size and time match."""
    stat = path.stat()
    record = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if known and all(known.get(k) == record[k] for k in ("path", "size", "mtime_ns")) and known.get("sha256"):
        record["sha256"] = known["sha256"]
    else:
        record["sha256"] = file_sha256(path)
    return record


def _load_verified(folder: Path, sources: Sequence[Path], tag: str) -> dict[str, np.ndarray] | None:
    """The copy's arrays memory-mapped, or None when it is missing, stale, damaged or of another ``tag``."""
    try:
        manifest = read_json(folder / MANIFEST)
        if manifest.get("format") != FORMAT_VERSION or manifest.get("tag") != tag:
            return None
        recorded = manifest["sources"]
        if [r["path"] for r in recorded] != [str(p) for p in sources]:
            return None
        for path, known in zip(sources, recorded):
            if _source_record(path, known)["sha256"] != known["sha256"]:
                return None  # the source changed: the copy is stale
        arrays = {}
        for name, entry in manifest["arrays"].items():
            path = folder / entry["file"]
            if file_sha256(path) != entry["sha256"]:
                return None  # damaged or truncated
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            if str(array.dtype) != entry["dtype"] or list(array.shape) != entry["shape"]:
                return None
            arrays[name] = array
        return arrays
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder/.lock`` (other processes building the same copy wait)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write_copy(folder: Path, sources: Sequence[Path], tag: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` as digest-named ``.npy`` files, then the manifest; remove files it no longer names."""
    entries = {}
    for name, array in arrays.items():
        plain = np.ascontiguousarray(array)
        tmp_name = f"{name}.npy"
        atomic_save_npy(folder / tmp_name, plain)
        digest = file_sha256(folder / tmp_name)
        final = f"{name}-{digest[:16]}.npy"
        os.replace(folder / tmp_name, folder / final)
        entries[name] = {"file": final, "sha256": digest, "dtype": str(plain.dtype), "shape": list(plain.shape)}
    atomic_write_json(folder / MANIFEST, {"format": FORMAT_VERSION, "tag": tag,
                                          "sources": [_source_record(p) for p in sources], "arrays": entries})
    keep = {e["file"] for e in entries.values()}
    for path in folder.glob("*.npy"):
        if path.name not in keep:
            path.unlink(missing_ok=True)  # a process that still maps it keeps its pages until it unmaps


def copy_is_valid(folder: str | os.PathLike[str], sources: Sequence[str | os.PathLike[str]], tag: str = "") -> bool:
    """Whether ``folder`` holds a verified copy of ``sources`` (what :func:`mapped_arrays` would map without building)."""
    return _load_verified(Path(folder), [Path(p).resolve() for p in sources], tag) is not None


def mapped_arrays(folder: str | os.PathLike[str], sources: Sequence[str | os.PathLike[str]],
                  build: Callable[[], Mapping[str, np.ndarray]], tag: str = "") -> dict[str, np.ndarray]:
    """The arrays ``build()`` decodes from ``sources``, memory-mapped read-only from a verified copy in ``folder``.

    ``tag`` names what ``build`` produces (change it when the decoding changes, to rebuild old
    copies). The first call (or the first after a source changed or the copy was damaged) runs
    ``build``, writes the copy and maps it; every later call, in any process, only verifies and maps.
    """
    root = Path(folder)
    paths = [Path(p).resolve() for p in sources]
    arrays = _load_verified(root, paths, tag)
    if arrays is not None:
        return arrays
    with _locked(root):
        arrays = _load_verified(root, paths, tag)  # another process may have built it while we waited
        if arrays is None:
            _write_copy(root, paths, tag, build())
            arrays = _load_verified(root, paths, tag)
    if arrays is None:
        raise OSError(f"the array copy in {root} could not be written and read back; check that the folder "
                      "is writable and has free space (or remove it)")
    return arrays


__all__ = ["copy_is_valid", "file_sha256", "mapped_arrays"]
