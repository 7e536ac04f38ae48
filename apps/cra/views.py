"""The CRA Article 14 desk (publisher staff): every actively exploited
vulnerability affecting a published image, its three deadlines, the field
pack for each stage, who to inform, and what was sent when by whom."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from apps.core.mixins import StaffOnlyMixin
from apps.vulns.models import AdvisoryImport

from . import rules
from .forms import CaseOpenForm, MeasureForm, SubmissionForm
from .models import CraCase
from .selectors import (
    cra_affected_customers,
    cra_affected_digests,
    cra_case_get,
    cra_case_list,
    cra_field_pack,
    cra_fixed_digests,
)
from .services import cra_case_open_staff, cra_measure_record, cra_submission_record


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return " ".join(m for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


class CraDeskView(StaffOnlyMixin, TemplateView):
    template_name = "cra/desk.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        context.update(
            cases=cra_case_list(now=now),
            stages=rules.STAGES,
            applies_from=rules.APPLIES_FROM,
            kev=AdvisoryImport.objects.filter(feed=AdvisoryImport.Feed.KEV).first(),
            open_form=kwargs.get("open_form") or CaseOpenForm(),
            now=now,
        )
        return context


class CraCaseOpenView(StaffOnlyMixin, View):
    def post(self, request):
        form = CaseOpenForm(request.POST)
        if form.is_valid():
            try:
                case = cra_case_open_staff(
                    vulnerability=form.cleaned_data["vulnerability"],
                    digests=form.digest_list(),
                    aware_at=form.cleaned_data["aware_at"],
                    evidence=form.cleaned_data["evidence"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as exc:
                form.add_error(None, _errors(exc))
            else:
                messages.success(
                    request, f"Case opened for {case.vulnerability.vuln_id}."
                )
                return redirect("staff_cra_case", pk=case.pk)
        view = CraDeskView()
        view.setup(request)
        return view.render_to_response(
            view.get_context_data(open_form=form), status=400
        )


class CraCaseView(StaffOnlyMixin, TemplateView):
    template_name = "cra/case.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        try:
            view = cra_case_get(pk=self.kwargs["pk"], now=now)
        except CraCase.DoesNotExist:
            raise Http404("No such case.") from None
        digests = cra_affected_digests(view)
        fixed = cra_fixed_digests(view)
        context.update(
            view=view,
            case=view.case,
            vuln=view.vulnerability,
            digests=digests,
            fixed=fixed,
            customers=cra_affected_customers(digests),
            packs=[
                (
                    state,
                    cra_field_pack(view, state.stage.key, digests=digests, fixed=fixed),
                )
                for state in view.stages
            ],
            submission_form=kwargs.get("submission_form")
            or SubmissionForm(initial={"submitted_at": now.strftime("%Y-%m-%dT%H:%M")}),
            measure_form=kwargs.get("measure_form") or MeasureForm(),
            now=now,
        )
        return context


class _CaseFormView(StaffOnlyMixin, View):
    form_class: type = SubmissionForm
    context_name = ""

    def save(self, case: CraCase, form, request) -> str:
        raise NotImplementedError

    def post(self, request, pk):
        case = CraCase.objects.filter(pk=pk).first()
        if case is None:
            raise Http404("No such case.")
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                done = self.save(case, form, request)
            except ValidationError as exc:
                form.add_error(None, _errors(exc))
            else:
                messages.success(request, done)
                return redirect("staff_cra_case", pk=case.pk)
        view = CraCaseView()
        view.setup(request, pk=pk)
        return view.render_to_response(
            view.get_context_data(**{self.context_name: form}), status=400
        )


class CraSubmissionView(_CaseFormView):
    form_class = SubmissionForm
    context_name = "submission_form"

    def save(self, case, form, request) -> str:
        submission = cra_submission_record(
            case=case,
            stage=form.cleaned_data["stage"],
            submitted_at=form.cleaned_data["submitted_at"],
            reference=form.cleaned_data["reference"],
            note=form.cleaned_data["note"],
            actor=request.user,
            request=request,
        )
        return f"{submission.get_stage_display()} recorded."


class CraMeasureView(_CaseFormView):
    form_class = MeasureForm
    context_name = "measure_form"

    def save(self, case, form, request) -> str:
        cra_measure_record(
            case=case,
            measure_at=form.cleaned_data["measure_at"],
            measure=form.cleaned_data["measure"],
            actor=request.user,
            request=request,
        )
        return "Measure recorded: the final report is due 14 days after it."
