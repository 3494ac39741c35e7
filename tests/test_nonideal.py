"""Lookup with the search on the SRAM array model: exactness without non-idealities, seeds, errors, CLI."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from mbi import plots
from mbi.cli import sram as sram_cli
from mbi.config import RAMConfig, RunConfig, TrainConfig, TreeConfig
from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.memory.lut import distill, save_table
from mbi.hardware.nonideal import (CircuitSearch, CircuitTreeSearch, accuracy_sweep, array_levels,
                          circuit_step_index)
from mbi.model.checkpoint import Checkpoint
from mbi.model.ram import RAM
from mbi.search.searchers import BruteForce, KMeansTree
from mbi.hardware.sram import CircuitTable, KeyPart, SRAMConfig, key_parts_from_layout
from mbi.store import atomic_write_json

TINY = RAMConfig(num_glimpses=3, hidden_size=32, state_size=16, glimpse_hidden=32, loc_hidden=16, glimpse_size=32,
                 loc_grid=7)
WEIGHTS = (1.0, 0.5, 2.0)
FINE_ADC = 6  # thermometer arrays of 32 columns have 33 levels: 6 bits give each its own code


@pytest.fixture(scope="module")
def model() -> RAM:
    torch.manual_seed(0)
    return RAM(TINY).eval()


@pytest.fixture(scope="module")
def table(model, mnist):
    """A real-ish table: a random-init RAM distilled on 30 MNIST training images (90 rows, 3 steps)."""
    return distill(model, mnist.train_x[:30], "tiny")


@pytest.fixture(scope="module")
def val(mnist):
    return mnist.val_x[:40], mnist.val_y[:40]


def _circuit(table, encoding="thermometer", sigma_mv=0.0, adc_bits=FINE_ADC, seed=0) -> CircuitTable:
    """The table on a chip; ``adc_bits`` None reads the analog value (an ideal converter)."""
    chip = CircuitTable(table.keys, key_parts_from_layout(table.layout), encoding=encoding,
                        config=SRAMConfig(sigma_vth_v=sigma_mv / 1e3), seed=seed)
    return chip.with_adc_bits(adc_bits)


def _queries(table, n=60, seed=0) -> np.ndarray:
    """Table keys with a few elements moved (so distances tie and differ), within each part's levels."""
    rng = np.random.default_rng(seed)
    q = table.keys[rng.integers(0, len(table), n)].astype(np.int64)
    levels = np.concatenate([np.full(p.count, p.levels) for p in key_parts_from_layout(table.layout)])
    flip = rng.random(q.shape) < 0.1
    return np.where(flip, rng.integers(0, levels, q.shape), q).astype(np.uint8)


# ----------------------------------------------------------------------------- exact without non-idealities


@pytest.mark.parametrize("adc_bits", [FINE_ADC, 8])
def test_without_variation_thermometer_circuit_search_returns_brute_force_rows(table, adc_bits):
    circuit = _circuit(table, adc_bits=adc_bits)
    rows = table.rows_of_step(1)
    queries = _queries(table)
    exact = BruteForce(table.keys[rows], table.layout, WEIGHTS).query(queries)
    got = CircuitSearch(table.keys[rows], table.layout, WEIGHTS, circuit, rows).query(queries)
    np.testing.assert_array_equal(got.index, exact.index)
    np.testing.assert_array_equal(got.distance, exact.distance)  # bit for bit: same combine, same tie rule
    assert (got.comparisons == len(rows)).all() and (got.levels == 0).all()


def test_chunking_of_queries_and_rows_does_not_change_the_answer(table, monkeypatch):
    import mbi.hardware.nonideal as nonideal

    rows = table.rows_of_step(0)
    queries = _queries(table, seed=3)
    exact = BruteForce(table.keys[rows], table.layout, WEIGHTS).query(queries)
    monkeypatch.setattr(nonideal, "_CHUNK_QUERIES", 7)
    monkeypatch.setattr(nonideal, "_CHUNK_ROWS", 4)  # ties across row chunks keep the lowest row
    got = CircuitSearch(table.keys[rows], table.layout, WEIGHTS, _circuit(table), rows).query(queries)
    np.testing.assert_array_equal(got.index, exact.index)
    np.testing.assert_array_equal(got.distance, exact.distance)
    tree = KMeansTree(table.keys[rows], table.layout, WEIGHTS, branching=2, leaf_size=4)
    got = CircuitTreeSearch(tree, _circuit(table), rows).query(queries)  # query blocks of 4
    np.testing.assert_array_equal(got.index, tree.query(queries).index)


