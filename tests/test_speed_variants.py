"""The reduced-precision embedder variants (e5-small-bf16 / -int8): same API, own id, close vectors.

Checked on the small minilm model (fast); speed itself is measured by benchmarks/speed.py, never here."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedders import EMBEDDERS, _load_minilm, _reduced_precision

TEXTS = ["The Harbor Bridge opened in 1932.", "The City Library holds two million books and a reading room."]


@pytest.fixture(scope="module")
def fp32():
    return _load_minilm()


def test_registry_offers_bf16_and_int8_variants_of_the_default_model():
    assert {"e5-small-bf16", "e5-small-int8"} <= set(EMBEDDERS)


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_variant_records_its_precision_in_the_id_so_indexes_never_mix(fp32, precision):
    variant = _reduced_precision(_load_minilm(), precision)
    assert variant.id == f"{fp32.id}+{precision}"
    assert variant.dim == fp32.dim


@pytest.mark.parametrize("precision, floor", [("bf16", 0.99), ("int8", 0.95)])
def test_variant_vectors_are_unit_float32_close_to_float32_ones(fp32, precision, floor):
    variant = _reduced_precision(_load_minilm(), precision)
    ours, ref = variant.encode_passages(TEXTS), fp32.encode_passages(TEXTS)
    assert ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * ref).sum(1).min() > floor


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="unknown precision"):
        _reduced_precision(_load_minilm(), "fp8")
