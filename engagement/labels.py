"""Translated automatic labels: a model field or model without an explicit verbose name gets
its automatic one ("created at", "reward item") through gettext.

Django derives those names from identifiers, so makemessages cannot see them: each app keeps
a generated `<app>/field_labels.py` listing them as gettext calls (written by
`manage.py write_field_labels`, run by `make messages`). Setting `verbose_name` here changes
no migration: migrations record only names given explicitly.
"""

from django.utils.translation import gettext_lazy

OUR_APPS = ("engagement", "engagement.channels", "engagement.webhooks", "surveys", "payouts", "rewards",
            "rewards.campaigns")  # fmt: skip


def automatic_labels(app_config):
    """The automatic field and model names of the app's models, sorted, without duplicates."""
    labels = set()
    for model in app_config.get_models():
        for field in model._meta.get_fields():
            if getattr(field, "_verbose_name", "") is None and not field.auto_created:
                labels.add(str(field.verbose_name))
        for option in ("verbose_name", "verbose_name_plural"):
            if option not in model._meta.original_attrs:
                labels.add(str(getattr(model._meta, option)))
    return sorted(labels)


def translate_automatic_labels(app_config):
    """Make the app's automatic field and model names lazy translations (call from ready())."""
    for model in app_config.get_models():
        for field in model._meta.get_fields():
            if getattr(field, "_verbose_name", "") is None and not field.auto_created:
                field.verbose_name = gettext_lazy(str(field.verbose_name))
        for option in ("verbose_name", "verbose_name_plural"):
            if option not in model._meta.original_attrs:
                setattr(model._meta, option, gettext_lazy(str(getattr(model._meta, option))))
