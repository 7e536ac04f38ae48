from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self):
        from celery.signals import worker_process_shutdown, worker_ready
        from django.contrib.auth.signals import user_logged_in
        from django.core.signals import request_finished

        from . import checks  # noqa: F401  (registers the deploy checks)

        request_finished.connect(_request_finished, weak=False)
        user_logged_in.connect(_user_logged_in, weak=False)
        worker_ready.connect(_worker_ready, weak=False)
        worker_process_shutdown.connect(_worker_process_shutdown, weak=False)


def _user_logged_in(sender, request=None, user=None, **kwargs):
    from .middleware import mfa_enrolment_mark

    if request is not None and user is not None:
        mfa_enrolment_mark(request=request, user=user)


def _request_finished(**kwargs):
    from .logging import request_id_var

    request_id_var.set("-")


def _worker_ready(**kwargs):
    from django.conf import settings

    from .metrics import worker_metrics_serve

    if settings.METRICS_WORKER_PORT:
        worker_metrics_serve(settings.METRICS_WORKER_PORT)


def _worker_process_shutdown(pid=None, **kwargs):
    import os

    from .metrics import worker_child_exit

    worker_child_exit(pid or os.getpid())
