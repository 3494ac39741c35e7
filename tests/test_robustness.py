"""Perturbations (exact shifts, seeded noise), the robustness rows, and the robustness command on a tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mbi import plots
from mbi.cli import main
from mbi.inference.robustness import (DIRECTIONS, STANDARD, Perturbation, RobustnessRow, group_means,
                                      parse_perturbation)


def _centre_of_mass(img: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(img.shape)
    m = img.astype(np.float64)
    return np.array([(rows * m).sum(), (cols * m).sum()]) / m.sum()


@pytest.mark.parametrize("direction", list(DIRECTIONS))
@pytest.mark.parametrize("pixels", [1, 2, 3])
def test_a_shift_moves_the_mass_by_exactly_k_pixels(direction, pixels, rng):
    img = np.zeros((1, 28, 28), dtype=np.uint8)
    img[0, 6:22, 6:22] = rng.integers(1, 256, size=(16, 16))  # a margin of 6 px: nothing leaves the frame
    out = Perturbation("shift", direction=direction, pixels=pixels).apply(img)
    dy, dx = DIRECTIONS[direction]
    assert np.allclose(_centre_of_mass(out[0]) - _centre_of_mass(img[0]), [dy * pixels, dx * pixels])
    assert out.sum() == img.sum()
    # pixel by pixel: out[r + dy*k, c + dx*k] == img[r, c]
    r, c = np.nonzero(img[0])
    assert np.array_equal(out[0, r + dy * pixels, c + dx * pixels], img[0, r, c])
    assert img[0, 6:22, 6:22].min() > 0  # the input is not modified


def test_a_shift_drops_what_leaves_the_frame_and_fills_zeros():
    img = np.arange(28 * 28, dtype=np.int64).reshape(1, 28, 28).astype(np.uint8)
    out = Perturbation("shift", direction="right", pixels=2).apply(img)
    assert (out[0, :, :2] == 0).all() and np.array_equal(out[0, :, 2:], img[0, :, :-2])


def test_noise_has_the_seeded_statistics():
    img = np.full((200, 28, 28), 128, dtype=np.uint8)  # mid-grey: clipping at 0/255 is 5 sigma away for sigma 0.1
    p = Perturbation("noise", sigma=0.1, seed=3)
    out = p.apply(img)
    diff = out.astype(np.float64) - 128
    assert abs(diff.mean()) < 0.2 and diff.std() == pytest.approx(25.5, rel=0.01)
    expected = np.clip(np.rint(128 + 25.5 * np.random.default_rng(3).standard_normal(img.shape)), 0, 255)
    assert np.array_equal(out, expected.astype(np.uint8))
    assert np.array_equal(p.apply(img), out)  # the same seed gives the same noise
    assert not np.array_equal(Perturbation("noise", sigma=0.1, seed=4).apply(img), out)
    assert (Perturbation("noise", sigma=0.2).apply(np.zeros((2, 28, 28), np.uint8)) >= 0).all()


def test_clean_is_a_copy():
    img = np.ones((2, 28, 28), dtype=np.uint8)
    out = Perturbation().apply(img)
    assert np.array_equal(out, img) and out is not img


@settings(max_examples=60, deadline=None)
@given(st.one_of(
    st.builds(lambda d, k: Perturbation("shift", direction=d, pixels=k), st.sampled_from(list(DIRECTIONS)),
              st.integers(1, 27)),
    st.builds(lambda s, seed: Perturbation("noise", sigma=s, seed=seed),
              st.floats(0.001, 10, allow_nan=False).map(lambda v: float(f"{v:g}")), st.integers(0, 10**6)),
    st.just(Perturbation()),
))
def test_names_read_back(p):
    assert parse_perturbation(p.name) == p


@pytest.mark.parametrize("bad", ["shift-up-0", "shift-north-1", "noise-0", "noise--1", "blur-1", "", "shift-up-28"])
def test_bad_perturbations_are_refused(bad):
    with pytest.raises(ValueError):
        parse_perturbation(bad)


def test_the_standard_set():
    names = [p.name for p in STANDARD]
    assert names[0] == "clean" and len(names) == 11 and "shift-left-2" in names and "noise-0.2" in names
    assert [g["group"] for g in group_means([_row(p.name, p.group) for p in STANDARD])] == \
        ["clean", "shift 1 px", "shift 2 px", "noise 0.1", "noise 0.2"]


def _row(name: str, group: str, acc: float = 0.5, share: float = 0.5, part: float | None = 0.5) -> RobustnessRow:
    return RobustnessRow(name, group, 10, acc, acc, acc, acc, share, part)


def test_recipe_shifts_are_the_translations_the_table_recipe_replays():
    from mbi.inference.robustness import recipe_shifts
    from mbi.memory.recipe import SHIFT_CHOICES

    assert recipe_shifts("none") == ()
    for name in ("1px", "2px"):
        got = recipe_shifts(name)
        assert sorted(p.offset for p in got) == sorted(SHIFT_CHOICES[name]) and all(p.kind == "shift" for p in got)
    assert [p.name for p in recipe_shifts("1px")] == ["shift-up-1", "shift-down-1", "shift-left-1", "shift-right-1"]
    assert [p.pixels for p in recipe_shifts("2px")] == [1] * 4 + [2] * 4
    with pytest.raises(ValueError, match="shifts must be one of"):
        recipe_shifts("3px")


def test_group_means_pool_the_lookup_part_over_images():
    rows = [_row("a", "g", acc=0.2, share=1.0, part=0.2), _row("b", "g", acc=0.4, share=0.5, part=1.0)]
    (g,) = group_means(rows)
    assert g["perturbations"] == 2 and g["ram_accuracy"] == pytest.approx(0.3)
    assert g["lookup_part_accuracy"] == pytest.approx((0.2 * 10 + 1.0 * 5) / 15)
    fig = plots.robustness_bars([vars(r) for r in rows], [g])
    assert len(fig.data) == 4 and list(fig.data[0].x) == ["g"]


def test_robustness_gives_the_numbers_of_lookup_on_the_same_perturbed_images(checkpoint, tmp_path, capsys,
                                                                            monkeypatch):
    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    table = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "600", "--out", str(table)]) == 0
    capsys.readouterr()
    names = ["clean", "shift-down-2", "noise-0.2-seed1"]
    fig = tmp_path / "fig.html"
    assert main(["robustness", str(checkpoint), "--table", str(table), "--images", "60", "--weights", "1,0.5,1",
                 "--threshold", "3.0", "--perturb", ",".join(names), "--figure", str(fig), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["perturbation"] for r in res["rows"]] == names and "<html>" in fig.read_text()
    for row in res["rows"]:
        assert main(["lookup", str(checkpoint), "--table", str(table), "--split", "test", "--images", "60",
                     "--weights", "1,0.5,1", "--thresholds", "3.0", "--perturb", row["perturbation"], "--json"]) == 0
        ref = json.loads(capsys.readouterr().out)
        assert row["ram_accuracy"] == ref["ram_accuracy"] and row["lookup_accuracy"] == ref["lookup_accuracy"]
        assert row["lookup_agrees_with_ram"] == ref["lookup_agrees_with_ram"]
        (point,) = ref["mixed"]
        assert row["mixed_accuracy"] == point["accuracy"] and row["lookup_share"] == point["lookup_share"]
        assert row["lookup_part_accuracy"] == point["lookup_accuracy"]
    # the perturbations really change what the lookups see
    assert len({(r["lookup_accuracy"], r["mixed_accuracy"], r["ram_accuracy"]) for r in res["rows"]}) > 1
    with pytest.raises(SystemExit) as exit_:  # an argparse error, like any other bad flag
        main(["robustness", str(checkpoint), "--table", str(table), "--perturb", "blur-2"])
    assert exit_.value.code == 2 and "unknown perturbation" in capsys.readouterr().err


def test_the_learned_gate_column_gives_the_numbers_of_the_gate_command_on_the_same_perturbed_images(
        checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    table = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "600", "--out", str(table)]) == 0
    common = ["--table", str(table), "--images", "80", "--weights", "1,0.5,1"]
    assert main(["gate", str(checkpoint), *common, "--k", "4", "--fit", "--record"]) == 0
    capsys.readouterr()
    try:
        names = ["clean", "shift-left-1", "noise-0.2"]
        assert main(["robustness", str(checkpoint), *common, "--threshold", "3.0", "--perturb", ",".join(names),
                     "--learned-share", "0.8", "--json"]) == 0
        res = json.loads(capsys.readouterr().out)
        assert res["learned_gate"]["share"] == 0.8
        for row in res["rows"]:
            assert main(["gate", str(checkpoint), *common, "--k", "4", "--split", "test", "--perturb",
                         row["perturbation"], "--json"]) == 0
            ref = json.loads(capsys.readouterr().out)
            (at,) = [a for a in ref["gates"]["learned"]["at_share"] if a["share"] == 0.8]
            assert row["learned_accuracy"] == at["accuracy"] and row["learned_lookup_share"] == at["lookup_share"]
            assert row["learned_auc"] == pytest.approx(ref["gates"]["learned"]["auc"])
            assert row["distance_auc"] == pytest.approx(ref["gates"]["distance"]["auc"])
            assert row["lookup_accuracy"] == ref["lookup_accuracy"] and row["ram_accuracy"] == ref["ram_accuracy"]
        fig = plots.robustness_bars(res["rows"], res["groups"])
        assert [t.name for t in fig.data][3] == "mixed, learned gate accuracy (%)" and len(fig.data) == 6
        assert main(["robustness", str(checkpoint), *common, "--threshold", "3.0", "--perturb", "clean",
                     "--learned-share", "0.7"]) == 2
        assert "thresholds for shares" in capsys.readouterr().err
        assert main(["robustness", str(checkpoint), *common, "--threshold", "3.0", "--perturb", "clean",
                     "--learned-share", "none", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["rows"][0]["learned_accuracy"] is None
        # with a fused fallback recorded: its column gives the gate command's --fallback fused numbers
        assert res["fused_fallback"] is None and all(r["fused_accuracy"] is None for r in res["rows"])
        assert main(["vote", str(checkpoint), *common, "--k", "4", "--fit", "--record", "--c-grid", "1"]) == 0
        assert main(["gate", str(checkpoint), *common, "--k", "4", "--fallback", "fused", "--fit", "--record"]) == 0
        capsys.readouterr()
        assert main(["robustness", str(checkpoint), *common, "--threshold", "3.0", "--perturb", ",".join(names),
                     "--learned-share", "0.8", "--json"]) == 0
        fused = json.loads(capsys.readouterr().out)
        assert fused["fused_fallback"]["beta"] == json.loads((checkpoint / "lookup.json").read_text())["fallback"]["beta"]
        for row, before in zip(fused["rows"], res["rows"]):
            assert row["learned_accuracy"] == before["learned_accuracy"]  # the RAM-fallback column is unchanged
            assert main(["gate", str(checkpoint), *common, "--k", "4", "--split", "test", "--fallback", "fused",
                         "--perturb", row["perturbation"], "--json"]) == 0
            (at,) = [a for a in json.loads(capsys.readouterr().out)["gates"]["learned"]["at_share"]
                     if a["share"] == 0.8]
            assert row["fused_accuracy"] == at["accuracy"]
        fig = plots.robustness_bars(fused["rows"], fused["groups"])
        assert [t.name for t in fig.data][4] == "mixed, learned gate, fused fallback accuracy (%)"
        assert main(["robustness", str(checkpoint), *common, "--threshold", "3.0", "--perturb", "clean",
                     "--learned-share", "0.8"]) == 0
        assert "fused" in capsys.readouterr().out
        assert main(["robustness", str(checkpoint), "--table", str(table), "--images", "80", "--threshold", "3.0",
                     "--perturb", "clean", "--learned-share", "0.8"]) == 2  # not the vote's weights
        assert "fitted on table" in capsys.readouterr().err
        (checkpoint / "vote.json").unlink()
        assert main(["robustness", str(checkpoint), *common, "--threshold", "3.0", "--perturb", "clean",
                     "--learned-share", "0.8"]) == 2
        assert "no learned vote" in capsys.readouterr().err
    finally:
        (checkpoint / "lookup.json").unlink()
        (checkpoint / "vote.json").unlink(missing_ok=True)


def test_table_shifts_picks_the_cached_table_of_that_recipe(checkpoint, tmp_path, capsys, monkeypatch):
    from mbi.memory.lut import table_path
    from mbi.memory.recipe import TableRecipe

    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    cached = table_path(checkpoint, recipe=TableRecipe("2px"))  # where --table-shifts 2px looks first
    cached.parent.mkdir(parents=True)
    assert main(["distill", str(checkpoint), "--rows", "900", "--shifts", "2px", "--out", str(cached)]) == 0
    capsys.readouterr()
    common = ["robustness", str(checkpoint), "--images", "40", "--weights", "1,1,1", "--threshold", "3",
              "--perturb", "clean,shift-up-2", "--json"]
    assert main(common + ["--table-shifts", "2px"]) == 0
    by_recipe = json.loads(capsys.readouterr().out)
    assert main(common + ["--table", str(cached)]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == by_recipe["rows"]
    assert main(common + ["--table", str(cached), "--table-shifts", "2px"]) == 2
    assert "pass one of them" in capsys.readouterr().err


def test_the_recipes_command_records_what_robustness_measures_per_recipe(checkpoint, tmp_path, capsys, monkeypatch):
    from mbi.inference.tablesize import RECIPES_FILE, read_recipe_tradeoff
    from mbi.memory.lut import table_path
    from mbi.memory.recipe import TableRecipe

    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    for shifts, rows in (("none", 600), ("1px", 900)):  # stand-ins for the full tables, where the cache looks
        cached = table_path(checkpoint, recipe=TableRecipe(shifts))
        cached.parent.mkdir(parents=True, exist_ok=True)
        assert main(["distill", str(checkpoint), "--rows", str(rows), "--shifts", shifts, "--out", str(cached)]) == 0
    capsys.readouterr()
    args = ["--images", "40", "--weights", "1,1,1", "--perturb", "clean,shift-up-1,shift-left-2"]
    try:
        assert main(["recipes", str(checkpoint), "--shifts", "none,1px", "--split", "test", *args, "--record"]) == 0
        assert "recorded in" in capsys.readouterr().out
        recorded = read_recipe_tradeoff(checkpoint)
        assert recorded["images"] == "test:40" and "--shifts none,1px" in recorded["command"]
        for point in recorded["points"]:
            assert main(["robustness", str(checkpoint), "--table-shifts", point.shifts, "--threshold", "3", *args,
                         "--learned-share", "none", "--json"]) == 0
            res = json.loads(capsys.readouterr().out)
            assert point.rows == res["table_rows"] == (600 if point.shifts == "none" else 900)
            assert point.accuracy == {g["group"]: g["lookup_accuracy"] for g in res["groups"]}
            assert point.ram_accuracy == {g["group"]: g["ram_accuracy"] for g in res["groups"]}
        fig = plots.recipe_tradeoff([p.to_dict() for p in recorded["points"]], current="none")
        assert [t.name for t in fig.data] == ["lookup, clean", "lookup, shift 1 px", "lookup, shift 2 px"]
        assert main(["recipes", str(checkpoint), "--shifts", "3px"]) == 2
        (checkpoint / RECIPES_FILE).write_text('{"points": [{"shifts": "none"}]}')
        with pytest.raises(ValueError, match="not a recorded recipe trade-off"):
            read_recipe_tradeoff(checkpoint)
    finally:
        (checkpoint / RECIPES_FILE).unlink(missing_ok=True)
    assert read_recipe_tradeoff(checkpoint) is None
