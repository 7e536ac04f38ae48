"""The organization's Registry page: the images it pulled ("images you
run"), the repository paths it may pull and what the others need, its pull
tokens, and recent refusals of the token service with the plan or add-on
that would allow them."""

from django.conf import settings
from django.utils import timezone
from django.views.generic import TemplateView

from apps.accounts.models import ApiToken
from apps.accounts.selectors import api_token_list
from apps.billing.selectors import plans_granting
from apps.orgs.mixins import OrgMixin
from apps.orgs.permissions import Perm

from .mapping import org_pull_paths
from .selectors import images_run_list, pull_log_list

RECENT_DENIALS = 100
IMAGES_SHOWN = 200


def _plans_for(features, granting) -> list[str]:
    """The plans and add-ons granting every feature in ``features`` (with a
    plan that grants only some, the names of each feature's grantors)."""
    if not features:
        return []
    per_feature = [[plan.name for plan in granting.get(f, [])] for f in features]
    both = [name for name in per_feature[0] if all(name in p for p in per_feature)]
    if both:
        return both
    return [name for names in per_feature for name in names]


class RegistryView(OrgMixin, TemplateView):
    permission = Perm.AUDIT_VIEW
    template_name = "registry/overview.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        granting = plans_granting()
        denials = list(pull_log_list(org=self.org, denied_only=True)[:RECENT_DENIALS])
        for entry in denials:
            entry.allowed_by = _plans_for(entry.missing_features, granting)
        repositories: dict[int, list] = {}
        for access in org_pull_paths(org=self.org, at=now):
            repositories.setdefault(access.repository.pk, []).append(
                (access, _plans_for(access.missing, granting))
            )
        context.update(
            registry_host=settings.REGISTRY_PUBLIC_HOST,
            images=images_run_list(org=self.org)[:IMAGES_SHOWN],
            images_limit=IMAGES_SHOWN,
            repositories=list(repositories.values()),
            tokens=[
                token
                for token in api_token_list(org=self.org, active_only=True)
                if token.has_scope(ApiToken.Scope.REGISTRY_PULL)
            ],
            denials=denials,
            limit=RECENT_DENIALS,
        )
        return context
