"""``reproduce`` / ``worker``: every figure from a tiny profile, numbers equal to the individual commands,
resume after a kill without repeating finished items, two workers sharing one journal (and PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import pytest

from mbi.cli import main
from mbi.runs.reproduce import FIGURES, open_reproduction, profile, start, sweep_spec, work_items
from mbi.runs.studies import ITEM_ATTR, item_key, open_storage

# fewer items than the tiny profile: one training per Fig. 3 panel, one table size, no Fashion-MNIST row
SMALL = {"sweeps": {**profile("tiny")["sweeps"],
                    "axes": {"fig3a": {"num_glimpses": [1]}, "fig3b": {"hidden_bits": [1]},
                             "fig3c": {"hidden_size": [16], "core_layers": [1]}}},
         "sizes": [100], "fashion": None}


def _real(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials() if not t.user_attrs.get("spurious") and "duplicate_of" not in t.user_attrs]


def _assert_each_item_once(study: optuna.Study, cfg: dict) -> None:
    complete = Counter(t.user_attrs[ITEM_ATTR] for t in _real(study) if t.state == optuna.trial.TrialState.COMPLETE)
    assert sorted(complete) == sorted(item_key(i) for i in work_items(cfg))
    assert set(complete.values()) == {1}, complete


def _fashion_missing() -> str | None:
    """Why the Fashion-MNIST row cannot run here (the shipped model, its recorded gate or the dataset is missing),
    None when it can."""
    from mbi.model.checkpoint import Checkpoint

    try:
        fashion = Checkpoint("fashion-mnist")
        fashion.data()
    except (FileNotFoundError, ValueError) as exc:
        return str(exc)
    return None if fashion.lookup.gate is not None else "the shipped Fashion-MNIST model records no learned gate"


def test_tiny_reproduce_draws_every_figure_with_the_commands_numbers(tmp_path, capsys):
    out = tmp_path / "rep"
    missing = _fashion_missing()  # without the Fashion-MNIST files the row is left out, the rest is checked as ever
    off = [] if missing is None else ["--set", json.dumps({"fashion": None})]
    assert main(["reproduce", "--profile", "tiny", "--out", str(out), *off]) == 0
    report = json.loads((out / "results.json").read_text())
    # The tiny profile's Fashion-MNIST table is distilled from a few digits: the recorded gate, fitted on the full
    # table, is not applied to it (the row says why, as `gate` does).
    drawn = {f: (missing is None or not f.startswith("fashion_")) and f != "fashion_gates" for f in FIGURES}
    assert report["figures_drawn"] == drawn
    assert report["results"]["trials"]["COMPLETE"] == len(work_items(report["config"]))
    html = (out / "report.html").read_text()
    assert html.count("<div id=\"plot-") == sum(drawn.values())
    assert '<script src="http' not in html and "Plotly" in html  # plotly.js inline: viewable offline
    md = (out / "summary.md").read_text()
    assert "93.04%" in md and "89.19%" in md  # paper's and authors' numbers beside ours
    res = report["results"]
    cfg = report["config"]
    capsys.readouterr()

    # Fig. 6(b): `sram` with the same trials
    assert main(["sram", "--trials", str(cfg["sram_trials"]), "--out", str(tmp_path / "s")]) == 0
    levels = json.loads((tmp_path / "s" / "sram_levels.json").read_text())
    assert res["sram"]["min_gap_mv"] == pytest.approx(levels["min_gap_mv"])
    assert res["sram"]["adc_error_rate"] == pytest.approx(levels["adc_error_rate"])
    # Fig. 6(c) and Table I: `energy`
    assert main(["energy", "--out", str(tmp_path / "e")]) == 0
    energy = json.loads((tmp_path / "e" / "energy.json").read_text())
    assert res["energy"]["match_energy_j"]["total"] == pytest.approx(energy["match_energy_j"]["total"])
    assert res["energy"]["inference_energy_j"] == pytest.approx(energy["inference_energy_j"])

    # Fig. 5 and 4(c): `lookup --split test` on the same table and images (brute force, then tree)
    from mbi.model.checkpoint import load_model, model_hash
    from mbi.data import load_mnist
    from mbi.memory.lut import distill, save_table

    model, digest = load_model("default"), model_hash("default")
    mnist = load_mnist()
    table = distill(model, mnist.train_x[: cfg["table_train_images"]], digest, seed=cfg["seed"])
    path = save_table(table, tmp_path / "t.npz")
    base = ["lookup", "default", "--table", str(path), "--split", "test", "--images", str(cfg["test_images"]), "--json"]
    capsys.readouterr()
    assert main(base + ["--thresholds", "auto"]) == 0
    brute = json.loads(capsys.readouterr().out)
    for key in ("ram_accuracy", "lookup_accuracy", "table_rows", "mixed"):
        assert res["mixed"][key] == brute[key], key
    assert main(base + ["--search", "tree"]) == 0
    tree = json.loads(capsys.readouterr().out)["tree_vs_brute_force"]
    for key in ("exact_share", "max_normalized_error", "fewer_comparisons"):
        assert res["tree"][key] == pytest.approx(tree[key]), key
    assert sum(res["tree"]["hist_counts"]) == cfg["test_images"] * model.cfg.num_glimpses

    # Robustness: `robustness` on the same table, images, perturbations and distance threshold
    rob = res["robustness"]
    assert rob["learned_gate"] is None and "the paper's share" in rob["threshold_source"]
    assert main(["robustness", "default", "--table", str(path), "--split", "test", "--images",
                 str(cfg["robustness"]["images"]), "--threshold", repr(rob["threshold"]), "--perturb",
                 ",".join(cfg["robustness"]["perturbations"]), "--learned-share", "none", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["rows"] == rob["rows"] and cli["groups"] == rob["groups"]
    assert "robustness" in [s["id"] for s in report["comparison"]] and "test digits; clean: RAM" in md

    # Fig. 4(a): table_size_curve (what `evaluate --lut-sizes` runs) on the same data, in a fresh BO storage
    from mbi.inference.tablesize import table_size_curve
    n_val, n_test = cfg["val_images"], cfg["test_images"]
    points = table_size_curve(model, digest, mnist.train_x[: cfg["table_train_images"]],
                              (mnist.val_x[:n_val], mnist.val_y[:n_val]), (mnist.test_x[:n_test], mnist.test_y[:n_test]),
                              [cfg["sizes"][0]], bo_trials=cfg["bo_trials"], seed=cfg["seed"],
                              default_journal=tmp_path / "bo2.journal")
    ours = [p for p in res["tablesize"] if p["rows_budget"] == cfg["sizes"][0]][0]
    assert ours["unweighted_accuracy"] == points[0].unweighted_accuracy
    assert ours["weighted_accuracy"] == points[0].weighted_accuracy

    if missing is None:
        _fashion_row_equals_the_commands(res["fashion"], cfg, md, tmp_path, capsys)

    # Fig. 3(a): `sweep` trains the same first item to the same validation accuracy
    from mbi.runs.sweep import run_sweep, results_table
    spec = sweep_spec(cfg, "fig3a")
    study = run_sweep(spec, None, tmp_path / "sw", max_items=1)
    row = results_table(spec, study).iloc[0]
    mine = [r for r in res["sweeps"]["fig3a"] if r["value"] == row["value"]][0]
    assert mine["val_acc"] == pytest.approx(row["val_acc"])


def _fashion_row_equals_the_commands(row: dict, cfg: dict, md: str, tmp_path: Path, capsys) -> None:
    """The Fashion-MNIST row: `lookup` (RAM, lookup-only, threshold curve), `gate` (both gates) and the
    table-size curve on the same table and images; the authors' Fashion-MNIST numbers beside ours."""
    from mbi.inference.tablesize import table_size_curve
    from mbi.memory.lut import distill, save_table
    from mbi.model.checkpoint import Checkpoint

    f = cfg["fashion"]
    fashion = Checkpoint(f["checkpoint"])
    data = fashion.data()
    train_x = data.train_x[: f["table_train_images"]]
    path = save_table(distill(fashion.model, train_x, fashion.hash, seed=cfg["seed"], dataset=fashion.dataset),
                      tmp_path / "fashion.npz")
    images = ["--table", str(path), "--split", "test", "--images", str(f["test_images"]), "--json"]
    capsys.readouterr()
    assert main(["lookup", f["checkpoint"], *images, "--thresholds", "auto"]) == 0
    lookup = json.loads(capsys.readouterr().out)
    for key in ("ram_accuracy", "lookup_accuracy", "table_rows", "mixed"):
        assert row["mixed"][key] == lookup[key], key
    assert main(["gate", f["checkpoint"], *images]) == 2
    refused = capsys.readouterr().err
    assert row["gate"]["gates"] is None and row["gate"]["reason"] in refused and "not on this table" in refused
    assert row["gate"]["reason"] in md  # the report says why it draws no gate figure
    n_val, n_test = f["val_images"], f["test_images"]
    (point,) = table_size_curve(fashion.model, fashion.hash, train_x, (data.val_x[:n_val], data.val_y[:n_val]),
                                (data.test_x[:n_test], data.test_y[:n_test]), [f["sizes"][0]], bo_trials=f["bo_trials"],
                                seed=cfg["seed"], default_journal=tmp_path / "bo-fashion.journal")
    ours = [p for p in row["tablesize"] if p["rows_budget"] == f["sizes"][0]][0]
    assert (ours["unweighted_accuracy"], ours["weighted_accuracy"]) == (point.unweighted_accuracy,
                                                                        point.weighted_accuracy)
    assert "73.98%" in md and "64.54%" in md and "88.55%" in md  # the authors' Fashion-MNIST numbers beside ours


