"""The SLA ledger over the API (org-scoped token, ``sla:read``): clocks with
their timeline and overlays, metrics for a window, and the org's waivers.

Read-only: waivers are requested and approved by the publisher's staff. The
ledger answers whatever the org's entitlement is now: an org that never held
``sla`` has no clocks, and a lapsed one keeps its history.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.models import ApiToken
from apps.sla import overlays
from apps.sla.models import SLA_SEVERITIES, FedrampDisposition, SlaClock, SlaWaiver
from apps.sla.selectors.clocks import (
    SLA_ENTITLEMENT_ACTIVE,
    SLA_ENTITLEMENT_LAPSED,
    SLA_ENTITLEMENT_NEVER,
    sla_clock_timeline,
    sla_entitlement_state,
)
from apps.sla.selectors.fedramp import clock_cr26
from apps.sla.selectors.metrics import SeverityFigures, sla_metrics
from apps.sla.selectors.overlay_figures import sla_overlay_figures
from apps.sla.services import fedramp as fedramp_services

from .base import OrgScopedViewSet
from .errors import api_validation_error

Scope = ApiToken.Scope
MAX_WINDOW = timedelta(days=3 * 366)
DEFAULT_WINDOW = timedelta(days=90)


class SlaClockOut(serializers.ModelSerializer):
    vulnerability = serializers.CharField(source="finding.vulnerability.vuln_id")
    kev = serializers.BooleanField(source="finding.vulnerability.kev")
    repository = serializers.CharField(
        source="finding.digest.variant.series.repository.name"
    )
    digest = serializers.CharField(source="finding.digest.digest")
    finding = serializers.IntegerField(source="finding_id")
    policy = serializers.CharField(source="policy_version.policy.key")
    policy_version = serializers.IntegerField(source="policy_version.version")

    class Meta:
        model = SlaClock
        fields = [
            "id",
            "vulnerability",
            "kev",
            "severity",
            "state",
            "repository",
            "digest",
            "finding",
            "policy",
            "policy_version",
            "start_event",
            "started_at",
            "at_risk_at",
            "due_at",
            "kev_capped",
            "stopped_at",
            "stop_reason",
            "exempt_reason",
        ]


class TimelineOut(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()


class OverlayOut(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    start_event = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(
        choices=[
            overlays.OPEN,
            overlays.BREACHED,
            overlays.MET,
            overlays.MISSED,
            overlays.EXEMPT,
            overlays.ACCEPTED,
            overlays.NOT_APPLICABLE,
        ]
    )


class WaiverOut(serializers.ModelSerializer):
    requested_by = serializers.EmailField(source="requested_by.email")
    approved_by = serializers.EmailField(
        source="approved_by.email", allow_null=True, default=None
    )
    rejected_by = serializers.EmailField(
        source="rejected_by.email", allow_null=True, default=None
    )

    class Meta:
        model = SlaWaiver
        fields = [
            "id",
            "clock",
            "state",
            "reason",
            "requested_by",
            "created_at",
            "approved_by",
            "approved_at",
            "rejected_by",
            "rejected_at",
            "rejection_reason",
            "expires_at",
            "expired_at",
        ]


class VexOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    justification = serializers.CharField()
    impact_statement = serializers.CharField()
    document = serializers.CharField(source="document.__str__")
    timestamp = serializers.DateTimeField()


class Cr26EvaluationOut(serializers.Serializer):
    at = serializers.DateTimeField()
    pain = serializers.IntegerField()
    internet_reachable = serializers.BooleanField()
    likely_exploitable = serializers.BooleanField()
    pain_source = serializers.CharField()
    irv_source = serializers.CharField()
    lev_source = serializers.CharField()
    lev_rule = serializers.CharField()
    kind = serializers.CharField()
    timeframe = serializers.CharField(source="timeframe_label")
    due_at = serializers.DateTimeField(allow_null=True)
    by = serializers.CharField()
    reason = serializers.CharField()


class Cr26Out(serializers.Serializer):
    """A clock under FedRAMP CR26 (apps/sla/cr26.py), now."""

    applies = serializers.BooleanField()
    tracking_id = serializers.SerializerMethodField()
    certification_class = serializers.CharField()
    status = serializers.CharField()
    overdue = serializers.BooleanField()
    explanation = serializers.CharField()
    detected_at = serializers.DateTimeField(allow_null=True)
    evaluation_due_at = serializers.DateTimeField(allow_null=True)
    evaluated_at = serializers.DateTimeField(allow_null=True)
    window_due_at = serializers.DateTimeField(allow_null=True)
    kev_due_at = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    accepted_at = serializers.DateTimeField(allow_null=True)
    accepted_reason = serializers.CharField()
    closed_at = serializers.DateTimeField(allow_null=True)
    disposition = serializers.CharField()
    evaluations = Cr26EvaluationOut(many=True)

    @extend_schema_field(serializers.CharField())
    def get_tracking_id(self, result) -> str:
        return f"V-{self.context['clock'].pk}"


class EvaluationIn(serializers.Serializer):
    pain = serializers.IntegerField(
        min_value=1, max_value=5, allow_null=True, default=None
    )
    internet_reachable = serializers.BooleanField(allow_null=True, default=None)
    likely_exploitable = serializers.BooleanField(allow_null=True, default=None)
    disposition = serializers.ChoiceField(
        choices=["", *FedrampDisposition.values], allow_blank=True, default=""
    )
    accepted = serializers.BooleanField(default=False)
    reason = serializers.CharField(max_length=fedramp_services.REASON_MAX)


class SlaClockDetailOut(SlaClockOut):
    timeline = serializers.SerializerMethodField()
    overlays = serializers.SerializerMethodField()
    cr26 = serializers.SerializerMethodField()
    vex_statement = VexOut(allow_null=True)
    waivers = WaiverOut(many=True, source="waivers.all")

    class Meta(SlaClockOut.Meta):
        fields = [
            *SlaClockOut.Meta.fields,
            "timeline",
            "overlays",
            "cr26",
            "vex_statement",
            "waivers",
        ]

    def _cr26(self, clock):
        if not hasattr(clock, "_cr26"):
            clock._cr26 = clock_cr26(clock, as_of=timezone.now())
        return clock._cr26

    @extend_schema_field(TimelineOut(many=True))
    def get_timeline(self, clock):
        return TimelineOut(sla_clock_timeline(clock), many=True).data

    @extend_schema_field(OverlayOut(many=True))
    def get_overlays(self, clock):
        results = overlays.clock_overlays(
            clock, now=timezone.now(), cr26_measure=self._cr26(clock)
        )
        return OverlayOut(results, many=True).data

    @extend_schema_field(Cr26Out)
    def get_cr26(self, clock):
        return Cr26Out(self._cr26(clock), context={"clock": clock}).data


class ClockFilterIn(serializers.Serializer):
    state = serializers.ChoiceField(choices=SlaClock.State.choices, required=False)
    severity = serializers.ChoiceField(choices=SLA_SEVERITIES, required=False)
    repository = serializers.CharField(max_length=100, required=False)
    kev = serializers.BooleanField(required=False, allow_null=True, default=None)


class MetricsIn(serializers.Serializer):
    start = serializers.DateField(
        required=False, help_text="First day of the window (UTC), YYYY-MM-DD."
    )
    end = serializers.DateField(
        required=False,
        help_text="Day after the window's last (UTC), YYYY-MM-DD; exclusive.",
    )

    def validate(self, attrs):
        now = timezone.now()
        end = attrs.get("end")
        start = attrs.get("start")
        end_at = _midnight(end) if end else now
        start_at = _midnight(start) if start else end_at - DEFAULT_WINDOW
        if start_at >= end_at:
            raise serializers.ValidationError(
                {"end": "The end must be after the start."}
            )
        if end_at - start_at > MAX_WINDOW:
            raise serializers.ValidationError(
                {"end": "A window is at most three years long."}
            )
        return {"start": start_at, "end": end_at}


def _midnight(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


FIGURES = inline_serializer(
    "SlaFigures",
    {
        "attainment": serializers.FloatField(allow_null=True),
        "met": serializers.IntegerField(),
        "missed": serializers.IntegerField(),
        "breached": serializers.IntegerField(),
        "open_breaches": serializers.IntegerField(),
        "at_risk": serializers.IntegerField(),
        "mttr_median_seconds": serializers.FloatField(allow_null=True),
        "mttr_p90_seconds": serializers.FloatField(allow_null=True),
    },
)


@extend_schema_serializer(many=False)
class MetricsOut(serializers.Serializer):
    org = serializers.IntegerField()
    entitlement = serializers.ChoiceField(
        choices=[
            SLA_ENTITLEMENT_ACTIVE,
            SLA_ENTITLEMENT_LAPSED,
            SLA_ENTITLEMENT_NEVER,
        ]
    )
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    severities = serializers.DictField(child=FIGURES)
    overall = FIGURES
    overlays = serializers.DictField(
        help_text="Per overlay: name, counts by status and attainment percent."
    )
    overlay_clocks_measured = serializers.IntegerField()
    overlay_clocks_total = serializers.IntegerField()


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _figures(figures: SeverityFigures) -> dict:
    return {
        "attainment": figures.attainment,
        "met": figures.met,
        "missed": figures.missed,
        "breached": figures.breached,
        "open_breaches": figures.open_breaches,
        "at_risk": figures.at_risk,
        "mttr_median_seconds": _seconds(figures.mttr_median),
        "mttr_p90_seconds": _seconds(figures.mttr_p90),
    }


class SlaClockViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet
):
    """The org's SLA clocks, newest first (the list filters by state,
    severity, repository name and kev); one clock with its timeline,
    overlays, VEX statement and waivers."""

    required_scopes = {
        "list": Scope.SLA_READ,
        "retrieve": Scope.SLA_READ,
        "evaluate": Scope.SLA_WRITE,
    }
    serializer_class = SlaClockOut
    base_queryset = SlaClock.objects.select_related(
        "finding__vulnerability",
        "finding__digest__variant__series__repository",
        "policy_version__policy",
    )

    def get_serializer_class(self):
        return SlaClockDetailOut if self.action == "retrieve" else SlaClockOut

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action in ("retrieve", "evaluate") and not getattr(
            self, "swagger_fake_view", False
        ):
            return queryset.select_related(
                "finding__fixed_in",
                "finding__component",
                "vex_statement__document",
            ).prefetch_related(
                "waivers__requested_by",
                "waivers__approved_by",
                "waivers__rejected_by",
            )
        return queryset

    @extend_schema(parameters=[ClockFilterIn])
    def list(self, request, *args, **kwargs):
        data = ClockFilterIn(data=request.query_params)
        data.is_valid(raise_exception=True)
        filters = data.validated_data
        queryset = self.get_queryset()
        if filters.get("state"):
            queryset = queryset.filter(state=filters["state"])
        if filters.get("severity"):
            queryset = queryset.filter(severity=filters["severity"])
        if filters.get("repository"):
            queryset = queryset.filter(
                finding__digest__variant__series__repository__name=filters["repository"]
            )
        if filters.get("kev") is not None:
            queryset = queryset.filter(finding__vulnerability__kev=filters["kev"])
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=EvaluationIn, responses={201: SlaClockDetailOut})
    @action(detail=True, methods=["post"])
    def evaluate(self, request, pk=None, format=None):
        """The clock's own FedRAMP CR26 evaluation from now on (each value
        left null follows the repository's default or the derived LEV);
        always with a reason."""
        clock = self.get_object()
        data = EvaluationIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            fedramp_services.fedramp_clock_evaluate(
                clock=clock, actor=request.user, request=request, **data.validated_data
            )
        except DjangoValidationError as exc:
            raise api_validation_error(exc) from exc
        clock = self.get_queryset().get(pk=clock.pk)
        return Response(
            SlaClockDetailOut(clock, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class SlaWaiverViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgScopedViewSet
):
    """Waivers on the org's clocks: requested and approved by the publisher's
    staff, read here."""

    required_scopes = {"list": Scope.SLA_READ, "retrieve": Scope.SLA_READ}
    serializer_class = WaiverOut
    base_queryset = SlaWaiver.objects.select_related(
        "requested_by", "approved_by", "rejected_by"
    )


class SlaMetricsViewSet(OrgScopedViewSet):
    """The contract's figures and the overlays' for a window."""

    required_scopes = {"list": Scope.SLA_READ}
    base_queryset = SlaClock.objects.all()
    pagination_class = None

    @extend_schema(
        parameters=[MetricsIn],
        responses=MetricsOut,
        summary="SLA metrics for a window (default: the last 90 days)",
    )
    def list(self, request, format=None):
        data = MetricsIn(data=request.query_params)
        data.is_valid(raise_exception=True)
        start, end = data.validated_data["start"], data.validated_data["end"]
        now = timezone.now()
        metrics = sla_metrics(org=self.org, start=start, end=end)
        figures = sla_overlay_figures(org=self.org, start=start, end=end, now=now)
        return Response(
            {
                "org": self.org.pk,
                "entitlement": sla_entitlement_state(org=self.org, now=now),
                "start": start,
                "end": end,
                "severities": {
                    severity: _figures(value)
                    for severity, value in metrics.severities.items()
                },
                "overall": _figures(metrics.overall),
                "overlays": figures.summary,
                "overlay_clocks_measured": figures.measured,
                "overlay_clocks_total": figures.total,
            }
        )
