from django.urls import path

from rewards import api, bulk_grants_api

urlpatterns = [
    path("customers/<str:external_id>/balance", api.CustomerBalanceApi.as_view(), name="api-customer-balance"),
    path("customers/<str:external_id>/ledger", api.CustomerLedgerApi.as_view(), name="api-customer-ledger"),
    path("points/grants", api.PointsGrantApi.as_view(), name="api-points-grants"),
    path("points/adjustments", api.PointsAdjustmentApi.as_view(), name="api-points-adjustments"),
    path("points/bulk-grants", bulk_grants_api.BulkGrantCreateApi.as_view(), name="api-bulk-grants"),
    path("points/bulk-grants/<int:bulk_id>", bulk_grants_api.BulkGrantDetailApi.as_view(), name="api-bulk-grant"),
    path("rewards", api.RewardListApi.as_view(), name="api-rewards"),
    path("redemptions", api.RedemptionCreateApi.as_view(), name="api-redemptions"),
    path("vouchers/<str:code>/use", api.VoucherUseApi.as_view(), name="api-voucher-use"),
    path("redemptions/<int:redemption_id>", api.RedemptionDetailApi.as_view(), name="api-redemption"),
]
