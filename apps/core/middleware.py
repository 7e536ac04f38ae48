"""Request ids and request metrics (outermost in MIDDLEWARE), the input guard
and the MFA enrolment gate."""

from __future__ import annotations

import re
import time
import uuid

from django.http import HttpResponseBadRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.html import format_html

from .inputs import control_character, printable
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


MFA_REQUIRED_GROUP = "mfa-required"
# Set at sign-in for a member of MFA_REQUIRED_GROUP, so other requests cost no
# query; dropped once the person has a second factor.
MFA_ENROLMENT_SESSION_KEY = "core_mfa_enrolment_required"


def mfa_enrolment_mark(*, request, user) -> None:
    """At sign-in (the ``user_logged_in`` signal): remember in the session that
    this person must enrol a second factor before anything else."""
    from .mixins import user_has_mfa

    session = getattr(request, "session", None)
    if session is None:
        return
    if user.groups.filter(name=MFA_REQUIRED_GROUP).exists() and not user_has_mfa(user):
        session[MFA_ENROLMENT_SESSION_KEY] = True


class MfaEnrolmentMiddleware:
    """A signed-in member of the ``mfa-required`` group (the first staff admin,
    made by ``manage.py create_staff_admin``) without a second factor is sent
    to set up TOTP before anything else; sign-out, re-authentication and the
    MFA pages stay open."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get(MFA_ENROLMENT_SESSION_KEY):
            from django.shortcuts import redirect
            from django.urls import reverse

            from .mixins import user_has_mfa

            user = request.user
            if not user.is_authenticated or user_has_mfa(user):
                session.pop(MFA_ENROLMENT_SESSION_KEY, None)
            else:
                open_paths = (
                    reverse("mfa_index"),
                    reverse("account_logout"),
                    reverse("account_reauthenticate"),
                )
                if not request.path.startswith(open_paths):
                    return redirect("mfa_activate_totp")
        return self.get_response(request)


class InputGuardMiddleware:
    """A path or query string holding NUL or another control character is
    refused with 400 naming the parameter, before any view reads it: in the
    API's JSON shape under ``/api/``, as a plain page elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = _path_problem(request.path_info) or _query_problem(request)
        if problem is None:
            return self.get_response(request)
        name, char, subject = problem
        code = f"U+{ord(char):04X}"
        if request.path_info.startswith("/api/"):
            message = f"Contains a control character ({code}); remove it."
            return JsonResponse({name: [message]}, status=400)
        return HttpResponseBadRequest(
            format_html(
                '<!doctype html><html lang="en"><head><title>Bad request (400)'
                "</title></head><body><h1>Bad request (400)</h1><p>{} contains "
                "a control character ({}); remove it and try again.</p></body>"
                "</html>",
                subject,
                code,
            )
        )


def _path_problem(path: str) -> tuple[str, str, str] | None:
    """(name, character, subject) when the path holds a control character,
    naming the URL pattern's parameter that holds it where there is one."""
    char = control_character(path)
    if char is None:
        return None
    try:
        kwargs = resolve(path).kwargs
    except Resolver404:
        kwargs = {}
    for key, value in kwargs.items():
        if isinstance(value, str) and control_character(value):
            return key, char, f"The path parameter \u201c{key}\u201d"
    return "path", char, "The path"


def _query_problem(request) -> tuple[str, str, str] | None:
    for key, values in request.GET.lists():
        for text in (key, *values):
            char = control_character(text)
            if char is not None:
                name = printable(key)
                return name, char, f"The query parameter \u201c{name}\u201d"
    return None
