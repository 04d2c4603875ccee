"""Message templates: find one for (key, channel, locale) and render it.

Lookup order: the program's DB row in the locale, the file template in the locale, then the
same two in English. File templates live in any app's `templates/messages/<key>/<channel>.
<locale>.txt` (found by Django's template loaders). A file may start with header lines
`Subject: ...` (email) and `Approved: yes` (a pre-approved WhatsApp template); the body
follows (leading blank lines dropped). Rendering uses Django's template language with
autoescape off (these are plain-text messages), under the message's locale.
"""

import re
from dataclasses import dataclass

from django.template import Context, TemplateDoesNotExist, engines
from django.utils import translation

from engagement.channels.models import MessageTemplate

FALLBACK_LOCALE = "en"
_HEADER = re.compile(r"^(Subject|Approved):[ \t]*(.*)$", re.IGNORECASE)


class TemplateNotFound(LookupError):
    pass


@dataclass(frozen=True)
class RenderedMessage:
    locale: str
    subject: str
    body: str
    pre_approved: bool


def _django_engine():
    return engines["django"].engine


def _file_source(key, channel, locale):
    name = f"messages/{key}/{channel}.{locale}.txt"
    try:
        return _django_engine().get_template(name)
    except TemplateDoesNotExist:
        return None


def _split_headers(text):
    headers = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines) and (match := _HEADER.match(lines[index].strip())):
        headers[match.group(1).lower()] = match.group(2).strip()
        index += 1
    body = "\n".join(lines[index:]).strip("\n")
    return headers, body.rstrip()


def _render(source_template, context):
    return source_template.render(Context(context, autoescape=False))


def find_template(program, key, channel, locale):
    """(locale_used, kind, template) for the first match in lookup order, or raise TemplateNotFound."""
    locales = [locale] if locale == FALLBACK_LOCALE else [locale, FALLBACK_LOCALE]
    rows = {
        row.locale: row
        for row in MessageTemplate.objects.filter(program=program, key=key, channel=channel, locale__in=locales)
    }
    for candidate in locales:
        if candidate in rows:
            return candidate, "db", rows[candidate]
        if (file_template := _file_source(key, channel, candidate)) is not None:
            return candidate, "file", file_template
    raise TemplateNotFound(f"No template {key!r} for channel {channel!r} in {locale!r} or {FALLBACK_LOCALE!r}")


def render_message(program, key, channel, locale, context):
    """Render the template for (key, channel, locale) with `context`; raises TemplateNotFound."""
    used_locale, kind, template = find_template(program, key, channel, locale)
    with translation.override(used_locale):
        if kind == "db":
            engine = _django_engine()
            subject = _render(engine.from_string(template.subject), context).strip() if template.subject else ""
            body = _render(engine.from_string(template.body), context).strip()
            return RenderedMessage(used_locale, subject, body, template.pre_approved)
        headers, body = _split_headers(_render(template, context))
    approved = headers.get("approved", "").lower() in ("yes", "true", "1")
    return RenderedMessage(used_locale, headers.get("subject", ""), body, approved)


def is_pre_approved(program, key, channel, locale):
    """True when the template used for (key, channel, locale) is marked pre-approved."""
    _, kind, template = find_template(program, key, channel, locale)
    if kind == "db":
        return template.pre_approved
    headers, _ = _split_headers(template.source)
    return headers.get("approved", "").lower() in ("yes", "true", "1")
