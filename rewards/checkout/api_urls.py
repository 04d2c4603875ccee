from django.urls import path

from rewards.checkout import api

urlpatterns = [
    path("checkout/evaluate", api.CheckoutEvaluateApi.as_view(), name="api-checkout-evaluate"),
    path("checkout/reservations", api.ReservationCreateApi.as_view(), name="api-checkout-reservations"),
    path(
        "checkout/reservations/<int:reservation_id>",
        api.ReservationDetailApi.as_view(),
        name="api-checkout-reservation",
    ),
    path(
        "checkout/reservations/<int:reservation_id>/confirm",
        api.ReservationConfirmApi.as_view(),
        name="api-checkout-reservation-confirm",
    ),
    path(
        "checkout/reservations/<int:reservation_id>/cancel",
        api.ReservationCancelApi.as_view(),
        name="api-checkout-reservation-cancel",
    ),
    path("codes/<str:code>", api.CodeDetailApi.as_view(), name="api-code"),
]
