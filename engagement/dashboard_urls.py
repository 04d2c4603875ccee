from django.urls import path

from engagement import dashboard

urlpatterns = [path("", dashboard.dashboard, name="engagement-dashboard")]
