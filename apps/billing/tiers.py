"""The tiers of DESIGN.md section 2, as data: loaded by migration 0002 and by
``tiers_load()`` (idempotent) wherever the rows must be put back.

Prices are list prices in US cents, placeholders until the Stripe side maps
each row to its Stripe Product and Price (the ids stay blank until then).
Features' Stripe lookup keys are their keys.
"""

FEATURES = [
    # key, name, kind
    ("sla", "CVE patch SLA", "boolean"),
    ("fips", "FIPS variants", "boolean"),
    ("stig", "STIG variants", "boolean"),
    ("els", "Extended lifecycle support", "boolean"),
    ("customizations", "Customizations", "counted"),
    ("sso", "Single sign-on and enforced MFA", "boolean"),
    ("auditor_seats", "Auditor seats", "counted"),
]

UNLIMITED = None
PLANS = [
    # key, name, description, is_addon, position, {feature: quantity}, prices
    (
        "community",
        "Community",
        "The whole catalog with its SBOMs, provenance, VEX and signatures.",
        False,
        0,
        {},
        [],
    ),
    (
        "select",
        "Select",
        "A CVE patch SLA (critical and high in 7 business days from the "
        "upstream fix), FIPS and STIG variants, SSO.",
        False,
        1,
        {
            "sla": None,
            "fips": None,
            "stig": None,
            "customizations": 5,
            "sso": None,
            "auditor_seats": 2,
        },
        [("month", 50000), ("year", 500000)],
    ),
    (
        "enterprise",
        "Enterprise",
        "Everything in Select, medium CVEs patched in 30 days, unlimited "
        "customizations and auditor seats.",
        False,
        2,
        {
            "sla": None,
            "fips": None,
            "stig": None,
            "customizations": UNLIMITED,
            "sso": None,
            "auditor_seats": UNLIMITED,
        },
        [("month", 200000), ("year", 2000000)],
    ),
    (
        "els",
        "Extended lifecycle support",
        "Five more years of patches after the upstream end of life.",
        True,
        3,
        {"els": None},
        [("month", 100000), ("year", 1000000)],
    ),
]


def tiers_load(apps=None) -> None:
    """Create or update the rows; idempotent. ``apps`` is a migration's app
    registry (historical models), or None for the current models."""
    if apps is None:
        from django.apps import apps
    try:
        Feature = apps.get_model("entitlements", "Feature")
    except LookupError:
        # Billing's migrations before the model moved to entitlements.
        Feature = apps.get_model("billing", "Feature")
    Plan = apps.get_model("billing", "Plan")
    Price = apps.get_model("billing", "Price")
    PlanFeature = apps.get_model("billing", "PlanFeature")
    features = {}
    for key, name, kind in FEATURES:
        features[key], _ = Feature.objects.update_or_create(
            key=key,
            defaults={"name": name, "kind": kind, "stripe_lookup_key": key},
        )
    for key, name, description, is_addon, position, grants, prices in PLANS:
        plan, _ = Plan.objects.update_or_create(
            key=key,
            defaults={
                "name": name,
                "description": description,
                "is_addon": is_addon,
                "position": position,
            },
        )
        for feature, quantity in grants.items():
            PlanFeature.objects.update_or_create(
                plan=plan, feature=features[feature], defaults={"quantity": quantity}
            )
        for interval, amount in prices:
            Price.objects.update_or_create(
                plan=plan,
                interval=interval,
                currency="usd",
                active=True,
                defaults={"amount": amount},
            )
