"""VEX exports anyone can download: OpenVEX per build and per repository,
CycloneDX VEX per build. The documents are built by apps.vulns.selectors.vex and
validate against their schemas (tests/vulns/test_vex.py)."""

import json

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View

from apps.catalog import selectors
from apps.catalog.models import Repository
from apps.vulns.selectors import (
    NoVexStatements,
    cyclonedx_vex_export_for_digest,
    openvex_export_for_digest,
    openvex_export_for_repository,
)

OPENVEX_TYPE = "application/openvex+json"
CYCLONEDX_TYPE = "application/vnd.cyclonedx+json; version=1.6"


def _document(document: dict, content_type: str, filename: str) -> HttpResponse:
    body = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    response = HttpResponse(body.encode(), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class DigestVexView(View):
    """``?format=openvex`` (default) or ``?format=cyclonedx`` for one build."""

    def get(self, request, digest):
        name = selectors.digest_lookup(digest)
        if name is None:
            raise Http404("Not a sha256 digest.")
        if name != digest:
            return redirect("catalog:digest_vex", digest=name, permanent=True)
        image = selectors.digest_get(digest=name)
        if image is None:
            raise Http404("No such digest.")
        short = name.removeprefix("sha256:")[:12]
        repository = image.variant.series.repository.name
        if request.GET.get("format", "openvex") == "cyclonedx":
            return _document(
                cyclonedx_vex_export_for_digest(image=image),
                CYCLONEDX_TYPE,
                f"{repository}-{short}.vex.cdx.json",
            )
        try:
            document = openvex_export_for_digest(image=image)
        except NoVexStatements as exc:
            raise Http404("The publisher has made no VEX statement for it.") from exc
        return _document(document, OPENVEX_TYPE, f"{repository}-{short}.openvex.json")


class RepositoryVexView(View):
    def get(self, request, name):
        repository = get_object_or_404(Repository, name=name)
        try:
            document = openvex_export_for_repository(repository=repository)
        except NoVexStatements as exc:
            raise Http404("The publisher has made no VEX statement for it.") from exc
        return _document(document, OPENVEX_TYPE, f"{repository.name}.openvex.json")
