"""The one place a web request is tied to an organization and checked."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect

from apps.core.forms import apply_validation_error

from .models import Organization
from .permissions import ROLE_PERMISSIONS, Perm
from .selectors import org_access_get, org_mfa_unmet


class OrgMixin(LoginRequiredMixin):
    """Resolve ``org_slug``, require access with ``permission``, enforce org MFA.

    Another tenant's organization is a 404, never a 403: its existence is not
    ours to confirm. Inside an organization, a role without the permission is a
    403.
    """

    # None admits anyone with access, auditors included; the view then decides.
    permission: Perm | None = Perm.ORG_VIEW

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        org = get_object_or_404(Organization, slug=kwargs["org_slug"])
        access = org_access_get(user=request.user, org=org)
        if access is None:
            raise Http404("No such organization.")
        if org_mfa_unmet(org=org, user=request.user):
            messages.warning(
                request,
                f"{org.name} requires two-factor authentication. "
                "Set it up to continue.",
            )
            return redirect("mfa_activate_totp")
        if self.permission is not None and not access.can(self.permission):
            raise PermissionDenied("Your role does not allow this.")
        self.org = org
        self.access = access
        if request.session.get("last_org") != org.slug:
            request.session["last_org"] = org.slug
        return super().dispatch(request, *args, **kwargs)

    def scoped(self, queryset):
        """This organization's rows of a tenant-owned model, for object lookups."""
        return queryset.for_org(self.org)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["org"] = self.org
        context["access"] = self.access
        context["org_perms"] = {str(p) for p in ROLE_PERMISSIONS[self.access.role]}
        return context


class OrgServiceFormMixin:
    """POST a form to one service: its errors land on the form (400), success
    redirects back to ``success_url_name`` with a message. Views name the form
    and implement ``perform(form)``, which calls the service and returns the
    message."""

    form_class: type
    success_url_name: str
    # Pages everyone in the org reads but fewer may change name the stricter
    # permission here.
    post_permission: Perm | None = None

    def perform(self, form) -> str:
        raise NotImplementedError

    def post(self, request, *args, **kwargs):
        if self.post_permission is not None and not self.access.can(
            self.post_permission
        ):
            return self.handle_no_permission()
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                message = self.perform(form)
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, message)
                return redirect(self.success_url_name, org_slug=self.org.slug)
        return self.render_to_response(self.get_context_data(form=form), status=400)
