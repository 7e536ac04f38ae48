"""Which registry repository path is which catalog image, and who may pull it.

The paths, as data (``SUFFIX_FEATURES``) and one resolver:

========================================  =====================================
``<repository>``                          runtime, dev and compat variants: free
``<repository>-fips``                     FIPS variants: feature ``fips``
``<repository>-stig``                     STIG variants: feature ``stig``
``<repository>-fips-stig``                FIPS and STIG: ``fips`` and ``stig``
``<repository>-els``                      series past publisher support, under
                                          extended lifecycle support: ``els``
``<org-slug>/<any path above>``           the organization's mirror of it
========================================  =====================================

``<repository>`` is a catalog ``Repository.name``. A paid path exists only
where the catalog has it: ``-fips`` when the repository has a FIPS variant
(``-stig``, ``-fips-stig`` likewise), ``-els`` when one of its series has an
``els_end``. A name that is itself a catalog repository is that repository,
never a suffix of another.

A mirror path belongs to the organization whose slug is its first component:
it exists while that organization has an active ``Mirror`` of the repository
that includes the variant (``include_fips``, ``include_stig``,
``include_els``), and is pulled by that organization alone, with the
entitlements of the path. To anyone else it does not exist (the same answer
as an unknown path).

Pulling a paid path asks ``has_feature`` (apps.entitlements) of each
organization the caller acts for, for that repository, at the moment of the
request; the rule never reads entitlement rows itself. Push (and ``delete``,
``*``) is only for publisher pipelines: an API token with ``registry:push``
whose creator is publisher staff with a second factor, asked again on every
use. Everything not granted is left out of the token (down-scoping), with the
reason recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.cache import cache

from apps.catalog.generation import catalog_generation
from apps.catalog.models import Repository, Series, Variant
from apps.entitlements.models import FeatureKey, Mirror
from apps.entitlements.selectors import has_feature
from apps.orgs.models import Organization

from .formats.scope import Scope

if TYPE_CHECKING:
    from apps.accounts.models import ApiToken, User

PULL = "pull"
PUSH_ACTIONS = frozenset({"push", "delete", "*"})

# Path suffix -> the features pulling it needs (and the Mirror flags it needs).
SUFFIX_FEATURES: dict[str, tuple[str, ...]] = {
    "": (),
    "fips": (FeatureKey.FIPS,),
    "stig": (FeatureKey.STIG,),
    "fips-stig": (FeatureKey.FIPS, FeatureKey.STIG),
    "els": (FeatureKey.ELS,),
}
_MIRROR_FLAG: dict[str, str] = {
    FeatureKey.FIPS: "include_fips",
    FeatureKey.STIG: "include_stig",
    FeatureKey.ELS: "include_els",
}


@dataclass(frozen=True)
class Target:
    """A registry path resolved to the catalog."""

    repository: Repository
    suffix: str
    mirror_org: Organization | None = None

    @property
    def features(self) -> tuple[str, ...]:
        return SUFFIX_FEATURES[self.suffix]


@dataclass(frozen=True)
class Principal:
    """Who asks: nobody, a person, or an API token (acting for its org)."""

    kind: str  # "anonymous", "user" or "token"
    orgs: tuple[Organization, ...] = ()
    user: User | None = None
    token: ApiToken | None = None
    can_push: bool = False
    account: str = ""


@dataclass(frozen=True)
class Decision:
    granted: tuple[str, ...]
    reason: str = ""
    org: Organization | None = None
    # The features whose absence refused the pull (for ``org``, or for an
    # anonymous caller), so a denial can name what would allow it.
    missing: tuple[str, ...] = ()


def _suffix_exists(repository: Repository, suffix: str) -> bool:
    if suffix == FeatureKey.ELS:
        return Series.objects.filter(
            repository=repository, els_end__isnull=False
        ).exists()
    flags = {"fips": "fips" in suffix, "stig": "stig" in suffix}
    return Variant.objects.filter(series__repository=repository, **flags).exists()


# Catalog paths resolved, kept under the catalog's generation (any write to
# repositories, series or variants makes them unused).
PATH_CACHE_SECONDS = 600
_NOT_A_PATH = "-"


def _catalog_target(path: str) -> Target | None:
    key = f"registry:path:{catalog_generation()}:{path}"
    cached = cache.get(key)
    if cached == _NOT_A_PATH:
        return None
    if cached is not None:
        return cached
    target = _catalog_target_read(path)
    # Paths that are not the catalog's are kept briefly: anyone may ask for any.
    cache.set(key, target or _NOT_A_PATH, timeout=PATH_CACHE_SECONDS if target else 60)
    return target


def _catalog_target_read(path: str) -> Target | None:
    repository = Repository.objects.filter(name=path).first()
    if repository is not None:
        return Target(repository=repository, suffix="")
    for suffix in SUFFIX_FEATURES:
        if suffix and path.endswith(f"-{suffix}"):
            base = path.removesuffix(f"-{suffix}")
            repository = Repository.objects.filter(name=base).first()
            if repository is not None and _suffix_exists(repository, suffix):
                return Target(repository=repository, suffix=suffix)
    return None


@dataclass(frozen=True)
class PullPath:
    """Where a catalog build is pulled from, and what pulling it needs."""

    path: str
    features: tuple[str, ...]

    @property
    def needs(self) -> str:
        """``FIPS entitlement``-style words for the features, or ``""``."""
        return _labels(list(self.features)) if self.features else ""


def variant_pull_path(*, variant: Variant, els: bool = False) -> PullPath:
    """The registry path of ``variant`` (the inverse of ``path_resolve`` for
    catalog paths): the repository's name, with ``-fips``, ``-stig`` or
    ``-fips-stig`` for those variants, and ``-els`` for a runtime or dev
    build of a series under extended lifecycle support only."""
    suffix = "-".join(
        flag for flag, on in (("fips", variant.fips), ("stig", variant.stig)) if on
    )
    if not suffix and els:
        suffix = FeatureKey.ELS
    base = variant.series.repository.name
    return PullPath(
        path=f"{base}-{suffix}" if suffix else base,
        features=SUFFIX_FEATURES[suffix],
    )


def path_resolve(path: str) -> Target | None:
    """The catalog image behind a registry repository path, or None."""
    namespace, slash, rest = path.partition("/")
    if not slash:
        return _catalog_target(path)
    if "/" in rest:
        return None
    org = Organization.objects.filter(slug=namespace).first()
    target = _catalog_target(rest) if org is not None else None
    if target is None:
        return None
    return Target(repository=target.repository, suffix=target.suffix, mirror_org=org)


def _mirror_holds(target: Target) -> bool:
    mirror = Mirror.objects.filter(
        org=target.mirror_org,
        repository=target.repository,
        status=Mirror.Status.ACTIVE,
    ).first()
    return mirror is not None and all(
        getattr(mirror, _MIRROR_FLAG[feature]) for feature in target.features
    )


def _missing(org: Organization, target: Target, at: datetime) -> list[str]:
    return [
        feature
        for feature in target.features
        if not has_feature(
            org=org, feature=feature, repository=target.repository, at=at
        )
    ]


def _labels(features: list[str]) -> str:
    return " and ".join(str(FeatureKey(f).label) for f in features)


def _pull(principal: Principal, target: Target, at: datetime) -> Decision:
    if principal.can_push:
        return Decision(granted=(PULL,))
    if target.mirror_org is not None:
        if target.mirror_org not in principal.orgs or not _mirror_holds(target):
            return Decision(granted=(), reason="no such repository")
        orgs: tuple[Organization, ...] = (target.mirror_org,)
    else:
        orgs = principal.orgs
    if not target.features:
        return Decision(granted=(PULL,), org=orgs[0] if orgs else None)
    if not orgs:
        return Decision(
            granted=(),
            reason=f"{_labels(list(target.features))} for "
            f"{target.repository.name} needs an entitled organization: "
            "sign in with an API token",
            missing=target.features,
        )
    reasons = []
    first_missing: list[str] = []
    for org in orgs:
        missing = _missing(org, target, at)
        if not missing:
            return Decision(granted=(PULL,), org=org)
        first_missing = first_missing or missing
        reasons.append(
            f"{org.name} is not entitled to {_labels(missing)} for "
            f"{target.repository.name}"
        )
    return Decision(
        granted=(),
        reason="; ".join(reasons),
        org=orgs[0],
        missing=tuple(first_missing),
    )


def access_decide(*, principal: Principal, scope: Scope, at: datetime) -> Decision:
    """The actions of ``scope`` the principal may have now, and why not the rest."""
    if scope.type != "repository":
        return Decision(granted=(), reason=f"{scope.type} scopes are not granted")
    target = path_resolve(scope.name)
    if target is None:
        return Decision(granted=(), reason="no such repository")
    reasons = []
    granted: list[str] = []
    missing: tuple[str, ...] = ()
    if PULL in scope.actions:
        decision = _pull(principal, target, at)
        granted += decision.granted
        reasons += [decision.reason] if decision.reason else []
        org, missing = decision.org, decision.missing
    else:
        org = target.mirror_org
    wants_push = [a for a in scope.actions if a in PUSH_ACTIONS]
    if wants_push and principal.can_push:
        granted += wants_push
    elif wants_push:
        reasons.append(
            "push is for publisher pipelines (a staff API token with registry:push)"
        )
    others = [a for a in scope.actions if a != PULL and a not in PUSH_ACTIONS]
    if others:
        reasons.append(f"unknown actions: {', '.join(others)}")
    return Decision(
        granted=tuple(granted), reason="; ".join(reasons), org=org, missing=missing
    )


@dataclass(frozen=True)
class PathAccess:
    """A repository path and whether an organization may pull it now."""

    path: str
    repository: Repository
    features: tuple[str, ...]
    missing: tuple[str, ...]
    mirror: bool = False

    @property
    def allowed(self) -> bool:
        return not self.missing

    @property
    def needs(self) -> str:
        return _labels(list(self.features)) if self.features else ""


def org_pull_paths(*, org: Organization, at: datetime) -> list[PathAccess]:
    """Every catalog path (free and paid, as ``path_resolve`` knows them)
    and the organization's mirror paths, each with the features it lacks
    for it. Four queries whatever the size of the catalog."""
    variant_flags = set(
        Variant.objects.order_by()
        .values_list("series__repository_id", "fips", "stig")
        .distinct()
    )
    els_repositories = set(
        Series.objects.filter(els_end__isnull=False)
        .order_by()
        .values_list("repository_id", flat=True)
    )
    mirrors = {
        mirror.repository_id: mirror
        for mirror in Mirror.objects.filter(org=org, status=Mirror.Status.ACTIVE)
    }
    paths: list[PathAccess] = []
    for repository in Repository.objects.order_by("is_generated", "name"):
        for suffix, features in SUFFIX_FEATURES.items():
            if suffix == FeatureKey.ELS:
                exists = repository.pk in els_repositories
            else:
                flags = (repository.pk, "fips" in suffix, "stig" in suffix)
                exists = not suffix or flags in variant_flags
            if not exists:
                continue
            path = f"{repository.name}-{suffix}" if suffix else repository.name
            missing = tuple(
                f
                for f in features
                if not has_feature(org=org, feature=f, repository=repository, at=at)
            )
            paths.append(PathAccess(path, repository, features, missing))
            mirror = mirrors.get(repository.pk)
            if mirror is not None and all(
                getattr(mirror, _MIRROR_FLAG[f]) for f in features
            ):
                paths.append(
                    PathAccess(
                        f"{org.slug}/{path}", repository, features, missing, True
                    )
                )
    return paths
