"""Redis sink: live counters and leaderboards for a dashboard (docs/redis.md).

    {'results': ..., 'top_products': ..., 'dead_letters': ...} \\
        | WriteToRedis('redis://127.0.0.1:6379/0', password='file:PATH')

The key layout is in ``layout``; the database sinks' rule that an older
pane never overwrites a newer one is applied atomically by the Lua scripts
of ``scripts``; ``store`` holds the URL, password, retries and outages;
``write`` the Beam transform.
"""
from transforms.sinks.redis_sink.store import (RedisStore,
                                               connection_problem,
                                               parse_redis_url, read_password)
from transforms.sinks.redis_sink.write import (DEFAULT_DEAD_LETTER_MAXLEN,
                                               DEFAULT_RETENTION_S,
                                               WriteToRedis)

__all__ = ['WriteToRedis', 'RedisStore', 'connection_problem',
           'parse_redis_url', 'read_password', 'DEFAULT_RETENTION_S',
           'DEFAULT_DEAD_LETTER_MAXLEN']