def test_killed_run_resumes_without_repeating_finished_items(tmp_path):
    out = tmp_path / "rep"
    cmd = [sys.executable, "-m", "mbi", "reproduce", "--profile", "tiny", "--set", json.dumps(SMALL), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cfg = profile("tiny", SMALL)
    try:
        while True:  # kill it as soon as two items are finished
            assert proc.poll() is None, "the run ended before it could be killed"
            if (out / "reproduce.journal").exists():
                study, _ = open_reproduction(None, out, cfg=cfg) if _has_config(out) else (None, None)
                if study is not None and sum(t.state.name == "COMPLETE" for t in study.get_trials()) >= 2:
                    break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = {t.number: t.datetime_complete for t in study.get_trials() if t.state.name == "COMPLETE"}
    # the item it was working on is left RUNNING; --grace 0 reclaims it at once (no other worker is alive)
    assert main(["reproduce", "--profile", "tiny", "--set", json.dumps(SMALL), "--out", str(out), "--grace", "0"]) == 0
    study, _ = open_reproduction(None, out, cfg=cfg)
    _assert_each_item_once(study, cfg)
    after = {t.number: t.datetime_complete for t in study.get_trials() if t.state.name == "COMPLETE"}
    assert all(after[n] == when for n, when in before.items())  # finished before the kill: untouched
    assert json.loads((out / "results.json").read_text())["figures_drawn"] == {
        f: not f.startswith("fashion_") for f in FIGURES}


def _has_config(out: Path) -> bool:
    try:
        storage = open_storage(None, out / "reproduce.journal")
        return any(s.study_name == "reproduce-tiny" and "reproduce_config" in s.user_attrs
                   for s in optuna.get_all_study_summaries(storage))
    except Exception:  # the journal is being written
        return False


def _two_workers(storage: str | None, out: Path, name: str | None = None) -> optuna.Study:
    cfg = profile("tiny", SMALL)
    study, queued = start(cfg, out, storage, name)
    assert queued == len(work_items(cfg))
    url = storage or str(out / "reproduce.journal")
    cmd = [sys.executable, "-m", "mbi", "worker", "--storage", url, "--out", str(out)]
    if name:
        cmd += ["--study", name]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    logs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    _assert_each_item_once(study, cfg)
    assert not [t for t in _real(study) if t.state.name in ("FAIL", "RUNNING", "WAITING")]
    return study


def test_two_workers_share_one_journal_without_loss_or_repeat(tmp_path):
    _two_workers(None, tmp_path / "rep")


def test_two_workers_share_a_postgresql_study():
    url = os.environ.get("MBI_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("MBI_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against "
                    "(set it to e.g. postgresql://user:pass@localhost/db)")
    pytest.importorskip("psycopg2", reason="psycopg2 (PostgreSQL driver for SQLAlchemy) is not installed")
    import importlib.util
    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None:
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]  # SQLAlchemy 2.1 defaults to psycopg 3
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        _two_workers(url, Path(tmp), name=f"reproduce-test-{uuid.uuid4().hex[:8]}")


