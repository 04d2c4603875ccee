"""Django's Redis cache backend, keeping its redis.Redis client instead of making one per call.

Django's RedisCacheClient.get_client() builds a new redis.Redis around the connection pool
on every cache operation: about 50 µs of Python each time (the client's response callbacks
are set up anew), once per signed-in page for the session read alone (cached_db sessions).
Here the client is made once per pool and kept. The pools, and so the connections, are
Django's as before (one set per cache handler, i.e. per thread); a client holds no socket of
its own and its pool reconnects after a fork, so sharing it is what redis-py intends.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class KeptClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        # The same choice of server as Django's (_get_connection_pool_index): the first one
        # for writes, a random replica for reads; one client per server.
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._pools.get(index) or self._pool_for(index)
            client = self._clients[index] = self._client(connection_pool=pool)
        return client

    def get_with_raw(self, key, raw_key):
        """get(key) and the bytes under the Redis key `raw_key` (none of the cache's: no
        prefix, no serializer), in one MGET on the first server, where writes go."""
        value, raw = self.get_client(key, write=True).mget(key, raw_key)
        return (None if value is None else self._serializer.loads(value)), raw

    def _pool_for(self, index):
        self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
        return self._pools[index]


class RedisCache(DjangoRedisCache):
    """settings.CACHES's BACKEND "config.redis_cache.RedisCache": as Django's, same options."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = KeptClientRedisCacheClient

    def get_with_raw(self, key, raw_key, version=None):
        """(get(key) or None, the bytes under the Redis key `raw_key` or None) in one round
        trip: config.sessions reads the cache epoch with the session."""
        return self._cache.get_with_raw(self.make_and_validate_key(key, version=version), raw_key)
