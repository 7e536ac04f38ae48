"""Settings, all from the environment.

With no environment at all the portal runs in development mode: a SQLite file,
Celery tasks run eagerly, mail goes to the console, DEBUG is on and every page says
so. ``DJANGO_ENV=production`` turns all of that off and refuses to start without
the values a real deployment must supply.
"""

import os
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from apps.core.production_secrets import production_secret_problems

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"DJANGO_ENV must be 'development' or 'production', not {DJANGO_ENV!r}"
    )
PRODUCTION = DJANGO_ENV == "production"
DEV_MODE = not PRODUCTION

if PRODUCTION:
    _missing = [
        name
        for name in ("SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS", "CELERY_BROKER_URL")
        if not env.str(name, default="")
    ]
    if _missing:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production needs these environment variables: "
            + ", ".join(_missing)
        )
    # Refused here rather than by a system check: every process that loads the
    # settings (web, workers, beat, one-off commands, which run no checks) stops.
    _problems = production_secret_problems(os.environ)
    if _problems:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production refuses placeholder or weak secrets: "
            + "; ".join(_problems)
        )

SECRET_KEY = env.str(
    "SECRET_KEY",
    default="django-insecure-development-only-key-never-used-in-production",
)
DEBUG = env.bool("DEBUG", default=DEV_MODE)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
SITE_NAME = env.str("SITE_NAME", default="Hardened Images Compliance Portal")
# PORTAL_INSECURE_HTTP=1 declares a plain-HTTP production stack (compose on
# 127.0.0.1 before a TLS proxy is in front): no HTTPS redirect, cookies without
# the Secure flag, http:// links in mail; check --deploy then silences
# W008/W012/W016 and says why (core.I001). Without it, each of those turned off
# on its own stays a deploy warning, which stops the migrate role.
INSECURE_HTTP = PRODUCTION and env.bool("PORTAL_INSECURE_HTTP", default=False)
_HTTPS = PRODUCTION and not INSECURE_HTTP

INSTALLED_APPS = [
    # Django's admin, for staff with a second factor (apps/core/admin_site.py).
    "apps.core.admin_apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "csp",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "apps.core",
    "apps.audit",
    "apps.accounts",
    "apps.orgs",
    "apps.catalog",
    "apps.vulns",
    "apps.evidence",
    "apps.billing",
    "apps.entitlements",
    "apps.customizations",
    "apps.sla",
    "apps.fips",
    "apps.stig",
    "apps.cra",
    "apps.compliance",
    "apps.reports",
    "apps.registry",
    "apps.notifications",
    "apps.api",
    "apps.public",
    "apps.demo",
]

