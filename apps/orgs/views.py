from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from apps.core.forms import apply_validation_error

from . import selectors, services
from .extensions import dashboard_figures
from .forms import (
    AuditorGrantForm,
    InvitationForm,
    OrgCreateForm,
    OrgSettingsForm,
    RoleForm,
    TransferForm,
)
from .mixins import OrgMixin, OrgServiceFormMixin
from .models import AuditorGrant, Invitation, Membership, Role
from .permissions import ASSIGNABLE_ROLES, Perm


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


class HomeView(LoginRequiredMixin, View):
    """Send a person to the organization they used last, or to the list."""

    def get(self, request):
        memberships = selectors.user_memberships(user=request.user)
        last = request.session.get("last_org")
        if last and memberships.filter(org__slug=last).exists():
            return redirect("orgs:dashboard", org_slug=last)
        first_two = list(memberships[:2])
        if len(first_two) == 1:
            return redirect(first_two[0].org)
        return redirect("org_list")


class OrgListView(LoginRequiredMixin, TemplateView):
    template_name = "orgs/org_list.html"

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "memberships": selectors.user_memberships(user=self.request.user),
            "grants": selectors.user_auditor_grants(user=self.request.user),
            "form": kwargs.get("form") or OrgCreateForm(),
        }

    def post(self, request):
        form = OrgCreateForm(request.POST)
        if form.is_valid():
            try:
                org = services.org_create(
                    name=form.cleaned_data["name"], owner=request.user, request=request
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, f"Created {org.name}.")
                return redirect(org)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class AuditorHomeView(LoginRequiredMixin, TemplateView):
    """What an auditor sees: the organizations whose evidence they may read."""

    template_name = "orgs/auditor_home.html"

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "grants": selectors.user_auditor_grants(user=self.request.user),
        }


class DashboardView(OrgMixin, TemplateView):
    permission = None
    template_name = "orgs/dashboard.html"

    def get(self, request, *args, **kwargs):
        if self.access.is_auditor:
            return redirect("orgs:evidence", org_slug=self.org.slug)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["member_count"] = selectors.member_list(org=self.org).count()
        if self.access.can(Perm.MEMBERS_MANAGE):
            context["pending_invitations"] = selectors.invitation_pending_list(
                org=self.org
            ).count()
        for figure in dashboard_figures():
            if self.access.can(figure.permission):
                context[figure.key] = figure.count(self.org)
        if self.access.can(Perm.AUDITORS_MANAGE):
            context["auditor_grants"] = (
                selectors.auditor_grant_list(org=self.org).live().count()
            )
        return context


class EvidenceView(OrgMixin, TemplateView):
    """The auditor's landing page for one organization."""

    permission = Perm.EVIDENCE_VIEW
    template_name = "orgs/evidence.html"


