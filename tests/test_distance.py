"""Eq. (1) distance: the packed popcount kernel equals the plain reference bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mbi.search.distance as md
from mbi.search.distance import (
    KeyLayout,
    check_weights,
    distances_reference,
    nearest,
    pack,
    packed_distances,
    packed_part_distances,
    pair_distances,
    part_distances_reference,
    thermometer,
)


def random_keys(rng: np.random.Generator, layout: KeyLayout, n: int) -> np.ndarray:
    """``n`` uniformly random keys of ``layout``."""
    return np.concatenate([
        rng.integers(0, layout.patch_levels, (n, layout.patch_len)),
        rng.integers(0, layout.hidden_levels, (n, layout.hidden_len)),
        rng.integers(0, layout.loc_levels, (n, 2)),
    ], axis=1).astype(np.uint8)


layouts = st.builds(
    KeyLayout,
    patch_len=st.integers(1, 120),
    patch_levels=st.sampled_from([2, 3, 4, 5, 8, 16, 256]),
    hidden_len=st.integers(1, 140),
    hidden_levels=st.sampled_from([2, 3, 4]),
    loc_levels=st.integers(1, 40),
)
weights = st.tuples(*[st.floats(0.0, 10.0, allow_nan=False) for _ in range(3)]).filter(lambda w: sum(w) > 0)


@settings(max_examples=60, deadline=None)
@given(layout=layouts, w=weights, n_keys=st.integers(1, 30), n_queries=st.integers(1, 6),
       seed=st.integers(0, 2**32 - 1))
def test_packed_equals_reference_exactly(layout: KeyLayout, w: tuple[float, float, float], n_keys: int,
                                         n_queries: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys, queries = random_keys(rng, layout, n_keys), random_keys(rng, layout, n_queries)
    pk, pq = pack(keys, layout), pack(queries, layout)
    for ref, fast in zip(part_distances_reference(queries, keys, layout), packed_part_distances(pq, pk)):
        np.testing.assert_array_equal(fast, ref)
    ref = distances_reference(queries, keys, layout, w)
    assert np.array_equal(packed_distances(pq, pk, w), ref)  # exact, not approximately
    qi, ki = rng.integers(0, n_queries, 40), rng.integers(0, n_keys, 40)
    assert np.array_equal(pair_distances(pq, qi, pk, ki, w), ref[qi, ki])
    index, dist = nearest(pq, pk, w, n_threads=2)
    assert np.array_equal(dist, ref.min(axis=1))
    assert np.array_equal(index, ref.argmin(axis=1))  # argmin: first (lowest) row on ties


def test_wide_parts_use_several_byte_groups() -> None:
    # 100 x 255 = 25500 patch bits = 399 words: several 30-word byte groups and 16-bit lanes.
    layout = KeyLayout(patch_len=100, patch_levels=256, hidden_len=300, hidden_levels=2, loc_levels=256)
    rng = np.random.default_rng(1)
    keys, queries = random_keys(rng, layout, 20), random_keys(rng, layout, 3)
    queries[0] = 255 * (keys[0] == 0)  # far apart: distances near the part maxima
    queries[0, layout.hidden_cols] = 1 - keys[0, layout.hidden_cols]
    fast = packed_part_distances(pack(queries, layout), pack(keys, layout))
    for ref, got in zip(part_distances_reference(queries, keys, layout), fast):
        np.testing.assert_array_equal(got, ref)
    w = (0.7, 0.2, 0.1)
    assert np.array_equal(packed_distances(pack(queries, layout), pack(keys, layout), w),
                          distances_reference(queries, keys, layout, w))


def test_eq1_hand_computed() -> None:
    layout = KeyLayout(patch_len=2, patch_levels=4, hidden_len=3, hidden_levels=2, loc_levels=4)
    q = np.array([[3, 0, 1, 0, 1, 2, 1]], dtype=np.uint8)
    k = np.array([[1, 1, 0, 0, 1, 0, 3]], dtype=np.uint8)
    # M_p = |3-1| + |0-1| = 3, M_h = 1, M_l = |2-0| + |1-3| = 4
    assert [int(p[0, 0]) for p in part_distances_reference(q, k, layout)] == [3, 1, 4]
    expected = (2.0 * 3 + 1.0 * 1 + 0.5 * 4) / 3.5  # = 9 / 3.5
    assert distances_reference(q, k, layout, (2.0, 1.0, 0.5))[0, 0] == expected
    assert packed_distances(pack(q, layout), pack(k, layout), (2.0, 1.0, 0.5))[0, 0] == expected
    assert distances_reference(q, k, layout, (1, 1, 1))[0, 0] == 8 / 3
    assert distances_reference(q, k, layout, (0, 0, 5))[0, 0] == 4.0


def test_thermometer_code() -> None:
    layout = KeyLayout(patch_len=1, patch_levels=4, hidden_len=1, hidden_levels=2, loc_levels=3)
    patch, hidden, loc = thermometer(np.array([[2, 1, 0, 2]]), layout)
    assert patch.tolist() == [[True, True, False]]
    assert hidden.tolist() == [[True]]
    assert loc.tolist() == [[False, False, True, True]]


def test_layout_columns_and_maximum() -> None:
    layout = KeyLayout(patch_len=48, patch_levels=4, hidden_len=64, hidden_levels=2, loc_levels=16)
    assert layout.width == 114
    assert (layout.patch_cols, layout.hidden_cols, layout.loc_cols) == (slice(0, 48), slice(48, 112), slice(112, 114))
    assert layout.part_bits == (144, 64, 30)
    assert layout.max_distance((1, 1, 1)) == (144 + 64 + 30) / 3
    assert layout.max_distance((1, 0, 0)) == 144
    assert pack(np.zeros((1, 114), dtype=np.uint8), layout).n_words == 3 + 1 + 1


def test_row_bytes_hamming_is_unweighted_sum() -> None:
    layout = KeyLayout(patch_len=30, patch_levels=4, hidden_len=70, hidden_levels=2, loc_levels=16)
    rng = np.random.default_rng(3)
    keys = random_keys(rng, layout, 10)
    codes = pack(keys, layout).row_bytes()
    hamming = np.unpackbits(codes[:, None, :] ^ codes[None, :, :], axis=2).sum(axis=2)
    np.testing.assert_array_equal(hamming, sum(part_distances_reference(keys, keys, layout)))


def test_nearest_ties_lowest_row_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(md, "_CHUNK_ROWS", 3)
    monkeypatch.setattr(md, "_CHUNK_QUERIES", 2)
    layout = KeyLayout(patch_len=2, patch_levels=2, hidden_len=1, hidden_levels=2, loc_levels=1)
    keys = np.array([[1, 1, 1, 0, 0]] * 2 + [[0, 0, 0, 0, 0]] * 8, dtype=np.uint8)
    queries = np.array([[0, 0, 0, 0, 0], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=np.uint8)
    index, dist = nearest(pack(queries, layout), pack(keys, layout), (1, 1, 1), n_threads=2)
    assert index.tolist() == [2, 0, 2]  # the third query is at 1 from rows 2..9 and 2 from rows 0, 1
    assert dist.tolist() == [0.0, 0.0, 1 / 3]


@pytest.mark.parametrize("kwargs, match", [
    (dict(patch_len=0), "patch_len must be >= 1"),
    (dict(hidden_levels=1), "hidden_levels must be in 2..256"),
    (dict(patch_levels=300), "patch_levels must be in 2..256"),
    (dict(loc_levels=0), "loc_levels must be in 1..256"),
    (dict(patch_len=300, patch_levels=256), "more than the 65535"),
])
def test_layout_rejects_bad_values(kwargs: dict, match: str) -> None:
    base = dict(patch_len=4, patch_levels=4, hidden_len=4, hidden_levels=2, loc_levels=4)
    with pytest.raises(ValueError, match=match):
        KeyLayout(**{**base, **kwargs})


def test_layout_rejects_non_int() -> None:
    with pytest.raises(TypeError, match="patch_len must be an int"):
        KeyLayout(patch_len=4.0, patch_levels=4, hidden_len=4, hidden_levels=2, loc_levels=4)  # type: ignore[arg-type]


def test_check_keys_errors() -> None:
    layout = KeyLayout(patch_len=2, patch_levels=4, hidden_len=2, hidden_levels=2, loc_levels=4)
    assert layout.check_keys(np.array([1, 2, 0, 1, 3, 3])).shape == (1, 6)
    with pytest.raises(ValueError, match="has 5 columns but the layout needs 6"):
        layout.check_keys(np.zeros((3, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="hidden values must be in 0..1 for this layout, found 2"):
        layout.check_keys(np.array([[0, 0, 2, 0, 0, 0]]))
    with pytest.raises(ValueError, match="location values must be in 0..3 for this layout, found -1"):
        layout.check_keys(np.array([[0, 0, 0, 0, 0, -1]]))
    with pytest.raises(TypeError, match="must hold integers"):
        layout.check_keys(np.zeros((1, 6)))
    with pytest.raises(ValueError, match="2-D array"):
        layout.check_keys(np.zeros((1, 1, 6), dtype=np.uint8))


@pytest.mark.parametrize("w, match", [
    ((1, -1, 1), "weight b must be >= 0"),
    ((float("nan"), 1, 1), "weight a must be finite"),
    ((1, 1, float("inf")), "weight c must be finite"),
    ((0, 0, 0), "must not all be zero"),
    ((1, 1), "three numbers"),
])
def test_bad_weights(w: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_weights(w)


def test_mixed_layouts_and_empty_table_are_refused() -> None:
    a = KeyLayout(patch_len=2, patch_levels=4, hidden_len=2, hidden_levels=2, loc_levels=4)
    b = KeyLayout(patch_len=2, patch_levels=4, hidden_len=2, hidden_levels=2, loc_levels=5)
    keys = np.zeros((2, 6), dtype=np.uint8)
    with pytest.raises(ValueError, match="different layouts"):
        packed_distances(pack(keys, a), pack(keys, b), (1, 1, 1))
    with pytest.raises(ValueError, match="empty table"):
        nearest(pack(keys, a), pack(keys[:0], a), (1, 1, 1))
    with pytest.raises(ValueError, match="n_threads must be >= 1"):
        nearest(pack(keys, a), pack(keys, a), (1, 1, 1), n_threads=0)
