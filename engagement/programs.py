"""Creating a program: the one door for a new tenant (used by `manage.py create_program`)."""

from django.core.exceptions import ValidationError
from django.db import transaction

from engagement.models import Program


@transaction.atomic
def create_program(*, name: str, slug: str, currency: str, timezone: str, locale: str, points_name: str) -> Program:
    """Validate and create a Program. Raises ValidationError (every field's messages at once)
    when a value is wrong or the slug is taken; nothing is created then."""
    program = Program(
        name=name.strip(),
        slug=slug.strip(),
        currency=currency.strip().upper(),
        timezone=timezone.strip(),
        default_locale=locale.strip(),
        points_name=points_name.strip(),
    )
    program.full_clean()
    program.save()
    return program


def error_lines(exc: ValidationError) -> list[str]:
    """ValidationError messages as 'field: message' lines."""
    if hasattr(exc, "error_dict"):
        return [f"{field}: {message}" for field, messages in exc.message_dict.items() for message in messages]
    return list(exc.messages)
