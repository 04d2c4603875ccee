from django.urls import path

from surveys import api

urlpatterns = [
    path("surveys", api.SurveyListApi.as_view(), name="api-surveys"),
    path("surveys/<int:survey_id>/sends", api.SurveySendApi.as_view(), name="api-survey-sends"),
    path("surveys/<int:survey_id>/responses", api.SurveyResponsesApi.as_view(), name="api-survey-responses"),
    path("surveys/<int:survey_id>/report", api.SurveyReportApi.as_view(), name="api-survey-report"),
]
