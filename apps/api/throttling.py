from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    """Requests per API token; anonymous requests per client address.

    A fixed-window counter: one atomic increment per request whatever the
    rate. (DRF's default keeps the time of every request in the window and
    reads and writes that whole list on each request: at 600/min, a list of
    600 floats per call.) A client can spend its allowance at the end of one
    window and again at the start of the next, so a burst may reach twice the
    rate over one period; the rate over any longer span holds.
    """

    scope = "token"

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        ident = f"token-{token.pk}" if token is not None else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        key = f"{self.key}:{window}"
        # The counter lives two periods, so it cannot expire while its window
        # is still counted.
        ttl = 2 * self.duration
        if hasattr(self.cache, "count"):  # the Redis cache: one round trip
            count = self.cache.count(key, ttl)
        else:
            try:
                count = self.cache.incr(key)
            except ValueError:  # the window's first request
                # add() loses to a concurrent first request.
                count = 1 if self.cache.add(key, 1, ttl) else self.cache.incr(key)
        return count <= self.num_requests

    def wait(self):
        """Seconds until the window ends (the Retry-After header)."""
        return max(0.0, self.window_end - self.now)
