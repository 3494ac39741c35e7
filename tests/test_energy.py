"""Energy per match and per inference, the 16 nm projection and Table I, checked against the paper."""

from __future__ import annotations

import argparse
import csv
import io
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mbi import plots
from mbi.config import TreeConfig
from mbi.model.checkpoint import model_hash
from mbi.cli import energy as energy_cli
from mbi.cli.energy import table_one_title
from mbi.config import RAMConfig, RunConfig, TrainConfig
from mbi.hardware.energy import (COMPONENTS, TABLE_COLUMNS, EnergyConfig, TraversalRecord, format_energy,
                                 format_table_one, inference_energy_j, key_match_energy_j, match_energy,
                                 measure_traversal, measured_inference_energy, our_table_row, project_energy_j,
                                 record_traversal, recorded_traversal, reported_accuracy, table_cells, table_one)
from mbi.memory.lut import distill, save_table
from mbi.model.ram import RAM
from mbi.hardware.sram import KeyPart, SRAMConfig, build_layout, key_parts_from_layout, key_parts_from_ram
from mbi.store import atomic_write_json

PAPER_FACTORS = {"glimpses": 5, "mean_levels": 3.5, "mean_keys_per_level": 32, "splits": 5, "match_energy_j": 4.7e-12}


def test_paper_inference_energy_is_13_16_nj():
    assert inference_energy_j() == pytest.approx(13.16e-9, rel=1e-12)
    assert inference_energy_j(**PAPER_FACTORS) == pytest.approx(5 * 3.5 * 32 * 5 * 4.7e-12)


@settings(max_examples=40, deadline=None)
@given(factor=st.sampled_from(sorted(PAPER_FACTORS)), scale=st.floats(0.0, 100.0))
def test_inference_energy_is_linear_in_each_factor(factor, scale):
    scaled = {**PAPER_FACTORS, factor: PAPER_FACTORS[factor] * scale}
    assert inference_energy_j(**scaled) == pytest.approx(scale * 13.16e-9, rel=1e-9, abs=1e-24)


@pytest.mark.parametrize("raw_j, node_nm, paper_projected_j", [
    (100.9e-9, 28, 32.94e-9), (12.51e-6, 55, 1.05e-6), (20.4e-9, 65, 1.24e-9),
])
def test_projection_to_16nm_reproduces_the_paper_column(raw_j, node_nm, paper_projected_j):
    projected = project_energy_j(raw_j, node_nm)
    assert projected == pytest.approx(raw_j * (16 / node_nm) ** 2)
    # the paper prints 3-4 significant digits (and truncates 1.0587 uJ to 1.05 uJ)
    assert projected == pytest.approx(paper_projected_j, rel=0.01)


def test_match_energy_components_follow_their_formulas_and_total_4_7_pj():
    parts = match_energy()
    assert parts["adc"] == pytest.approx(75e-15 * 2**5)
    assert parts["row_peripherals"] == pytest.approx(32 * 40e-15 * 0.9**2)
    # 32 columns: 16 LSB at 0.45 V and 16 MSB at 0.9 V, BL and BLB, each (4.8 + 10) fF charged from 0.9 V
    assert parts["precharge"] == pytest.approx(2 * 14.8e-15 * 0.9 * (16 * 0.45 + 16 * 0.9))
    assert parts["logic"] == pytest.approx((5 * 8 + 2 * 16) * 10e-15)
    assert parts["total"] == pytest.approx(sum(parts[c] for c in COMPONENTS))
    assert parts["total"] == pytest.approx(4.7e-12, rel=0.02)


def test_adc_energy_doubles_per_bit_and_precharge_grows_with_rows():
    five = match_energy(EnergyConfig(sram=SRAMConfig(adc_bits=5)))
    six = match_energy(EnergyConfig(sram=SRAMConfig(adc_bits=6)))
    assert six["adc"] == pytest.approx(2 * five["adc"])
    tall = match_energy(EnergyConfig(sram=SRAMConfig(rows=64)))
    assert tall["precharge"] > five["precharge"] and tall["adc"] == five["adc"]


