import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """The process is up and serving; nothing else is checked."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    # The project's Celery app (portal/__init__.py loads it at start).
    from celery import current_app as app

    try:
        with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@never_cache
@require_GET
def readyz(request):
    """Ready to take traffic: the database answers, and the broker if one is set."""
    checks = {"database": _check_database()}
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        checks["broker"] = _check_broker()
    failed = {name: err for name, err in checks.items() if err}
    for name, err in failed.items():
        logger.warning("readiness check %s failed: %s", name, err)
    body = {
        "status": "unavailable" if failed else "ok",
        "checks": {name: ("fail" if err else "ok") for name, err in checks.items()},
    }
    return JsonResponse(body, status=503 if failed else 200)


def page_not_found(request, exception):
    """404 for a path no route matches: the API's JSON shape under /api/
    (a client parsing JSON gets JSON, as from every API view), Django's
    page elsewhere."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    from django.views import defaults

    return defaults.page_not_found(request, exception)
