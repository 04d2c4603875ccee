from django.urls import path

from engagement.metrics import api as metrics_api

urlpatterns = [
    path("metrics", metrics_api.MetricsApi.as_view(), name="api-metrics"),
    path(
        "customers/<str:external_id>/engagement",
        metrics_api.CustomerEngagementApi.as_view(),
        name="api-customer-engagement",
    ),
    path("models", metrics_api.PurchaseModelsApi.as_view(), name="api-purchase-models"),
]