def test_worker_and_profile_errors_are_clear(tmp_path, capsys):
    assert main(["worker", "--storage", str(tmp_path / "none.journal")]) == 2
    assert "reproduction" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown reproduce setting"):
        profile("tiny", {"epochs": 1})
    with pytest.raises(ValueError, match="unknown reproduce profile"):
        profile("huge")


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").is_file(), reason="/usr/bin/chromium is absent: install Debian's "
                    "chromium (`apt-get install chromium`; .ci/run does) to export figure images")
def test_export_images_renders_each_report_figure(tmp_path):
    from PIL import Image

    from mbi import plots
    from mbi.runs.reproduce import export_images

    points = [{"threshold": t, "accuracy": 0.9 + t / 100, "lookup_share": 1 - t / 10} for t in range(5)]
    figs = {"fig5": plots.mixed_mbi_curve(points), "other": plots.mixed_mbi_curve(points[:2], paper=None)}
    html = "<html><body>" + "".join(
        f.to_html(full_html=False, include_plotlyjs=i == 0, div_id=f"plot-{k}") for i, (k, f) in enumerate(figs.items())
    ) + "<div class='plotly-graph-div' id='not-a-figure'></div></body></html>"
    (tmp_path / "report.html").write_text(html)
    written = export_images(tmp_path / "report.html", tmp_path / "img")
    assert sorted(p.name for p in written) == ["fig5.png", "other.png"]
    for p in written:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.width > 300 and im.height > 200
            assert len(set(im.convert("L").getdata())) > 10  # drawn, not a blank box