def test_an_ideal_converter_reads_eq1_up_to_analog_rounding(table):
    """Without an ADC the digital side gets the analog value: eq. (1) to ~1e-5, so only exact ties may flip."""
    rows = table.rows_of_step(1)
    queries = _queries(table)
    exact = BruteForce(table.keys[rows], table.layout, WEIGHTS).query(queries)
    got = CircuitSearch(table.keys[rows], table.layout, WEIGHTS, _circuit(table, adc_bits=None), rows).query(queries)
    np.testing.assert_allclose(got.distance, exact.distance, atol=1e-4)
    again = BruteForce(table.keys[rows][got.index], table.layout, WEIGHTS)
    np.testing.assert_array_equal([again.query(queries[i:i + 1]).distance[0] for i in range(len(queries))],
                                  exact.distance)  # a tie partner of the exact row, at the same eq. (1) distance


def test_without_variation_circuit_leaf_scan_follows_the_tree_exactly(table):
    rows = table.rows_of_step(2)
    tree = KMeansTree(table.keys[rows], table.layout, WEIGHTS, branching=3, leaf_size=5, checks=2)
    queries = _queries(table, seed=1)
    exact = tree.query(queries)
    got = CircuitTreeSearch(tree, _circuit(table), rows).query(queries)
    for field in ("index", "distance", "comparisons", "levels"):
        np.testing.assert_array_equal(getattr(got, field), getattr(exact, field))
    assert exact.levels.max() >= 2  # the tree really routes


@pytest.mark.parametrize("search", ["brute", "tree"])
def test_lookup_on_an_ideal_thermometer_circuit_equals_exact_lookup(model, table, val, search):
    x, _ = val
    tree = TreeConfig(branching=3, leaf_size=6) if search == "tree" else None
    exact_index = StepIndex(table, WEIGHTS, search, tree=tree)
    exact = lookup_infer(model, table, x, index=exact_index)
    index = circuit_step_index(table, WEIGHTS, _circuit(table), exact_index if search == "tree" else None)
    got = lookup_infer(model, table, x, index=index)
    np.testing.assert_array_equal(got.rows, exact.rows)
    np.testing.assert_array_equal(got.distance, exact.distance)
    np.testing.assert_array_equal(got.comparisons, exact.comparisons)


def test_sweep_without_variation_and_a_fine_adc_keeps_the_exact_accuracy(model, table, val):
    sweep = accuracy_sweep(model, table, *val, weights=WEIGHTS, encodings=["thermometer", "binary"],
                           sigmas_mv=[0.0], adc_bits=[FINE_ADC], sigma_sweep_adc_bits=FINE_ADC,
                           adc_sweep_sigmas_mv=[0.0])
    thermo = sweep.point("thermometer", 0.0, FINE_ADC)
    assert thermo.accuracy == sweep.exact_accuracy
    assert (thermo.agrees_with_exact, thermo.same_path, thermo.nearest_share, thermo.mean_regret) == (1, 1, 1, 0)
    assert sweep.point("thermometer", 0.0, None).nearest_share == 1.0
    binary = sweep.point("binary", 0.0, None)  # the array computes k XOR q per element, not |k - q|
    assert binary.nearest_share < 1.0 and binary.mean_regret > 0
    assert len(sweep.points) == 4  # (sigma 0, 6 bits) is shared by both sweeps; plus the ideal point per encoding


