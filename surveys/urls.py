"""Customer-facing survey pages (no login; the signed token identifies the invitation)."""

from django.urls import path

from surveys import views

app_name = "surveys"

urlpatterns = [
    path("brand/<int:program_id>.css", views.brand_css, name="brand-css"),
    path("<str:token>/", views.answer_page, name="answer"),
    path("<str:token>/thanks/", views.thanks_page, name="thanks"),
    path("<str:token>/fresh/", views.fresh_link_page, name="fresh-link"),
]
