"""Distillation: replay the quantized RAM on training images and memorize every glimpse step.

At glimpse ``t`` the RAM reads key = (quantized patch vector rho_t, quantized
previous hidden state h_{t-1}, previous location l_{t-1}) and writes value =
(h_t, next location l_t, class readout argmax classifier(h_t)). A
:class:`LookupTable` stores those rows as small integers (levels), with the key
columns laid out as :class:`mbi.search.distance.KeyLayout` expects.

*Row budget.* ``rows=N`` replays training images in a seeded random order,
all glimpse steps of each image, and keeps the first ``N`` distinct keys met
(so the table holds whole episodes of about ``N / T`` images, minus merged
duplicates). ``rows=None`` distills every training image.

*Merging.* Rows are identified by (step, key): the table keeps one row per
distinct key *per glimpse step*, and the search looks only at rows of the
current step (the step number acts as a 3-bit tag, or one array bank per step
in hardware; it cuts comparisons by T and, measured, loses no accuracy).
Because the RAM is deterministic, identical keys always come with identical
values (h_t is a function of the key); should floating-point ties ever make
two values differ, the first occurrence wins and the number of such conflicts
is recorded in ``meta["conflicts"]``. ``count`` records how many replayed
steps hit each row.

*Two extensions beyond the paper* (both off by default, both still lookup-only at inference):
``shifts`` also replays every training image translated by one pixel, or by one and by two pixels, in
4 directions (the distortions that shift-augmented training uses), which fills the key space around every training episode with more of the
RAM's own behaviour; ``labels`` makes each row's class readout the training label of its source
image instead of the RAM's own readout (what the value stores). RESULTS.md measures both.

Tables are saved as ``.npz`` (no pickle) with the hash of the model they were
distilled from and the name of its dataset; :func:`load_table` refuses a table of
another model or of another dataset (a table saved before datasets had names is MNIST).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from mbi.data import DEFAULT_DATASET, require_dataset
from mbi.memory.recipe import SHIFT_CHOICES, TableRecipe
from mbi.model.checkpoint import Checkpoint
from mbi.arraycache import mapped_arrays
from mbi.search.distance import KeyLayout, key_layout
from mbi.store import artifacts_root, atomic_save_npz

if TYPE_CHECKING:  # torch is imported by the functions that run the network, not by loading or searching a table
    import torch

    from mbi.model.ram import RAM

FORMAT_VERSION = 1


@dataclass
class StepRecords:
    """Per-image, per-step keys and values of deterministic RAM episodes."""

    keys: np.ndarray  # uint8 [B, T, D]
    next_hidden: np.ndarray  # uint8 [B, T, S]
    next_loc: np.ndarray  # uint8 [B, T, 2]
    readout: np.ndarray  # uint8 [B, T]


def query_key(patch: np.ndarray | torch.Tensor, hidden: np.ndarray | torch.Tensor,
              loc: np.ndarray | torch.Tensor) -> np.ndarray:
    """The key ``[patch | h_{t-1} | l_{t-1}]`` of one glimpse step for a batch, as ``uint8 [B, D]``.

    ``patch``: quantized patch levels ``[B, P]``; ``hidden``: hidden-state levels ``[B, S]``; ``loc``:
    grid location ``[B, 2]``. The one place a key is assembled: distillation writes these keys and
    lookup inference queries with them.
    """
    parts = [p.numpy() if hasattr(p, "numpy") else np.asarray(p) for p in (patch, hidden, loc)]  # numpy or torch
    return np.concatenate([p.astype(np.uint8, copy=False) for p in parts], axis=1)


def record_episodes(model: RAM, images: np.ndarray, batch_size: int = 2000) -> StepRecords:
    """Run the RAM deterministically (location = policy mean) and record every step as integer levels."""
    import torch

    with torch.no_grad():
        return _record_episodes(model, images, batch_size)


def _record_episodes(model: RAM, images: np.ndarray, batch_size: int) -> StepRecords:
    import torch

    from mbi.model.predict import images_to_tensor

    model.eval()
    cfg = model.cfg
    retina_q, core_q = model.retina.quantizer, model.core.quantizer
    keys, hid, locs, reads = [], [], [], []
    for start in range(0, len(images), batch_size):
        x = images_to_tensor(images[start: start + batch_size])
        h, loc = model.initial_state(len(x))
        bk, bh, bl, br = [], [], [], []
        for _ in range(cfg.num_glimpses):
            out = model.step(x, h, loc)
            bk.append(query_key(retina_q.codes(out.rho), core_q.codes(h), loc))
            bh.append(core_q.codes(out.h))
            bl.append(out.loc)
            br.append(model.classifier(out.h).argmax(1))
            h, loc = out.h, out.loc
        keys.append(np.stack(bk, 1))
        hid.append(torch.stack(bh, 1))
        locs.append(torch.stack(bl, 1))
        reads.append(torch.stack(br, 1))
    cat = lambda xs: torch.cat(xs).numpy().astype(np.uint8)  # noqa: E731 - tiny local helper
    return StepRecords(np.concatenate(keys), cat(hid), cat(locs), cat(reads))


@dataclass
class LookupTable:
    """Memorized RAM steps: integer keys and the values to read out.

    ``keys`` is ``[N, D]`` with columns [patch | h_{t-1} | l_{t-1}]; ``step``
    says which glimpse (0-based) each row belongs to.
    """

    keys: np.ndarray  # uint8 [N, D]
    next_hidden: np.ndarray  # uint8 [N, S]
    next_loc: np.ndarray  # uint8 [N, 2]
    readout: np.ndarray  # uint8 [N]
    step: np.ndarray  # uint8 [N]
    count: np.ndarray  # int32 [N]
    source: np.ndarray  # int32 [N] training image (index into the train split) that first produced the row
    layout: KeyLayout
    num_glimpses: int
    model_hash: str
    meta: dict[str, Any] = field(default_factory=dict)
    dataset: str = DEFAULT_DATASET  # the dataset whose training images were replayed
    # keys_of_step(t) of every step, memory-mapped beside a mapped table's copy (load_table(mapped=True))
    step_keys: tuple[np.ndarray, ...] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.keys)

    def rows_of_step(self, t: int) -> np.ndarray:
        """Row indices of glimpse step ``t``."""
        return np.flatnonzero(self.step == t)

    def keys_of_step(self, t: int) -> np.ndarray:
        """``uint8 [n_t, D]``: the keys of step ``t`` in row order (``keys[rows_of_step(t)]``).

        A table loaded memory-mapped has them as one mapped array per step, so the search indexes built on
        them (and the pages that read them) share those pages instead of each holding a copy.
        """
        rows = self.rows_of_step(t)
        if self.step_keys is not None and self.step_keys[t].shape == (len(rows), self.keys.shape[1]):
            return self.step_keys[t]
        return self.keys[rows]

    def storage_bytes(self) -> dict[str, int]:
        """Bytes the table takes stored bit-packed: binary-coded keys, thermometer keys, values, total.

        Binary key: patch and hidden elements at their bit widths, location at
        ceil(log2 G) bits per coordinate. Thermometer key: L-1 bits per L-level
        element (what the in-memory array stores to compute eq. (1) exactly).
        Value: hidden state, next location, a 4-bit class. Rows are padded to whole bytes.
        """
        lay = self.layout
        loc_bits = max(1, math.ceil(math.log2(lay.loc_levels)))
        pbits, hbits = int(math.log2(lay.patch_levels)), int(math.log2(lay.hidden_levels))
        key_bin = lay.patch_len * pbits + lay.hidden_len * hbits + 2 * loc_bits
        key_thermo = sum(lay.part_bits)
        value = lay.hidden_len * hbits + 2 * loc_bits + 4
        n = len(self)
        out = {
            "rows": n,
            "key_binary": n * math.ceil(key_bin / 8),
            "key_thermometer": n * math.ceil(key_thermo / 8),
            "value": n * math.ceil(value / 8),
        }
        out["total_binary"] = out["key_binary"] + out["value"]
        out["total_thermometer"] = out["key_thermometer"] + out["value"]
        return out


def build_table(
    records: StepRecords, layout: KeyLayout, model_hash: str, rows: int | None = None,
    order: np.ndarray | None = None, meta: dict[str, Any] | None = None,
) -> LookupTable:
    """Merge recorded steps into a table: first ``rows`` distinct (step, key) rows in ``order`` of images."""
    n_img, steps, width = records.keys.shape
    order = np.arange(n_img) if order is None else np.asarray(order)
    if rows is not None and rows < 1:
        raise ValueError(f"rows must be a positive number of table rows, got {rows}")
    step_col = np.broadcast_to(np.arange(steps, dtype=np.uint8), (len(order), steps))
    flat_keys = records.keys[order].reshape(-1, width)
    tagged = np.concatenate([step_col.reshape(-1, 1), flat_keys], axis=1)
    _, first, inverse = np.unique(tagged, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    firsts = np.sort(first)
    if rows is not None:
        firsts = firsts[:rows]
    # count hits and conflicts for the kept rows
    rank = np.full(len(first), -1, dtype=np.int64)
    group_of_first = inverse[firsts]
    rank[group_of_first] = np.arange(len(firsts))
    hit_rank = rank[inverse]
    kept = hit_rank >= 0
    count = np.bincount(hit_rank[kept], minlength=len(firsts)).astype(np.int32)
    flat_hidden = records.next_hidden[order].reshape(-1, records.next_hidden.shape[-1])
    flat_loc = records.next_loc[order].reshape(-1, 2)
    flat_read = records.readout[order].reshape(-1)
    kept_idx = np.flatnonzero(kept)
    first_of_hit = firsts[hit_rank[kept_idx]]
    differs = (np.any(flat_hidden[kept_idx] != flat_hidden[first_of_hit], axis=1)
               | np.any(flat_loc[kept_idx] != flat_loc[first_of_hit], axis=1))
    info = dict(meta or {})
    info.update(conflicts=int(differs.sum()), replayed_steps=int(kept.sum()),
                images=int(len(np.unique(firsts // steps))))
    return LookupTable(
        keys=np.ascontiguousarray(flat_keys[firsts]),
        next_hidden=np.ascontiguousarray(flat_hidden[firsts]),
        next_loc=np.ascontiguousarray(flat_loc[firsts]),
        readout=flat_read[firsts].copy(),
        step=(firsts % steps).astype(np.uint8),
        count=count,
        source=order[firsts // steps].astype(np.int32),
        layout=layout,
        num_glimpses=steps,
        model_hash=model_hash,
        meta=info,
    )


def shift_images(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``images`` ([B, H, W]) translated by ``dy`` rows and ``dx`` columns, zero fill."""
    _, h, w = images.shape
    if abs(dy) >= h or abs(dx) >= w:
        raise ValueError(f"a shift of ({dy}, {dx}) pixels moves a {h}x{w} image out of view")
    out = np.zeros_like(images)
    out[:, max(dy, 0): h + min(dy, 0), max(dx, 0): w + min(dx, 0)] = \
        images[:, max(-dy, 0): h + min(-dy, 0), max(-dx, 0): w + min(-dx, 0)]
    return out


