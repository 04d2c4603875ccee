"""Customer-facing survey pages (no login; the signed token identifies the invitation)."""

from django.urls import path

from surveys import views

app_name = "surveys"

urlpatterns = [
    path("<str:token>/", views.answer_page, name="answer"),
    path("<str:token>/thanks/", views.thanks_page, name="thanks"),
]