def test_key_match_energy_sums_the_arrays_and_thermometer_costs_more():
    hidden = build_layout((KeyPart("hidden", 64, 2),), "binary", 32)  # 2 arrays, every column at V_P,max
    cfg = EnergyConfig()
    assert key_match_energy_j(hidden, cfg) == pytest.approx(2 * match_energy(cfg, [1.0] * 32)["total"])
    patch = (KeyPart("patch", 48, 4),)
    binary, thermo = (key_match_energy_j(build_layout(patch, e, 32), cfg) for e in ("binary", "thermometer"))
    assert thermo > binary
    with pytest.raises(ValueError, match="array width"):
        key_match_energy_j(build_layout(patch, "binary", 16), cfg)


def test_table_one_has_the_papers_columns_and_takes_our_numbers():
    rows = table_one()
    assert [r["model"] for r in rows] == ["RAM", "MLP", "ResNet20", "LeNet"]
    assert rows[0]["energy_j"] == pytest.approx(13.16e-9) and rows[0]["weights"] is None
    assert rows[2]["macs"] == 114_947_584 and rows[3]["tops_per_w"] == 40.3 and rows[1]["storage_mb"] == 0.88
    assert rows[1]["energy_vs_mbi"] == pytest.approx(32.947e-9 / 13.16e-9, rel=1e-3)
    ours = table_one(mbi_accuracy_pct=91.5, mbi_storage_mb=3.2, mbi_energy_j=20e-9)
    assert (ours[0]["accuracy_pct"], ours[0]["storage_mb"], ours[0]["energy_j"]) == (91.5, 3.2, 20e-9)
    assert ours[1]["energy_vs_mbi"] == pytest.approx(32.947e-9 / 20e-9, rel=1e-3)


def test_table_one_formats():
    rows = table_one()
    markdown = format_table_one(rows, "markdown")
    assert "| MBI (this work) | 16 | RAM | - |" in markdown and "13.16 nJ" in markdown and "1.059 uJ" in markdown
    parsed = list(csv.DictReader(io.StringIO(format_table_one(rows, "csv"))))
    assert [r["work"] for r in parsed][1:] == [r["work"] for r in rows][1:]
    assert float(parsed[3]["energy_projected_j"]) == pytest.approx(20.4e-9 * (16 / 65) ** 2)
    with pytest.raises(ValueError, match="format"):
        format_table_one(rows, "xml")
    fig = plots.table_figure([h for _, h in TABLE_COLUMNS], table_cells(rows))
    assert list(fig.data[0].cells.values[0]) == [r["work"] for r in rows]


@pytest.mark.parametrize("build, word", [
    (lambda: EnergyConfig(adc_fom_j_per_step=-1e-15), "adc_fom_j_per_step"),
    (lambda: EnergyConfig(weight_bits=0), "weight_bits"),
    (lambda: EnergyConfig(sram=replace(SRAMConfig(), bitline_cap_per_cell_f=-2e-16)), "bitline_cap_per_cell_f"),
    (lambda: match_energy(precharge=[0.5, 1.5]), "precharge"),
    (lambda: inference_energy_j(glimpses=-1), "glimpses"),
    (lambda: project_energy_j(1e-9, 0), "technology_nm"),
])
def test_invalid_energy_parameters_are_refused(build, word):
    with pytest.raises(ValueError, match=word):
        build()


def _energy_command(argv: list[str]) -> int:
    """Run ``python -m mbi energy ARGV`` through its own parser (independent of the other commands)."""
    parser = argparse.ArgumentParser()
    energy_cli.register(parser.add_subparsers())
    args = parser.parse_args(["energy", *argv])
    return args.func(args)


