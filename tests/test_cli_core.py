"""The memorization commands end to end on a tiny trained checkpoint: distill, lookup, bo, lut-sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mbi.cli import main
from mbi.memory.lut import load_table, table_path
from mbi.memory.recipe import SHIFTS_1PX, TableRecipe


def test_distill_then_lookup(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    out = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "300", "--out", str(out)]) == 0
    assert "300 rows" in capsys.readouterr().out
    assert len(load_table(out)) == 300
    assert main(["lookup", str(checkpoint), "--table", str(out), "--images", "40", "--weights", "1,0.5,1",
                 "--thresholds", "0,1000", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["images"] == 40 and res["table_rows"] == 300 and res["mixed"][1]["lookup_share"] == 1.0
    assert res["mixed"][1]["accuracy"] == pytest.approx(res["lookup_accuracy"])
    assert res["lookup_seconds"] > 0 and res["ram_seconds"] > 0 and res["threads"] >= 1


def test_lookup_eps_runs_the_approximate_pruned_search(checkpoint, tmp_path, capsys, monkeypatch, small_mnist):
    """``--eps 0`` is the exact search; ``--eps`` > 0 is reported, bounded by 1 + eps per query (checked on the
    trace against the exact one), refused with a tree, and an approximate index refuses the k-nearest search."""
    from mbi.inference.lookup import StepIndex, lookup_infer
    from mbi.model.checkpoint import Checkpoint

    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    out = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "400", "--out", str(out)]) == 0
    base = ["lookup", str(checkpoint), "--table", str(out), "--images", "40", "--weights", "1,0.5,1", "--json"]
    capsys.readouterr()
    assert main(base) == 0
    exact = json.loads(capsys.readouterr().out)
    assert main(base + ["--eps", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["lookup_accuracy"] == exact["lookup_accuracy"]
    assert main(base + ["--eps", "0.5"]) == 0
    assert json.loads(capsys.readouterr().out)["eps"] == 0.5
    assert main(base + ["--eps", "0.5", "--search", "tree"]) == 2
    assert "--eps applies to --search brute" in capsys.readouterr().err
    assert main(base + ["--eps", "-1"]) == 2
    assert "eps" in capsys.readouterr().err

    model, table = Checkpoint(checkpoint).model, load_table(out)
    approx = StepIndex(table, (1, 0.5, 1), eps=0.5)
    first = lookup_infer(model, table, small_mnist.val_x[:40], index=approx)
    # step 1's queries do not depend on earlier answers: the approximate distance is within 1 + eps of the nearest
    nearest = StepIndex(table, (1, 0.5, 1)).query(0, first.queries[:, 0])[1]
    assert np.all(first.distance[:, 0] <= 1.5 * nearest + 1e-9) and np.all(first.distance[:, 0] >= nearest - 1e-9)
    with pytest.raises(ValueError, match="exact index"):
        approx.query_k(0, first.queries[:, 0], 3)


def test_lookup_errors_are_one_line(checkpoint, tmp_path, capsys):
    assert main(["lookup", str(checkpoint), "--table", str(tmp_path / "none.npz")]) == 2
    assert "distill" in capsys.readouterr().err
    out = tmp_path / "t.npz"
    main(["distill", str(checkpoint), "--rows", "50", "--out", str(out)])
    capsys.readouterr()
    assert main(["lookup", str(checkpoint), "--table", str(out), "--weights", "1,x,1"]) == 2
    assert "comma-separated numbers" in capsys.readouterr().err


def test_bo_and_table_size_commands(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    out = tmp_path / "t.npz"
    main(["distill", str(checkpoint), "--rows", "200", "--out", str(out)])
    assert main(["bo", str(checkpoint), "--table", str(out), "--trials", "2", "--val-images", "30"]) == 0
    assert "best a,b,c" in capsys.readouterr().out
    assert main(["evaluate", str(checkpoint), "--lut-sizes", "100,all", "--bo-trials", "2", "--val-images", "30",
                 "--split", "val", "--train-images", "300", "--out", str(tmp_path / "sizes")]) == 0
    rows = json.loads((tmp_path / "sizes.json").read_text())
    assert [r["rows_budget"] for r in rows] == [100, None] and rows[0]["rows"] == 100
    assert all(0 <= r["weighted_accuracy"] <= 1 for r in rows)


def test_threshold_chosen_on_validation_then_reported_on_test(checkpoint, tmp_path, capsys):
    out = tmp_path / "t.npz"
    main(["distill", str(checkpoint), "--rows", "200", "--out", str(out)])
    base = ["lookup", str(checkpoint), "--table", str(out), "--images", "30", "--weights", "1,0.5,1"]
    assert main(base + ["--split", "test", "--thresholds", "auto", "--min-accuracy", "0.5"]) == 2
    assert "validation" in capsys.readouterr().err
    assert main(base + ["--split", "val", "--thresholds", "auto", "--min-accuracy", "0", "--record"]) == 0
    settings = json.loads((checkpoint / "lookup.json").read_text())
    # with no accuracy floor the chosen point answers every image by lookup
    assert settings["weights"] == [1.0, 0.5, 1.0] and settings["val_mixed_lookup_share"] == 1.0
    capsys.readouterr()
    assert main(["lookup", str(checkpoint), "--table", str(out), "--images", "30", "--split", "test",
                 "--thresholds", "chosen", "--record", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["weights"] == [1.0, 0.5, 1.0] and len(res["mixed"]) == 1
    settings = json.loads((checkpoint / "lookup.json").read_text())
    assert settings["test_mixed_accuracy"] == res["mixed"][0]["accuracy"]
    (checkpoint / "lookup.json").unlink()


def test_recipe_comes_from_lookup_json_and_the_cli_writes_it(checkpoint, tmp_path, monkeypatch, mnist):
    assert TableRecipe.of(checkpoint) == TableRecipe()
    out = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "400", "--shifts", "1px", "--readout", "label",
                 "--out", str(out)]) == 0
    table = load_table(out)
    assert table.meta["shifts"] == [list(s) for s in SHIFTS_1PX] and table.meta["readout"] == "label"
    np.testing.assert_array_equal(table.readout, mnist.train_y[table.source])
    (checkpoint / "lookup.json").write_text(json.dumps({"table": {"shifts": "1px", "readout": "label"}}))
    try:
        assert TableRecipe.of(checkpoint) == TableRecipe("1px", "label")
        assert table_path(checkpoint, 10, recipe=TableRecipe.of(checkpoint)).name.endswith("-shift1px-label.npz")
    finally:
        (checkpoint / "lookup.json").unlink()


def test_run_workers_runs_in_process_once_and_refuses_impossible_counts():
    from mbi.cli.options import run_workers

    calls = []
    run_workers(lambda *a: calls.append(a), (1, "x"), 1)
    assert calls == [(1, "x")]
    for bad in (0, -2, True, 1.5):
        with pytest.raises(ValueError, match="--workers"):
            run_workers(lambda: None, (), bad)


def test_perturb_option_parses_once_for_every_command(capsys):
    """--perturb is parsed by one argparse type: a Perturbation, or with a list a tuple of them; a bad name or an
    empty list is an argparse error (exit 2) that says which forms exist; the default text is parsed too."""
    import argparse

    from mbi.cli.options import add_perturb_option
    from mbi.inference.robustness import Perturbation

    one, many = argparse.ArgumentParser(prog="one"), argparse.ArgumentParser(prog="many")
    add_perturb_option(one)
    add_perturb_option(many, many=True, default="clean,noise-0.2")
    assert one.parse_args([]).perturb == Perturbation()
    assert one.parse_args(["--perturb", "shift-left-2"]).perturb == Perturbation("shift", direction="left", pixels=2)
    assert many.parse_args([]).perturb == (Perturbation(), Perturbation("noise", sigma=0.2))
    assert many.parse_args(["--perturb", "noise-0.1-seed3, shift-up-1"]).perturb == (
        Perturbation("noise", sigma=0.1, seed=3), Perturbation("shift", direction="up", pixels=1))
    for parser, bad, said in ((one, "shift-left", "shift-up|down|left|right-PIXELS"), (many, " , ", "no perturbation"),
                              (many, "clean,blur-2", "unknown perturbation 'blur-2'")):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(["--perturb", bad])
        assert exit_.value.code == 2 and said in capsys.readouterr().err
    for command in ("lookup", "gate", "vote", "robustness", "recipes"):  # every command that takes it
        with pytest.raises(SystemExit) as exit_:
            main([command, "default", "--perturb", "shift-left"])
        assert exit_.value.code == 2 and "shift-up|down|left|right-PIXELS" in capsys.readouterr().err
