from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.TokensView.as_view(), name="tokens"),
    path(
        "tokens/<int:pk>/revoke/", views.TokenRevokeView.as_view(), name="token_revoke"
    ),
    path("sso/", views.SsoSettingsView.as_view(), name="sso"),
]
