"""The in-memory search array model: circuit physics, what it computes, variation, ADC and the CLI."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from itertools import product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbi import plots
from mbi.cli import sram as sram_cli
from mbi.search.distance import KeyLayout
from mbi.hardware.sram import (CircuitTable, KeyPart, SRAMConfig, adc_level_codes, build_layout, circuit_distances,
                      compare_with_eq1, discharge, element_distance_table, ideal_distances, key_parts_from_layout,
                      key_parts_from_ram, level_statistics, monte_carlo_trials, nominal_discharge_v, sample_patterns,
                      stack_drive, synthetic_table)

PARTS = (KeyPart("patch", 6, 4), KeyPart("hidden", 8, 2), KeyPart("location", 2, 5))
WEIGHTS = (0.5, 0.3, 0.2)
FAST = settings(max_examples=20, deadline=None)


def _random_table(seed: int, n_keys: int, n_queries: int, parts=PARTS) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    levels = np.concatenate([np.full(p.count, p.levels) for p in parts])
    return rng.integers(0, levels, (n_keys, len(levels))), rng.integers(0, levels, (n_queries, len(levels)))


def _eq1_reference(keys: np.ndarray, queries: np.ndarray, parts, weights) -> np.ndarray:
    """Paper eq. (1) written out: per part Manhattan distance on levels, weighted, divided by the weight sum."""
    out, start = np.zeros((len(queries), len(keys))), 0
    for part, w in zip(parts, weights):
        block = slice(start, start + part.count)
        out += w * np.abs(queries[:, None, block] - keys[None, :, block]).sum(axis=2)
        start += part.count
    return out / sum(weights)


def _binary_reference(keys: np.ndarray, queries: np.ndarray, parts, weights) -> np.ndarray:
    """Bit-significance-weighted count of differing bits, per element sum_j 2^j |k_j - q_j| = k XOR q."""
    out, start = np.zeros((len(queries), len(keys))), 0
    for part, w in zip(parts, weights):
        block = slice(start, start + part.count)
        out += w * np.bitwise_xor(queries[:, None, block], keys[None, :, block]).sum(axis=2)
        start += part.count
    return out / sum(weights)


# ----------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("kwargs, words", [
    ({"bitline_cap_per_cell_f": -1e-15}, ["bitline_cap_per_cell_f", "-1e-15", "(0"]),
    ({"adc_bits": 0}, ["adc_bits", "0", "[1, 16]"]),
    ({"v_p_max_v": 1.2}, ["v_p_max_v", "1.2", "vdd_v"]),
    ({"vth_nominal_v": 0.95}, ["vth_nominal_v", "0.95"]),
    ({"rows": 2.5}, ["rows", "integer"]),
    ({"sigma_vth_v": float("nan")}, ["sigma_vth_v", "finite"]),
])
def test_invalid_config_names_parameter_value_and_range(kwargs, words):
    with pytest.raises(ValueError) as err:
        SRAMConfig(**kwargs)
    for word in words:
        assert word in str(err.value)


def test_array_wider_than_key_is_refused():
    with pytest.raises(ValueError, match=r"array_cols = 64 is wider than the key, which needs only 40 columns"):
        build_layout((KeyPart("hidden", 40, 2),), "binary", 64)


def test_keys_outside_their_levels_are_refused_with_the_position():
    keys, _ = _random_table(0, 4, 1)
    keys[2, 7] = 2  # element 7 belongs to the 1-bit hidden part
    with pytest.raises(ValueError, match=r"keys\[2, 7\] = 2 is outside part 'hidden'"):
        CircuitTable(keys, PARTS, config=SRAMConfig(cols=8))


# ----------------------------------------------------------------------------- transistors and bit lines


@pytest.mark.parametrize("shift", [0.0, 0.12, 0.2])
def test_discharge_closed_form_matches_numerical_integration(shift):
    cfg = SRAMConfig()
    i_sat, v_dsat = stack_drive(np.array([0.68 + shift, 0.68]), cfg)
    v, dt, cap = 0.9, 1e-13, cfg.bitline_cap_f
    for _ in range(int(round(cfg.discharge_time_s / dt))):  # forward Euler on C dV/dt = -I(V)
        x = v / v_dsat
        v -= dt * (i_sat if x >= 1 else i_sat * (2 - x) * x) / cap
    assert float(discharge(0.9, i_sat, v_dsat, cap, cfg.discharge_time_s)) == pytest.approx(v, abs=2e-3)


def test_weaker_cells_discharge_less_and_nominal_cells_fully():
    cfg = SRAMConfig()
    currents = [float(stack_drive(np.array([0.68 + s, 0.68 + s]), cfg)[0]) for s in (0.0, 0.06, 0.12, 0.3)]
    assert currents == sorted(currents, reverse=True)
    assert currents[0] == pytest.approx(0.5e-3 * 0.032 / 2)  # two nominal 16 uA devices in series
    assert np.allclose(nominal_discharge_v(cfg, np.array([0.9, 0.45])), [0.9, 0.45], atol=1e-3)


# ----------------------------------------------------------------------------- what the array computes


def test_binary_coding_computes_xor_not_manhattan():
    table = element_distance_table(4, "binary")
    assert table[1, 2] == 3 and abs(1 - 2) == 1  # the paper's formula, applied to binary codes
    assert table[0, 3] == 3 and table[1, 3] == 2
    assert np.array_equal(element_distance_table(4, "thermometer"), np.abs(np.subtract.outer(range(4), range(4))))
    pairs = np.array(list(product(range(4), repeat=2)))
    res = compare_with_eq1(pairs[:, :1], pairs[:, 1:], (KeyPart("p", 1, 4),), encoding="binary", array_cols=2)
    assert res.element_mismatch_share["p"] == pytest.approx(2 / 16)  # only (1, 2) and (2, 1)
    assert compare_with_eq1(pairs[:, :1], pairs[:, 1:], (KeyPart("p", 1, 4),), encoding="thermometer",
                            array_cols=3).element_mismatch_share["p"] == 0.0


def test_layout_columns_and_arrays_of_the_default_key():
    parts = key_parts_from_ram()
    assert [(p.count, p.levels) for p in parts] == [(48, 4), (64, 2), (2, 14)]
    binary, thermo = build_layout(parts, "binary", 32), build_layout(parts, "thermometer", 32)
    assert (binary.n_columns, binary.n_arrays) == (48 * 2 + 64 + 2 * 4, 3 + 2 + 1)
    assert (thermo.n_columns, thermo.n_arrays) == (48 * 3 + 64 + 2 * 13, 5 + 2 + 1)
    assert binary.column_precharge[:4].tolist() == [0.5, 1.0, 0.5, 1.0]  # LSB at V_P,max / 2


@FAST
@given(seed=st.integers(0, 10_000), encoding=st.sampled_from(["binary", "thermometer"]))
def test_ideal_distance_is_xor_for_binary_and_eq1_for_thermometer(seed, encoding):
    keys, queries = _random_table(seed, 12, 5)
    reference = _binary_reference if encoding == "binary" else _eq1_reference
    assert np.allclose(ideal_distances(keys, queries, PARTS, WEIGHTS, encoding),
                       reference(keys, queries, PARTS, WEIGHTS))


@FAST
@given(seed=st.integers(0, 10_000), encoding=st.sampled_from(["binary", "thermometer"]))
def test_without_variation_a_fine_adc_reports_the_ideal_distance_exactly(seed, encoding):
    keys, queries = _random_table(seed, 20, 4)
    got = circuit_distances(keys, queries, PARTS, WEIGHTS, encoding=encoding, sigma_vth_v=0.0, adc_bits=6,
                            array_cols=8, seed=seed)
    reference = _binary_reference if encoding == "binary" else _eq1_reference
    assert np.allclose(got, reference(keys, queries, PARTS, WEIGHTS), atol=1e-5)


@FAST
@given(seed=st.integers(0, 10_000))
def test_without_variation_the_analog_readout_ranks_keys_like_the_ideal_formula(seed):
    parts = (KeyPart("patch", 16, 4),)  # one full 32-column array of 2-bit binary elements
    keys, queries = _random_table(seed, 40, 3, parts)
    table = CircuitTable(keys, parts, config=SRAMConfig(sigma_vth_v=0.0), use_adc=False)
    analog = table.distances(queries)
    ideal = _binary_reference(keys, queries, parts, (1.0,))
    for a, i in zip(analog, ideal):
        order = np.argsort(i, kind="stable")
        lower, higher = order[:-1], order[1:]
        strict = i[higher] > i[lower]
        assert np.all(a[higher][strict] > a[lower][strict])


def test_a_coarse_adc_keeps_the_order_but_merges_levels():
    parts = (KeyPart("hidden", 32, 2),)  # 33 levels on one array
    keys = (np.arange(33)[:, None] > np.arange(32)[None, :]).astype(int)  # key d differs from 0 in d bits
    table = CircuitTable(keys, parts, config=SRAMConfig(sigma_vth_v=0.0), adc_bits=5)
    got = table.distances(np.zeros((1, 32), dtype=int))[0]
    assert np.all(np.diff(got) >= 0)
    assert len(np.unique(got)) == 32  # 5 bits: exactly one pair of neighbouring levels shares a code
    assert np.array_equal(adc_level_codes(32, 5), np.unique(adc_level_codes(32, 5), return_inverse=True)[1])
    assert np.array_equal(adc_level_codes(31, 5), np.arange(32))  # enough codes: one per level


# ----------------------------------------------------------------------------- frozen variation in a table


def test_variation_is_a_property_of_the_cells_not_of_the_query_batch():
    keys, queries = _random_table(3, 300, 6)
    cfg = SRAMConfig(sigma_vth_v=0.1, cols=8)
    table = CircuitTable(keys, PARTS, weights=WEIGHTS, config=cfg, seed=5)
    full = table.distances(queries)
    rows = np.array([299, 7, 150, 8])
    assert np.array_equal(table.distances(queries, rows), full[:, rows])
    assert np.array_equal(table.distances(queries, chunk_rows=7), full)
    assert np.array_equal(table.distances(queries[2:4]), full[2:4])
    assert np.array_equal(CircuitTable(keys, PARTS, weights=WEIGHTS, config=cfg, seed=5).distances(queries), full)
    assert not np.array_equal(CircuitTable(keys, PARTS, weights=WEIGHTS, config=cfg, seed=6).distances(queries), full)
    index, dist = table.nearest(queries, chunk_rows=64)
    assert np.array_equal(index, full.argmin(axis=1)) and np.array_equal(dist, full.min(axis=1))
    assert np.array_equal(table.with_adc_bits(3).distances(queries),
                          CircuitTable(keys, PARTS, weights=WEIGHTS, config=cfg, seed=5, adc_bits=3).distances(queries))
    assert not np.array_equal(table.with_adc_bits(3).distances(queries), full)
    pair_q, pair_t = np.array([0, 5, 5, 3]), np.array([10, 299, 0, 10])
    assert np.allclose(table.pair_distances(queries, pair_q, pair_t, chunk_pairs=3), full[pair_q, pair_t], atol=1e-5)


def test_parts_follow_the_search_modules_key_layout():
    layout = KeyLayout(patch_len=48, patch_levels=4, hidden_len=64, hidden_levels=2, loc_levels=16)
    assert [(p.name, p.count, p.levels) for p in key_parts_from_layout(layout)] == [
        ("patch", 48, 4), ("hidden", 64, 2), ("location", 2, 16)]


def test_large_variation_moves_distances_away_from_the_ideal():
    keys, queries = _random_table(4, 200, 5)
    ideal = _binary_reference(keys, queries, PARTS, WEIGHTS)
    errors = [np.abs(circuit_distances(keys, queries, PARTS, WEIGHTS, sigma_vth_v=s, adc_bits=6, array_cols=8)
                     - ideal).mean() for s in (0.0, 0.15)]
    assert errors[0] < 1e-5 < errors[1]


# ----------------------------------------------------------------------------- Monte Carlo of levels


@FAST
@given(weights=st.lists(st.sampled_from([0, 1, 2, 4]), min_size=1, max_size=8), data=st.data())
def test_sampled_patterns_have_exactly_the_requested_weight(weights, data):
    w = np.array(weights)
    feasible = {int((w * np.array(m)).sum()) for m in product([0, 1], repeat=len(w))}
    level = data.draw(st.sampled_from(sorted(feasible)))
    masks = sample_patterns(np.random.default_rng(0), w, level, 50)
    assert np.all((masks * w).sum(axis=1) == level)
    assert not masks[:, w == 0].any()


def test_sampled_patterns_are_uniform_over_equal_weight_subsets():
    masks = sample_patterns(np.random.default_rng(1), np.array([1, 1, 2]), 2, 4000)
    share = masks[:, 2].mean()  # {2} vs {0, 1}: half each
    assert 0.46 < share < 0.54


def test_monte_carlo_is_reproducible_with_a_seed():
    cfg = SRAMConfig(rows=8, cols=16)
    a = level_statistics(cfg, element_bits=2, trials=6, seed=11)
    b = level_statistics(cfg, element_bits=2, trials=6, seed=11)
    c = level_statistics(cfg, element_bits=2, trials=6, seed=12)
    assert np.array_equal(a.voltages, b.voltages) and a.summary() == b.summary()
    assert not np.array_equal(a.voltages, c.voltages)


def test_monte_carlo_without_variation_gives_equally_spaced_levels():
    cfg = SRAMConfig(sigma_vth_v=0.0, rows=4, cols=32)
    stats = level_statistics(cfg, element_bits=1, trials=2, seed=0)
    assert len(stats.levels) == 33
    assert np.allclose(stats.voltages.std(axis=1), 0.0, atol=1e-9)
    step = 0.9 / (2 * 32)  # one more differing column of V_P,max, averaged over 32 columns and both lines
    assert stats.nominal_spacing_v == pytest.approx(step, rel=1e-3)
    assert stats.min_gap_v == pytest.approx(step, rel=1e-3)
    assert stats.adc_error_rate == 0.0


def test_more_variation_spreads_levels_and_causes_adc_errors():
    base = SRAMConfig(rows=16, cols=32, discharge_time_s=1e-9)
    calm = level_statistics(replace(base, sigma_vth_v=0.03), element_bits=1, trials=6, seed=0)
    wild = level_statistics(replace(base, sigma_vth_v=0.1), element_bits=1, trials=6, seed=0)
    assert wild.voltages.std(axis=1).mean() > calm.voltages.std(axis=1).mean()
    assert wild.min_gap_v < calm.min_gap_v
    assert wild.adc_error_rate > calm.adc_error_rate


def test_thermometer_array_leaves_unused_columns_alone():
    stats = level_statistics(SRAMConfig(sigma_vth_v=0.0, rows=2, cols=32), element_bits=2, encoding="thermometer",
                             trials=1, seed=0)
    assert stats.levels[-1] == 30  # 10 elements x 3 columns; 2 columns unused
    assert stats.adc_error_rate == 0.0


def test_adc_decision_threshold_sits_midway_between_levels_with_different_codes():
    cfg = SRAMConfig(sigma_vth_v=0.0, rows=2, cols=32)
    fine = level_statistics(cfg, element_bits=1, trials=1, seed=0)  # 5-bit ADC: 32 codes for 33 levels
    step = 0.9 / (2 * 32)
    top = fine.nominal_v[0]
    assert fine.decision_threshold_v(0) == pytest.approx(top - 0.5 * step, rel=1e-3)
    assert fine.decision_threshold_v(10) == pytest.approx(top - 10.5 * step, rel=1e-3)
    codes = adc_level_codes(32, 5)
    shared = int(np.flatnonzero(codes[:-1] == codes[1:])[0])  # the one pair 33 levels must put on one code
    assert fine.decision_threshold_v(shared) is None
    coarse = level_statistics(replace(cfg, adc_bits=2), element_bits=1, trials=1, seed=0)  # 4 codes, 33 levels
    split = [d for d in range(32) if coarse.decision_threshold_v(d) is not None]
    assert len(split) == 3  # only three boundaries between 4 codes
    with pytest.raises(ValueError, match="next level"):
        fine.decision_threshold_v(32)


@pytest.mark.parametrize("element_bits, encoding, levels", [(1, "binary", 33), (2, "binary", 49),
                                                            (2, "thermometer", 31)])
def test_monte_carlo_trials_spend_the_budget_on_the_arrays_levels(element_bits, encoding, levels):
    cfg = SRAMConfig()  # 32 x 32; 2-bit binary: 16 elements of weight 3, thermometer: 10 elements of 3 columns
    assert monte_carlo_trials(cfg, element_bits, encoding, 1.7e6) == int(1.7e6 / (32 * 32 * levels))
    assert monte_carlo_trials(cfg, element_bits, encoding, 1.0) == 2  # at least two instances
    assert monte_carlo_trials(cfg, element_bits, encoding, 1e12) == 200  # at most 200
    stats = level_statistics(replace(cfg, rows=2), element_bits=element_bits, encoding=encoding, trials=1)
    assert len(stats.levels) == levels


def test_synthetic_tables_respect_levels():
    parts = key_parts_from_ram()
    for clustered in (False, True):
        keys, queries = synthetic_table(parts, 64, 8, clustered=clustered, seed=0)
        build_layout(parts, "binary").encode(keys)
        build_layout(parts, "binary").encode(queries, "queries")


# ----------------------------------------------------------------------------- CLI and figure


def _sram_command(argv: list[str]) -> int:
    """Run ``python -m mbi sram ARGV`` through its own parser (independent of the other commands)."""
    parser = argparse.ArgumentParser()
    sram_cli.register(parser.add_subparsers())
    args = parser.parse_args(["sram", *argv])
    return args.func(args)


def test_sram_command_prints_and_writes(tmp_path, capsys):
    code = _sram_command(["--trials", "2", "--rows", "4", "--cols", "16", "--element-bits", "2",
                          "--compare-encodings", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "smallest gap" in out and "wrong-code rate" in out and "12.5%" in out
    summary = json.loads((tmp_path / "sram_levels.json").read_text())
    assert summary["max_distance"] == 24 and len(summary["per_level"]) == 25
    assert (tmp_path / "sram_levels.csv").read_text().startswith("level,mean_mv")
    assert "plotly" in (tmp_path / "fig6b.html").read_text()
    assert json.loads((tmp_path / "encodings.json").read_text())["two_bit_element_pairs_differing"] == 0.125


def test_sram_command_reports_user_errors():
    with pytest.raises(ValueError, match="adc_bits = 0"):  # the CLI prints it and exits with status 2
        _sram_command(["--adc-bits", "0", "--trials", "1"])
    with pytest.raises(ValueError, match="cannot hold one 4-bit element"):
        _sram_command(["--cols", "8", "--element-bits", "4", "--encoding", "thermometer", "--trials", "1"])


def test_sum_line_figure_marks_the_gap():
    stats = level_statistics(SRAMConfig(rows=4, cols=8), element_bits=1, trials=2, seed=0)
    fig = plots.sum_line_distributions(stats.levels, stats.voltages, stats.min_gap_v, stats.min_gap_level)
    assert len(fig.data) == 9 and "mV" in fig.layout.xaxis.title.text
    assert f"{1e3 * stats.min_gap_v:.1f} mV" in fig.layout.annotations[0].text
