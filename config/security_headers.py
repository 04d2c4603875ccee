"""Response headers that are not Django's own: Permissions-Policy (settings.PERMISSIONS_POLICY)."""

from django.conf import settings


class PermissionsPolicyMiddleware:
    """Adds the Permissions-Policy header to every response that has none yet."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.PERMISSIONS_POLICY and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = settings.PERMISSIONS_POLICY
        return response