def test_export_images_explains_what_is_missing(tmp_path):
    from mbi.runs.reproduce import export_images

    with pytest.raises(FileNotFoundError, match="apt-get install -y chromium"):
        export_images(tmp_path / "report.html", tmp_path / "img", chromium=tmp_path / "no-chromium")
    if Path("/usr/bin/chromium").is_file():
        with pytest.raises(FileNotFoundError, match="run `python -m mbi reproduce` first"):
            export_images(tmp_path / "report.html", tmp_path / "img")


def test_report_prose_is_derived_from_the_model_and_the_results(tmp_path):
    """The 'why' sentences follow the data: a tiny RAM and a small array change them (nothing about the
    shipped 4-glimpse model or its 14.06 mV step is written in)."""
    from dataclasses import replace as dc_replace

    from mbi.config import RAMConfig
    from mbi.hardware.energy import format_energy, our_table_row
    from mbi.hardware.sram import SRAMConfig, level_statistics
    from mbi.runs.reproduce import figure_sections

    ram = dc_replace(RAMConfig(), num_glimpses=2, num_patches=1, patch_size=4, patch_bits=None, hidden_bits=1)
    stats = level_statistics(SRAMConfig(sigma_vth_v=0.0, rows=2, cols=8), element_bits=1, trials=1)
    sram = {**stats.summary(), "levels_list": [int(v) for v in stats.levels],
            "voltage_quantiles_mv": (1e3 * np.quantile(stats.voltages, np.linspace(0, 1, 11), axis=1).T).tolist()}
    ours = our_table_row("default")
    results = {"sweeps": {"fig3a": [], "fig3b": [], "fig3c": []}, "trials": {}, "errors": [],
               "tablesize": [{"rows": 100, "unweighted_accuracy": 0.80, "weighted_accuracy": 0.85}],
               "mixed": {"ram_accuracy": 0.5, "lookup_accuracy": 0.95, "images": 30, "table_rows": 100, "mixed": [],
                         "ram": ram.to_dict()},
               "sram": sram,
               "energy": {"match_energy_j": {"adc": 1e-12, "row_peripherals": 1e-12, "precharge": 1e-12,
                                             "logic": 1e-12, "total": 4e-12},
                          "ours": ours.to_dict(), "table_one_ours": ours.table_rows()}}
    why = {s["id"]: s["why"] for s in figure_sections(results, profile("tiny"))}
    assert "2 glimpses of 1 x 4x4 patches, float patches, 1-bit hidden state" in why["fig5"]
    assert "4 glimpses" not in why["fig5"] and "50.00%" in why["fig5"] and "below the authors' quantized" in why["fig5"]
    assert "95.00%, above their 89.19%" in why["fig5"] and "no threshold was chosen" in why["fig5"]
    step = 0.9 / (2 * 8)  # variation-free: one more V_P,max column of 8, averaged over both lines
    assert f"steps {1e3 * step:.2f} mV per level" in why["fig6b"] and "14.06" not in why["fig6b"]
    assert "V_P,max/8" in why["fig6b"] and "11 quantiles per level" in why["fig6b"]
    assert "probably one sum line's step" not in why["fig6b"]  # 112.5 mV is nowhere near the paper's 28 mV
    assert "+5.00 points" in why["fig4a"] and "less to gain" not in why["fig4a"]
    assert "4.000 pJ, -14.9% from the paper's 4.7 pJ" in why["fig6c"]
    assert format_energy(ours.energy_j) in why["table1"] and ours.traversal_text in why["table1"]
    results["tablesize"][0]["weighted_accuracy"] = 0.81
    assert "less to gain" in {s["id"]: s["why"] for s in figure_sections(results, profile("tiny"))}["fig4a"]
    full = profile("full", {"sweeps": {"train": {"epochs": 3, "train_limit": 500}, "ram": {}, "axes": {}}})
    why_full = {s["id"]: s["why"] for s in figure_sections(results, full)}
    assert "follow the shipped specs (3 epochs on 500 images)" in why_full["fig3a"]


