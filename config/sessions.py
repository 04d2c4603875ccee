"""settings.SESSION_ENGINE with Redis: Django's cached_db sessions, whose cache read also
brings the cache epoch (engagement.partner_api.keycache.EPOCH_KEY) in the same round trip.

Every signed-in portal page reads its session and then the epoch of its per-process caches
(rewards.views.portal_login_required); two Redis round trips were one each of those pages'
fixed costs. The session's data, its database fallback and its validation are cached_db's;
the epoch read here is read at the start of the request, as keycache.read_epoch() would,
from the same server (CACHES' LOCATION is REDIS_URL, the first server takes the writes).
"""

from django.contrib.sessions.backends import cached_db

from engagement.partner_api import keycache


class SessionStore(cached_db.SessionStore):
    # The cache epoch read with this session's data, or None (not loaded from the cache, or
    # no epoch in Redis yet: then keycache.read_epoch() sets one).
    cache_epoch = None

    def load(self):
        try:
            data, epoch = self._cache.get_with_raw(self.cache_key, keycache.EPOCH_KEY)
        except Exception:
            # As cached_db: an unreadable cache (or key) is a miss.
            data, epoch = None, None
        self.cache_epoch = None if epoch is None else epoch.decode()
        if data is None:
            # A miss: cached_db's own load (the cache once more, then the database).
            return super().load()
        return data