def _concat(records: list[StepRecords]) -> StepRecords:
    return StepRecords(*(np.concatenate([getattr(r, f) for r in records])
                         for f in ("keys", "next_hidden", "next_loc", "readout")))


def distill(
    model: RAM, images: np.ndarray, model_hash: str, rows: int | None = None, seed: int = 0,
    records: StepRecords | None = None, progress: Callable[[float], None] | None = None,
    shifts: Sequence[tuple[int, int]] = (), labels: np.ndarray | None = None, dataset: str = DEFAULT_DATASET,
) -> LookupTable:
    """Distill ``model`` on ``images`` (the training split) into a table of at most ``rows`` rows.

    Images are replayed in a random order drawn from ``seed``; pass ``records``
    (from :func:`record_episodes` on the same images) to reuse a replay across budgets.
    ``shifts`` (pixel offsets ``(dy, dx)``, e.g. :data:`SHIFTS_1PX`, :data:`SHIFTS_2PX`) replays every image once
    more per offset, translated; those episodes come after all unshifted ones, so a row budget
    fills with unshifted episodes first, and ``meta["plain_rows"]`` says how many rows they gave (the
    table without shifts is that prefix). ``labels`` (the images' classes) makes every row's
    readout the label of its source image. ``source`` always indexes ``images``; ``dataset``
    names the dataset they come from (recorded in the table).
    """
    shifts = [(int(dy), int(dx)) for dy, dx in shifts]
    if records is not None and shifts:
        raise ValueError("records hold unshifted replays only; distill with shifts without passing records")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels must give one class per image: {len(labels)} labels for {len(images)} images")
    order = np.random.default_rng(seed).permutation(len(images))
    if rows is not None:
        order = order[: min(len(order), math.ceil(rows / model.cfg.num_glimpses) * 2)]
    if records is None:
        variants = [(0, 0)] + shifts
        chunks, total = [], len(order) * len(variants)
        for v, (dy, dx) in enumerate(variants):
            for start in range(0, len(order), 5000):
                batch = images[order[start: start + 5000]]
                chunks.append(record_episodes(model, shift_images(batch, dy, dx) if (dy, dx) != (0, 0) else batch))
                if progress:
                    progress(min(1.0, (v * len(order) + start + 5000) / total))
        recs = _concat(chunks)
        local_order = np.arange(len(recs.keys))
    else:
        recs = records
        local_order = order
    meta = {"rows_budget": rows, "seed": seed, "train_images": int(len(images)),
            "shifts": [list(s) for s in shifts], "readout": "label" if labels is not None else "ram"}
    table = build_table(recs, key_layout(model.cfg), model_hash, rows, local_order, meta=meta)
    table.dataset = dataset
    if records is None:
        # rows first met in the unshifted replays (the first len(order) episodes) come first: the paper's table
        table.meta["plain_rows"] = int(np.sum(table.source < len(order)))
        table.source = order[table.source % len(order)].astype(np.int32)
        table.meta["images"] = int(len(np.unique(table.source)))
    if labels is not None:
        table.readout = np.asarray(labels, dtype=np.uint8)[table.source]
    return table


