"""Ganjaran settings. Every value comes from an environment variable (listed in README.md).

With no DATABASE_URL and no REDIS_URL the project runs *embedded*: a PostgreSQL server
installed by pip into the virtual environment, with its data under var/postgres
(config.embedded_db starts it on first use), and Celery tasks executed eagerly in-process.
That mode exists for `make demo` only; tests and production use PostgreSQL and Redis with
real Celery workers.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED = not DATABASE_URL

DEBUG = env.bool("DEBUG", default=EMBEDDED)
SECRET_KEY = env.str(
    "SECRET_KEY", default="ganjaran-insecure-development-key-change-me" if DEBUG or EMBEDDED else environ.Env.NOTSET
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base used in links that leave the site (emailed sign-in links, survey links).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Ours, lowest first: engagement is the base, rewards orchestrates (DESIGN.md).
    "engagement",
    "engagement.channels",
    "engagement.webhooks",
    "surveys",
    "payouts",
    "rewards",
    "rewards.campaigns",
    "rewards.checkout",
    # Admin security (admin-core): login lockout, TOTP second factor, Content-Security-Policy.
    "engagement.security_apps.LoginAttemptsConfig",  # django-axes
    "django_otp",
    "engagement.security_apps.SecondFactorConfig",  # django-otp's TOTP devices
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # /api/v1/: NUL and lone surrogates in path, query and headers -> 400; errors always JSON.
    "engagement.partner_api.middleware.PartnerApiGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Admin security (admin-core): see the "Admin security" block below.
    "django_otp.middleware.OTPMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.security_headers.PermissionsPolicyMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if EMBEDDED:
    from config import embedded_db

    DATABASES = {"default": embedded_db.database_settings()}
else:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# Persistent connections: per-request connections measured 5x slower on this hardware.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction pooling mode a server-side cursor (iterator()) may outlive
# the transaction's server connection: DATABASE_POOL_MODE=transaction turns them off.
DATABASE_POOL_MODE = env.str("DATABASE_POOL_MODE", default="session")
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DATABASE_POOL_MODE == "transaction"
# A streaming read replica for lag-tolerant reads (metrics, the dashboard): config/db_router.py.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **env.db_url_config(DATABASE_REPLICA_URL),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "DISABLE_SERVER_SIDE_CURSORS": DATABASE_POOL_MODE == "transaction",
        # Tests read the replica through the primary's test database.
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["config.db_router.ReadReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    # Django's Redis backend, keeping its client instead of building one per call (config/redis_cache.py).
    CACHES = {"default": {"BACKEND": "config.redis_cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions (signed-in customers and staff) are read from Redis and written through to the
# database: one query less on every signed-in page (the portal's pages are 4 -> 3); the
# read brings the cache epoch along (config/sessions.py: cached_db's, one round trip). Without
# Redis (the embedded demo), the database alone. Nothing deletes session rows behind the
# session API's back (which would leave a cached copy valid).
SESSION_ENGINE = "config.sessions" if REDIS_URL else "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ar", "العربية"), ("ms", "Bahasa Melayu")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names need `collectstatic` first: production and `make serve` set STATIC_MANIFEST=1.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env.bool("STATIC_MANIFEST", default=False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Tests run with DEBUG off but without collectstatic: let WhiteNoise serve from app folders.
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# --- Email (files under var/mail in the demo; SMTP or a provider in production) ------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
if EMBEDDED and "EMAIL_URL" not in env.ENVIRON:
    # One .log file per run of a process under var/mail: the demo's console stays quiet.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = BASE_DIR / "var" / "mail"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Ganjaran <no-reply@ganjaran.local>")

# --- Security: production defaults, relaxed only when DEBUG --------------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- REST API ------------------------------------------------------------------------------
# Request bodies above this many bytes are refused with 413 before parsing.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_BODY_BYTES, 2_621_440)
# Requests per partner key: "<n>/<sec|min|hour|day>"; beyond it 429 with Retry-After.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="6000/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["engagement.partner_api.authentication.PartnerKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["engagement.partner_api.authentication.IsPartner"],
    "DEFAULT_THROTTLE_CLASSES": ["engagement.partner_api.authentication.PartnerKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"partner_key": API_RATE_LIMIT},
    "DEFAULT_PARSER_CLASSES": ["engagement.partner_api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "engagement.partner_api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "engagement.partner_api.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "engagement.partner_api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Ganjaran partner API",
    "DESCRIPTION": "Loyalty rewards, engagement, surveys and payouts. See API.md for the contract.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets from the drf-spectacular-sidecar package: nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # A reward's kind appears on rewards and on fulfilments; named once here, or the enum hook
    # invents a hashed name (drf_spectacular.W001, which fails `check --deploy`).
    "ENUM_NAME_OVERRIDES": {"RewardKindEnum": "rewards.models.RewardKind"},
    "APPEND_COMPONENTS": {
        "securitySchemes": {"PartnerKey": {"type": "http", "scheme": "bearer"}},
    },
    "SECURITY": [{"PartnerKey": []}],
    # Every operation documents its 4xx with the one error shape (after the enum hook).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "engagement.partner_api.schema.add_error_responses",
    ],
}
# Idempotency-Key records are kept this long (API.md: at least 24 h).
IDEMPOTENCY_KEEP_HOURS = env.int("IDEMPOTENCY_KEEP_HOURS", default=48)

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Event processing is partitioned by customer: with INGEST_SHARDS = N > 1 each ingested batch
# is split by customer id modulo N and each part goes to queue `ingest-<k>`; run ONE worker
# process per shard queue (docs/operations.md "Queues"), so two workers never lock the same
# customers. 1 (the default): one `ingest` queue, as before.
INGEST_SHARDS = env.int("INGEST_SHARDS", default=1)
if INGEST_SHARDS < 1:
    raise ImproperlyConfigured("INGEST_SHARDS must be at least 1.")
INGEST_SHARD_QUEUES = [f"ingest-{k}" for k in range(INGEST_SHARDS)] if INGEST_SHARDS > 1 else []
# Ingest backpressure (engagement.backlog; docs/operations.md "Ingest backpressure"): while more
# than this many accepted events wait for processing (the whole installation's backlog, one
# Redis counter reconciled with the database every minute), POST /api/v1/events answers 429
# with Retry-After and stores nothing. 60,000 = 30 s of waiting at 2,000 events/s processed
# (a 2-core machine with 20 campaigns, bench/README.md "Pipeline"); size it to the workers'
# rate times the delay you accept. 0 disables it; without Redis (embedded) it is off.
EVENTS_MAX_BACKLOG = env.int("EVENTS_MAX_BACKLOG", default=60_000)
if EVENTS_MAX_BACKLOG < 0:
    raise ImproperlyConfigured("EVENTS_MAX_BACKLOG must be 0 (off) or more.")
CELERY_TASK_QUEUES_ALL = [
    "default",
    "ingest",
    *INGEST_SHARD_QUEUES,
    "scoring",
    "messaging",
    "payouts",
    "webhooks",
    "campaigns",
]
# Redis redelivers an unacked task after this long; longer than any task may run.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILENAME", default=str(BASE_DIR / "var" / "celerybeat-schedule")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO" if not DEBUG else "WARNING")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Events storage (engagement.partitions; docs/architecture.md "Events storage") ----------
# Monthly partitions of the events table are created this many months ahead of the current
# one by the hourly beat task (rows outside every partition land in the default partition
# and are moved into their month's partition by the same task).
EVENT_PARTITION_MONTHS_AHEAD = env.int("EVENT_PARTITION_MONTHS_AHEAD", default=3)

# Months of raw events kept before the current one (engagement.retention; docs/architecture.md
# "Events storage"). Unset: kept for ever. Older monthly partitions are rolled up per customer
# (scores and purchase models stay exact) and dropped daily by beat. At least
# EVENTS_RETENTION_MIN_MONTHS, so that every window the dashboard offers (a year, compared
# with the year before, plus the default 90-day churn lookback: 821 days) stays in the kept
# events: 28 months before the current one are at least 847 days (27 could be 819).
EVENTS_RETENTION_MIN_MONTHS = 28
EVENTS_RETENTION_MONTHS = env.int("EVENTS_RETENTION_MONTHS", default=None)
if EVENTS_RETENTION_MONTHS is not None and EVENTS_RETENTION_MONTHS < EVENTS_RETENTION_MIN_MONTHS:
    raise ImproperlyConfigured(
        f"EVENTS_RETENTION_MONTHS must be at least {EVENTS_RETENTION_MIN_MONTHS} (got {EVENTS_RETENTION_MONTHS})."
    )

# --- Outbound webhooks (engagement.webhooks; docs/webhooks.md) ------------------------------
# Loopback targets (127.0.0.1, ::1, localhost; http:// or https://) are allowed only when this
# is on (development, tests); everything else must be https:// to a public address (SSRF).
WEBHOOKS_ALLOW_HTTP_LOOPBACK = env.bool("WEBHOOKS_ALLOW_HTTP_LOOPBACK", default=DEBUG)
# Seconds to wait for a partner endpoint (connect + response) per attempt.
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
# A delivery is retried until this many hours after it was created (or re-sent), then failed.
WEBHOOKS_RETRY_HOURS = env.int("WEBHOOKS_RETRY_HOURS", default=24)
# Backoff: BASE * 2**(attempt-1) seconds, capped at MAX, plus up to 25 % jitter.
WEBHOOKS_BACKOFF_BASE_SECONDS = env.int("WEBHOOKS_BACKOFF_BASE_SECONDS", default=30)
WEBHOOKS_BACKOFF_MAX_SECONDS = env.int("WEBHOOKS_BACKOFF_MAX_SECONDS", default=3600)
# A subscription is paused (and its program's staff emailed) after this many failed attempts
# in a row spanning at least PAUSE_AFTER_HOURS with no success in between.
WEBHOOKS_PAUSE_AFTER_FAILURES = env.int("WEBHOOKS_PAUSE_AFTER_FAILURES", default=20)
WEBHOOKS_PAUSE_AFTER_HOURS = env.int("WEBHOOKS_PAUSE_AFTER_HOURS", default=24)
# After a secret rotation the old secret keeps signing (second signature) this long.
WEBHOOKS_ROTATION_OVERLAP_HOURS = env.int("WEBHOOKS_ROTATION_OVERLAP_HOURS", default=24)
# The sweep hands back deliveries in flight longer than this (their worker died) and
# re-enqueues due deliveries whose broker message is older than REQUEUE_AFTER (lost).
WEBHOOKS_CLAIM_TIMEOUT_SECONDS = env.int("WEBHOOKS_CLAIM_TIMEOUT_SECONDS", default=300)
WEBHOOKS_REQUEUE_AFTER_SECONDS = env.int("WEBHOOKS_REQUEUE_AFTER_SECONDS", default=300)
# Deliveries per Celery task (DESIGN.md: a task carries a batch, not one item).
WEBHOOKS_BATCH_SIZE = env.int("WEBHOOKS_BATCH_SIZE", default=20)

# --- Channels (engagement.channels): SMS/WhatsApp, web push, delivery ---------------------
# Twilio-style HTTP API for SMS and WhatsApp; empty SMS_API_URL = console (logged, not sent).
SMS_API_URL = env.str("SMS_API_URL", default="")
SMS_ACCOUNT_SID = env.str("SMS_ACCOUNT_SID", default="")
SMS_AUTH_TOKEN = env.str("SMS_AUTH_TOKEN", default="")
SMS_FROM = env.str("SMS_FROM", default="")
WHATSAPP_FROM = env.str("WHATSAPP_FROM", default="")
# Public URL of /hooks/channels/twilio/status/ given to the provider as StatusCallback ("" = none).
CHANNELS_STATUS_CALLBACK_URL = env.str("CHANNELS_STATUS_CALLBACK_URL", default="")
# Public URL of /hooks/channels/twilio/inbound/ as configured at the provider ("" = as received).
CHANNELS_INBOUND_URL = env.str("CHANNELS_INBOUND_URL", default="")
# Web Push (VAPID); empty private key = console (logged, not sent).
WEBPUSH_VAPID_PRIVATE_KEY = env.str("WEBPUSH_VAPID_PRIVATE_KEY", default="")
WEBPUSH_VAPID_PUBLIC_KEY = env.str("WEBPUSH_VAPID_PUBLIC_KEY", default="")
WEBPUSH_VAPID_SUBJECT = env.str("WEBPUSH_VAPID_SUBJECT", default="mailto:no-reply@ganjaran.local")
# Delivery: attempts before a message fails, first retry delay (doubles each time), and
# how long a message may stay "sending" before the sweep re-queues it.
CHANNELS_MAX_ATTEMPTS = env.int("CHANNELS_MAX_ATTEMPTS", default=5)
CHANNELS_RETRY_BASE_SECONDS = env.int("CHANNELS_RETRY_BASE_SECONDS", default=60)
CHANNELS_STUCK_MINUTES = env.int("CHANNELS_STUCK_MINUTES", default=15)

# --- Payouts (payouts app) -------------------------------------------------------------------
# Provider calls time out after this many seconds (a timeout is an *unknown* outcome).
PAYOUTS_HTTP_TIMEOUT_SECONDS = env.float("PAYOUTS_HTTP_TIMEOUT_SECONDS", default=10.0)
# Transient provider errors are retried up to this many create attempts, then failed.
PAYOUTS_MAX_ATTEMPTS = env.int("PAYOUTS_MAX_ATTEMPTS", default=6)
# Exponential backoff base for retries (doubles each attempt, jittered, capped at 1 h).
PAYOUTS_RETRY_BASE_SECONDS = env.int("PAYOUTS_RETRY_BASE_SECONDS", default=30)
PAYOUTS_LOOKUP_BASE_SECONDS = env.int("PAYOUTS_LOOKUP_BASE_SECONDS", default=15)
# Retries due sooner than this ride a broker countdown; later ones wait for the beat sweep.
PAYOUTS_SHORT_RETRY_SECONDS = env.int("PAYOUTS_SHORT_RETRY_SECONDS", default=300)
# Accepted orders are polled this often until a webhook or lookup shows them final.
PAYOUTS_POLL_SECONDS = env.int("PAYOUTS_POLL_SECONDS", default=60)
# An unknown outcome whose lookups find no order for this long is re-sent with the same reference.
PAYOUTS_UNKNOWN_RESUBMIT_SECONDS = env.int("PAYOUTS_UNKNOWN_RESUBMIT_SECONDS", default=1800)
# Sandbox provider webhook secret (empty: derived from SECRET_KEY).
PAYOUTS_SANDBOX_WEBHOOK_SECRET = env.str("PAYOUTS_SANDBOX_WEBHOOK_SECRET", default="") or (
    "sandbox-" + __import__("hashlib").sha256(("payouts-sandbox" + SECRET_KEY).encode()).hexdigest()[:32]
)
# Tremendous-style HTTP provider defaults (a program's ProviderAccount overrides them).
PAYOUTS_TREMENDOUS_BASE_URL = env.str("PAYOUTS_TREMENDOUS_BASE_URL", default="https://testflight.tremendous.com/api/v2")
PAYOUTS_TREMENDOUS_API_KEY = env.str("PAYOUTS_TREMENDOUS_API_KEY", default="")
PAYOUTS_TREMENDOUS_WEBHOOK_SECRET = env.str("PAYOUTS_TREMENDOUS_WEBHOOK_SECRET", default="")
PAYOUTS_TREMENDOUS_FUNDING_SOURCE_ID = env.str("PAYOUTS_TREMENDOUS_FUNDING_SOURCE_ID", default="balance")
PAYOUTS_TANGO_BASE_URL = env.str("PAYOUTS_TANGO_BASE_URL", default="https://integration-api.tangocard.com/raas/v2")
PAYOUTS_TANGO_PLATFORM_NAME = env.str("PAYOUTS_TANGO_PLATFORM_NAME", default="")
PAYOUTS_TANGO_PLATFORM_KEY = env.str("PAYOUTS_TANGO_PLATFORM_KEY", default="")
PAYOUTS_PAYPAL_BASE_URL = env.str("PAYOUTS_PAYPAL_BASE_URL", default="https://api-m.sandbox.paypal.com")
PAYOUTS_PAYPAL_CLIENT_ID = env.str("PAYOUTS_PAYPAL_CLIENT_ID", default="")
PAYOUTS_PAYPAL_CLIENT_SECRET = env.str("PAYOUTS_PAYPAL_CLIENT_SECRET", default="")
PAYOUTS_PAYPAL_WEBHOOK_ID = env.str("PAYOUTS_PAYPAL_WEBHOOK_ID", default="")
PAYOUTS_PAYPAL_EMAIL_SUBJECT = env.str("PAYOUTS_PAYPAL_EMAIL_SUBJECT", default="You have a reward")
PAYOUTS_RAZORPAYX_BASE_URL = env.str("PAYOUTS_RAZORPAYX_BASE_URL", default="https://api.razorpay.com")
PAYOUTS_RAZORPAYX_KEY_ID = env.str("PAYOUTS_RAZORPAYX_KEY_ID", default="")
PAYOUTS_RAZORPAYX_KEY_SECRET = env.str("PAYOUTS_RAZORPAYX_KEY_SECRET", default="")
PAYOUTS_RAZORPAYX_ACCOUNT_NUMBER = env.str("PAYOUTS_RAZORPAYX_ACCOUNT_NUMBER", default="")
PAYOUTS_RAZORPAYX_WEBHOOK_SECRET = env.str("PAYOUTS_RAZORPAYX_WEBHOOK_SECRET", default="")
# A program's own provider base URL (set in the admin) may point at a loopback host only when
# this is on (development, tests); private and reserved addresses never (SSRF).
PAYOUTS_ALLOW_LOOPBACK_BASE_URL = env.bool("PAYOUTS_ALLOW_LOOPBACK_BASE_URL", default=DEBUG)

# --- Rewards (rewards helper) ------------------------------------------------------------------
# Portal sign-in links (emailed, single use) expire after this many minutes.
REWARDS_PORTAL_LOGIN_TTL_MINUTES = env.int("REWARDS_PORTAL_LOGIN_TTL_MINUTES", default=15)
# Sign-in requests one client IP may make per TTL window (per address: 5), then 429.
REWARDS_PORTAL_LOGIN_REQUESTS_PER_IP = env.int("REWARDS_PORTAL_LOGIN_REQUESTS_PER_IP", default=20)
# Reverse proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default=0)

# --- Admin security (admin-core; README "Admin security") ----------------------------------
# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one user name
# from one address, that pair is refused (429) for ADMIN_LOCKOUT_MINUTES, right password too.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every manage.py command; attempts are in the admin
# Behind a reverse proxy, the number of proxies that append to X-Forwarded-For (0 = none).
AXES_IPWARE_PROXY_COUNT = env.int("ADMIN_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)
# Second factor (django-otp TOTP) at the admin login: "off", "superusers" or "staff". Users
# with a confirmed device always give a code. `manage.py add_totp_device <user>` makes one.
ADMIN_OTP = env.str("ADMIN_OTP", default="off" if DEBUG else "superusers")
if ADMIN_OTP not in ("off", "superusers", "staff"):
    raise ImproperlyConfigured("ADMIN_OTP must be off, superusers or staff")
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Ganjaran")
# Content-Security-Policy (django-csp) on every page: scripts only from our own static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Django's admin and Swagger UI set style attributes; scripts stay strict.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Permissions-Policy: the browser features no page of ours uses are switched off.
PERMISSIONS_POLICY = env.str(
    "PERMISSIONS_POLICY",
    default="camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), "
    "magnetometer=(), gyroscope=(), accelerometer=(), display-capture=()",
)
