"""A child process for tests/test_child.py: ``python -m tests.child_probe LOG MODE``.

Appends ``start PID`` and ``end PID`` to LOG around its work; MODE ``progress`` prints two progress lines and a stray
line, ``fail`` raises a ValueError, ``env`` reports the variable ``MBI_PROBE_SETTING`` as its progress message,
``slow`` reports progress once, then reads LOG a few times (so two children would interleave)."""

import os
import sys
import time
from pathlib import Path

from mbi.runs.child import report_progress


def _log(path: Path, word: str) -> None:
    with open(path, "a") as handle:
        handle.write(f"{word} {os.getpid()}\n")


if __name__ == "__main__":
    log, mode = Path(sys.argv[1]), sys.argv[2]
    _log(log, "start")
    if mode == "fail":
        raise ValueError("the probe was told to fail")
    if mode == "progress":
        report_progress(0.25, "a quarter")
        print("a line that is not progress", flush=True)
        report_progress(1.0)
    if mode == "env":
        report_progress(1.0, os.environ.get("MBI_PROBE_SETTING", "unset"))
    if mode == "slow":
        report_progress(0.0, "started")
        for _ in range(20):
            log.read_text()
            time.sleep(0.02)
    _log(log, "end")
