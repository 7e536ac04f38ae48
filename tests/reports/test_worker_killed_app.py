"""The Celery app the worker-killed test runs: the portal's own, with the
report builders the pipeline calls replaced by fakes whose rendering takes
``REPORT_FAKE_RENDER_SECONDS`` (and leaves a mark in ``REPORT_FAKE_MARK_DIR``
when it starts), so a worker can be killed in the middle of a report."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from celery.signals import worker_init

from portal.celery import app

__all__ = ["app"]


@dataclass
class _Rendered:
    content: bytes
    pages: int


@dataclass
class _Signed:
    content: bytes
    key_id: str


def _render_pdf(report, evidence, *, evidence_json, progress=None):
    mark_dir = os.environ["REPORT_FAKE_MARK_DIR"]
    with open(os.path.join(mark_dir, f"render-{os.getpid()}"), "w") as mark:
        mark.write(str(report.pk))
    if progress:
        progress(50, "Rendering")
    time.sleep(float(os.environ.get("REPORT_FAKE_RENDER_SECONDS", "0")))
    return _Rendered(b"%PDF-1.7\n% fake report " + str(report.public_id).encode(), 1)


@worker_init.connect
def _install_fakes(**kwargs):
    if "REPORT_FAKE_MARK_DIR" not in os.environ:
        return
    import django

    django.setup()
    from apps.reports.services import pipeline

    fakes = {
        "build_evidence": lambda report, progress=None: {"id": str(report.public_id)},
        "canonical_json": lambda evidence: b'{"fake":true}\n',
        "render_pdf": _render_pdf,
        "sign_pdf": lambda content, report: _Signed(content + b"%signed\n", "fake"),
        "report_checks": lambda report, **parts: [],
    }
    for name, function in fakes.items():
        # Where the pipeline looks them up; a name it no longer has is an error.
        if not hasattr(pipeline, name):
            raise AttributeError(f"the report pipeline has no {name}")
        setattr(pipeline, name, function)
