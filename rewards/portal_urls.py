from django.urls import path

from rewards import preference_views, push_views, views

app_name = "rewards_portal"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("login/", views.login_view, name="login"),
    path("login/<str:token>/", views.login_link_view, name="login-link"),
    path("logout/", views.logout_view, name="logout"),
    path("history/", views.history_view, name="history"),
    path("rewards/", views.catalogue_view, name="catalogue"),
    path("rewards/<int:item_id>/", views.redeem_view, name="redeem"),
    path("rewards/<int:item_id>/image/", views.reward_image_view, name="reward-image"),
    path("my-rewards/", views.my_rewards_view, name="my-rewards"),
    path("my-rewards/<int:redemption_id>/", views.redemption_view, name="redemption"),
    path("referrals/", views.referrals_view, name="referrals"),
    path("r/<str:code>/", views.referral_landing_view, name="referral-landing"),
    path("brand/<slug:slug>.css", views.brand_css_view, name="brand-css"),
    path("sw.js", push_views.service_worker_view, name="service-worker"),
    path("push/subscribe/", push_views.push_subscribe_view, name="push-subscribe"),
    path("push/unsubscribe/", push_views.push_unsubscribe_view, name="push-unsubscribe"),
    path("preferences/", preference_views.my_preferences_view, name="my-preferences"),
    path("preferences/<str:token>/", preference_views.preferences_view, name="preferences"),
    path("unsubscribe/<str:token>/", preference_views.unsubscribe_view, name="unsubscribe"),
    path("profile/", views.profile_view, name="profile"),
]
