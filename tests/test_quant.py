"""Quantizers: levels, codes, range handling and straight-through gradients."""

from __future__ import annotations

import pytest
import torch

from mbi.model.quant import Quantizer


def test_two_bit_levels_hand_computed():
    q = Quantizer(2, 0.0, 1.0)
    x = torch.tensor([-0.5, 0.0, 0.16, 0.17, 0.5, 0.84, 1.0, 3.0])
    # levels 0, 1/3, 2/3, 1; 0.5 * 3 = 1.5 rounds half to even, to level 2
    assert q.codes(x).tolist() == [0, 0, 0, 1, 2, 3, 3, 3]
    torch.testing.assert_close(q(x), q.codes(x).float() / 3)


def test_one_bit_is_a_threshold_at_half():
    q = Quantizer(1, 0.0, 1.0)
    x = torch.tensor([0.0, 0.49, 0.51, 1.0])
    assert q(x).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert q.num_levels == 2


def test_decode_inverts_codes_on_levels():
    q = Quantizer(3, -1.0, 1.0)
    levels = torch.arange(8)
    assert torch.equal(q.codes(q.decode(levels)), levels)


def test_straight_through_gradient_inside_range_zero_outside():
    q = Quantizer(2, 0.0, 1.0)
    x = torch.tensor([-0.2, 0.3, 0.7, 1.4], requires_grad=True)
    (q(x) * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 0.0]


def test_float_mode_is_identity_and_has_no_codes():
    q = Quantizer(None)
    x = torch.randn(5)
    assert torch.equal(q(x), x)
    with pytest.raises(ValueError):
        q.codes(x)


def test_range_is_saved_in_state_dict():
    q = Quantizer(2, -2.0, 3.0)
    state = q.state_dict()
    assert float(state["lo"]) == -2.0 and float(state["hi"]) == 3.0
    with pytest.raises(ValueError):
        Quantizer(2, 1.0, 1.0)