MIDDLEWARE = [
    # First: every later log line carries the request id, every answer is counted.
    "apps.core.middleware.RequestIdMiddleware",
    "apps.core.middleware.MetricsMiddleware",
    # NUL and other control characters in the path or query: 400 before a view.
    "apps.core.middleware.InputGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "apps.core.middleware.MfaEnrolmentMiddleware",
    "apps.entitlements.middleware.EntitlementCacheMiddleware",
    # An identity provider that cannot be reached inside allauth's SSO views:
    # a 502 page, not a 500.
    "apps.accounts.middleware.SsoProviderUnreachableMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.portal",
                "apps.orgs.context_processors.org_switcher",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://"
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands an unacknowledged message (acks_late tasks) to another worker
# after this many seconds: it must exceed the longest task's time limit and
# retry delay, or a task still running would start a second time. A dead
# reports worker's report is taken back sooner by the lease sweep
# (reports.requeue_stale).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=7200)
}
# Queues: default, ingest (matching after imports) and reports (PDF rendering);
# each has its own worker deployment (deploy/), so one kind of work never
# waits behind another.
CELERY_TASK_ROUTES = {"vulns.*": {"queue": "ingest"}, "reports.*": {"queue": "reports"}}
CELERY_QUEUE_NAMES = ("default", "ingest", "reports")
# Run by exactly one `celery beat`. Entitlements that simply run out write
# nothing, so a nightly sweep marks the mirrors that lost them.
CELERY_BEAT_SCHEDULE = {
    "mirrors-recheck-nightly": {
        "task": "entitlements.mirrors_recheck_all",
        "schedule": 24 * 60 * 60,
    },
    "billing-reconcile-nightly": {
        "task": "billing.reconcile_all",
        "schedule": 24 * 60 * 60,
    },
    # Grace periods end at any hour; events whose task was lost are retried.
    "billing-grace-sweep": {"task": "billing.grace_sweep", "schedule": 60 * 60},
    "billing-events-retry": {"task": "billing.events_retry", "schedule": 10 * 60},
    "sla-transitions": {"task": "sla.transitions_run", "schedule": 5 * 60},
    # Clocks a lost trigger never opened; each repair is an audit event.
    "sla-ledger-reconcile": {"task": "sla.ledger_reconcile", "schedule": 60 * 60},
    # The ledger's invariants, recorded for the staff desk.
    "sla-ledger-check-nightly": {"task": "sla.ledger_check", "schedule": 24 * 60 * 60},
    # Every kind of notice (SLA thresholds after the transitions, FIPS status,
    # sunset and swap alerts) in one run; overlapping runs send each once.
    "notices-run": {"task": "notifications.run", "schedule": 5 * 60},
    # Reports whose task was lost or whose worker died (lease ran out).
    "reports-requeue-stale": {"task": "reports.requeue_stale", "schedule": 5 * 60},
    # Article 14 cases for KEV-listed vulnerabilities now affecting a build.
    "cra-cases-open": {"task": "cra.cases_open", "schedule": 5 * 60},
    # Pull log rows and registry events past their retention.
    "registry-prune-nightly": {"task": "registry.prune", "schedule": 24 * 60 * 60},
}
# How long a report worker holds a report before another may take it over.
REPORT_LEASE_SECONDS = env.int("REPORT_LEASE_SECONDS", default=900)
# An evidence bundle larger than this is refused with a clear error.
REPORT_BUNDLE_MAX_BYTES = env.int("REPORT_BUNDLE_MAX_BYTES", default=2 * 1024**3)

_cache_url = env.str("CACHE_URL", default="")
if not _cache_url and CELERY_BROKER_URL.startswith("redis"):
    _cache_url = CELERY_BROKER_URL
