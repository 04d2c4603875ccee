"""The project's URLs plus the channels callbacks (until config/urls.py includes them)."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("hooks/channels/", include("engagement.channels.urls")),
    *[pattern for pattern in project_urlpatterns if str(pattern.pattern) != "hooks/channels/"],
]
