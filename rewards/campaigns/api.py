"""Partner API for campaigns: list/create, read/update, simulate. Views parse and delegate."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement.partner_api.idempotency import IDEMPOTENCY_HEADER, idempotent
from engagement.partner_api.pagination import PageNumberPagination, paginated
from engagement.partner_api.params import parse_choice_param
from rewards.campaigns import lifecycle, simulator
from rewards.campaigns.models import Campaign
from rewards.campaigns.serializers import (
    CampaignInputSerializer,
    CampaignOutputSerializer,
    SimulateInputSerializer,
    SimulateOutputSerializer,
)


def _get(request, campaign_id):
    # Another program's campaign is a 404, never a 403.
    return get_object_or_404(Campaign.objects.select_related("program"), pk=campaign_id, program=request.program)


class CampaignListApi(APIView):
    @extend_schema(
        responses={200: paginated(CampaignOutputSerializer)},
        parameters=[OpenApiParameter("status", str, enum=Campaign.Status.values)],
        summary="List campaigns",
    )
    def get(self, request):
        campaigns = Campaign.objects.filter(program=request.program).prefetch_related("actions").order_by("id")
        if status_filter := parse_choice_param(request, "status", Campaign.Status.values):
            campaigns = campaigns.filter(status=status_filter)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(campaigns, request, view=self)
        return paginator.get_paginated_response(CampaignOutputSerializer(page, many=True).data)

    @extend_schema(
        request=CampaignInputSerializer,
        responses={201: CampaignOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Create a campaign",
        description="Trigger, conditions, actions and limits are validated together; every problem is listed.",
    )
    @idempotent
    def post(self, request):
        serializer = CampaignInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = lifecycle.create_campaign(request.program, serializer.validated_data)
        return Response(CampaignOutputSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    @extend_schema(responses={200: CampaignOutputSerializer}, summary="Read a campaign")
    def get(self, request, campaign_id):
        return Response(CampaignOutputSerializer(_get(request, campaign_id)).data)

    @extend_schema(
        request=CampaignInputSerializer(partial=True),
        responses={200: CampaignOutputSerializer},
        summary="Change a campaign (partial); status moves: activate, pause, resume, end",
    )
    def patch(self, request, campaign_id):
        campaign = _get(request, campaign_id)
        serializer = CampaignInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {key: value for key, value in serializer.validated_data.items() if key in request.data}
        if changes.get("status") == Campaign.Status.ACTIVE and campaign.status == Campaign.Status.PAUSED:
            changes.pop("status")
            campaign = lifecycle.update_campaign(campaign, changes)
            lifecycle.resume(campaign)
        else:
            campaign = lifecycle.update_campaign(campaign, changes)
        campaign = Campaign.objects.prefetch_related("actions").get(pk=campaign.pk)
        return Response(CampaignOutputSerializer(campaign).data)


class CampaignSimulateApi(APIView):
    @extend_schema(
        request=SimulateInputSerializer,
        responses={200: SimulateOutputSerializer},
        summary="Dry-run a campaign over a past period",
        description="Who would qualify, the grants and their cost in points and money, and a sample of "
        "customers, from the stored events of [start, end). Changes nothing.",
    )
    def post(self, request, campaign_id):
        campaign = _get(request, campaign_id)
        serializer = SimulateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = simulator.simulate(campaign, serializer.validated_data["start"], serializer.validated_data["end"])
        return Response(SimulateOutputSerializer(report).data)
