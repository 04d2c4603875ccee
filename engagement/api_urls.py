from django.urls import path

from engagement import api

urlpatterns = [
    path("events", api.EventIngestApi.as_view(), name="api-events"),
    path("customers", api.CustomerListApi.as_view(), name="api-customers"),
    path("customers/<str:external_id>", api.CustomerDetailApi.as_view(), name="api-customer"),
    path("customers/<str:external_id>/export", api.CustomerExportApi.as_view(), name="api-customer-export"),
]
