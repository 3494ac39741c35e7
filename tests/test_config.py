"""Config validation: impossible values fail early and name the field to change."""

from __future__ import annotations

import numpy as np
import pytest

from mbi.config import RAMConfig, RunConfig, TrainConfig, TreeConfig
from mbi.validate import WrongType, check_choice, check_int, check_number


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_glimpses": 0}, "num_glimpses"),
        ({"patch_size": 0}, "patch_size"),
        ({"patch_size": 29}, "patch_size"),
        ({"patch_bits": 0}, "patch_bits"),
        ({"hidden_bits": 9}, "hidden_bits"),
        ({"loc_std": 0.0}, "loc_std"),
        ({"loc_grid": 1}, "loc_grid"),
        ({"patch_size": 8, "glimpse_scale": 4, "num_patches": 3}, "widest patch"),
        ({"core_layers": 0, "state_size": 32, "hidden_size": 256}, "state_size"),
        ({"num_glimpses": 2.5}, "num_glimpses"),
    ],
)
def test_bad_ram_values_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        RAMConfig(**kwargs)


@pytest.mark.parametrize(("kwargs", "field"), [({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"),
                                               ({"batch_size": 0}, "batch_size"), ({"lr": float("nan")}, "lr")])
def test_bad_train_values_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**kwargs)


def test_odd_patches_and_float_quantizers_are_valid():
    cfg = RAMConfig(patch_size=5, glimpse_scale=3, num_patches=2, patch_bits=None, hidden_bits=None)
    assert cfg.largest_patch == 15 and cfg.patch_vector_len == 50


def test_round_trip_and_unknown_keys():
    cfg = RunConfig(RAMConfig(num_glimpses=3), TrainConfig(epochs=2))
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown RAMConfig field.*glimpses"):
        RunConfig.from_dict({"ram": {"glimpses": 3}})
    with pytest.raises(ValueError, match="unknown config section"):
        RunConfig.from_dict({"model": {}})


# ----------------------------------------------------------------------------- tree settings and value checks


def test_tree_config_defaults_round_trip_and_bad_values():
    tree = TreeConfig()
    assert (tree.branching, tree.leaf_size, tree.checks, tree.seed) == (4, 32, 1, 0)
    assert TreeConfig.from_dict(TreeConfig(3, 8, 2).to_dict()) == TreeConfig(3, 8, 2)
    for kwargs, message in [({"branching": 1}, "branching = 1 is out of range: branching must be >= 2"),
                            ({"leaf_size": 0}, "leaf_size must be >= 1"), ({"checks": 0}, "checks must be >= 1"),
                            ({"seed": -1}, "seed must be >= 0"), ({"branching": 2.5}, "branching must be an integer"),
                            ({"leaf_size": True}, "leaf_size must be an integer")]:
        with pytest.raises(ValueError, match=message):
            TreeConfig(**kwargs)
    with pytest.raises(ValueError, match="unknown TreeConfig field.*leaf"):
        TreeConfig.from_dict({"leaf": 4})


def test_value_checks_speak_one_style():
    assert check_int("n", np.int64(3), 1, 5) == 3 and check_number("x", 2, 0.0, 1e9) == 2.0
    with pytest.raises(ValueError, match=r"^n = 0 is out of range: n must be in \[1, 5\]$"):
        check_int("n", 0, 1, 5)
    with pytest.raises(ValueError, match=r"^x = 0.0 is out of range: x must be in \(0, 2\] V$"):
        check_number("x", 0.0, 0.0, 2.0, "V", lo_open=True)
    with pytest.raises(ValueError, match=r"x = 3.0 is out of range: x must be < 3"):
        check_number("x", 3.0, hi=3.0, hi_open=True)
    with pytest.raises(TypeError, match="n must be an integer, got 2.5"):  # WrongType is a TypeError ...
        check_int("n", 2.5)
    with pytest.raises(ValueError, match="x must be a finite number, got 'a'"):  # ... and a ValueError
        check_number("x", "a")
    with pytest.raises(ValueError, match="x must be a finite number, got inf"):
        check_number("x", float("inf"))
    with pytest.raises(ValueError, match=r"c must be one of \['a', 'b'\], got 'z'"):
        check_choice("c", "z", ("a", "b"))
    assert issubclass(WrongType, TypeError) and issubclass(WrongType, ValueError)
