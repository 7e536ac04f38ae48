from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("webhooks/", views.WebhooksView.as_view(), name="webhooks"),
    path(
        "webhooks/<int:pk>/disable/",
        views.WebhookDisableView.as_view(),
        name="webhook_disable",
    ),
    path(
        "webhooks/<int:pk>/rotate/",
        views.WebhookRotateView.as_view(),
        name="webhook_rotate",
    ),
    path("webhooks/deliveries/", views.DeliveriesView.as_view(), name="deliveries"),
]
