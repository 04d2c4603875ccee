"""config.redis_cache: Django's Redis cache with one kept client per server, against the real
Redis of the test run (REDIS_URL): the same answers as Django's backend, one client object."""

import pickle

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from config.redis_cache import RedisCache


@pytest.fixture
def kept():
    assert settings.REDIS_URL, "the tests run with Redis (scripts/services.sh)"
    return RedisCache(settings.REDIS_URL, {"KEY_PREFIX": "kept-client-test"})


def test_the_default_cache_is_the_kept_client_backend():
    assert type(cache._cache).__name__ == "KeptClientRedisCacheClient"


def test_one_client_for_reads_and_writes_of_one_server(kept):
    client = kept._cache.get_client()
    assert kept._cache.get_client("any key") is client
    assert kept._cache.get_client(write=True) is client
    assert list(kept._cache._clients) == [0]
    assert list(kept._cache._pools) == [0]  # Django's own pool under the client


def test_answers_are_django_backend_answers(kept):
    django_backend = DjangoRedisCache(settings.REDIS_URL, {"KEY_PREFIX": "kept-client-test"})
    # Written by ours, read by Django's, and the reverse.
    assert kept.add("greeting", {"text": "hello"}, timeout=60) is True
    assert kept.add("greeting", "other", timeout=60) is False
    assert django_backend.get("greeting") == {"text": "hello"}
    django_backend.set("counter", 41, timeout=60)
    assert kept.incr("counter") == 42
    assert kept.get_many(["greeting", "counter", "missing"]) == {"greeting": {"text": "hello"}, "counter": 42}
    kept.delete("greeting")
    assert django_backend.get("greeting", "gone") == "gone"
    # The stored bytes are the same serializer's (integers as is, everything else pickled).
    raw = kept._cache.get_client()
    assert raw.get(kept.make_key("counter")) == b"42"
    kept.set("tuple", (1, "a"), timeout=60)
    assert pickle.loads(raw.get(kept.make_key("tuple"))) == (1, "a")
    kept.delete_many(["counter", "tuple"])
    assert kept.get_many(["counter", "tuple"]) == {}


def test_a_value_and_a_raw_redis_key_in_one_read(kept):
    raw = kept._cache.get_client()
    kept.set("session", {"customer": 7}, timeout=60)
    raw.set("kept-client-test-raw", b"epoch-1")

    assert kept.get_with_raw("session", "kept-client-test-raw") == ({"customer": 7}, b"epoch-1")
    assert kept.get_with_raw("missing", "kept-client-test-raw") == (None, b"epoch-1")
    assert kept.get_with_raw("session", "kept-client-test-none") == ({"customer": 7}, None)
    kept.set("number", 42, timeout=60)  # integers are stored as they are
    assert kept.get_with_raw("number", "kept-client-test-none") == (42, None)
    kept.delete_many(["session", "number"])
    raw.delete("kept-client-test-raw")
