"""The local single-node Kafka broker (KRaft) and its Python wrapper."""