def save_table(table: LookupTable, path: str | Path) -> Path:
    """Write ``table`` to ``path`` (.npz, atomic, no pickle)."""
    lay = table.layout
    header = {
        "format": FORMAT_VERSION, "model_hash": table.model_hash, "dataset": table.dataset,
        "num_glimpses": table.num_glimpses,
        "layout": [lay.patch_len, lay.patch_levels, lay.hidden_len, lay.hidden_levels, lay.loc_levels],
        "meta": table.meta,
    }
    return atomic_save_npz(
        path, header=np.array(json.dumps(header)), keys=table.keys, next_hidden=table.next_hidden,
        next_loc=table.next_loc, readout=table.readout, step=table.step, count=table.count, source=table.source,
    )


TABLE_FIELDS = ("keys", "next_hidden", "next_loc", "readout", "step", "count", "source")


def _decoded_table(path: Path, by_step: bool = False) -> dict[str, np.ndarray]:
    """The arrays of a table file (decompressed), with its JSON header as a plain string array; ``by_step`` adds
    each step's keys as ``keys_step{t}`` (:meth:`LookupTable.keys_of_step`)."""
    with np.load(path, allow_pickle=False) as npz:
        out = {"header": npz["header"], **{k: npz[k] for k in TABLE_FIELDS}}
    if by_step:
        steps = int(json.loads(str(out["header"].item()))["num_glimpses"])
        out.update({f"keys_step{t}": out["keys"][out["step"] == t] for t in range(steps)})
    return out