class MembersView(OrgMixin, TemplateView):
    permission = Perm.MEMBERS_VIEW
    template_name = "orgs/members.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        manage = self.access.can(Perm.MEMBERS_MANAGE)
        context.update(
            memberships=selectors.member_list(org=self.org),
            can_manage=manage,
            assignable=sorted(ASSIGNABLE_ROLES.get(self.access.role, ())),
            roles=Role.choices,
            invite_form=kwargs.get("invite_form") or InvitationForm(),
            invitations=selectors.invitation_pending_list(org=self.org)
            if manage
            else [],
        )
        return context

    def post(self, request, *args, **kwargs):
        """Invite someone; only roles that manage members may."""
        if not self.access.can(Perm.MEMBERS_MANAGE):
            raise PermissionDenied("Your role cannot invite members.")
        form = InvitationForm(request.POST)
        if form.is_valid():
            try:
                invitation, _ = services.invitation_create(
                    org=self.org,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    actor_membership=self.access.membership,
                    request=request,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("orgs:members", org_slug=self.org.slug)
        return self.render_to_response(
            self.get_context_data(invite_form=form), status=400
        )


class InvitationRevokeView(OrgMixin, View):
    permission = Perm.MEMBERS_MANAGE

    def post(self, request, org_slug, pk):
        invitation = get_object_or_404(self.scoped(Invitation.objects), pk=pk)
        try:
            services.invitation_revoke(
                invitation=invitation, actor=request.user, request=request
            )
            messages.success(request, f"Invitation for {invitation.email} withdrawn.")
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect("orgs:members", org_slug=self.org.slug)


class MemberRoleView(OrgMixin, View):
    permission = Perm.MEMBERS_MANAGE

    def post(self, request, org_slug, pk):
        membership = get_object_or_404(
            self.scoped(Membership.objects).select_related("user", "org"), pk=pk
        )
        form = RoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose one of the listed roles.")
            return redirect("orgs:members", org_slug=self.org.slug)
        try:
            services.membership_change_role(
                membership=membership,
                role=form.cleaned_data["role"],
                actor_membership=self.access.membership,
                request=request,
            )
            messages.success(
                request,
                f"{membership.user.email} is now {membership.get_role_display()}.",
            )
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect("orgs:members", org_slug=self.org.slug)


class MemberRemoveView(OrgMixin, View):
    permission = Perm.MEMBERS_MANAGE

    def post(self, request, org_slug, pk):
        membership = get_object_or_404(
            self.scoped(Membership.objects).select_related("user", "org"), pk=pk
        )
        if membership.user_id == request.user.pk:
            messages.error(request, "Use Leave organization to remove yourself.")
            return redirect("orgs:members", org_slug=self.org.slug)
        try:
            services.membership_remove(
                membership=membership,
                actor_membership=self.access.membership,
                request=request,
            )
            messages.success(request, f"Removed {membership.user.email}.")
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect("orgs:members", org_slug=self.org.slug)


class LeaveView(OrgMixin, TemplateView):
    template_name = "orgs/leave.html"

    def post(self, request, *args, **kwargs):
        if self.access.membership is None:
            raise Http404("Auditors hold a grant, not a membership.")
        try:
            services.membership_leave(
                membership=self.access.membership, request=request
            )
        except ValidationError as exc:
            messages.error(request, _errors(exc))
            return redirect("orgs:leave", org_slug=self.org.slug)
        request.session.pop("last_org", None)
        messages.success(request, f"You left {self.org.name}.")
        return redirect("org_list")


class TransferView(OrgMixin, TemplateView):
    permission = Perm.ORG_TRANSFER
    template_name = "orgs/transfer.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["candidates"] = selectors.member_list(org=self.org).exclude(
            pk=self.access.membership.pk
        )
        context["form"] = kwargs.get("form") or TransferForm()
        return context

    def post(self, request, *args, **kwargs):
        form = TransferForm(request.POST)
        if form.is_valid():
            target = get_object_or_404(
                self.scoped(Membership.objects).select_related("user"),
                pk=form.cleaned_data["membership_id"],
            )
            try:
                services.org_transfer_ownership(
                    from_membership=self.access.membership,
                    to_membership=target,
                    request=request,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request, f"{target.user.email} now owns {self.org.name}."
                )
                return redirect("orgs:members", org_slug=self.org.slug)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class SettingsView(OrgServiceFormMixin, OrgMixin, TemplateView):
    permission = Perm.ORG_MANAGE
    template_name = "orgs/settings.html"
    form_class = OrgSettingsForm
    success_url_name = "orgs:settings"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = kwargs.get("form") or OrgSettingsForm(
            initial={"name": self.org.name, "require_mfa": self.org.require_mfa}
        )
        return context

    def perform(self, form) -> str:
        services.org_update(
            org=self.org,
            actor=self.request.user,
            request=self.request,
            **form.cleaned_data,
        )
        return "Settings saved."


class AuditorsView(OrgServiceFormMixin, OrgMixin, TemplateView):
    permission = Perm.AUDITORS_MANAGE
    template_name = "orgs/auditors.html"
    form_class = AuditorGrantForm
    success_url_name = "orgs:auditors"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["grants"] = selectors.auditor_grant_list(org=self.org)
        context["form"] = kwargs.get("form") or AuditorGrantForm()
        return context

    def perform(self, form) -> str:
        grant = services.auditor_grant_create(
            org=self.org,
            actor=self.request.user,
            request=self.request,
            **form.cleaned_data,
        )
        return f"Auditor access granted to {grant.email}."


class AuditorRevokeView(OrgMixin, View):
    permission = Perm.AUDITORS_MANAGE

    def post(self, request, org_slug, pk):
        grant = get_object_or_404(self.scoped(AuditorGrant.objects), pk=pk)
        try:
            services.auditor_grant_revoke(
                grant=grant, actor=request.user, request=request
            )
            messages.success(request, f"Auditor access for {grant.email} revoked.")
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect("orgs:auditors", org_slug=self.org.slug)


class InvitationAcceptView(LoginRequiredMixin, TemplateView):
    """Show an invitation and accept it; the token in the URL is the secret."""

    template_name = "orgs/invitation_accept.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["invitation"] = services.invitation_get_by_token(
            raw_token=self.kwargs["token"]
        )
        return context

    def post(self, request, token):
        try:
            membership = services.invitation_accept(
                raw_token=token, user=request.user, request=request
            )
        except ValidationError as exc:
            context = self.get_context_data()
            context["error"] = _errors(exc)
            return self.render_to_response(context, status=400)
        messages.success(request, f"Welcome to {membership.org.name}.")
        return redirect(
            reverse("orgs:dashboard", kwargs={"org_slug": membership.org.slug})
        )
