"""Provider callbacks, mounted at /hooks/channels/ (config/urls.py)."""

from django.urls import path

from engagement.channels import views

app_name = "channels"

urlpatterns = [
    path("twilio/status/", views.twilio_status_callback, name="twilio-status"),
    path("twilio/inbound/", views.twilio_inbound, name="twilio-inbound"),
]
