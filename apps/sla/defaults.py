"""The plans' default SLA policies (DESIGN.md section 2), as data: loaded by
migration 0002 and by ``defaults_load()`` (idempotent).

Each row names the plan it is the default of; which plan an organization is on
is read from its live entitlements (see services.default_policy), never from
a plan's name in code. The default terms grant no service credits: credits are
a contract's terms (a contract policy's version sets them).
"""

DEFAULT_POLICIES = [
    {
        "key": "select-default",
        "name": "Select default SLA",
        "description": "Critical and high in 7 business days from the upstream fix.",
        "plan": "select",
        "version": {
            "critical_days": 7,
            "high_days": 7,
            "medium_days": None,
            "low_days": None,
            "day_kind": "business",
            "holiday_country": "US",
            "holiday_subdivision": "",
            "time_zone": "UTC",
            "start_event": "upstream_fix",
            "at_risk_percent": 70,
            "kev_caps": True,
        },
    },
    {
        "key": "enterprise-default",
        "name": "Enterprise default SLA",
        "description": (
            "Critical and high in 7 business days, medium in 30, from the upstream fix."
        ),
        "plan": "enterprise",
        "version": {
            "critical_days": 7,
            "high_days": 7,
            "medium_days": 30,
            "low_days": None,
            "day_kind": "business",
            "holiday_country": "US",
            "holiday_subdivision": "",
            "time_zone": "UTC",
            "start_event": "upstream_fix",
            "at_risk_percent": 70,
            "kev_caps": True,
        },
    },
]


def defaults_load(apps=None) -> None:
    """Create the default policies and their first version where missing.
    ``apps`` is a migration's app registry, or None for the current models.
    An existing policy is left alone: its versions may be frozen."""
    if apps is None:
        from apps.billing.models import Plan
        from apps.sla.models import SlaPolicy, SlaPolicyVersion
    else:
        Plan = apps.get_model("billing", "Plan")
        SlaPolicy = apps.get_model("sla", "SlaPolicy")
        SlaPolicyVersion = apps.get_model("sla", "SlaPolicyVersion")
    for row in DEFAULT_POLICIES:
        plan = Plan.objects.filter(key=row["plan"]).first()
        if plan is None or SlaPolicy.objects.filter(key=row["key"]).exists():
            continue
        policy = SlaPolicy.objects.create(
            key=row["key"],
            name=row["name"],
            description=row["description"],
            plan=plan,
        )
        SlaPolicyVersion.objects.create(policy=policy, version=1, **row["version"])
