"""A clock under FedRAMP CR26 (apps/sla/cr26.py): likely exploitability
derived from KEV and the CVSS vector, evaluation, the VDR-TFR-PVR window
and how reductions and escalations move it, KEV due dates, acceptance after
192 days, and how a vulnerability leaves the active list."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from apps.sla import cr26

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NETWORK = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
LOCAL = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"


def _vuln(**kw) -> cr26.VulnFacts:
    return cr26.VulnFacts(
        kev=kw.get("kev", False),
        kev_date_added=kw.get("kev_date_added"),
        kev_due_date=kw.get("kev_due_date"),
        cvss_v4_vector=kw.get("v4", ""),
        cvss_v3_vector=kw.get("v3", NETWORK),
    )


def _run(
    *,
    as_of: datetime,
    klass: str = "C",
    class_at: datetime = T0 - 30 * DAY,
    exposures=None,
    overrides=(),
    vuln=None,
    clock=None,
) -> cr26.Result:
    if exposures is None:
        exposures = [cr26.ExposureChange(T0 - 10 * DAY, True, 4)]
    return cr26.evaluate(
        classes=[cr26.ClassChange(class_at, klass)] if klass else [],
        exposures=exposures,
        overrides=list(overrides),
        vuln=vuln or _vuln(),
        clock=clock or cr26.ClockFacts(detected_at=T0),
        as_of=as_of,
    )


# --- LEV -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v4", "v3", "likely", "said"),
    [
        ("", NETWORK, True, "AV:N/PR:N/UI:N"),
        ("", LOCAL, False, "AV:L/PR:L/UI:N"),
        ("", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", False, "UI:R"),
        ("", "CVSS:3.0/AV:N/AC:H/PR:L/UI:N/S:U/C:H/I:H/A:H", False, "PR:L"),
        ("", "CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", False, "AV:A"),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            LOCAL,
            True,
            "CVSS v4.0",
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            NETWORK,
            False,
            "UI:P",
        ),
        ("", "", False, "no CVSS vector"),
        ("", "CVSS:3.1/AV:Q/garbage", False, "unreadable"),
    ],
)
def test_lev_is_derived_from_the_cvss_vector(v4, v3, likely, said):
    basis = cr26.lev_derived(
        kev=False,
        kev_date_added=None,
        cvss_v4_vector=v4,
        cvss_v3_vector=v3,
        at=T0,
    )
    assert basis.likely is likely
    assert said in basis.rule


def test_a_kev_entry_is_likely_exploitable_from_the_day_it_was_added():
    before = cr26.lev_derived(
        kev=True,
        kev_date_added=date(2026, 12, 5),
        cvss_v4_vector="",
        cvss_v3_vector=LOCAL,
        at=T0,
    )
    on = cr26.lev_derived(
        kev=True,
        kev_date_added=date(2026, 12, 5),
        cvss_v4_vector="",
        cvss_v3_vector=LOCAL,
        at=datetime(2026, 12, 5, tzinfo=UTC),
    )
    assert not before.likely
    assert on.likely
    assert on.rule == "in the CISA KEV catalog since 2026-12-05"


# --- applicability and evaluation --------------------------------------------------


def test_without_a_class_cr26_does_not_apply():
    result = _run(as_of=T0 + DAY, klass="")
    assert not result.applies
    assert result.status == cr26.NOT_APPLICABLE


def test_a_class_set_to_none_stops_it_applying():
    result = cr26.evaluate(
        classes=[
            cr26.ClassChange(T0 - 30 * DAY, "C"),
            cr26.ClassChange(T0 - DAY, ""),
        ],
        exposures=[cr26.ExposureChange(T0 - 10 * DAY, True, 4)],
        overrides=[],
        vuln=_vuln(),
        clock=cr26.ClockFacts(detected_at=T0),
        as_of=T0 + DAY,
    )
    assert not result.applies


def test_defaults_in_place_evaluate_at_detection_and_set_the_window():
    result = _run(as_of=T0 + DAY)
    assert result.evaluated_at == T0
    (evaluation,) = result.evaluations
    assert (evaluation.pain, evaluation.internet_reachable) == (4, True)
    assert evaluation.likely_exploitable
    # Class C, N4, LEV + IRV: 4 days.
    assert result.window_due_at == T0 + 4 * DAY
    assert result.due_at == T0 + 4 * DAY
    assert result.status == cr26.OPEN
    assert not result.overdue
    assert "3 days left" in result.explanation


def test_past_the_window_it_is_overdue_and_says_why():
    result = _run(as_of=T0 + 5 * DAY)
    assert result.status == cr26.BREACHED
    assert result.overdue
    assert "Class C, N4, LEV + IRV: 4 days" in result.explanation


def test_without_irv_and_pain_it_waits_for_evaluation_until_its_deadline():
    waiting = _run(as_of=T0 + DAY, exposures=[])
    assert waiting.evaluated_at is None
    assert waiting.evaluation_due_at == T0 + 5 * DAY  # VER-TFR-EVU, class C
    assert waiting.status == cr26.OPEN
    late = _run(as_of=T0 + 6 * DAY, exposures=[])
    assert late.status == cr26.BREACHED
    assert late.overdue
    assert "VER-TFR-EVU" in late.explanation


def test_defaults_set_after_detection_evaluate_then():
    at = T0 + 2 * DAY
    result = _run(as_of=T0 + 3 * DAY, exposures=[cr26.ExposureChange(at, False, 3)])
    assert result.evaluated_at == at
    # Class C, N3, LEV + NIRV: 32 days from evaluation.
    assert result.window_due_at == at + 32 * DAY


def test_cr26_counts_from_the_class_for_older_detections():
    declared = T0 + 10 * DAY
    result = _run(
        as_of=T0 + 11 * DAY,
        class_at=declared,
        exposures=[cr26.ExposureChange(T0 - 10 * DAY, True, 2)],
    )
    assert result.start_at == declared
    assert result.evaluated_at == declared
    assert result.evaluation_due_at == declared + 5 * DAY


def test_class_d_n5_internet_reachable_likely_is_twelve_hours():
    result = _run(
        as_of=T0 + timedelta(hours=13),
        klass="D",
        exposures=[cr26.ExposureChange(T0 - DAY, True, 5)],
    )
    assert result.window_due_at == T0 + timedelta(hours=12)
    assert result.status == cr26.BREACHED


# --- reductions and escalations --------------------------------------------------


def test_a_reduction_starts_the_next_window_and_is_recorded():
    reduced = T0 + 3 * DAY
    result = _run(
        as_of=T0 + 10 * DAY,
        overrides=[
            cr26.Override(reduced, pain=3, by="admin@x.example", reason="WAF rule")
        ],
    )
    assert [e.kind for e in result.evaluations] == ["initial", "reduction"]
    assert result.reductions == ((reduced, 3),)
    # Class C, N3, LEV + IRV: 16 days from the reduction.
    assert result.window_due_at == reduced + 16 * DAY
    assert result.status == cr26.OPEN
    current = result.current
    assert (current.pain_source, current.by, current.reason) == (
        "override",
        "admin@x.example",
        "WAF rule",
    )


def test_no_longer_internet_reachable_is_a_reduction_of_exposure():
    at = T0 + 2 * DAY
    result = _run(
        as_of=at + DAY,
        overrides=[cr26.Override(at, internet_reachable=False, reason="behind proxy")],
    )
    assert result.evaluations[-1].kind == "reduction"
    assert result.reductions == ()  # the PAIN did not change
    assert result.window_due_at == at + 8 * DAY  # N4, LEV + NIRV


def test_an_escalation_never_extends_the_running_window():
    # Class C, N2 NLEV: 192 days; re-evaluated at day 180 as N3 NLEV (128).
    escalated = T0 + 180 * DAY
    result = _run(
        as_of=escalated + DAY,
        exposures=[cr26.ExposureChange(T0 - DAY, True, 2)],
        vuln=_vuln(v3=LOCAL),
        overrides=[cr26.Override(escalated, pain=3, reason="more agencies")],
    )
    assert result.evaluations[-1].kind == "escalation"
    assert result.window_due_at == T0 + 192 * DAY


def test_an_escalation_shortens_the_window_when_its_own_ends_first():
    escalated = T0 + 10 * DAY
    result = _run(
        as_of=escalated + DAY,
        exposures=[cr26.ExposureChange(T0 - DAY, True, 3)],
        vuln=_vuln(v3=LOCAL),
        overrides=[
            cr26.Override(escalated, likely_exploitable=True, reason="PoC public")
        ],
    )
    # N3 NLEV (128 days) -> N3 LEV + IRV (16 days from the change).
    assert result.window_due_at == escalated + 16 * DAY
    assert result.current.lev_source == "override"


def test_kev_listing_after_evaluation_escalates_from_the_day_it_was_added():
    added = date(2026, 12, 20)
    result = _run(
        as_of=datetime(2026, 12, 21, tzinfo=UTC),
        exposures=[cr26.ExposureChange(T0 - DAY, True, 3)],
        vuln=_vuln(v3=LOCAL, kev=True, kev_date_added=added, kev_due_date=None),
    )
    assert [e.kind for e in result.evaluations] == ["initial", "escalation"]
    start = datetime(2026, 12, 20, tzinfo=UTC)
    assert result.evaluations[-1].at == start
    assert result.window_due_at == start + 16 * DAY


def test_n1_has_no_window():
    result = _run(
        as_of=T0 + 400 * DAY,
        exposures=[cr26.ExposureChange(T0 - DAY, True, 1)],
        overrides=[],
    )
    assert result.window_due_at is None
    # 192 days after evaluation it is accepted nonetheless (VER-TFR-MAV).
    assert result.status == cr26.ACCEPTED
    early = _run(
        as_of=T0 + 10 * DAY, exposures=[cr26.ExposureChange(T0 - DAY, True, 1)]
    )
    assert early.status == cr26.OPEN
    assert early.due_at is None
    assert "VDR-TFR-RMN" in early.explanation


# --- KEV ---------------------------------------------------------------------------


def test_an_earlier_kev_due_date_sets_the_due_time():
    vuln = _vuln(
        v3=LOCAL,
        kev=True,
        kev_date_added=date(2026, 11, 1),
        kev_due_date=date(2026, 12, 3),
    )
    result = _run(
        as_of=T0 + DAY, exposures=[cr26.ExposureChange(T0 - DAY, True, 2)], vuln=vuln
    )
    kev_end = datetime(2026, 12, 4, tzinfo=UTC)
    assert result.kev_due_at == kev_end
    assert result.window_due_at == T0 + 48 * DAY  # N2, LEV + IRV
    assert result.due_at == kev_end
    late = _run(
        as_of=kev_end + DAY,
        exposures=[cr26.ExposureChange(T0 - DAY, True, 2)],
        vuln=vuln,
    )
    assert late.overdue
    assert "CISA KEV due date" in late.explanation


def test_a_kev_fully_mitigated_is_still_due_for_remediation():
    vuln = _vuln(
        kev=True, kev_date_added=date(2026, 11, 1), kev_due_date=date(2026, 12, 10)
    )
    mitigated = cr26.Override(
        T0 + DAY, disposition=cr26.FULLY_MITIGATED, reason="feature disabled"
    )
    before = _run(as_of=T0 + 2 * DAY, vuln=vuln, overrides=[mitigated])
    assert before.disposition == cr26.FULLY_MITIGATED
    assert before.status == cr26.OPEN
    assert "VDR-TFR-KEV" in before.explanation
    after = _run(as_of=T0 + 20 * DAY, vuln=vuln, overrides=[mitigated])
    assert after.status == cr26.BREACHED


# --- leaving the active list --------------------------------------------------------


def test_remediation_in_time_is_met_and_late_is_missed():
    fixed = cr26.ClockFacts(detected_at=T0, fixed_at=T0 + 3 * DAY)
    met = _run(as_of=T0 + 10 * DAY, clock=fixed)
    assert (met.disposition, met.status) == (cr26.REMEDIATED, cr26.MET)
    assert not met.active
    late = cr26.ClockFacts(detected_at=T0, fixed_at=T0 + 6 * DAY)
    assert _run(as_of=T0 + 10 * DAY, clock=late).status == cr26.MISSED
    # Seen before the fix, it was open.
    assert _run(as_of=T0 + 2 * DAY, clock=late).status == cr26.OPEN


def test_a_vex_not_affected_or_withdrawn_advisory_is_a_false_positive():
    for reason in ("vex", "withdrawn"):
        clock = cr26.ClockFacts(detected_at=T0, stopped_at=T0 + DAY, stop_reason=reason)
        result = _run(as_of=T0 + 2 * DAY, clock=clock)
        assert (result.disposition, result.status) == (
            cr26.FALSE_POSITIVE,
            cr26.EXEMPT,
        )


def test_a_waiver_does_not_close_it_under_cr26():
    clock = cr26.ClockFacts(detected_at=T0, stopped_at=T0 + DAY, stop_reason="waiver")
    result = _run(as_of=T0 + 2 * DAY, clock=clock)
    assert result.active


def test_192_days_after_evaluation_it_is_accepted():
    exposures = [cr26.ExposureChange(T0 - DAY, False, 2)]
    before = _run(as_of=T0 + 191 * DAY, exposures=exposures, vuln=_vuln(v3=LOCAL))
    assert before.accepted_at is None
    after = _run(as_of=T0 + 193 * DAY, exposures=exposures, vuln=_vuln(v3=LOCAL))
    assert after.accepted_at == T0 + 192 * DAY
    assert after.status == cr26.ACCEPTED
    assert "VER-TFR-MAV" in after.accepted_reason
    # Remediated after its acceptance: no longer accepted (it keeps when it
    # was), and late.
    fixed = cr26.ClockFacts(detected_at=T0, fixed_at=T0 + 200 * DAY)
    closed = _run(
        as_of=T0 + 201 * DAY, exposures=exposures, vuln=_vuln(v3=LOCAL), clock=fixed
    )
    assert closed.accepted_at == T0 + 192 * DAY
    assert not closed.accepted
    assert closed.status == cr26.MISSED
    # Remediated before the 192 days: never accepted.
    early = cr26.ClockFacts(detected_at=T0, fixed_at=T0 + 100 * DAY)
    assert (
        _run(
            as_of=T0 + 201 * DAY,
            exposures=exposures,
            vuln=_vuln(v3=LOCAL),
            clock=early,
        ).accepted_at
        is None
    )


def test_declared_acceptance_takes_effect_at_once_with_its_reason():
    declared = cr26.Override(T0 + DAY, accepted=True, reason="vendor end of life")
    result = _run(as_of=T0 + 2 * DAY, overrides=[declared])
    assert result.accepted_at == T0 + DAY
    assert result.status == cr26.ACCEPTED
    assert "vendor end of life" in result.accepted_reason


def test_inputs_dated_after_as_of_are_not_read():
    later = cr26.Override(T0 + 5 * DAY, pain=2, reason="later")
    result = _run(as_of=T0 + DAY, overrides=[later])
    assert result.current.pain == 4
    assert result.reductions == ()


def test_a_vulnerability_gone_before_the_class_was_stated_is_not_reported():
    fixed = cr26.ClockFacts(detected_at=T0, fixed_at=T0 + DAY)
    result = _run(as_of=T0 + 20 * DAY, class_at=T0 + 10 * DAY, clock=fixed)
    assert not result.applies