CACHES = {
    "default": env.cache_url_config(_cache_url)
    if _cache_url
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "apps.core.cache.RedisCache"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Portal] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if _HTTPS else "http"
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
}
ACCOUNT_FORMS = {"signup": "apps.accounts.forms.SignupForm"}
SOCIALACCOUNT_ADAPTER = "apps.accounts.adapter.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = SITE_NAME
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEV_MODE
USERSESSIONS_TRACK_ACTIVITY = True

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Public catalog API answers that are the same for everyone (repositories,
# series) are cached this long, and dropped at once when the catalog changes.
API_CATALOG_CACHE_SECONDS = env.int("API_CATALOG_CACHE_SECONDS", default=300)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiTokenAuthentication"
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bodies through the input guard: JSON by the one bounded decoder (depth,
    # number length), and no NUL in any field.
    "DEFAULT_PARSER_CLASSES": [
        "apps.api.parsers.BoundedJSONParser",
        "apps.api.parsers.GuardedFormParser",
        "apps.api.parsers.GuardedMultiPartParser",
    ],
    # A service's ValidationError is the caller's mistake: 400, never 500.
    "EXCEPTION_HANDLER": "apps.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["apps.api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "token": env.str("API_THROTTLE_RATE", default="600/min")
    },
    "UNAUTHENTICATED_USER": None,
    # Anonymous callers (the public catalog) are throttled by address: the
    # socket's, or the one the proxy in front appended; never an address the
    # client wrote into X-Forwarded-For itself.
    "NUM_PROXIES": 1 if env.bool("USE_X_FORWARDED_PROTO", default=False) else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hardened Images Compliance Portal API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents REST framework's refusals (apps/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.api.schema.add_error_responses",
    ],
    # Several models have a "status" (and a severity twice): name each set.
    "ENUM_NAME_OVERRIDES": {
        "SeriesStatusEnum": "apps.catalog.models.Series.Status",
        "FindingStatusEnum": "apps.vulns.models.Finding.Status",
        "SeverityEnum": "apps.vulns.models.Severity",
        "SlaClockStateEnum": "apps.sla.models.SlaClock.State",
        "SlaWaiverStateEnum": "apps.sla.models.SlaWaiver.State",
        "CryptoModuleStatusEnum": "apps.fips.models.CryptoModule.Status",
        "AssessmentStateEnum": (
            "apps.api.catalog_serializers.assessment.ASSESSMENT_STATES"
        ),
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "media"))
MEDIA_URL = "media/"
# Uploaded evidence and generated reports: an S3-compatible bucket when one is
# named (AWS S3, MinIO, Ceph...), else files under MEDIA_ROOT.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            # Path-style URLs for MinIO and most S3-compatible servers.
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="path"),
            "location": env.str("AWS_S3_LOCATION", default=""),
            # Private objects, served through the portal or short-lived signed URLs.
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security. Production defaults pass `manage.py check --deploy` with no warnings;
# PORTAL_INSECURE_HTTP (above) relaxes the HTTPS-only ones.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_HTTPS)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_HTTPS)
SILENCED_SYSTEM_CHECKS = (
    ["security.W008", "security.W012", "security.W016"] if INSECURE_HTTP else []
)
SECURE_HSTS_SECONDS = env.int(
    "SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Probes, and the registry posting its events to the web service inside the
# cluster (plain HTTP on the pod network, authenticated by its secret).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^registry/notifications$"]
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        # Checkout and the Billing Portal are reached by a redirect from a form
        # post, which form-action also governs.
        "form-action": [
            SELF,
            "https://checkout.stripe.com",
            "https://billing.stripe.com",
            *env.list("CSP_FORM_ACTION_EXTRA", default=[]),
        ],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# Outbound HTTP (apps/core/outbound.py): webhooks and SSO providers are reached
# over https at public addresses only. Development also reaches loopback over
# plain http (a local identity provider or webhook receiver); production does
# only what these name, and check --deploy says so (core.I002, core.I003).
OUTBOUND_ALLOW_HTTP = env.bool("OUTBOUND_ALLOW_HTTP", default=DEV_MODE)
OUTBOUND_ALLOW_NETWORKS = env.list(
    "OUTBOUND_ALLOW_NETWORKS", default=["127.0.0.0/8", "::1/128"] if DEV_MODE else []
)
OUTBOUND_CA_BUNDLE = env.str("OUTBOUND_CA_BUNDLE", default="")

# Domain settings.
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)
API_TOKEN_LAST_USED_RESOLUTION_SECONDS = 60
EVIDENCE_MAX_BYTES = env.int("EVIDENCE_MAX_BYTES", default=50 * 1024 * 1024)
# Signatures on evidence: which verdicts an import refuses (the others are
# stored with their verdict shown), and the Sigstore trusted root keyless
# signatures and transparency-log entries are checked against, offline.
EVIDENCE_SIGNATURE_REFUSE = env.list("EVIDENCE_SIGNATURE_REFUSE", default=["invalid"])
_SIGNATURE_VERDICTS = {"unverified", "invalid", "untrusted"}
if not set(EVIDENCE_SIGNATURE_REFUSE) <= _SIGNATURE_VERDICTS:
    raise ImproperlyConfigured(
        "EVIDENCE_SIGNATURE_REFUSE names verdicts among "
        f"{', '.join(sorted(_SIGNATURE_VERDICTS))}; got "
        f"{', '.join(EVIDENCE_SIGNATURE_REFUSE)}."
    )
SIGSTORE_TRUSTED_ROOT_FILE = env.str(
    "SIGSTORE_TRUSTED_ROOT_FILE",
    default=str(BASE_DIR / "apps" / "catalog" / "trust" / "sigstore-public-good.json"),
)

