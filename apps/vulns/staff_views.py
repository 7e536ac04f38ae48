"""Publisher staff pages for VEX documents: every version imported, what each
states, which are in force, and withdrawing one with a reason."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import TemplateView

from apps.core.mixins import StaffOnlyMixin

from . import selectors
from .models import VexDocument
from .services import vex_document_withdraw

PER_PAGE = 50


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept with the document and in the audit log.",
    )


class VexDocumentListView(StaffOnlyMixin, TemplateView):
    template_name = "vulns/staff_vex_documents.html"

    def get_context_data(self, **kwargs):
        page = Paginator(selectors.vex_document_list(), PER_PAGE).get_page(
            self.request.GET.get("page")
        )
        subjects = selectors.vex_document_subjects(
            document_ids=[document.pk for document in page]
        )
        for document in page:
            document.subjects = subjects.get(document.pk, [])
        return {**super().get_context_data(**kwargs), "page": page}


class VexDocumentDetailView(StaffOnlyMixin, TemplateView):
    template_name = "vulns/staff_vex_document.html"

    def get_context_data(self, **kwargs):
        document = get_object_or_404(
            VexDocument.objects.select_related("superseded_by", "withdrawn_by"),
            pk=kwargs["pk"],
        )
        versions = (
            VexDocument.objects.filter(identity=document.identity)
            .exclude(pk=document.pk)
            .order_by("-version", "-issued_at", "-pk")
            if document.identity
            else VexDocument.objects.none()
        )
        stopped = document.statements.aggregate(
            clocks=Count("sla_clocks", filter=Q(sla_clocks__state="exempt"))
        )["clocks"]
        statements = selectors.vex_document_statements(document=document)
        return {
            **super().get_context_data(**kwargs),
            "document": document,
            "statements": statements,
            "restated": document.statement_count - len(statements),
            "subjects": selectors.vex_document_subjects(document_ids=[document.pk]).get(
                document.pk, []
            ),
            "versions": list(versions),
            "clocks_stopped": stopped,
            "form": kwargs.get("form") or WithdrawForm(),
        }


class VexDocumentWithdrawView(StaffOnlyMixin, View):
    def post(self, request, pk):
        document = get_object_or_404(VexDocument, pk=pk)
        form = WithdrawForm(request.POST)
        if form.is_valid():
            try:
                vex_document_withdraw(
                    document=document,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    request=request,
                )
            except ValidationError as exc:
                form.add_error("reason", exc.messages)
            else:
                messages.success(
                    request,
                    f"Withdrawn: {document}. Its statements are no longer in force; "
                    "the clocks they stopped run again.",
                )
                return redirect("staff_vex_document", pk=pk)
        view = VexDocumentDetailView(request=request, kwargs={"pk": pk})
        return view.render_to_response(
            view.get_context_data(pk=pk, form=form), status=400
        )
