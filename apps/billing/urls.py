from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("billing/", views.BillingView.as_view(), name="billing"),
    path("billing/checkout/", views.BillingCheckoutView.as_view(), name="checkout"),
    path("billing/portal/", views.BillingPortalView.as_view(), name="portal"),
]
