"""Background preparation (mbi.runs.prepare): the images' uint8 copy, the table's mapped copy and the kernels, made
ready by a child process started after the first page's run, once per process and model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mbi import data
from mbi.runs import prepare

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.usefixtures("default_table")
def test_prepare_leaves_the_images_and_the_table_on_disk(artifacts):
    # An earlier test in this process may hold the images decoded from another MBI_HOME: forget them, so this
    # process behaves as the fresh child that prepares in production.
    data.load_dataset.cache_clear()
    try:
        assert prepare.prepare("default") == ["images", "table", "kernels"]
    finally:
        data.load_dataset.cache_clear()
    folder = data.uint8_copy_folder("mnist")
    assert sorted(p.name.split("-")[0] for p in folder.glob("*.npy")) == [
        "test_x", "test_y", "train_x", "train_y", "val_x", "val_y"]
    mapped = list((artifacts / "tables" / "mapped").glob("*/keys_step0-*.npy"))
    assert len(mapped) == 1


def test_a_model_without_a_table_prepares_only_its_images(artifacts, checkpoint):
    assert prepare.prepare(checkpoint) == ["images"]
    assert not (artifacts / "tables").exists()


def test_off_starts_nothing(monkeypatch, checkpoint):
    monkeypatch.setenv(prepare.VARIABLE, "off")
    assert prepare.prepare_in_background(checkpoint) is None
    monkeypatch.setenv(prepare.VARIABLE, "maybe")
    with pytest.raises(ValueError, match="MBI_PREPARE must be on or off"):
        prepare.prepare_in_background(checkpoint)


AFTER_THE_OVERVIEW = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=600.0).run()
assert not at.exception and not at.error
from mbi.runs import prepare
threads = list(prepare._started.values())
at.run()  # a second run starts nothing more
assert list(prepare._started.values()) == threads, prepare._started
for thread in threads:
    thread.join(600)
print("threads", len(threads), "torch", "torch" in sys.modules)
"""


@pytest.mark.usefixtures("default_table")
def test_the_overview_starts_preparing_the_default_model_once(tmp_path):
    """In a fresh process on an empty MBI_HOME: after the Overview's first run one background preparation of the
    default model runs in a child (torch stays out of the server) and leaves the uint8 copy and the mapped table."""
    env = {**os.environ, "MBI_HOME": str(tmp_path), prepare.VARIABLE: "on", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", AFTER_THE_OVERVIEW], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "threads 1 torch False"
    assert len(list((tmp_path / "data" / "mnist").glob("test_x-*.npy"))) == 1
    assert len(list((tmp_path / "tables" / "mapped").glob("*/keys_step0-*.npy"))) == 1


def test_waiting_for_a_preparation(monkeypatch, checkpoint):
    """wait_for: True at once when none was started; a running one is joined (bounded by the timeout)."""
    import threading

    assert prepare.wait_for(checkpoint) and not prepare.running(checkpoint)
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    monkeypatch.setitem(prepare._started, str(Path(checkpoint).resolve()), thread)
    assert prepare.running(checkpoint)
    assert not prepare.wait_for(checkpoint, timeout_s=0.05)
    release.set()
    assert prepare.wait_for(checkpoint, timeout_s=10) and not prepare.running(checkpoint)
