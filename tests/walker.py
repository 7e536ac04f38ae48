"""Helpers for the tenancy route walker (tests/test_tenancy.py).

``discover_routes`` walks the project's URL resolver and returns every URL
pattern with its full route string, namespaced name and the URLconf modules it
was included through, so a test can demand a spec for each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Route:
    route: str  # full route, e.g. "o/<slug:org_slug>/members/<int:pk>/remove/"
    name: str | None  # namespaced, e.g. "orgs:member_remove"; None if unnamed
    namespace: str  # e.g. "orgs", "api", "admin"; "" at the root
    includes: tuple[str, ...]  # URLconf modules included on the way here
    lookup: str  # dotted path of the view callable

    def __str__(self) -> str:
        return f"{self.name or '<unnamed>'} [{self.route}] ({self.lookup})"


def _module_name(urlconf) -> str | None:
    if isinstance(urlconf, str):
        return urlconf
    return getattr(urlconf, "__name__", None)  # a module; None for pattern lists


def _join_route(prefix: str, route: str) -> str:
    # The same joining ResolverMatch.route uses, so a walked route and
    # ``resolve(path).route`` compare equal.
    if not prefix:
        return route
    return prefix + route.removeprefix("^")


def discover_routes() -> list[Route]:
    """Every URL pattern reachable from ROOT_URLCONF, recursively."""
    routes: list[Route] = []

    def walk(resolver: URLResolver, prefix: str, namespace: str, includes):
        for pattern in resolver.url_patterns:
            route = _join_route(prefix, str(pattern.pattern))
            if isinstance(pattern, URLResolver):
                ns = namespace
                if pattern.namespace:
                    ns = (
                        f"{namespace}:{pattern.namespace}"
                        if namespace
                        else pattern.namespace
                    )
                module = _module_name(pattern.urlconf_name)
                walk(pattern, route, ns, includes + ((module,) if module else ()))
            elif isinstance(pattern, URLPattern):
                name = pattern.name
                if name and namespace:
                    name = f"{namespace}:{name}"
                routes.append(
                    Route(
                        route=route,
                        name=name,
                        namespace=namespace,
                        includes=includes,
                        lookup=pattern.lookup_str,
                    )
                )

    walk(get_resolver(), "", "", ())
    return routes
