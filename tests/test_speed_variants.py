"""The reduced-precision embedder variants (bf16 / int8): same API, close vectors; bf16 shares the
model's id (its indexes are interchangeable with float32 ones), int8 records itself in the id.

Checked on the small minilm model (fast); speed itself is measured by benchmarks/speed.py, never here."""

from __future__ import annotations

import numpy as np
import pytest

from rag import embedders
from rag.embedders import EMBEDDERS, _auto_precision, _load_minilm, _reduced_precision

TEXTS = ["The Harbor Bridge opened in 1932.", "The City Library holds two million books and a reading room."]


@pytest.fixture(scope="module")
def fp32():
    return _load_minilm()


def test_registry_offers_fp32_bf16_and_int8_variants_of_the_default_model():
    assert {"e5-small", "e5-small-fp32", "e5-small-bf16", "e5-small-int8"} <= set(EMBEDDERS)


def test_bf16_keeps_the_model_id_and_records_its_precision(fp32):
    variant = _reduced_precision(_load_minilm(), "bf16")
    assert variant.id == fp32.id
    assert (variant.precision, fp32.precision) == ("bf16", "fp32")
    assert variant.dim == fp32.dim


def test_int8_records_itself_in_the_id_so_its_indexes_never_mix_with_float_ones(fp32):
    variant = _reduced_precision(_load_minilm(), "int8")
    assert variant.id == f"{fp32.id}+int8"
    assert variant.precision == "int8"


@pytest.mark.parametrize("forced", ["fp32", "bf16"])
def test_precision_setting_overrides_the_cpu_check(monkeypatch, forced):
    monkeypatch.setenv("YUWEN_PRECISION", forced)
    assert _auto_precision() == forced


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_precision_is_bf16_only_on_cpus_with_native_bf16(monkeypatch, native, expected):
    monkeypatch.delenv("YUWEN_PRECISION", raising=False)
    monkeypatch.setattr(embedders, "native_bf16", lambda: native)
    assert _auto_precision() == expected


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
