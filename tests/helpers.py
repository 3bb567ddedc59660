"""Small builders shared by the tests (no assertions here)."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Optional

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import SalesConfig, config_from_options
from transforms.records import RawRecord

BASE_ORDER: Dict[str, Any] = {
    'order_id': 'o-1',
    'customer_id': 'c-1',
    'product_id': 'P0001',
    'quantity': 2,
    'unit_price': '10.50',
    'currency': 'USD',
    'event_time': '2026-11-02T10:15:00Z',
    'country': 'DE',
}


def order(**overrides: Any) -> Dict[str, Any]:
  """An order dict; a value of ... removes the field."""
  out = dict(BASE_ORDER)
  for key, value in overrides.items():
    if value is ...:
      out.pop(key, None)
    else:
      out[key] = value
  return out


def raw(payload: Any, position: int = 1, source: str = 'test.jsonl',
        watermark_ms: Optional[int] = None,
        partition: Optional[int] = None) -> RawRecord:
  if isinstance(payload, dict):
    payload = json.dumps(payload)
  return RawRecord(payload, source, partition, position, watermark_ms)


def config(flags: tuple = (), streaming: bool = False,
           **overrides: Any) -> SalesConfig:
  """A SalesConfig from flags, with field overrides."""
  cfg = config_from_options(PipelineOptions(list(flags)), streaming)
  return dataclasses.replace(cfg, **overrides) if overrides else cfg
