from django.urls import path

from rewards.campaigns import api

urlpatterns = [
    path("campaigns", api.CampaignListApi.as_view(), name="api-campaigns"),
    path("campaigns/<int:campaign_id>", api.CampaignDetailApi.as_view(), name="api-campaign"),
    path("campaigns/<int:campaign_id>/simulate", api.CampaignSimulateApi.as_view(), name="api-campaign-simulate"),
]
