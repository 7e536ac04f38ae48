from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from apps.orgs.extensions import DashboardFigure, register_dashboard_figure
        from apps.orgs.permissions import Perm

        from . import receivers  # noqa: F401
        from .selectors import api_token_list

        register_dashboard_figure(
            DashboardFigure(
                key="active_tokens",
                permission=Perm.TOKENS_MANAGE,
                count=lambda org: api_token_list(org=org, active_only=True).count(),
            )
        )
