from itertools import groupby

from django.views.generic import TemplateView

from . import selectors
from .models import EvidenceKind


class ControlMapView(TemplateView):
    """The control map, public: which evidence the portal keeps supports which
    control."""

    template_name = "compliance/control_map.html"

    def get_context_data(self, **kwargs):
        controls = list(selectors.control_map())
        frameworks = [
            (controls_[0].get_framework_display(), controls_)
            for _, group in groupby(controls, key=lambda c: c.framework)
            if (controls_ := list(group))
        ]
        return {
            **super().get_context_data(**kwargs),
            "frameworks": frameworks,
            "kinds": EvidenceKind.choices,
            "count": len(controls),
        }
