from django.urls import path

from engagement.webhooks import api

urlpatterns = [
    path("webhooks", api.WebhookListApi.as_view(), name="api-webhooks"),
    path("webhooks/<int:subscription_id>", api.WebhookDetailApi.as_view(), name="api-webhook"),
    path(
        "webhooks/<int:subscription_id>/rotate-secret", api.WebhookRotateSecretApi.as_view(), name="api-webhook-rotate"
    ),
]