def test_the_gates_section_draws_both_gates_from_a_gate_report(checkpoint, tmp_path, capsys, monkeypatch):
    """The report's gates figure and text from what `gate` reports on a table its gate was fitted on (the tiny
    profile's own run refuses the recorded gate on its small table, so this is where the section is drawn)."""
    from mbi.runs.reproduce.report import fashion_sections

    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    table = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "600", "--out", str(table)]) == 0
    capsys.readouterr()
    assert main(["gate", str(checkpoint), "--table", str(table), "--images", "120", "--k", "4", "--fit", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    row = {"tablesize": [], "gate": {**report, "table_rows": 600, "fitted_on": "val:120"}}
    fcfg = {"checkpoint": str(checkpoint), "test_images": 120, "bo_trials": 1, "val_images": 120}
    (_, _, fig, ours, why), = [s for s in fashion_sections(row, fcfg) if s[0] == "fashion_gates"]
    g = report["gates"]
    lines = {t.name: t for t in fig.data if t.mode == "lines"}
    assert set(lines) >= {"distance gate", "learned gate"}
    assert list(lines["learned gate"].y) == pytest.approx([100 * p["accuracy"] for p in g["learned"]["curve"]])
    assert f"learned {g['learned']['auc']:.3f}, distance {g['distance']['auc']:.3f}" in ours
    assert "(120 test images, 600 rows)" in ours and "fitted on 120 validation images" in why
