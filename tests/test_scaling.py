"""The model-size family: MAC counts by hand, a shared key, the whole pipeline on a tiny family, resuming."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mbi.config import RAMConfig, RunConfig, TrainConfig
from mbi.data import Dataset
from mbi.model.ram import RAM
from mbi.model.size import count_parameters, macs_per_image, model_size
from mbi.model.train import evaluations_without_improvement, train
from mbi.plots.scaling import model_size_figure
from mbi.runs import scaling
from mbi.runs.scaling import ScalingSpec, collect, key_bits, open_family, run_family, summary, write_results
from mbi.runs.reproduce.profiles import TINY_FAMILY
from mbi.store import SPECS_DIR

TINY_BASE = TINY_FAMILY["base"]["ram"]


def test_macs_match_a_hand_count():
    cfg = RAMConfig(num_glimpses=3, patch_size=2, num_patches=2, glimpse_hidden=5, loc_hidden=3, glimpse_size=7,
                    hidden_size=6, core_layers=2, state_size=4, loc_grid=7)
    p = 2 * 2 * 2  # patch vector: 2 patches of 2x2
    glimpse = p * 5 + 2 * 3 + 5 * 7 + 3 * 7  # what, where, what_out, where_out
    core = 7 * 6 + 4 * 6 + 6 * 6 + 6 * 4  # i2h, h2h, extra 6->6, extra 6->4 (state)
    locator = 4 * 3 + 3 * 2  # fc to hidden_size // 2, mu
    hand = 3 * (glimpse + core + locator) + 4 * 10  # three glimpses, the classifier once; no baseline
    model = RAM(cfg)
    assert macs_per_image(model) == {"glimpse": 3 * glimpse, "core": 3 * core, "locator": 3 * locator,
                                     "classifier": 40}
    assert model_size(model).macs_per_image == hand
    weights = p * 5 + 2 * 3 + 5 * 7 + 3 * 7 + 7 * 6 + 4 * 6 + 6 * 6 + 6 * 4 + 4 * 3 + 3 * 2 + 4 * 10
    biases = 5 + 3 + 7 + 7 + 6 + 6 + 6 + 4 + 3 + 2 + 10
    assert count_parameters(model, ("baseline",)) == weights + biases
    assert model_size(model).parameters == weights + biases + 4 + 1  # the baseline's 4 weights and bias


def test_shipped_family_shares_the_key_and_spans_100x():
    spec = ScalingSpec.load(SPECS_DIR / "scaling.json")
    assert len(spec.members) >= 6
    rams = [spec.config_for(m).ram for m in spec.member_names()]
    assert len({key_bits(r) for r in rams}) == 1
    assert key_bits(rams[0]) == 3 * 64 * 2 + 64 * 1 + 2 * 4  # 3 patches of 8x8 at 2 bits, 64-bit state, 14x14 grid
    assert all({f: getattr(r, f) for f in scaling.KEY_FIELDS} == {f: getattr(rams[0], f) for f in scaling.KEY_FIELDS}
               for r in rams)
    macs = [model_size(RAM(r)).macs_per_image for r in rams]
    assert max(macs) / min(macs) >= 100
    assert spec.base.train.patience is not None and spec.base.train.train_limit is None


def test_a_member_may_not_change_the_key():
    bad = json.loads(json.dumps(TINY_FAMILY))
    bad["members"][1]["state_size"] = 16
    with pytest.raises(ValueError, match="lookup key"):
        ScalingSpec.from_dict(bad)
    dup = json.loads(json.dumps(TINY_FAMILY))
    dup["members"] = [{"hidden_size": 32}, {"hidden_size": 32}]
    with pytest.raises(ValueError, match="distinct"):
        ScalingSpec.from_dict(dup)


def test_evaluations_without_improvement_counts_from_the_first_best():
    h = [{"val_acc": v} for v in (0.5, 0.7, 0.6, 0.7, None, 0.65)]
    assert evaluations_without_improvement(h) == 3  # 0.6, 0.7 (a tie is no improvement), 0.65
    assert evaluations_without_improvement([]) == 0


def test_early_stopping_stops_and_a_resume_does_not_train_on(small_mnist, tmp_path, monkeypatch):
    cfg = RunConfig(RAMConfig(**TINY_BASE), TrainConfig(epochs=6, train_limit=64, val_limit=32, batch_size=32,
                                                        num_threads=1, patience=1, lr=1e-9, lr_min=1e-9))
    # with a vanishing learning rate validation accuracy cannot improve after the first epoch
    events = list(train(cfg, tmp_path, data=small_mnist))
    epochs = [e.epoch for e in events if e.kind == "epoch"]
    assert epochs == [1, 2] and events[-1].kind == "done" and events[-1].epoch == 2
    again = list(train(cfg, tmp_path, data=small_mnist))
    assert [e.kind for e in again] == ["start", "done"]


@pytest.fixture(scope="module")
def family(tmp_path_factory, small_mnist_module):
    root = tmp_path_factory.mktemp("family")
    spec = ScalingSpec.from_dict(TINY_FAMILY)
    study = run_family(spec, None, root, data=small_mnist_module)
    return spec, root, study


@pytest.fixture(scope="module")
def small_mnist_module():
    from mbi.data import load_mnist
    m = load_mnist()
    return Dataset(m.train_x[:64], m.train_y[:64], m.val_x[:24], m.val_y[:24], m.test_x[:24], m.test_y[:24],
                 source="slice")


def test_tiny_family_produces_every_number_and_the_figure(family):
    spec, root, study = family
    rows = collect(spec, study)
    assert [r["member"] for r in rows] == ["h8-x0", "h32-x2"]
    for r in rows:
        model = RAM(spec.config_for(r["member"]).ram)
        assert r["macs_per_image"] == model_size(model).macs_per_image
        assert r["key_bits"] == 2 * 16 * 2 + 8 + 2 * 3
        assert r["table_rows"] > 0 and r["table_bytes_binary"] > 0 and r["table_train_images"] == 64
        for name in ("ram_accuracy", "lookup_accuracy", "mixed_accuracy", "mixed_lookup_share"):
            assert 0.0 <= r[name] <= 1.0
        assert r["test_images"] == 24 and r["epochs_trained"] == 1
        assert 1 <= r["tree_comparisons_per_lookup"] <= r["brute_comparisons_per_lookup"] <= r["table_rows"]
        assert r["fastest_search"] in ("brute", "tree") and r["fastest_single_search"] in ("brute", "tree")
        assert r["lookup_single_s"] == min(v["single_s"] for v in r["lookup_s"].values())
        assert r["lookup_batched_s"] == min(v["batched_s"] for v in r["lookup_s"].values())
        for name in ("ram_batched_s", "ram_single_s", "lookup_batched_s", "lookup_single_s", "mbi_energy_j",
                     "cim_energy_j"):
            assert r[name] > 0
        assert r["cim_energy_j"] == pytest.approx(r["macs_per_image"] * r["cim_energy_per_mac_j"])
        folder = scaling.member_dir(spec, root, r["member"])
        settings = json.loads((folder / "lookup.json").read_text())
        assert settings["threshold"] == r["threshold"] and settings["test_mixed_accuracy"] == r["mixed_accuracy"]
        assert (folder / "traversal.json").is_file()
    # the energy per MAC is Table I's CIM [12]: 100.9 nJ over 930,816 MACs at 28 nm, projected by (16/28)^2
    assert rows[0]["cim_energy_per_mac_j"] == pytest.approx(100.9e-9 * (16 / 28) ** 2 / 930_816)
    s = summary(rows)
    assert s["members"] == 2 and len(s["key_bits"]) == 1
    assert s["macs_span"] == pytest.approx(rows[1]["macs_per_image"] / rows[0]["macs_per_image"])
    path = write_results(spec, rows, root)
    assert scaling.read_results(path)["summary"] == json.loads(json.dumps(s))
    fig = model_size_figure(rows, s, selected="h32-x2")
    names = {t.name for t in fig.data}
    assert {"RAM MACs", "lookup comparisons", "RAM time", "lookup time", "RAM", "lookup-only MBI",
            "mixed MBI"} <= names
    macs = [t for t in fig.data if t.name == "RAM MACs"][0]
    assert list(macs.y) == [r["macs_per_image"] for r in rows]


def test_a_killed_run_resumes_without_redoing_a_finished_member(family, small_mnist_module, monkeypatch):
    spec, root, study = family
    before = {t.number for t in study.get_trials(deepcopy=False)}
    ran = []
    real = scaling.run_member
    monkeypatch.setattr(scaling, "run_member", lambda spec, member, *a, **k: ran.append(member) or real(
        spec, member, *a, **k))
    grown = json.loads(json.dumps(TINY_FAMILY))
    grown["members"].append({"hidden_size": 16, "core_layers": 1})
    spec2 = ScalingSpec.from_dict(grown)
    run_family(spec2, None, root, data=small_mnist_module)
    assert ran == ["h16-x1"]  # the two finished members were not run again
    rows = collect(spec2, open_family(spec2, None, root))
    assert [r["member"] for r in rows] == ["h8-x0", "h16-x1", "h32-x2"]
    assert before < {t.number for t in open_family(spec2, None, root).get_trials(deepcopy=False)}


def test_cli_report_only_writes_results_and_figure(family, tmp_path, monkeypatch, capsys):
    from mbi.cli import main

    spec, root, _ = family
    monkeypatch.setenv("MBI_HOME", str(root))
    spec_file = tmp_path / "tiny.json"
    spec_file.write_text(json.dumps(TINY_FAMILY))
    assert main(["scaling", "--spec", str(spec_file), "--report-only"]) == 0
    out = capsys.readouterr().out
    assert "h32-x2" in out and (root / "scaling" / TINY_FAMILY["name"] / "figure.html").is_file()


def test_model_size_page_rings_the_picked_member_and_makes_it_the_model(family, monkeypatch):
    from tests.apptools import ok, open_page, spec

    fam, root, study = family
    monkeypatch.setenv("MBI_HOME", str(root))
    rows = collect(fam, study)
    write_results(fam, rows, root)
    at = open_page("dashboard/pages/model_size.py")
    ok(at)
    fig = spec(at, "Model size")
    assert [t["y"] for t in fig["data"] if t.get("name") == "RAM MACs"][0] == [r["macs_per_image"] for r in rows]
    at.selectbox(key="size_member").select(rows[0]["member"]).run()
    ok(at)
    ringed = [t for t in spec(at, "Model size")["data"] if t.get("hoverinfo") == "skip" and t.get("mode") == "markers"]
    assert ringed and all(t["x"][0] == rows[0]["macs_per_image"] for t in ringed)
    at.button(key="size_use").click().run()
    ok(at)
    assert at.session_state["model"] == f"scaling/{fam.name}/{rows[0]['member']}"
