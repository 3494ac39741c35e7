"""Config validation: impossible values fail early and name the field to change."""

from __future__ import annotations

import pytest

from mbi.config import RAMConfig, RunConfig, TrainConfig


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