# Report signing. With a key file the portal signs with it (production needs
# one); without, development generates a key and a self-signed certificate on
# first use and keeps them in REPORT_SIGNING_DIR.
REPORT_SIGNING_KEY_FILE = env.str("REPORT_SIGNING_KEY_FILE", default="")
REPORT_SIGNING_CERT_FILE = env.str("REPORT_SIGNING_CERT_FILE", default="")
REPORT_SIGNING_KEY_PASSPHRASE = env.str("REPORT_SIGNING_KEY_PASSPHRASE", default="")
REPORT_SIGNING_DIR = env.path(
    "REPORT_SIGNING_DIR", default=str(BASE_DIR / "var" / "signing")
)
# Uploads and hash look-ups on the public verify page, per client address.
REPORT_VERIFY_RATE = env.str("REPORT_VERIFY_RATE", default="30/min")

# The registry token service (apps/registry). REGISTRY_SERVICE names the
# registry (its auth.token.service); empty in production turns the service off.
# Tokens are signed with REGISTRY_TOKEN_KEY_FILE (P-256) and its certificate;
# development generates both on first use in REGISTRY_TOKEN_DIR.
REGISTRY_SERVICE = env.str(
    "REGISTRY_SERVICE", default="portal-registry" if DEV_MODE else ""
)
REGISTRY_PUBLIC_HOST = env.str(
    "REGISTRY_PUBLIC_HOST", default="localhost:5000" if DEV_MODE else ""
)
REGISTRY_TOKEN_ISSUER = env.str(
    "REGISTRY_TOKEN_ISSUER", default="portal-dev" if DEV_MODE else ""
)
REGISTRY_TOKEN_TTL_SECONDS = env.int("REGISTRY_TOKEN_TTL_SECONDS", default=300)
REGISTRY_TOKEN_KEY_FILE = env.str("REGISTRY_TOKEN_KEY_FILE", default="")
REGISTRY_TOKEN_CERT_FILE = env.str("REGISTRY_TOKEN_CERT_FILE", default="")
REGISTRY_TOKEN_DIR = env.path(
    "REGISTRY_TOKEN_DIR", default=str(BASE_DIR / "var" / "registry-token")
)
# The registry posts pull and push events to /registry/notifications with
# this secret as a Bearer token (its notifications.endpoints[].headers).
REGISTRY_NOTIFICATIONS_SECRET = env.str(
    "REGISTRY_NOTIFICATIONS_SECRET",
    default="dev-registry-notifications" if DEV_MODE else "",
)
# Days the pull log and registry events are kept: an organization's (the
# reports look back a year), and anonymous ones (free images, anyone).
REGISTRY_LOG_DAYS = env.int("REGISTRY_LOG_DAYS", default=400)
REGISTRY_ANONYMOUS_LOG_DAYS = env.int("REGISTRY_ANONYMOUS_LOG_DAYS", default=30)

# EU CRA Article 14: the manufacturer named in the reports' field packs.
CRA_MANUFACTURER_NAME = env.str("CRA_MANUFACTURER_NAME", default=SITE_NAME)

# /metrics answers a bearer token or a caller from these networks, else 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_CIDRS = env.list("METRICS_ALLOWED_CIDRS", default=[])
# Celery workers serve their own metrics on this port (0: not at all).
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)

# Stripe. Without a secret key the portal runs and says billing is not
# configured; staff still grant contracts.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# A past_due subscription keeps its entitlements this long, then they end.
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)

# JSON lines in production (one object per record, with the request id), plain
# lines in development; LOG_FORMAT overrides either.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        },
        "json": {"()": "apps.core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One INFO line per API call otherwise.
        "stripe": {"level": "WARNING"},
        # The public verify page checks files signed by anyone: an untrusted
        # signature is an answer there, not a warning with a traceback.
        "pyhanko": {"level": "ERROR"},
        "pyhanko_certvalidator": {"level": "ERROR"},
        # WeasyPrint logs a line per laid-out page at INFO.
        "weasyprint": {"level": "WARNING"},
    },
}
