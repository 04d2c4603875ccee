"""Provider webhooks, mounted at /hooks/payouts/ by config.urls."""

from django.urls import path

from payouts import views

urlpatterns = [
    path("<str:provider>/<slug:program_slug>/", views.provider_webhook, name="payout-provider-webhook"),
]
