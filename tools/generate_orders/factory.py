"""The valid base event of each slot: customer, product, quantity, local
price and currency, a mostly increasing event time written in one of several
forms, country and channel, each drawn from its own seeded random stream;
planted pairs add an order of B right after an order of A. Also the epoch
and ISO-8601 helpers the event times are written with."""

from __future__ import annotations

import bisect
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Sequence, Union

from tools.generate_orders.world import World

_EURO_COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "IE", "AT", "BE", "FI", "PT")
_COUNTRIES_BY_CURRENCY = {
    "USD": ("US", "US", "US", "US", "PR"), "EUR": _EURO_COUNTRIES,
    "GBP": ("GB",), "CHF": ("CH", "LI"),
}
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "HUF"})
_UTC_OFFSETS_MIN = (120, 60, -300, -480, 330, 540, 0, -210, 600, -240)
_CHANNELS = ("web", "app", "marketplace", "store")
_UNKNOWN_PRODUCT_SHARE = 0.02
# How often an order of a planted pair's first product is followed by one
# of its second (--planted-pairs).
PLANTED_SHARE = 0.8


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_start(start: Union[str, datetime]) -> int:
    """Epoch milliseconds of ``start`` (ISO-8601; naive means UTC)."""
    moment = start if isinstance(start, datetime) else datetime.fromisoformat(start)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def format_iso(ms: int, offset_min: Optional[int], with_ms: bool) -> str:
    """ISO-8601 text of epoch ``ms``: ``Z`` when ``offset_min`` is None."""
    secs, millis = divmod(ms, 1000)
    local = time.gmtime(secs + 60 * (offset_min or 0))
    text = (f"{local.tm_year:04d}-{local.tm_mon:02d}-{local.tm_mday:02d}"
            f"T{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d}")
    if with_ms:
        text += f".{millis:03d}"
    if offset_min is None:
        return text + "Z"
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


class EventFactory:
    """Makes the valid base event of each slot from its own random stream."""

    def __init__(self, world: World, seed: int, count: int, start_ms: int, span_ms: int,
                 planted_pairs: Sequence[tuple[str, str]] = ()):
        self._world = world
        self._rng = random.Random(f"{seed}:base")
        self._count = count
        self._start_ms = start_ms
        self._span_ms = span_ms
        # Planted pairs: an order of A is followed (PLANTED_SHARE of the time),
        # in the next slot, by an order of B by the same customer, 1 s to
        # 5 min later (one session).
        self._partner = dict(planted_pairs)
        self._planted_rng = random.Random(f"{seed}:planted")
        self._companion: Optional[tuple[str, str, int]] = None

    def make(self, slot: int) -> dict[str, Any]:
        """A valid, realistic order event for ``slot`` (0-based)."""
        rnd = self._rng.random
        world = self._world
        companion, self._companion = self._companion, None
        currency = world.currencies[bisect.bisect_right(
            world.currency_cum_weights, rnd() * world.currency_cum_weights[-1])]
        event: dict[str, Any] = {
            "order_id": f"ord_{self._rng.getrandbits(64):016x}",
            "customer_id": self._customer(),
        }
        product, usd = self._product()
        if companion is not None:
            event["customer_id"], product, _ = companion
            usd = world.product_usd[world.product_ids.index(product)]
        event["product_id"] = product
        event["quantity"] = self._quantity()
        event["unit_price"] = self._price(usd, currency)
        event["currency"] = self._currency_text(currency)
        event_ms = self._event_ms(slot)
        if companion is not None:
            event_ms = companion[2]
        elif product in self._partner and self._planted_rng.random() < PLANTED_SHARE:
            self._companion = (event["customer_id"], self._partner[product],
                               event_ms + self._planted_rng.randint(1, 300) * 1000)
        event["event_time"] = self._time_value(event_ms)
        self._add_country(event, currency)
        if rnd() < 0.25:
            event["channel"] = _CHANNELS[int(rnd() * len(_CHANNELS))]
        return event

    def _customer(self) -> str:
        rnd = self._rng.random
        customer = f"C{int(self._world.customers * rnd() ** 1.7) + 1:06d}"
        return f" {customer} " if rnd() < 0.005 else customer

    def _product(self) -> tuple[str, float]:
        rnd = self._rng.random
        if rnd() < _UNKNOWN_PRODUCT_SHARE:
            return f"P9{int(rnd() * 1000):03d}", round(5 + 195 * rnd(), 2)
        index = int(len(self._world.product_ids) * rnd() ** 1.4)
        return self._world.product_ids[index], self._world.product_usd[index]

    def _quantity(self) -> Union[int, str]:
        rnd = self._rng.random
        cum = self._world.quantity_cum_weights
        quantity = self._world.quantities[bisect.bisect_right(cum, rnd() * cum[-1])]
        return str(quantity) if rnd() < 0.03 else quantity

    def _price(self, usd: float, currency: str) -> Union[int, float, str]:
        rnd = self._rng.random
        if rnd() < 0.2:
            usd *= 0.7 + 0.25 * rnd()  # a discount
        local = usd / self._world.usd_per_unit[currency]
        as_number = rnd() < 0.7
        if currency in _ZERO_DECIMAL_CURRENCIES:
            whole = max(1, round(local))
            return whole if as_number else str(whole)
        cents = max(0.01, round(local, 2))
        return cents if as_number else f"{cents:.2f}"

    def _currency_text(self, currency: str) -> str:
        r = self._rng.random()
        if r < 0.01:
            return currency.lower()
        return f" {currency} " if r < 0.02 else currency

    def _event_ms(self, slot: int) -> int:
        rnd = self._rng.random
        base = self._start_ms + slot * self._span_ms // self._count
        r = rnd()
        if r < 0.80:
            late = int(rnd() * 120_000)
        elif r < 0.95:
            late = 120_000 + int(rnd() * 1_680_000)
        else:
            late = 1_800_000 + int(rnd() * 5_400_000)
        return base - min(late, base - self._start_ms)

    def _time_value(self, ms: int) -> Union[int, str]:
        rnd = self._rng.random
        r = rnd()
        if r < 0.25:
            return ms
        if r < 0.40:
            return str(ms)
        with_ms = rnd() < 0.5
        if not with_ms:
            ms -= ms % 1000
        if r < 0.70:
            return format_iso(ms, None, with_ms)
        return format_iso(ms, _UTC_OFFSETS_MIN[int(rnd() * len(_UTC_OFFSETS_MIN))], with_ms)

    def _add_country(self, event: dict[str, Any], currency: str) -> None:
        r = self._rng.random()
        if r < 0.12:
            return
        if r < 0.16:
            event["country"] = None
        elif r < 0.19:
            event["country"] = ""
        else:
            choices = _COUNTRIES_BY_CURRENCY.get(currency, (currency[:2],))
            country = choices[int(self._rng.random() * len(choices))]
            event["country"] = country.lower() if r > 0.97 else country
