"""The organization's POA&M in OSCAL: the clocks running at the cut-off on
repositories it mirrors (the XLSX POA&M's open items, chosen by the same
query), each a poam-item with its observation, risk and milestones.

The images are not in the customer's system security plan yet, so the
families and builds are defined locally, and ``import-ssp`` names a
placeholder the customer replaces with their SSP.
"""

from __future__ import annotations

from django.conf import settings

from ..formats import oscal as fmt
from ..models import Report
from ..poam import open_items
from . import common

SSP_REMARKS = (
    "Replace this href with the location of your OSCAL system security plan "
    "before you submit this POA&M: {placeholder} is a placeholder. The items "
    "are the vulnerabilities your system inherits from container images "
    "{site} publishes; the images are defined in local-definitions (an image "
    "family as a component, each affected digest as an inventory item) so the "
    "POA&M reads on its own. Copy them into your SSP's inventory, or keep them "
    "here, as FedRAMP's POA&M guide allows."
)


def oscal_poam(report: Report) -> bytes:
    """The POA&M as of ``report.data_cutoff``, as OSCAL 1.1.2 JSON."""
    org = common.report_org(report)
    cutoff = report.data_cutoff
    items, families, builds = common.items_and_subjects(
        open_items(report), cutoff=cutoff, item_kind="poam-item"
    )
    head = common.head(
        report,
        kind="poam",
        title=f"Plan of Action and Milestones: {org.name}",
        subject=f"org/{org.pk}",
        remarks=(
            f"The open vulnerabilities of the images {org.name} mirrors, as the "
            f"{settings.SITE_NAME} SLA ledger held them at the data cut-off. "
            "Each POA&M item is one SLA clock (POAM-ID V-<clock id>, as in the "
            "XLSX POA&M): the vulnerability is a vendor dependency on the "
            "publisher's rebuilt image, whose SLA deadline is its milestone."
        ),
    )
    return fmt.poam_json(
        head=head,
        tool=common.tool(),
        families=families,
        builds=builds,
        items=common.sorted_items(items),
        ssp_href=common.SSP_PLACEHOLDER,
        ssp_remarks=SSP_REMARKS.format(
            placeholder=common.SSP_PLACEHOLDER, site=settings.SITE_NAME
        ),
    )
