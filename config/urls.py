from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from engagement.admin_security import AdminLoginForm

admin.site.site_header = "Ganjaran"
admin.site.site_title = "Ganjaran admin"
admin.site.index_title = "Programs, rewards, surveys and payouts"
# Password + TOTP code (settings.ADMIN_OTP); django-axes counts the failures.
admin.site.login_form = AdminLoginForm
# The app list is the index page; without the side bar, lists get the width of a laptop screen.
admin.site.enable_nav_sidebar = False
admin.site.login_template = "engagement/admin_login.html"

api_v1 = [
    path("", include("engagement.api_urls")),
    path("", include("engagement.metrics.urls")),
    path("", include("engagement.webhooks.api_urls")),
    path("", include("surveys.api_urls")),
    path("", include("payouts.api_urls")),
    path("", include("rewards.api_urls")),
    path("", include("rewards.campaigns.api_urls")),
    path("", include("rewards.checkout.api_urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/portal/", permanent=False)),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/dashboard/", include("engagement.dashboard_urls")),
    path("admin/", admin.site.urls),
    path("portal/", include("rewards.portal_urls")),
    path("s/", include("surveys.urls")),
    path("hooks/payouts/", include("payouts.urls")),
    path("hooks/channels/", include("engagement.channels.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