def test_accuracy_is_reproducible_with_a_seed(model, table, val):
    kwargs = dict(weights=WEIGHTS, encodings=["thermometer"], sigmas_mv=[100.0], adc_bits=[3],
                  adc_sweep_sigmas_mv=[100.0], include_ideal=False, seed=7)
    one = accuracy_sweep(model, table, *val, **kwargs)
    two = accuracy_sweep(model, table, *val, **kwargs)
    strip = [{k: v for k, v in asdict(p).items() if k != "seconds"} for p in one.points]
    assert strip == [{k: v for k, v in asdict(p).items() if k != "seconds"} for p in two.points]
    q = _queries(table)
    assert not np.array_equal(_circuit(table, sigma_mv=100, seed=7).distances(q),
                              _circuit(table, sigma_mv=100, seed=8).distances(q))


def test_a_coarse_adc_picks_other_rows_never_closer_ones(table):
    rows = table.rows_of_step(1)
    queries = _queries(table, n=200, seed=2)
    exact = BruteForce(table.keys[rows], table.layout, WEIGHTS).query(queries)
    coarse = CircuitSearch(table.keys[rows], table.layout, WEIGHTS, _circuit(table, adc_bits=2), rows).query(queries)
    assert (coarse.index != exact.index).any()
    picked = table.keys[rows][coarse.index].astype(np.int64)
    q = queries.astype(np.int64)
    eq1 = sum(w * np.abs(q[:, c] - picked[:, c]).sum(axis=1) for w, c in zip(WEIGHTS, table.layout.part_cols))
    assert (eq1 / sum(WEIGHTS) >= exact.distance - 1e-9).all() and (eq1 / sum(WEIGHTS) > exact.distance).any()


def test_sweep_series_and_figures(model, table, val):
    sweep = accuracy_sweep(model, table, *val, weights=WEIGHTS, encodings=["thermometer"], sigmas_mv=[0.0, 60.0],
                           adc_bits=[4, 6], adc_sweep_sigmas_mv=[0.0, 60.0], include_ideal=False)
    assert list(sweep.sigma_series()) == ["thermometer, 5-bit ADC"]
    assert list(sweep.adc_series()) == ["thermometer, sigma 0 mV", "thermometer, sigma 60 mV"]
    assert len(sweep.points) == 6 and all(len(v) == 2 for v in sweep.adc_series().values())
    fig = plots.accuracy_vs_adc_bits(sweep.adc_bits, sweep.adc_series(), 100 * sweep.exact_accuracy)
    assert len(fig.data) >= 2
    d = sweep.to_dict()
    assert json.loads(json.dumps(d))["points"][0]["encoding"] == "thermometer"
    assert [a["levels"] for a in array_levels("thermometer", table.layout)] == \
        [33, 33, 33, 33, 17, 17, 13]  # patch 48 x 3 columns = 4 x 32 + 16; hidden 16; location 2 x 6


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, match", [
    ({"sigmas_mv": [-5.0]}, r"sigmas_mv\[0\] = -5.0 is out of range"),
    ({"adc_sweep_sigmas_mv": [400]}, r"adc_sweep_sigmas_mv\[0\] = 400"),
    ({"adc_bits": [5, 0]}, r"adc_bits\[1\] = 0 is out of range"),
    ({"sigma_sweep_adc_bits": 2.5}, r"sigma_sweep_adc_bits\[0\] = 2.5"),
    ({"encodings": ["gray"]}, "encodings must be"),
    ({"search": "hash"}, "search must be 'brute' or 'tree'"),
    ({"tree": TreeConfig(leaf_size=4)}, "tree settings apply only"),
])
def test_bad_sweep_parameters_are_named(model, table, val, kwargs, match):
    with pytest.raises(ValueError, match=match):
        accuracy_sweep(model, table, *val, **kwargs)


def test_images_and_labels_must_match(model, table, val):
    with pytest.raises(ValueError, match="one label per image"):
        accuracy_sweep(model, table, val[0], val[1][:3])


