"""The tenancy route walker's vocabulary (the walk itself is tests/test_tenancy.py).

``discover_routes`` walks the project's URL resolver and returns every URL
pattern with its full route string, namespaced name and the URLconf modules it
was included through, so a test can demand a spec for each one.

The specs live beside each app's tests, in ``tests/<app>/tenancy_specs.py``: a
module-level ``SPECS`` list of ``OrgRoute`` (pages under ``/o/<org_slug>/``),
``SiteRoute`` (signed-in pages outside an organization, and public ones) and
``ApiRoute`` (``/api/v1/``). ``gather_specs`` collects them all. Specs name
routes by URL name, so a view moving between apps keeps its spec working; a
new view's spec goes next to its app's tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone


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


# --------------------------------------------------------------------------
# The specs: what each principal may do on each route.
# --------------------------------------------------------------------------

SPEC_MODULE = "tenancy_specs"


def gather_specs() -> list:
    """Every ``SPECS`` of every ``tests/<app>/tenancy_specs.py``."""
    specs: list = []
    for path in sorted(Path(__file__).parent.glob(f"*/{SPEC_MODULE}.py")):
        module = importlib.import_module(f"tests.{path.parent.name}.{SPEC_MODULE}")
        specs.extend(module.SPECS)
    return specs


@dataclass
class World:
    """A victim organization with one of everything, another tenant with the
    same, and one person for each principal (built by tests/test_tenancy.py)."""

    org: Any  # Organization
    other_org: Any  # Organization
    users: dict  # principal -> User
    refs: dict  # the victim's slug and object ids, by name
    other_refs: dict  # the other tenant's, by the same names
    memberships: dict  # role -> the victim's Membership of that principal


@dataclass
class Outcome:
    world: World
    principal: str
    before: dict
    after: dict
    response: Any

    @property
    def user(self):
        return self.world.users.get(self.principal)

    def new_events(self, action: str) -> list:
        from apps.audit.models import AuditEvent

        new = set(self.after["events"]) - set(self.before["events"])
        return list(AuditEvent.objects.filter(id__in=new, action=action))


Effect = Callable[[Outcome], None]
Location = Callable[[World], str]
LOGIN = "login"


@dataclass(frozen=True)
class Expect:
    status: int
    location: Location | str | None = None  # LOGIN, or the exact URL
    effect: Effect | None = None  # None: nothing may change
    contains: tuple[str, ...] = ()
    # May the answer mention the victim org to someone outside it? (Those in
    # it, VICTIM_SIDE, may always see it.)
    shows_victim: bool = False


OWNER, ADMIN, MEMBER, BILLING = "owner", "admin", "member", "billing"
AUDITOR = "auditor"
ROLES = (OWNER, ADMIN, MEMBER, BILLING)
NOT_IN_ORG = ("outsider", "outsider_own", "stranger", "staff")
WEB_PRINCIPALS = ("anonymous", *ROLES, AUDITOR, *NOT_IN_ORG)
# Principals that belong to the victim org (its people, its tokens).
VICTIM_SIDE = frozenset({*ROLES, AUDITOR, "session", "wrong_scope", "right_scope"})
MANAGERS = frozenset({OWNER, ADMIN})
BILLERS = frozenset({OWNER, ADMIN, BILLING})


def url(name: str, **kwargs) -> Location:
    """A location in the victim org (``org_slug`` is filled in)."""

    def build(w: World) -> str:
        return reverse(name, kwargs={"org_slug": w.org.slug, **kwargs})

    return build


def future(days: int = 30) -> str:
    """A datetime-local form value ``days`` from now."""
    return (timezone.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def no_body(refs: dict) -> dict:
    return {}


# Organization pages: /o/<org_slug>/...


@dataclass(frozen=True)
class Post:
    allow: frozenset[str]
    data: Callable[[dict], dict] = no_body
    status: int = 302
    location: Location | None = None
    effect: Effect | None = None


@dataclass(frozen=True)
class OrgRoute:
    name: str
    kwargs: dict[str, str] = field(default_factory=lambda: {"org_slug": "org_slug"})
    get: frozenset[str] | None = None  # who gets 200; None: GET is not served
    post: Post | None = None  # None: POST is not served
    # Exceptions to the rules in ``expect``, by (principal, method).
    overrides: dict[tuple[str, str], Expect] = field(default_factory=dict)
    # refs the POST body names: object ids an outsider could smuggle in
    body_refs: tuple[str, ...] = ()
    # The query string every request carries: a parameter that changes what
    # the route answers gets a spec of its own.
    query: tuple[tuple[str, str], ...] = ()

    @property
    def has_object_refs(self) -> bool:
        return any(k != "org_slug" for k in self.kwargs) or bool(self.body_refs)

    def principals(self, method: str):
        for p in WEB_PRINCIPALS:
            # Their own organization with the victim's objects: only where a
            # served method acts on an object id.
            if p == "outsider_own" and not (method == "POST" and self.has_object_refs):
                continue
            yield p

    def expect(self, principal: str, method: str) -> Expect:
        if principal == "anonymous":
            return Expect(302, LOGIN)
        if principal in NOT_IN_ORG:
            # Another tenant's organization, or another tenant's object in
            # one's own organization: not found, never forbidden.
            return Expect(404)
        if (principal, method) in self.overrides:
            return self.overrides[principal, method]
        if method == "GET":
            if self.get is None:  # POST-only: whoever the guard lets in gets 405
                assert self.post is not None, self.name
                return Expect(405 if principal in self.post.allow else 403)
            return Expect(200 if principal in self.get else 403)
        if self.post is None:  # GET-only
            assert self.get is not None, self.name
            return Expect(405 if principal in self.get else 403)
        if principal in self.post.allow:
            return Expect(
                self.post.status,
                self.post.location,
                self.post.effect,
            )
        return Expect(403)


# Signed-in pages outside any organization, and public ones.

SITE_PRINCIPALS = ("anonymous", OWNER, MEMBER, AUDITOR, "outsider", "stranger", "staff")


@dataclass(frozen=True)
class SiteRoute:
    name: str
    get: Callable[[str], Expect]
    post: Callable[[str], Expect]
    kwargs: dict[str, str] = field(default_factory=dict)
    principals: tuple[str, ...] = SITE_PRINCIPALS
    requires_login: bool = True
    data: Callable[[dict], dict] = no_body  # the POST body, from the refs
    query: tuple[tuple[str, str], ...] = ()  # as OrgRoute.query

    def expect(self, principal: str, method: str) -> Expect:
        if principal == "anonymous" and self.requires_login:
            return Expect(302, LOGIN)
        return (self.get if method == "GET" else self.post)(principal)


def public_page(route_name: str, **kwargs) -> SiteRoute:
    """A public page: anyone reads it; it takes no POST."""
    return SiteRoute(
        route_name,
        kwargs=kwargs,
        get=lambda p: Expect(200),
        post=lambda p: Expect(405),
        requires_login=False,
    )


def staff_only(p: str, expect: Expect) -> Expect:
    return expect if p == "staff" else Expect(403)


# The API: /api/v1/, token-scoped.

API_PRINCIPALS = (
    "anonymous",  # no Authorization header
    "session",  # a signed-in owner's browser session, no token
    "other_token",  # another org's token with every scope
    "wrong_scope",  # the victim's token with every scope but the one needed
    "right_scope",  # the victim's token with exactly the scope needed
)


@dataclass(frozen=True)
class ApiOp:
    scope: str
    status: int = 200
    # The answer is a file, not JSON.
    binary: bool = False
    data: Callable[[dict], dict] | None = None
    effect: Effect | None = None
    # What another org's token gets: "detail" -> 404, "list" -> only its own
    # rows, "current" -> its own org, "create" -> created in its own org,
    # "figures" -> figures of its own org, "digests" -> only digests its own
    # org pulled (rows without ids), "document" -> a document whose records
    # (``rows(payload)``) are all among its own org's (``rows(org)``).
    other: str = "detail"
    # For "create": what the other org's token made (default: an auditor grant);
    # otherwise what its request may change (default: nothing).
    other_effect: Effect | None = None


@dataclass(frozen=True)
class ApiRoute:
    name: str
    kwargs: dict[str, str] = field(default_factory=dict)
    get: ApiOp | None = None
    post: ApiOp | None = None
    rows: Callable[[Any], set] | None = None  # list routes: the org's row ids
    formats: tuple[str | None, ...] = (None, "json")
    public: bool = False
    query: tuple[tuple[str, str], ...] = ()  # as OrgRoute.query

    def principals(self, method: str):
        if self.public:
            return ("anonymous", "session", "right_scope")
        if (self.get if method == "GET" else self.post) is None:
            return ("anonymous", "session", "all_scopes")
        return API_PRINCIPALS

    def op(self, method: str) -> ApiOp | None:
        return self.get if method == "GET" else self.post


def spec_label(spec, suffix: str = "") -> str:
    """A spec's name (and format ``suffix``), with its query string when it
    has one: what tells two specs of one route apart."""
    if not spec.query:
        return spec.name + suffix
    return f"{spec.name}{suffix}?" + "&".join(f"{k}={v}" for k, v in spec.query)


def ids(model) -> Callable[[Any], set]:
    """A list route's rows for an org: the ids of ``model`` it owns."""
    return lambda org: set(model.objects.for_org(org).values_list("id", flat=True))


def public_api(basename: str, lookup: dict[str, str]) -> list[ApiRoute]:
    """A public catalog resource: its list and detail, read by anyone (GET
    200, POST 405), token or not."""
    return [
        ApiRoute(f"api:{basename}-list", public=True),
        ApiRoute(f"api:{basename}-detail", kwargs=lookup, public=True),
    ]
