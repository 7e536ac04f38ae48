"""One entitlement cache per request: every check on a page, one query per org."""

from .selectors import entitlement_cache


class EntitlementCacheMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with entitlement_cache():
            return self.get_response(request)