def test_a_circuit_of_other_keys_or_parts_is_refused(table):
    rows = table.rows_of_step(0)
    circuit = _circuit(table)
    with pytest.raises(ValueError, match="do not hold these keys"):
        CircuitSearch(table.keys[rows], table.layout, WEIGHTS, circuit, table.rows_of_step(1)[:len(rows)])
    with pytest.raises(ValueError, match="one circuit row per key"):
        CircuitSearch(table.keys[rows], table.layout, WEIGHTS, circuit, rows[:-1])
    other = CircuitTable(np.zeros((4, 3), dtype=np.uint8), (KeyPart("a", 3, 2),), config=SRAMConfig(cols=2))
    with pytest.raises(ValueError, match="parts"):
        CircuitSearch(table.keys[rows], table.layout, WEIGHTS, other, rows)
    with pytest.raises(TypeError, match="CircuitTable"):
        CircuitSearch(table.keys[rows], table.layout, WEIGHTS, "circuit", rows)
    with pytest.raises(TypeError, match="KMeansTree"):
        CircuitTreeSearch(BruteForce(table.keys[rows], table.layout, WEIGHTS), circuit, rows)
    with pytest.raises(ValueError, match="holds 4 rows"):
        circuit_step_index(table, WEIGHTS, CircuitTable(table.keys[:4], key_parts_from_layout(table.layout)))


def test_step_index_factory_is_checked(table):
    with pytest.raises(ValueError, match="do not apply with a searcher_factory"):
        StepIndex(table, WEIGHTS, searcher_factory=lambda t, rows: None, tree=TreeConfig(leaf_size=4))
    with pytest.raises(ValueError, match="must return a Searcher over the"):
        StepIndex(table, WEIGHTS, searcher_factory=lambda t, rows: BruteForce(table.keys[:3], table.layout, WEIGHTS))
    with pytest.raises(ValueError, match="'brute' or 'tree'"):
        StepIndex(table, WEIGHTS, "circuit")
    index = StepIndex(table, WEIGHTS, "mine",
                      searcher_factory=lambda t, rows: BruteForce(table.keys[rows], table.layout, WEIGHTS))
    assert index.kind == "mine" and all(isinstance(s, BruteForce) for s in index.searchers)


def chosen_weights(folder):
    return Checkpoint(folder).lookup.chosen_weights


def test_chosen_weights_come_from_lookup_json(tmp_path, model):
    folder = _checkpoint(tmp_path, model)
    assert chosen_weights(folder) == (1.0, 1.0, 1.0)
    atomic_write_json(folder / "lookup.json", {"weights": [2, 1, 0.5]})
    assert chosen_weights(folder) == (2.0, 1.0, 0.5)
    atomic_write_json(folder / "lookup.json", {"weights": [2, 1]})
    with pytest.raises(ValueError, match="three numbers"):
        chosen_weights(folder)


# ----------------------------------------------------------------------------- command line


def _checkpoint(tmp_path, model):
    folder = tmp_path / "ckpt"
    folder.mkdir(exist_ok=True)
    atomic_write_json(folder / "config.json", RunConfig(TINY, TrainConfig()).to_dict())
    torch.save(model.state_dict(), folder / "model.pt")
    return folder


def _sram(argv):
    parser = argparse.ArgumentParser()
    sram_cli.register(parser.add_subparsers())
    args = parser.parse_args(["sram", *argv])
    return args.func(args)


def test_sram_accuracy_command_prints_and_writes(tmp_path, model, mnist, capsys):
    from mbi.model.checkpoint import model_hash

    folder = _checkpoint(tmp_path, model)
    table_file = save_table(distill(model, mnist.train_x[:30], model_hash(folder)), tmp_path / "t.npz")
    out = tmp_path / "acc"
    assert _sram(["--accuracy", "--checkpoint", str(folder), "--table", str(table_file), "--images", "20",
                  "--sigmas", "0,100", "--adc-bits", "4", "6", "--encodings", "thermometer", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "exact digital brute search" in text and "thermometer, 5-bit ADC" in text and "[5/5]" in text
    saved = json.loads((out / "nonideal.json").read_text())
    assert saved["images"] == 20 and len(saved["points"]) == 5 and "partial" not in saved
    assert "plotly" in (out / "accuracy_vs_sigma.html").read_text()
    assert "plotly" in (out / "accuracy_vs_adc_bits.html").read_text()


def test_sram_command_list_errors():
    with pytest.raises(ValueError, match="--sigmas expects numbers"):
        _sram(["--accuracy", "--sigmas", "0,x"])
    with pytest.raises(ValueError, match="takes one value for the Monte Carlo"):
        _sram(["--adc-bits", "5", "6", "--trials", "1"])
