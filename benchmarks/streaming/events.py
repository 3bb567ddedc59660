"""The events the benchmark produces: the backlog (the project's generator,
clean, event times spread over the last minutes), the timed freshness waves
(event_time now, order ids unique per wave), and the Kafka producer that
delivers them and collects their offsets."""
from __future__ import annotations

import json
import random
import time
from typing import List, Optional, Tuple


def make_backlog(count: int, seed: int, span_s: float) -> List[Tuple[bytes, bytes]]:
  """``count`` clean generated events, event times spread over the last
  ``span_s`` seconds (in production order), as (key, value) pairs."""
  from tools.generate_orders import iter_events
  now_ms = int(time.time() * 1000)
  span_ms = int(span_s * 1000)
  out = []
  for i, event in enumerate(iter_events(count, seed, dirty_rate=0.0,
                                        duplicate_rate=0.0, blank_rate=0.0)):
    event = dict(event)
    event['event_time'] = now_ms - span_ms + (i * span_ms) // max(count, 1)
    out.append((event['order_id'].encode(),
                json.dumps(event, separators=(',', ':')).encode()))
  return out


def wave_events(wave: int, size: int, run_tag: str) -> List[Tuple[bytes, bytes]]:
  now_ms = int(time.time() * 1000)
  rng = random.Random(wave)
  out = []
  for i in range(size):
    order_id = f'bench-{run_tag}-w{wave:04d}-{i:05d}'
    event = {'order_id': order_id, 'customer_id': f'CW{wave:05d}',
             'product_id': f'P{1 + rng.randrange(200):04d}', 'quantity': 1,
             'unit_price': 10.0, 'currency': 'USD', 'event_time': now_ms,
             'country': 'US'}
    out.append((order_id.encode(), json.dumps(event).encode()))
  return out


def producer(bootstrap: str):
  from confluent_kafka import Producer
  return Producer({'bootstrap.servers': bootstrap, 'linger.ms': 5,
                   'acks': 'all', 'enable.idempotence': True,
                   'queue.buffering.max.messages': 1_000_000,
                   'batch.num.messages': 10_000})


def produce_all(prod, topic: str, events: List[Tuple[bytes, bytes]],
                offsets: Optional[List[Tuple[int, int]]] = None) -> None:
  """Produces and flushes; ``offsets`` collects (partition, offset)."""
  errors = []

  def on_delivery(err, msg):
    if err is not None:
      errors.append(str(err))
    elif offsets is not None:
      offsets.append((msg.partition(), msg.offset()))

  for key, value in events:
    while True:
      try:
        prod.produce(topic, value=value, key=key, on_delivery=on_delivery)
        break
      except BufferError:
        prod.poll(0.05)
    prod.poll(0)
  left = prod.flush(120)
  if left or errors:
    raise RuntimeError(f'{left} events not delivered; errors: {errors[:3]}')
