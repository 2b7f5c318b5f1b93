"""GPU prices: `--price` parsing, lookup by a trace's model code or its catalog name, and
the cost of GPU-hours."""

from __future__ import annotations

import pytest

from dralloc.devices.catalog import load_catalog
from dralloc.sim.prices import (
    DEFAULT_PRICES,
    check_price_models,
    gpu_cost,
    missing_prices,
    parse_prices,
    price_of,
)

OPENB = {"T4": "t4", "G2": "openb-g2"}


def test_prices_parse_as_model_equals_usd() -> None:
    assert parse_prices("T4=0.4, a100-80gb=3") == {"T4": 0.4, "a100-80gb": 3.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("T4", "'T4' is not MODEL=USD (for example T4=0.35)"),
        ("=1", "'=1' is not MODEL=USD (for example T4=0.35)"),
        ("T4=x", "'T4=x': 'x' is not a number of USD"),
        ("T4=-1", "'T4=-1': a price must be a finite number ≥ 0"),
        ("T4=nan", "'T4=nan': a price must be a finite number ≥ 0"),
        ("T4=1,T4=2", "'T4' is priced twice"),
        (",", "no prices given"),
    ],
)
def test_bad_prices_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_prices(text)
    assert str(caught.value) == message


def test_a_model_code_is_priced_by_itself_first_then_by_its_catalog_name() -> None:
    assert price_of("T4", OPENB, DEFAULT_PRICES) == DEFAULT_PRICES["t4"]
    assert price_of("T4", OPENB, {**DEFAULT_PRICES, "T4": 9.0}) == 9.0
    assert price_of("X9", OPENB, DEFAULT_PRICES) is None
    assert missing_prices(["T4", "X9", "G2"], OPENB, DEFAULT_PRICES) == ["X9"]


def test_every_catalog_gpu_has_an_illustrative_default_price() -> None:
    assert {g.name for g in load_catalog().gpus} <= set(DEFAULT_PRICES)


def test_cost_is_gpu_hours_times_the_price() -> None:
    cost = gpu_cost({"T4": 10.0, "G2": 2.0}, OPENB, {"t4": 0.5, "G2": 3.0})
    assert cost == {"T4": 5.0, "G2": 6.0}
    with pytest.raises(KeyError):
        gpu_cost({"X9": 1.0}, OPENB, DEFAULT_PRICES)


def test_a_price_for_an_unknown_model_names_it_and_the_known_ones() -> None:
    check_price_models({"T4": 1.0, "a100-80gb": 2.0}, ["T4", "a100-80gb", "l4"])
    with pytest.raises(ValueError) as caught:
        check_price_models({"a100-80gb-mp": 2.0, "T4": 1.0, "h1OO": 3.0}, ["T4", "a100-80gb"])
    assert str(caught.value) == ("unknown GPU models 'a100-80gb-mp', 'h1OO'; known: T4, a100-80gb")
