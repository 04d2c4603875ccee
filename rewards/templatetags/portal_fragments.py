"""Per-process caches of rendered portal fragments whose HTML depends on nothing but a few
values, so a request joins strings instead of rendering the same nodes again.

Each key holds every value the fragment's output depends on (the language, the time zone
and script prefix where they matter, the row's displayed fields): a change of any of them is
a new key, so nothing needs to be invalidated and no change can be hidden. The store is
shared by threads (a dict's get and set are atomic) and emptied when full."""

from django import template
from django.template.loader import get_template
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

register = template.Library()

MAX_ENTRIES = 5000
_rendered: dict[tuple, str] = {}


def _locale_key():
    """What any fragment may depend on without saying: the language (translations, the
    direction), the time zone (dates, the CLDR territory) and the script prefix (URLs)."""
    return get_language(), timezone.get_current_timezone_name(), get_script_prefix()


def _remember(key, html):
    if len(_rendered) >= MAX_ENTRIES:
        _rendered.clear()
    _rendered[key] = html
    return html


@register.tag
def fragment(parser, token):
    """{% fragment "name" value ... %}...{% endfragment %}: the body rendered once per
    process for each language, time zone, script prefix and combination of the values,
    which must be all else the body depends on (the CSRF token, the customer and the
    request path never belong inside)."""
    bits = token.split_contents()
    if len(bits) < 2:
        raise template.TemplateSyntaxError("{% fragment %} needs a name")
    nodelist = parser.parse(("endfragment",))
    parser.delete_first_token()
    return FragmentNode(bits[1], [parser.compile_filter(bit) for bit in bits[2:]], nodelist)


class FragmentNode(template.Node):
    def __init__(self, name, vary, nodelist):
        self.name, self.vary, self.nodelist = name, vary, nodelist

    def render(self, context):
        key = (self.name, *_locale_key(), *(value.resolve(context) for value in self.vary))
        html = _rendered.get(key)
        return html if html is not None else _remember(key, self.nodelist.render(context))


CARD_TEMPLATE = "rewards/portal/_card.html"


@register.simple_tag
def reward_card(item):
    """The customer-independent part of a catalogue item's card (rewards/portal/_card.html:
    image, title, description, cost and value), keyed by every field it shows and by what
    formats them (_locale_key)."""
    key = (
        CARD_TEMPLATE, *_locale_key(), item.pk,
        item.title, item.description, item.image.name, item.points_cost, item.cash_value, item.get_currency(),
    )  # fmt: skip
    html = _rendered.get(key)
    if html is None:
        # The file's final newline is not part of the card (catalogue.html places it).
        html = _remember(key, mark_safe(get_template(CARD_TEMPLATE).render({"item": item}).removesuffix("\n")))
    return html
