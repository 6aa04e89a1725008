"""X3: exact money; the canonical encoding that every signature and hash depends on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicledger.kernel.canonical import canonical_bytes, digest
from civicledger.kernel.errors import InvalidInputError
from civicledger.kernel.money import allocate, format_units, require_units


def test_x03_amounts_refuse_floats_and_bools() -> None:
    with pytest.raises(InvalidInputError, match="whole number"):
        require_units(1.5)
    with pytest.raises(InvalidInputError):
        require_units(True)
    assert require_units(12) == 12


@given(st.integers(0, 10**12), st.lists(st.integers(0, 10**6), min_size=1, max_size=30).filter(lambda w: sum(w) > 0))
def test_x03_allocate_sums_exactly_and_follows_weights(total: int, weights: list[int]) -> None:
    shares = allocate(total, weights)
    assert sum(shares) == total
    for share, weight in zip(shares, weights, strict=True):
        exact = total * weight / sum(weights)
        assert abs(share - exact) < 1
        if weight == 0:
            assert share == 0


def test_x02_canonical_bytes_sort_keys_and_refuse_floats() -> None:
    assert canonical_bytes({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
    with pytest.raises(InvalidInputError, match="floats are not allowed"):
        canonical_bytes({"amount": 0.1})
    with pytest.raises(InvalidInputError, match="nests too deeply"):
        deep: list[object] = []
        for _ in range(40):
            deep = [deep]
        canonical_bytes(deep)


def test_x05_a_lone_surrogate_is_invalid_input_not_a_crash() -> None:
    with pytest.raises(InvalidInputError, match="lone surrogates"):
        canonical_bytes({"memo": "\ud800"})
    with pytest.raises(InvalidInputError, match="lone surrogates"):
        canonical_bytes({"memo": "\ud800"}, trusted=True)


@pytest.mark.parametrize(
    ("units", "decimals", "symbol", "text"),
    [
        (1_200_000, 2, "ξ", "ξ12,000.00"),
        (5, 2, "", "0.05"),
        (-150, 2, "ξ", "-ξ1.50"),
        (0, 2, "", "0.00"),
        (1234567, 0, "CRC ", "CRC 1,234,567"),
        (2**63 - 1, 18, "", "9.223372036854775807"),
        (10**15 + 1, 3, "", "1,000,000,000,000.001"),
    ],
)
def test_x03_format_units_writes_major_units_exactly_from_the_integer(
    units: int, decimals: int, symbol: str, text: str
) -> None:
    assert format_units(units, decimals, symbol) == text


def test_x03_format_units_refuses_floats_and_impossible_decimals() -> None:
    with pytest.raises(InvalidInputError):
        format_units(1.5, 2)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        format_units(1, 19)
