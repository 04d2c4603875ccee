from django.urls import path

from engagement import dashboard, model_pages

urlpatterns = [
    path("", dashboard.dashboard, name="engagement-dashboard"),
    path("models/", model_pages.model_page, name="engagement-purchase-models"),
]
