"""Settings, read once from the environment.

Two modes, one code base:
- embedded (no DATABASE_URL / REDIS_URL): SQLite, local-memory cache, Celery tasks run eagerly
  in-process, so a fresh machine shows the site with no servers;
- production (DATABASE_URL and REDIS_URL set): PostgreSQL, Redis cache and broker, a Celery worker
  and beat, gunicorn.
Defaults are production-safe: DEBUG is off unless asked for.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED = not (DATABASE_URL or REDIS_URL)
if not EMBEDDED and not (DATABASE_URL and REDIS_URL):
    # Half of production would run tasks in-process and keep locks per process: refuse it.
    raise ImproperlyConfigured("Set both DATABASE_URL and REDIS_URL (production), or neither (embedded).")

# Public (it is in this file): cancerindex/wsgi.py serves with it only with DEBUG on or under runserver.
EMBEDDED_SECRET_KEY = "django-insecure-embedded-mode-only-never-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ImproperlyConfigured("SECRET_KEY must be set in production (DATABASE_URL and REDIS_URL set).")
    SECRET_KEY = EMBEDDED_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Behind our own reverse proxy, REMOTE_ADDR is the proxy: read the reader's address from the
# header it adds. Never turn this on without such a proxy (the header is trivial to forge).
TRUST_X_FORWARDED_FOR = env.bool("TRUST_X_FORWARDED_FOR", default=False)
# Where that proxy connects from (Varnish beside gunicorn: loopback). The header is read only on a request
# from one of these: one sent straight to gunicorn (bound beyond loopback) is told apart by its own address.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=["127.0.0.1", "::1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sitemaps",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "taggit",
    "reversion",
    "django_prose_editor",
    "django_celery_beat",
    "axes",
    "treatments",
    "publications",
    "dashboard",
    "search",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above the page cache, so cached pages get the policy too (README: Security).
    "cancerindex.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Readers' pages from the page cache, above sessions and auth, so a hit runs no query (README: Caching).
    "treatments.cache.PageCacheMiddleware",
    # HTML compressed (reader pages hold no secrets; admin CSRF tokens are masked per response), then
    # ETag and 304 on the uncompressed body, for every response the page cache does not handle itself.
    "django.middleware.gzip.GZipMiddleware",
    "treatments.cache.ConditionalGetMiddleware",  # Django's, with the page cache's ETag (etag_of)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lockout into its 429 page
]

ROOT_URLCONF = "cancerindex.urls"
WSGI_APPLICATION = "cancerindex.wsgi.application"

# Readers' pages render with Jinja2 (templates/jinja2/, cancerindex.templating says why); the admin, its
# widgets and Django's own apps keep Django's engine. A name is looked up in this order.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "cancerindex.templating.environment"},
    },
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

SQLITE_PATH = env.path("SQLITE_PATH", default=BASE_DIR / "db.sqlite3")  # embedded mode's database
DATABASES = {"default": env.db_url_config(DATABASE_URL or f"sqlite:///{SQLITE_PATH}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if DATABASE_URL else 0)
# A kept connection the server dropped (restart, pg_terminate_backend) is replaced, not a reader's 500
# (on PostgreSQL, checked without a round trip: cancerindex/postgresql).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that costs no round trip (cancerindex/postgresql says how).
    DATABASES["default"]["ENGINE"] = "cancerindex.postgresql"
    # No JIT: its cost model compiles short queries whose estimate is high (the related pages' correlated
    # counts at 3,000 pages) for 0.7 s to save nothing; a site of short queries never gains from it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
    if env.bool("PG_PREPARE", default=True):
        # Server-side binding lets psycopg prepare a statement a connection runs again and again (the
        # reader pages' queries, built once by cancerindex/compiled.py): PostgreSQL then plans it once per
        # connection, not on every request. PG_PREPARE=0 turns it off (a pooler that cannot keep them).
        DATABASES["default"]["OPTIONS"].update(server_side_binding=True, prepare_threshold=2)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Take the write lock when a transaction starts, so concurrent writers wait instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache may live in its own Redis database (CACHE_URL), so clearing it never touches the queue.
CACHE_URL = env.str("CACHE_URL", default=REDIS_URL)
if CACHE_URL:
    # Django's Redis cache, reusing one client per connection pool (cancerindex/redis_cache.py).
    CACHES = {"default": {"BACKEND": "cancerindex.redis_cache.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 2000},
        }
    }

# Caching (README: Caching). Readers' pages are kept whole in the cache above (treatments/cache.py),
# marked stale when a change commits; PAGE_CACHE=0 turns that off (the edge headers stay).
PAGE_CACHE_ENABLED = env.bool("PAGE_CACHE", default=True)
PAGE_CACHE_ALIAS = "default"
PAGE_CACHE_VERSION = env.str("PAGE_CACHE_VERSION", default="1")  # change it when templates change
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=600)  # fresh for; purges end it sooner
# How often a process reads a page's generations again before serving its own copy: a purge from
# another process shows within this (the goal is 1 s from commit); one from this process at once.
PAGE_CACHE_RECHECK_SECONDS = env.float("PAGE_CACHE_RECHECK_SECONDS", default=0.5)
PAGE_CACHE_KEEP_SECONDS = 24 * 3600  # kept this long, to serve stale while one request re-renders
EDGE_CACHE_SECONDS = env.int("EDGE_CACHE_SECONDS", default=60)  # s-maxage: shared caches keep a page
# Where the edge (Varnish, `make stack`) takes BAN requests, e.g. http://127.0.0.1:8000/; unset: no edge.
EDGE_PURGE_URL = env.str("EDGE_PURGE_URL", default="")

# Sign-in throttling (django-axes, README: Security): 5 failures for one username from one address lock
# that pair out for 30 minutes; other users and addresses still sign in. The address is the one
# client_address() reads, so behind our proxy (TRUST_X_FORWARDED_FOR) it is the reader's, not the proxy's.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "treatments.views.client_address"
# The log names the account and address locked out (whom to unlock, what to block); never a password.
AXES_SENSITIVE_PARAMETERS = []
# After signing in with no (or an off-site) `next`, editors land on the admin, not /accounts/profile/.
LOGIN_REDIRECT_URL = "admin:index"
# A page's admin form posts each entry of its list it shows (up to 200, with up to 100 hidden and those
# added by hand), two to four fields each, and its links: Django's 1,000 refused a long page's save
# ("Bad Request (400)", the edits lost). Still a bound on what a request may make the server parse.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves hashed, compressed files after `collectstatic`; embedded mode serves them as they are.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if EMBEDDED
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("HTTPS", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    # The proxy should redirect plain HTTP itself; this catches any request that reaches us without it.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)

# Content-Security-Policy (cancerindex/security.py, README: Security): strict on readers' pages (only our
# own scripts and styles, nothing inline), and what the admin's editor needs on /admin/.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# django-prose-editor's import map is an inline <script type="importmap">, and the admin's templates and
# widgets use style attributes: the admin (staff only) allows inline scripts and styles, nothing else.
CSP_ADMIN_DIRECTIVES = {
    "script-src": ["'self'", "'unsafe-inline'"],
    "style-src": ["'self'", "'unsafe-inline'"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}},  # one line per request is noise; failures are recorded
}

# Celery: a Redis broker in production; in embedded mode tasks run eagerly, in-process.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_RESULT_EXPIRES = None  # no results are stored, so beat needs no daily clean-up task
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task does not lose the job
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# An unacknowledged task goes back to the queue after this long (a killed worker's job is redelivered).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# NCBI E-utilities (https://www.ncbi.nlm.nih.gov/books/NBK25497/): identify ourselves as NCBI asks.
NCBI_EUTILS_URL = env.str("NCBI_EUTILS_URL", default="https://eutils.ncbi.nlm.nih.gov/entrez/eutils/")
NCBI_API_KEY = env.str("NCBI_API_KEY", default="")
NCBI_EMAIL = env.str("NCBI_EMAIL", default="webmaster@cancerindex.org")
NCBI_TOOL = env.str("NCBI_TOOL", default="cancerindex")
NCBI_TIMEOUT = env.float("NCBI_TIMEOUT", default=20.0)
NCBI_DEADLINE = env.float("NCBI_DEADLINE", default=120.0)  # one whole request, however it trickles
NCBI_MAX_RETRIES = env.int("NCBI_MAX_RETRIES", default=4)
NCBI_BACKOFF_BASE = env.float("NCBI_BACKOFF_BASE", default=1.0)  # seconds; doubles on each retry, with jitter

# The link checker (treatments/linkcheck.py, README: Link checker), weekly or by `manage.py check_links`.
# It never connects to private, loopback or link-local addresses unless LINK_CHECK_ALLOW_PRIVATE is on
# (tests, local use): a link must not make the server probe its own network.
LINK_CHECK_ALLOW_PRIVATE = env.bool("LINK_CHECK_ALLOW_PRIVATE", default=False)
LINK_CHECK_TIMEOUT = env.float("LINK_CHECK_TIMEOUT", default=10.0)  # seconds, per connect or read
LINK_CHECK_HOST_DELAY = env.float("LINK_CHECK_HOST_DELAY", default=1.0)  # seconds between requests to a host
LINK_CHECK_USER_AGENT = env.str(
    "LINK_CHECK_USER_AGENT",
    default=f"CancerIndex link checker (+https://www.cancerindex.org/; mailto:{NCBI_EMAIL})",
)

# The daily refresh of every published page lives in the database (django-celery-beat): a migration
# creates it, administrators change it in the admin under Periodic tasks.
