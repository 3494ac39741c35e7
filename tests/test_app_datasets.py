"""The dashboard on either dataset: the chosen model's dataset decides the images a page shows, and the
URL keeps the choice. Needs the shipped Fashion-MNIST model and the dataset-fashion-mnist package."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from mbi.data import dataset_info, load_dataset
from mbi.model.checkpoint import resolve_checkpoint
from tests.apptools import metric, ok, open_page, spec

GLIMPSES = "dashboard/pages/glimpse_paths.py"


@pytest.fixture(scope="module")
def fashion():
    if not (resolve_checkpoint("fashion-mnist") / "model.pt").is_file():
        pytest.skip("the shipped Fashion-MNIST model (mbi/fashion_model) is missing")
    try:
        return load_dataset("fashion-mnist")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(autouse=True)
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("MBI_HOME", str(tmp_path / "artifacts"))


def _array(value) -> np.ndarray:
    """A Plotly array as a float array (Plotly sends numpy arrays base64-encoded with dtype and shape)."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(n) for n in str(value["shape"]).split(",")]).astype(float)
    return np.asarray(value, dtype=float)


@pytest.mark.parametrize("model, dataset", [("default", "mnist"), ("fashion-mnist", "fashion-mnist")])
def test_glimpse_page_shows_the_models_own_images(model, dataset, fashion):
    at = open_page(GLIMPSES, {"model": model})
    ok(at)
    assert dict(at.query_params).get("model", "default") == model  # the default model is left out of the URL
    z = _array(spec(at, "RAM on test image #0")["data"][0]["z"])
    # the image drawn is test image #0 of the model's dataset, not of the other one
    own, other = (load_dataset(name).test_x[0].astype(float) for name in
                  (dataset, "mnist" if dataset == "fashion-mnist" else "fashion-mnist"))
    scale = own.max() / max(z.max(), 1e-9)

    def gap(image: np.ndarray) -> float:  # the heatmap may draw the rows bottom-up
        return min(np.abs(z * scale - image).max(), np.abs(z[::-1] * scale - image).max())

    assert gap(own) < 2.0
    assert gap(other) > 50.0
    # the classes are named as the dataset names them
    names = list(dataset_info(dataset).class_names)
    assert list(spec(at, "Class probabilities")["data"][0]["x"]) == names
    said = [h.value for h in at.subheader if h.value.startswith("The RAM says ")]
    assert said and any(said[0].startswith(f"The RAM says {name}") for name in names), said


def test_mixed_and_perturbed_pages_name_the_fashion_classes(fashion):
    names = list(fashion.info.class_names)
    at = open_page("dashboard/pages/mixed_mbi.py", {"model": "fashion-mnist", "images": "100"})
    ok(at)
    bars = spec(at, "Mixed MBI per class")
    assert set(bars["data"][0]["x"]) <= set(names) and "Sneaker" in bars["data"][0]["x"]
    at = open_page("dashboard/pages/perturbed_digit.py", {"model": "fashion-mnist", "image": "0"})
    ok(at)
    assert metric(at, "Label") == names[int(fashion.test_y[0])]
