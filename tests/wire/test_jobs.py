from __future__ import annotations

import pytest

from ironplane.core.errors import InvalidError
from ironplane.wire.jobs import check_params, resolve

DECLARED = [("dataset", "mmlu"), ("shots", None)]


def test_resolve_uses_given_values_then_defaults() -> None:
    words = ["eval", "--dataset", "{{dataset}}", "--shots={{ shots }}"]
    assert resolve(words, DECLARED, {"shots": "5"}) == ["eval", "--dataset", "mmlu", "--shots=5"]
    assert resolve(words, DECLARED, {"dataset": "gsm8k", "shots": "0"})[2] == "gsm8k"


def test_resolve_refuses_a_param_without_value() -> None:
    with pytest.raises(InvalidError, match="'shots' has no value"):
        resolve(["{{shots}}"], DECLARED, {})
    with pytest.raises(InvalidError, match="not a param"):
        resolve(["{{nope}}"], DECLARED, {})


def test_check_params_names_unknown_and_missing_params() -> None:
    check_params(DECLARED, {"shots": "1"}, job="eval")
    with pytest.raises(InvalidError) as caught:
        check_params(DECLARED, {"datasett": "x"}, job="eval")
    text = caught.value.message
    assert "unknown param 'datasett'" in text and "did you mean 'dataset'" in text
    assert "-p shots=VALUE" in text and "declared params: dataset, shots" in text


def test_check_params_without_declared_params() -> None:
    check_params([], {}, job="eval")
    with pytest.raises(InvalidError, match="declared params: none"):
        check_params([], {"x": "1"}, job="eval")
