from django.contrib import admin

from .models import Delivery, Notification, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "org", "enabled", "created_at"]
    list_filter = ["enabled"]
    exclude = ["secret"]
    readonly_fields = ["org", "created_by", "created_at", "disabled_at"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["message_id", "org", "endpoint", "status", "attempts", "created_at"]
    list_filter = ["status"]
    list_select_related = ["org", "endpoint"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["kind", "subject_id", "org", "channel", "endpoint", "created_at"]
    list_filter = ["kind", "channel"]
    list_select_related = ["org", "endpoint"]
    raw_id_fields = ["org", "endpoint", "delivery"]