def test_energy_command_prints_and_writes(tmp_path, capsys):
    assert _energy_command(["--format", "csv", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "13.16 nJ" in out and "work,technology_nm" in out and "adc" in out
    saved = json.loads((tmp_path / "energy.json").read_text())
    assert saved["inference_energy_j"] == pytest.approx(13.16e-9)
    assert set(saved["match_energy_j"]) == {*COMPONENTS, "total"}
    for name in ("table1.csv", "table1.md", "fig6c.html", "table1.html"):
        assert (tmp_path / name).stat().st_size > 0
    assert _energy_command(["--glimpses", "6", "--format", "markdown"]) == 0
    assert "15.79 nJ" in capsys.readouterr().out  # 6/5 x 13.16 nJ


def test_energy_breakdown_and_accuracy_figures():
    fig = plots.energy_breakdown({c: match_energy()[c] for c in COMPONENTS})
    assert fig.data[0].values[0] == pytest.approx(2.4) and "pJ" in fig.layout.title.text
    sig = plots.accuracy_vs_sigma([0, 50, 100], {"binary": [90, 89, 80], "thermometer": [92, 91, 85]}, 92.5)
    assert len(sig.data) == 2 and "mV" in sig.layout.xaxis.title.text and "%" in sig.layout.yaxis.title.text
    bits = plots.accuracy_vs_adc_bits([3, 4, 5], [70.0, 85.0, 90.0])
    assert list(bits.data[0].y) == [70.0, 85.0, 90.0] and "bits" in bits.layout.xaxis.title.text


# ----------------------------------------------------------------------------- measured traversal (tiny table)

TINY = RAMConfig(num_glimpses=2, hidden_size=32, state_size=16, glimpse_hidden=32, loc_hidden=16, glimpse_size=32,
                 loc_grid=7)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, mnist):
    """A random-init checkpoint folder, its table distilled on 60 training images and 30 validation images."""
    torch.manual_seed(0)
    model = RAM(TINY).eval()
    folder = tmp_path_factory.mktemp("ckpt")
    atomic_write_json(folder / "config.json", RunConfig(TINY, TrainConfig()).to_dict())
    torch.save(model.state_dict(), folder / "model.pt")
    table = distill(model, mnist.train_x[:60], model_hash(folder))
    path = save_table(table, folder / "table-60.npz")
    return folder, model, table, path, mnist.val_x[:30], mnist.val_y[:30]


def test_measured_traversal_splits_comparisons_into_centroids_and_leaf_keys(tiny):
    _, model, table, _, x, y = tiny
    stats = measure_traversal(model, table, x, y, (1, 1, 1), tree=TreeConfig(branching=3, leaf_size=8))
    assert stats.lookups == 2 and stats.rows == tuple(len(table.rows_of_step(t)) for t in range(2))
    assert np.allclose(np.add(stats.mean_centroids, stats.mean_leaf_keys), stats.mean_comparisons)
    assert all(1 <= k <= 8 for k in stats.mean_leaf_keys) and all(lv >= 1 for lv in stats.mean_levels)
    assert all(c >= 2 * lv for c, lv in zip(stats.mean_centroids, stats.mean_levels))  # >= 2 children per level
    assert 0 <= stats.tree_accuracy <= 1 and stats.exact_accuracy is not None
    flat = measure_traversal(model, table, x, y, (1, 1, 1), tree=TreeConfig(leaf_size=10_000), exact=False)
    assert flat.mean_levels == (0.0, 0.0) and flat.mean_comparisons == tuple(float(r) for r in flat.rows)
    assert flat.tree_accuracy == stats.exact_accuracy and flat.exact_accuracy is None  # one leaf = brute force
    beam = measure_traversal(model, table, x, y, (1, 1, 1), tree=TreeConfig(leaf_size=8, checks=2), exact=False)
    assert np.isnan(beam.mean_leaf_keys).all() and json.loads(json.dumps(beam.to_dict(), allow_nan=True))
    with pytest.raises(ValueError, match="one label per image"):
        measure_traversal(model, table, x, y[:2])


def test_measured_energy_is_comparisons_times_key_match(tiny):
    _, model, table, _, x, y = tiny
    stats = measure_traversal(model, table, x, y, tree=TreeConfig(branching=3, leaf_size=8), exact=False)
    for encoding in ("binary", "thermometer"):
        layout = build_layout(key_parts_from_layout(table.layout), encoding, 32)
        e = measured_inference_energy(stats, layout)
        assert e["energy_per_inference_j"] == pytest.approx(stats.comparisons_per_inference
                                                            * key_match_energy_j(layout))
        assert e["paper_form_energy_j"] == pytest.approx(e["energy_per_inference_j"])
        assert e["paper_form"]["splits"] == layout.n_arrays and e["paper_form"]["glimpses"] == 2


def test_reported_accuracy_prefers_lookup_only_test_numbers(tmp_path, tiny):
    folder = tiny[0]
    assert reported_accuracy(folder) is None
    atomic_write_json(folder / "lookup.json", {"test_mixed_accuracy": 0.9304, "test_mixed_lookup_share": 0.6965})
    pct, label = reported_accuracy(folder)
    assert pct == pytest.approx(93.04) and "mixed" in label and "69.7% by lookup" in label
    atomic_write_json(folder / "lookup.json", {"test_mixed_accuracy": 0.95, "test_lookup_accuracy": 91.2})
    assert reported_accuracy(folder) == (91.2, "lookup-only, test split (lookup.json test_lookup_accuracy)")
    (folder / "lookup.json").unlink()


def test_table_one_with_a_measured_row_keeps_the_papers_row():
    rows = table_one(90.0, 18.6, 17.5e-9, mbi_work="MBI (ours)", include_paper_mbi=True)
    assert [r["work"] for r in rows[:2]] == ["MBI (ours)", "MBI (paper)"]
    assert rows[1]["energy_vs_mbi"] == pytest.approx(13.16 / 17.5) and len(rows) == 5


def test_energy_measured_command(tiny, tmp_path, capsys):
    folder, *_, path, _, _ = tiny
    assert _energy_command(["--measured", "--checkpoint", str(folder), "--table", str(path), "--images", "20",
                            "--branching", "3", "--leaf-size", "8", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "VALIDATION split (20 images)" in out and "MBI (ours, measured, thermometer)" in out
    assert "MBI (paper)" in out and "arrays per key" in out
    saved = json.loads((tmp_path / "traversal.json").read_text())
    assert saved["traversal"]["images"] == 20 and set(saved["energy"]) == {"binary", "thermometer"}
    assert saved["table_one"][0]["energy_j"] == pytest.approx(saved["energy"]["thermometer"]["energy_per_inference_j"])
    with pytest.raises(ValueError, match="--images"):
        _energy_command(["--measured", "--checkpoint", str(folder), "--table", str(path), "--images", "0"])


# ----------------------------------------------------------------------------- our row of Table I


def _copy_checkpoint(folder, dest):
    """A copy of a checkpoint folder's config and weights (so recording beside it leaves the fixture alone)."""
    dest.mkdir()
    for name in ("config.json", "model.pt"):
        (dest / name).write_bytes((folder / name).read_bytes())
    return dest


def test_our_row_without_a_recorded_traversal_uses_the_papers_averages_on_our_key(tiny, tmp_path):
    folder = _copy_checkpoint(tiny[0], tmp_path / "ckpt")
    row = our_table_row(folder)
    key = build_layout(key_parts_from_ram(TINY), "thermometer", 32)
    assert row.traversal == "paper averages" and row.encoding == "thermometer"
    assert row.energy_j == pytest.approx(2 * 3.5 * 32 * key_match_energy_j(key))  # glimpses x 3.5 x 32 x key match
    assert row.factors["splits"] == key.n_arrays and "3.5 levels x 32 keys per level" in row.traversal_text
    assert row.accuracy_pct is None and row.storage_mb is None  # nothing measured yet
    assert row.table_rows()[0]["energy_j"] == row.energy_j and row.table_rows()[1]["work"] == "MBI (paper)"
    binary = our_table_row(folder, encoding="binary")
    assert binary.energy_j == pytest.approx(2 * 3.5 * 32 * key_match_energy_j(build_layout(
        key_parts_from_ram(TINY), "binary", 32)))


def test_a_recorded_traversal_round_trips_and_sets_our_row(tiny, tmp_path):
    src, model, table, _, x, y = tiny
    folder = _copy_checkpoint(src, tmp_path / "ckpt")
    stats = measure_traversal(model, table, x, y, tree=TreeConfig(branching=3, leaf_size=8))
    record = TraversalRecord(model_hash(folder), stats, table.storage_bytes(), "binary")
    assert TraversalRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    record_traversal(folder, record)
    assert recorded_traversal(folder) == record
    row = our_table_row(folder)
    layout = build_layout(key_parts_from_layout(table.layout), "binary", 32)
    assert row.traversal == "measured" and row.encoding == "binary"
    assert row.energy_j == pytest.approx(stats.comparisons_per_inference * key_match_energy_j(layout))
    assert row.accuracy_pct == pytest.approx(100 * stats.tree_accuracy) and "VALIDATION" in row.accuracy_label
    assert row.storage_mb == pytest.approx(table.storage_bytes()["total_binary"] / 1e6)
    assert "measured k-means traversal (30 val images; branching 3, leaf size 8" in row.traversal_text
    # a record of other weights is stale: the row falls back to the paper's averages
    (folder / "model.pt").write_bytes((folder / "model.pt").read_bytes() + b"\0")
    assert recorded_traversal(folder) is None and our_table_row(folder).traversal == "paper averages"
    atomic_write_json(folder / "traversal.json", {"model_hash": "x"})
    with pytest.raises(ValueError, match="record it again"):
        our_table_row(folder)


def test_energy_record_then_json_prints_the_measured_row(tiny, tmp_path, capsys):
    src, *_, path, _, _ = tiny
    folder = _copy_checkpoint(src, tmp_path / "ckpt")
    assert _energy_command(["--measured", "--record", "--checkpoint", str(folder), "--table", str(path),
                            "--images", "20", "--branching", "3", "--leaf-size", "8", "--no-exact"]) == 0
    measured = capsys.readouterr().out
    assert (folder / "traversal.json").is_file() and "recorded the traversal" in measured
    assert _energy_command(["--json", "--checkpoint", str(folder)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["traversal"] == "measured" and row["table_one"][0]["energy_j"] == row["energy_j"]
    assert f"energy {format_energy(row['energy_j'])} per inference" in measured
    with pytest.raises(ValueError, match="--measured"):
        _energy_command(["--record"])


def test_table_one_title_names_our_dataset_and_the_macros_mnist():
    assert table_one_title("mnist", measured=True) == "Table I: MBI (measured) vs CIM on MNIST"
    assert table_one_title("mnist", measured=False) == "Table I: MBI vs CIM on MNIST"
    fashion = table_one_title("fashion-mnist", measured=True)
    assert fashion.startswith("Table I: MBI (measured) on Fashion-MNIST vs CIM") and "MNIST)" in fashion


def test_energy_titles_follow_a_fashion_checkpoint(tmp_path, rng, capsys):
    """A Fashion-MNIST checkpoint's measured Table I says so, and that the other rows are MNIST's."""
    from mbi.data import load_dataset
    from tests.test_datasets import _checkpoint, _write_idx_folder

    _write_idx_folder(tmp_path / "idx", rng, n_train=60, n_test=4)
    folder = tmp_path / "fm"
    model = _checkpoint(folder, "fashion-mnist")
    images = load_dataset("fashion-mnist", str(tmp_path / "idx"))
    path = save_table(distill(model, images.train_x, model_hash(folder), dataset="fashion-mnist"), tmp_path / "t.npz")
    out = tmp_path / "measured"
    assert _energy_command(["--measured", "--checkpoint", str(folder), "--table", str(path), "--data-dir",
                            str(tmp_path / "idx"), "--images", "5", "--branching", "3", "--leaf-size", "8",
                            "--no-exact", "--out", str(out)]) == 0
    assert "our row is on Fashion-MNIST, the CIM macros' and the paper's rows are MNIST's" in capsys.readouterr().out
    html = (out / "table1.html").read_text()
    assert "MBI (measured) on Fashion-MNIST vs CIM" in html and "vs CIM on MNIST" not in html
    # without --measured Table I is the paper's MBI row: MNIST's; the line about our row names Fashion-MNIST
    assert _energy_command(["--checkpoint", str(folder), "--out", str(tmp_path / "paper")]) == 0
    assert "our row is on Fashion-MNIST" in capsys.readouterr().out
    assert "Table I: MBI vs CIM on MNIST" in (tmp_path / "paper" / "table1.html").read_text()
