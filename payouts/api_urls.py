from django.urls import path

from payouts import api

urlpatterns = [
    path("payouts", api.PayoutListApi.as_view(), name="api-payouts"),
    path("payouts/<int:payout_id>", api.PayoutDetailApi.as_view(), name="api-payout"),
]
