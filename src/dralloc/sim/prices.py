"""What GPU time costs: a price per GPU-hour for each GPU model, and the cost of a replay.

A price is looked up by the model code a trace's nodes carry (`T4`, `G2` in openb; the
catalog name, e.g. `a10`, in the DLRM and synthetic traces), then by that model's catalog
name (`catalog`: code -> catalog name, from the trace's models), so `t4=0.40` prices openb's
`T4` too.

**The default prices are illustrative.** They are USD per GPU-hour, on demand, for one GPU
without its host: where Google Cloud publishes a per-GPU price (us-central1, 2024) they are
that price rounded to the cent (T4 0.35, P100 1.46, V100 2.48, A100 40GB 2.93, A100 80GB
3.93); the others are round figures in the range of the public clouds' on-demand list prices
for that GPU in 2024 (L4, A10, H100, H200, B200, GB200). They are not quotes: providers
differ, regions differ, prices change, a GPU's host (CPU, memory, network) is not included,
and committed-use or spot prices are far lower. `openb-g2` and `openb-g3` (Alibaba's
undisclosed G2 and G3) have placeholder prices. Pass your own with `--price MODEL=USD,...`
(a trace's model code or a catalog name); `dralloc.sim.costs` turns prices into the cost of
capacity. Pure values and functions; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = [
    "DEFAULT_PRICES",
    "check_price_models",
    "gpu_cost",
    "missing_prices",
    "parse_prices",
    "price_of",
]

DEFAULT_PRICES: Mapping[str, float] = MappingProxyType(
    {
        # USD per GPU-hour, keyed by catalog name; see the module docstring.
        "t4": 0.35,
        "l4": 0.70,
        "p100": 1.46,
        "v100-16gb": 2.48,
        "v100-32gb": 2.48,
        "a10": 1.00,
        "a100-40gb": 2.93,
        "a100-80gb": 3.93,
        "h100-80gb-pcie": 10.00,
        "h100-80gb-sxm": 11.00,
        "h200-141gb": 12.00,
        "b200": 15.00,
        "gb200": 16.00,
        "openb-g2": 1.00,  # placeholder: model undisclosed
        "openb-g3": 1.50,  # placeholder: model undisclosed
    }
)


def parse_prices(text: str) -> dict[str, float]:
    """`MODEL=USD,MODEL=USD` (USD per GPU-hour, ≥ 0). ValueError saying what is wrong."""
    prices: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        model, equals, value = part.partition("=")
        model = model.strip()
        if not equals or not model:
            raise ValueError(f"{part!r} is not MODEL=USD (for example T4=0.35)")
        try:
            price = float(value)
        except ValueError:
            raise ValueError(f"{part!r}: {value.strip()!r} is not a number of USD") from None
        if not math.isfinite(price) or price < 0:
            raise ValueError(f"{part!r}: a price must be a finite number ≥ 0")
        if model in prices:
            raise ValueError(f"{model!r} is priced twice")
        prices[model] = price
    if not prices:
        raise ValueError("no prices given")
    return prices


def check_price_models(prices: Mapping[str, float], known: Iterable[str]) -> None:
    """ValueError naming the models of `prices` not in `known` (a typo would otherwise price
    nothing, silently), and the known ones."""
    names = set(known)
    unknown = [model for model in prices if model not in names]
    if unknown:
        listed = ", ".join(repr(m) for m in unknown)
        raise ValueError(
            f"unknown GPU model{'s' if len(unknown) > 1 else ''} {listed}; "
            f"known: {', '.join(sorted(names))}"
        )


def price_of(code: str, catalog: Mapping[str, str], prices: Mapping[str, float]) -> float | None:
    """The price of model `code` (by code, then by its catalog name), None if unpriced."""
    if code in prices:
        return prices[code]
    name = catalog.get(code)
    return prices.get(name) if name is not None else None


def missing_prices(
    codes: Iterable[str], catalog: Mapping[str, str], prices: Mapping[str, float]
) -> list[str]:
    """The model codes among `codes` that have no price, sorted."""
    return sorted({c for c in codes if price_of(c, catalog, prices) is None})


def gpu_cost(
    gpu_hours: Mapping[str, float], catalog: Mapping[str, str], prices: Mapping[str, float]
) -> dict[str, float]:
    """USD per model code: GPU-hours x price. KeyError for a model without a price (check
    with `missing_prices` first)."""
    cost = {}
    for code, hours in gpu_hours.items():
        price = price_of(code, catalog, prices)
        if price is None:
            raise KeyError(f"no price for GPU model {code!r}")
        cost[code] = hours * price
    return cost