def load_table(path: str | Path, expected_model_hash: str | None = None, expected_dataset: str | None = None,
               mapped: bool = False) -> LookupTable:
    """Read a table written by :func:`save_table`; refuse a corrupt file, one of another dataset
    (when ``expected_dataset`` is given) or one of another model.

    ``mapped``: decompress the file once into a verified copy under ``$MBI_HOME/tables/mapped/`` and
    memory-map it (:mod:`mbi.arraycache`), so processes and sessions share one copy of its pages; the copy
    also holds each step's keys (:meth:`LookupTable.keys_of_step`), which are the ones checked here, so the
    pages of the whole ``keys`` array are not read unless something asks for them.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no lookup table at {p}; create one with `python -m mbi distill CHECKPOINT`")
    try:
        if mapped:
            where = hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:8]
            folder = artifacts_root() / "tables" / "mapped" / f"{p.stem}-{where}"
            decoded = mapped_arrays(folder, [p], lambda: _decoded_table(p, by_step=True), tag="table-v2")
        else:
            decoded = _decoded_table(p)
        header = json.loads(str(decoded["header"].item()))
        arrays = {k: decoded[k] for k in TABLE_FIELDS}
        layout = KeyLayout(*header["layout"])
        steps = int(header["num_glimpses"])
        step_keys = tuple(decoded[f"keys_step{t}"] for t in range(steps)) if mapped else None
        table = LookupTable(**arrays, layout=layout, num_glimpses=steps, model_hash=str(header["model_hash"]),
                            meta=dict(header.get("meta", {})), dataset=str(header.get("dataset", DEFAULT_DATASET)),
                            step_keys=step_keys)
        n = len(table.keys)
        if any(len(a) != n for a in arrays.values()) or table.next_hidden.shape[1] != layout.hidden_len:
            raise ValueError("arrays of different lengths")
        if step_keys is None:
            layout.check_keys(table.keys)
        else:  # every row is in exactly one step's keys, so checking those checks them all
            if n and int(table.step.max()) >= steps:
                raise ValueError(f"a row's step is beyond the table's {steps} glimpse steps")
            for t, keys in enumerate(step_keys):
                layout.check_keys(keys)
                if len(keys) != int(np.count_nonzero(table.step == t)):
                    raise ValueError(f"the mapped keys of step {t + 1} do not match the table's rows")
    except Exception as exc:  # zip, JSON, key and shape errors all mean the same to the user
        raise ValueError(
            f"{p} is not a valid lookup table ({type(exc).__name__}: {str(exc)[:160]}); "
            "delete it and distill again with `python -m mbi distill`"
        ) from exc
    if expected_dataset is not None:
        require_dataset(f"table {p}", table.dataset, expected_dataset)
    if expected_model_hash is not None and table.model_hash != expected_model_hash:
        raise ValueError(
            f"{p} was distilled from model {table.model_hash}, not from the selected model {expected_model_hash}; "
            "distill a table for this model with `python -m mbi distill CHECKPOINT`"
        )
    return table


def distill_recipe(model: RAM, images: np.ndarray, labels: np.ndarray, model_hash: str, recipe: TableRecipe,
                   rows: int | None = None, seed: int = 0,
                   progress: Callable[[float], None] | None = None, dataset: str = DEFAULT_DATASET) -> LookupTable:
    """:func:`distill` with the shifts and readout of ``recipe``."""
    return distill(model, images, model_hash, rows=rows, seed=seed, progress=progress,
                   shifts=SHIFT_CHOICES[recipe.shifts], labels=labels if recipe.readout == "label" else None,
                   dataset=dataset)


def table_fingerprint(table: LookupTable) -> str:
    """Identity of a table for disk caches (16 hex digits): its model, size and how it was distilled.

    Covers the model hash, the number of rows and the distillation settings in ``meta`` (row budget,
    seed, training images, shifts, readout), so two recipes or budgets never share a cache entry while
    a budget's prefix of the full table (:func:`mbi.inference.tablesize.table_prefix`) and the table
    distilled with that budget, which are equal, do.
    """
    meta = table.meta
    settings = {"model": table.model_hash, "rows": len(table), "rows_budget": meta.get("rows_budget"),
                "seed": meta.get("seed"), "train_images": meta.get("train_images"),
                "shifts": [list(s) for s in meta.get("shifts", [])], "readout": meta.get("readout", "ram")}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def table_path(checkpoint: "str | Path | None | Checkpoint", rows: int | None = None, seed: int = 0,
               root: Path | None = None, recipe: TableRecipe = TableRecipe()) -> Path:
    """Where the disk cache keeps the table of a checkpoint, row budget, seed and recipe."""
    budget = "all" if rows is None else str(rows)
    digest = Checkpoint.of(checkpoint).hash
    return (root or artifacts_root()) / "tables" / f"{digest}-{budget}-seed{seed}{recipe.suffix}.npz"


def cached_table(checkpoint: "str | Path | None | Checkpoint" = None, rows: int | None = None, seed: int = 0,
                 progress: Callable[[float], None] | None = None,
                 recipe: TableRecipe | None = None) -> LookupTable:
    """The table of ``checkpoint`` distilled on the training split: from the disk cache, else distilled and saved.

    ``recipe`` defaults to the checkpoint's own (its :class:`mbi.model.checkpoint.LookupSettings`). The
    shipped default model ships the full table of its recipe beside its weights (``table.npz``).
    """
    ckpt = Checkpoint.of(checkpoint)
    own = ckpt.lookup.table
    recipe = own if recipe is None else recipe
    shipped = ckpt.folder / "table.npz"
    if rows is None and seed == 0 and recipe == own and shipped.is_file():
        return load_table(shipped, ckpt.hash, ckpt.dataset, mapped=True)
    path = table_path(ckpt, rows, seed, recipe=recipe)
    if path.is_file():
        return load_table(path, ckpt.hash, ckpt.dataset, mapped=True)
    data = ckpt.data()
    table = distill_recipe(ckpt.model, data.train_x, data.train_y, ckpt.hash, recipe, rows=rows, seed=seed,
                           progress=progress, dataset=data.name)
    save_table(table, path)
    return table
