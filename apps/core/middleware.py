"""Request ids and request metrics, outermost in MIDDLEWARE."""

from __future__ import annotations

import re
import time
import uuid

from .logging import request_id_var
from .metrics import request_observe

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept only when it is short and plain: it goes into every log
# line, so a client must not be able to write anything else there.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class RequestIdMiddleware:
    """Takes the proxy's X-Request-ID (or makes one), puts it on every log
    record of the request and on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        # Kept until request_finished (apps.core.apps), not reset on the way
        # out: Django logs a 5xx after the middleware has returned.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


class MetricsMiddleware:
    """Counts each request and times it, labelled by the route's name (a
    bounded set), never the raw path."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        request_observe(
            method=request.method,
            route=(match.view_name or "unnamed") if match else "unmatched",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response
