"""Artifacts on disk: where they live and how they are written.

Every file the project writes goes through :func:`atomic_write_bytes` (or one of
its wrappers), which writes to a temporary file in the same folder and renames
it over the target, so an interrupted run never leaves a half-written
checkpoint, table or result behind and never destroys the previous version.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping

import numpy as np

from mbi.validate import env_int

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_DIR = PACKAGE_DIR / "default_model"
FASHION_MODEL_DIR = PACKAGE_DIR / "fashion_model"  # the shipped Fashion-MNIST model
SPECS_DIR = PACKAGE_DIR / "specs"  # the shipped sweep specs (Fig. 3)
_UMASK = os.umask(0)
os.umask(_UMASK)


def artifacts_root() -> Path:
    """Folder for user artifacts (runs, tables, studies): ``$MBI_HOME`` or ``./artifacts``."""
    return Path(os.environ.get("MBI_HOME", "artifacts")).resolve()


@contextmanager
def _atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` only when the block ends without error
    (temp file in the same folder, fsync, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    with _atomic_file(path) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_save_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> Path:
    """Save arrays as a compressed ``.npz`` atomically (object arrays are refused, so no pickle)."""
    plain = {k: np.asarray(v) for k, v in arrays.items()}
    objects = [k for k, v in plain.items() if v.dtype.hasobject]
    if objects:
        raise ValueError(f"arrays {objects} hold Python objects, which would need pickle; store plain arrays")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **plain)
    return atomic_write_bytes(path, buffer.getvalue())


def atomic_save_npy(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Save one plain array as an uncompressed ``.npy`` atomically (streamed, so it can be memory-mapped later).

    Object arrays are refused (they would need pickle).
    """
    plain = np.asarray(array)
    if plain.dtype.hasobject:
        raise ValueError("the array holds Python objects, which would need pickle; store a plain array")
    with _atomic_file(path) as handle:
        np.lib.format.write_array(handle, plain, allow_pickle=False)
    return Path(path)


DISK_CACHE_MB_VARIABLE = "MBI_DISK_CACHE_MB"
DISK_CACHE_FILES_VARIABLE = "MBI_DISK_CACHE_FILES"
DEFAULT_DISK_CACHE_MB = 500
DEFAULT_DISK_CACHE_FILES = 200


def cache_limits(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(bytes, files) each result cache folder on disk (``traces/``, ``budgets/``) may hold:
    ``$MBI_DISK_CACHE_MB`` (default 500) megabytes and ``$MBI_DISK_CACHE_FILES`` (default 200) files.
    (``MBI_CACHE_MB`` is the server's memory for results, :class:`mbi.runs.jobs.Limits`.)"""
    env = os.environ if env is None else env
    return (env_int(env, DISK_CACHE_MB_VARIABLE, DEFAULT_DISK_CACHE_MB) * 1_000_000,
            env_int(env, DISK_CACHE_FILES_VARIABLE, DEFAULT_DISK_CACHE_FILES))


def prune_oldest(folder: str | os.PathLike[str], max_bytes: int, max_files: int, keep: Path | None = None,
                 pattern: str = "*") -> list[Path]:
    """Delete the oldest files (by modification time) of ``folder`` matching ``pattern`` until at most
    ``max_files`` remain and they take at most ``max_bytes``; ``keep`` (the file just written) stays.
    Returns what was deleted. For caches whose files are recomputed on demand."""
    root = Path(folder)
    if not root.is_dir():
        return []
    files = []
    for path in root.glob(pattern):
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.is_file() and not path.name.startswith("."):
            files.append((stat.st_mtime, path, stat.st_size))
    files.sort(key=lambda f: (f[0], f[1].name))
    total = sum(size for _, _, size in files)
    count = len(files)
    removed = []
    for _, path, size in files:
        if count <= max_files and total <= max_bytes:
            break
        if keep is not None and path == Path(keep):
            continue
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
        count -= 1
        total -= size
    return removed


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, with an error that names the file when it is not valid JSON."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p} is not valid JSON ({exc}); restore it or delete it and rerun.") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{p} is not UTF-8 text (byte {exc.start}); save it as UTF-8 JSON.") from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
