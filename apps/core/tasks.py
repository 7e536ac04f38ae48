"""Outgoing mail goes through a task, so a slow SMTP server never holds a request."""

from smtplib import SMTPException

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail


@shared_task(
    name="core.deliver_email",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=6,
    soft_time_limit=60,
    time_limit=90,
)
def deliver_email(*, subject: str, body: str, to: list[str], html: str = "") -> int:
    # Not acks_late: a mail handed to SMTP cannot be taken back, so a redelivery
    # after a crash would send it twice; losing the rare mail of a killed worker
    # is the lesser harm for invitations, which can be re-sent.
    return send_mail(
        subject, body, settings.DEFAULT_FROM_EMAIL, to, html_message=html or None
    )
