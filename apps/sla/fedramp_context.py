"""What the FedRAMP CR26 parts of a page show, for the organization's pages
and the staff desk alike: the settings (class, each mirrored repository's
IRV and PAIN, the rules they select) and one clock under CR26."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from apps.entitlements.models import Mirror
from apps.orgs.models import Organization

from . import cr26
from .fedramp_forms import (
    FedrampClockEvaluationForm,
    FedrampExposureForm,
    FedrampProfileForm,
)
from .models import FedrampClockEvaluation, SlaClock
from .selectors.fedramp import (
    clock_cr26,
    fedramp_evaluations,
    fedramp_inputs,
    fedramp_mirror_exposures,
)


def rules_context(certification_class: str) -> dict[str, Any]:
    """The VDR-TFR-PVR rows of a class and its other timeframes, as pages
    show them."""
    table = cr26.PVR_TIMEFRAMES.get(certification_class)
    return {
        "rules": [
            {"pain": pain, "cells": [cr26.timeframe_text(s) for s in table[pain]]}
            for pain in (5, 4, 3, 2)
        ]
        if table
        else [],
        "column_labels": [cr26.COLUMN_LABELS[c] for c in cr26.COLUMNS],
        "evaluate_within": cr26.timeframe_text(
            cr26.EVALUATION_TIMEFRAMES[certification_class]
        )
        if table
        else "",
        "history_every": cr26.HISTORY_UPDATE.get(certification_class, ""),
        "pain_definitions": [(n, cr26.PAIN_DEFINITIONS[n]) for n in (5, 4, 3, 2, 1)],
    }


def exposure_form(mirror: Mirror, current, data=None) -> FedrampExposureForm:
    return FedrampExposureForm(
        data,
        prefix=f"m{mirror.pk}",
        initial={
            "internet_reachable": "yes"
            if current is None or current.internet_reachable
            else "no",
            "pain": str(current.pain if current else 5),
        },
    )


def fedramp_settings_context(
    *,
    org: Organization,
    can_manage: bool,
    profile_action: str,
    exposure_action: Callable[[Mirror], str],
    profile_form: FedrampProfileForm | None = None,
    failed_exposure: tuple[int, FedrampExposureForm] | None = None,
) -> dict[str, Any]:
    """The settings part of a page: three queries (the class, the
    exposures, the mirrors)."""
    inputs = fedramp_inputs(org=org)
    profile = inputs.profile
    if profile_form is None and can_manage:
        initial = {}
        if profile is not None:
            initial = {
                "certification_class": profile.certification_class,
                "package_uri": profile.package_uri,
            }
        profile_form = FedrampProfileForm(initial=initial)
    rows = []
    for entry in fedramp_mirror_exposures(org=org, inputs=inputs):
        form = None
        if can_manage:
            if failed_exposure is not None and failed_exposure[0] == entry.mirror.pk:
                form = failed_exposure[1]
            else:
                form = exposure_form(entry.mirror, entry.current)
        rows.append(
            {"entry": entry, "form": form, "action": exposure_action(entry.mirror)}
        )
    return {
        "subject": org,
        "profile": profile,
        "profiles": list(reversed(inputs.profiles)),
        "can_manage": can_manage,
        "profile_form": profile_form if can_manage else None,
        "profile_action": profile_action,
        "mirrors": rows,
        "certification_class": inputs.certification_class,
        **rules_context(inputs.certification_class),
    }


def evaluation_initial(evaluations: list[FedrampClockEvaluation]) -> dict[str, Any]:
    """The form starts from the evaluation in force (the reason is new)."""
    if not evaluations:
        return {}
    latest = evaluations[-1]

    def yes_no(value: bool | None) -> str:
        return {True: "yes", False: "no"}.get(value, "")  # type: ignore[arg-type]

    return {
        "pain": str(latest.pain or ""),
        "internet_reachable": yes_no(latest.internet_reachable),
        "likely_exploitable": yes_no(latest.likely_exploitable),
        "disposition": latest.disposition,
        "accepted": latest.accepted,
    }


def cr26_clock_context(
    *,
    clock: SlaClock,
    now: datetime,
    may_evaluate: bool,
    evaluate_url: str,
    fedramp_url: str,
    form: FedrampClockEvaluationForm | None = None,
) -> dict[str, Any]:
    """The clock's CR26 measure, its own evaluations and the form: three
    queries (the class, its repository's exposure, its evaluations)."""
    repository_id = clock.finding.digest.variant.series.repository_id
    inputs = fedramp_inputs(org=clock.org, repository_ids=[repository_id])
    evaluations = fedramp_evaluations(org=clock.org, clock_ids=[clock.pk]).get(
        clock.pk, []
    )
    measure = clock_cr26(clock, as_of=now, inputs=inputs, evaluations=evaluations)
    can_evaluate = may_evaluate and bool(inputs.certification_class)
    if form is None and can_evaluate:
        form = FedrampClockEvaluationForm(initial=evaluation_initial(evaluations))
    return {
        "cr26": measure,
        "cr26_evaluations": list(reversed(evaluations)),
        "evaluation_form": form if can_evaluate or form is not None else None,
        "evaluate_url": evaluate_url,
        "fedramp_url": fedramp_url,
    }
