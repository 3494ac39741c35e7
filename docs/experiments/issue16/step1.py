"""Proxy: 1-NN class accuracy of the first glimpse's key (patch only) against training step-1 keys, with augmented copies."""
import sys, time
import numpy as np, torch
from scipy import ndimage
from mbi.model.checkpoint import Checkpoint
from mbi.data import load_mnist
from mbi.model.predict import images_to_tensor
from mbi.memory.lut import shift_images
from mbi.search.engine import build_searcher
from mbi.search.distance import key_layout

ck = Checkpoint.of("default"); model = ck.model; m = load_mnist()
N = int(sys.argv[1])
lay = key_layout(model.cfg)

@torch.no_grad()
def keys1(images):
    out = []
    for s in range(0, len(images), 5000):
        x = images_to_tensor(images[s:s+5000]); _, loc = model.initial_state(len(x))
        out.append(model.retina.quantizer.codes(model.retina(x, loc)).numpy().astype(np.uint8))
    k = np.concatenate(out)
    B = len(k)
    return np.concatenate([k, np.zeros((B, lay.hidden_len), np.uint8), np.tile(loc[:1].numpy().astype(np.uint8), (B, 1))], 1)

def rotate(images, deg):
    return np.stack([ndimage.rotate(im, deg, reshape=False, order=1, mode="constant") for im in images]).astype(np.uint8)

def scale(images, f):
    out = np.zeros_like(images)
    for i, im in enumerate(images):
        z = ndimage.zoom(im.astype(np.float32), f, order=1)
        h = z.shape[0]
        if h >= 28:
            o = (h - 28) // 2; out[i] = np.clip(z[o:o+28, o:o+28], 0, 255)
        else:
            o = (28 - h) // 2; out[i, o:o+h, o:o+h] = np.clip(z, 0, 255)
    return out

tx, ty = m.train_x, m.train_y
vx, vy = m.val_x[:N], m.val_y[:N]
q = keys1(vx)
w = ck.lookup.chosen_weights
variants = {"none": lambda a: a}
for d in sys.argv[2].split(","):
    if d.startswith("r"): variants[d] = (lambda deg: lambda a: rotate(a, deg))(float(d[1:]))
    if d.startswith("s"): variants[d] = (lambda f: lambda a: scale(a, f))(float(d[1:]))
    if d.startswith("t"): 
        dy, dx = [int(v) for v in d[1:].split("_")]
        variants[d] = (lambda dy, dx: lambda a: shift_images(a, dy, dx))(dy, dx)
K, L = [], []
for name, f in variants.items():
    s = time.perf_counter(); K.append(keys1(f(tx))); L.append(ty)
    print("keys", name, f"{time.perf_counter()-s:.0f}s", flush=True)
combos = [["none"]] + [["none", n] for n in variants if n != "none"] + [list(variants)]
for combo in combos:
    idx = [list(variants).index(c) for c in combo]
    keys = np.concatenate([K[i] for i in idx]); labels = np.concatenate([L[i] for i in idx])
    keys, first = np.unique(keys, axis=0, return_index=True); labels = labels[first]
    srch = build_searcher(keys, lay, w, "brute")
    r = srch.query(q)
    print(combo, len(keys), "1-NN step-1 class acc", float((labels[r.index] == vy).mean()), flush=True)
