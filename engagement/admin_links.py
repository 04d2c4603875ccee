"""Admin list columns that link to a related row's page instead of printing its id or token."""

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html


def admin_link(obj, text=None):
    """An <a> to `obj`'s admin change page, or its text alone when it has no admin page."""
    if obj is None:
        return "–"
    opts = obj._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return str(obj) if text is None else text
    return format_html('<a href="{}">{}</a>', url, obj if text is None else text)


def link_column(path, description, ordering=None):
    """A list_display column showing the object at `path` ("customer", "delivery__event") as a link."""

    @admin.display(description=description, ordering=ordering or path)
    def column(self, obj):
        for name in path.split("__"):
            obj = getattr(obj, name, None)
        return admin_link(obj)

    column.__name__ = f"{path}_link"
    return column
