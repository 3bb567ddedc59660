"""The reference tables the events are drawn from: the product catalog with a
seeded USD price per product, the FX rates with the weight of each currency,
the quantity distribution and the number of customers, loaded and derived
once per run into a read-only World."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union

from tools.generate_orders.records import REPO_ROOT

DEFAULT_CATALOG = REPO_ROOT / "data" / "catalog.csv"
DEFAULT_FX_RATES = REPO_ROOT / "data" / "fx_rates.csv"

_CURRENCY_WEIGHTS = {
    "USD": 45.0, "EUR": 20.0, "GBP": 10.0, "JPY": 7.0,
    "CAD": 6.0, "AUD": 5.0, "CHF": 3.0, "SEK": 2.0,
}
_OTHER_CURRENCY_WEIGHT = 0.5
_CATEGORY_PRICE_SCALE = {
    "electronics": 3.0, "home": 1.5, "garden": 1.4, "sports": 1.3, "fashion": 1.2,
    "toys": 0.9, "books": 0.6, "beauty": 0.6, "office": 0.5, "grocery": 0.35,
}


@dataclass(frozen=True)
class World:
    """Reference tables the events are drawn from (read-only)."""

    product_ids: tuple[str, ...]
    product_usd: tuple[float, ...]
    currencies: tuple[str, ...]
    currency_cum_weights: tuple[float, ...]
    usd_per_unit: dict[str, float]
    quantities: tuple[int, ...]
    quantity_cum_weights: tuple[float, ...]
    customers: int


def _read_csv_rows(path: Union[str, Path]) -> list[dict[str, str]]:
    """All rows of a small headed CSV file."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _cumulative(weights: Iterable[float]) -> tuple[float, ...]:
    """Running totals, for ``bisect`` weighted choice."""
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return tuple(out)


def _quantity_table() -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Quantities 1..500: mostly 1-3, a long thin tail of bulk orders."""
    weights = {1: 55.0, 2: 22.0, 3: 10.0, 4: 4.0, 5: 2.0}
    weights.update({q: 5.0 / 7 for q in range(6, 13)})
    weights.update({q: 1.8 / 38 for q in range(13, 51)})
    weights.update({q: 0.2 / 450 for q in range(51, 501)})
    values = tuple(sorted(weights))
    return values, _cumulative(weights[q] for q in values)


def build_world(catalog: Union[str, Path], fx_rates: Union[str, Path],
                count: int, seed: int) -> World:
    """Load catalog and FX file and derive the per-run tables."""
    products = _read_csv_rows(catalog)
    rates = {row["currency"].strip().upper(): float(row["usd_per_unit"])
             for row in _read_csv_rows(fx_rates)}
    price_rng = random.Random(f"{seed}:prices")
    usd = tuple(
        round(min(4000.0, max(0.99, price_rng.lognormvariate(3.0, 0.9)
                              * _CATEGORY_PRICE_SCALE.get(row["category"].strip(), 1.0))), 2)
        for row in products)
    currencies = tuple(sorted(rates, key=lambda c: (c not in _CURRENCY_WEIGHTS, c)))
    quantities, quantity_weights = _quantity_table()
    return World(
        product_ids=tuple(row["product_id"].strip() for row in products),
        product_usd=usd,
        currencies=currencies,
        currency_cum_weights=_cumulative(
            _CURRENCY_WEIGHTS.get(c, _OTHER_CURRENCY_WEIGHT) for c in currencies),
        usd_per_unit=rates,
        quantities=quantities,
        quantity_cum_weights=quantity_weights,
        customers=max(25, count // 6),
    )
