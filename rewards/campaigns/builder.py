"""The admin's campaign builder: plain form fields instead of JSON.

The stored rule keeps its JSON columns (trigger_config, conditions, audience_*, each action's
config); these forms translate to and from them. A field applies to some trigger, audience or
action kinds: its widget carries `data-kinds` (and `data-kind-group`) so the static
`campaigns/builder.js` shows only the fields of the chosen kind; without scripts every field
shows and only the chosen kind's are read. Errors come from validation.py and are shown next
to the field they name (`field_for`).
"""

from decimal import Decimal, InvalidOperation

from django import forms
from django.utils.translation import gettext_lazy as _

from engagement.event_labels import event_label
from engagement.event_schema import CATALOGUE
from engagement.models import Segment
from engagement.webhooks.models import EventType
from payouts.models import Method
from rewards.campaigns import validation
from rewards.campaigns.conditions import CHANNELS, NUMERIC_FIELDS, ConditionError, key_of
from rewards.campaigns.models import Campaign, CampaignAction
from rewards.campaigns.triggers import DEFAULT_CART_MINUTES, DEFAULT_TICKET_HOURS

K = Campaign.Trigger
UNIT_MINUTES = {"minutes": 1, "hours": 60, "days": 60 * 24}
UNITS = [("minutes", _("minutes")), ("hours", _("hours")), ("days", _("days"))]


def shown_for(group, *kinds, widget=None, **attrs):
    """A widget shown only while the `group` select ("trigger", "audience", "action") holds
    one of `kinds`."""
    widget = widget or forms.TextInput()
    widget.attrs.update({"data-kind-group": group, "data-kinds": " ".join(kinds), **attrs})
    return widget


class DurationWidget(forms.MultiWidget):
    """A number and a unit; a stored count of minutes shows in the largest whole unit."""

    def __init__(self, attrs=None):
        widgets = [
            forms.NumberInput(attrs={"min": 0, "class": "vIntegerField"}),
            forms.Select(choices=UNITS),
        ]
        super().__init__(widgets, attrs)

    def decompress(self, value):
        if value in (None, ""):
            return [None, "minutes"]
        for unit in ("days", "hours"):
            if value and value % UNIT_MINUTES[unit] == 0:
                return [value // UNIT_MINUTES[unit], unit]
        return [value, "minutes"]


class DurationField(forms.MultiValueField):
    """A duration typed as a number and a unit; cleaned to whole minutes (or None)."""

    def __init__(self, **kwargs):
        fields = (
            forms.IntegerField(min_value=0, max_value=10**9, required=False),
            forms.ChoiceField(choices=UNITS, required=False),
        )
        kwargs.setdefault("widget", DurationWidget())
        super().__init__(fields, require_all_fields=False, **kwargs)

    def compress(self, data_list):
        if not data_list or data_list[0] in (None, ""):
            return None
        return data_list[0] * UNIT_MINUTES[data_list[1] or "minutes"]


def label_parts(form):
    """Give the inputs of split widgets (a duration, a date and time) an accessible name: the
    admin's label points at none of them."""
    for field in form.fields.values():
        widgets = getattr(field.widget, "widgets", None)
        if not widgets:
            continue
        parts = (_("amount"), _("unit")) if isinstance(field.widget, DurationWidget) else (_("date"), _("time"))
        for widget, part in zip(widgets, parts, strict=False):
            widget.attrs.setdefault("aria-label", f"{field.label}: {part}")


def in_whole(minutes, unit, field):
    """`minutes` as a whole number of `unit`, or a ValidationError for `field`."""
    if minutes is None:
        return None
    if minutes % UNIT_MINUTES[unit]:
        raise forms.ValidationError({field: _("Give a whole number of %(unit)s.") % {"unit": unit}})
    return minutes // UNIT_MINUTES[unit]


def json_number(value):
    """A Decimal as the JSON number the rule stores (whole numbers as ints)."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def event_type_choices(current=None):
    types = sorted({*CATALOGUE, "tier_changed"})
    if current and current not in types:
        types.append(current)  # a custom event type (custom.*) already in the rule
    return [("", "---------")] + [(t, event_label(t)) for t in types]


# What an error names when no field of the form holds it (a whole part of the rule).
PART_LABELS = {
    "trigger": _("Trigger"),
    "audience": _("Audience"),
    "conditions": _("Conditions"),
    "actions": _("Actions"),
    "action": _("Action"),
    "config": _("Settings"),
    "limits": _("Limits"),
}


def label_in(form, name, attr):
    """The label of `form`'s field `name` (the one an error at `attr` belongs to); without such
    a field, the rule part's label, never a bare config key where a label exists."""
    if name in form.fields and form.fields[name].label:
        return str(form.fields[name].label)
    key = key_of(attr)
    return str(PART_LABELS.get(key, key.replace("_", " ")))


def message_for(error, label_of):
    """A validator's error in the admin's terms: fields named by their labels."""
    return error.render(label_of) if isinstance(error, ConditionError) else str(error)


# --- scoped choices ---------------------------------------------------------------------------


def labelled(rows, programs, label):
    """Choices (pk, label) for `rows`; prefixed with the program's name when several show."""
    several = len(programs) > 1
    return [(row.pk, f"{row.program.name} · {label(row)}" if several else label(row)) for row in rows]


def scoped_choices(programs):
    """Every program-owned choice of the builder, limited to `programs` (the campaign's own, or
    on a new campaign those the staff member may use)."""
    from engagement.channels.models import MessageTemplate
    from rewards.models import RewardItem, Tier
    from surveys.models import Survey

    programs = list(programs)
    surveys = Survey.objects.filter(program__in=programs).select_related("program").order_by("program", "id")
    items = RewardItem.objects.filter(program__in=programs).select_related("program").order_by("program", "id")
    tiers = sorted(set(Tier.objects.filter(program__in=programs).values_list("name", flat=True)))
    db_keys = MessageTemplate.objects.filter(program__in=programs).values_list("key", flat=True)
    return {
        "surveys": labelled(surveys, programs, lambda s: str(s)),
        "items": labelled(items, programs, lambda i: str(i)),
        "tiers": [(name, name) for name in tiers],
        "templates": [(key, key.replace("_", " ")) for key in sorted({*file_template_keys(), *db_keys})],
    }


def file_template_keys():
    """Message template keys shipped as files (templates/messages/<key>/ in any app)."""
    from pathlib import Path

    from django.template import engines

    keys = set()
    for loader in engines["django"].engine.template_loaders:
        for directory in loader.get_dirs():
            messages = Path(directory) / "messages"
            if messages.is_dir():
                keys.update(path.name for path in messages.iterdir() if path.is_dir())
    return keys


SEGMENT_CHOICES = [(s.value, s.label) for s in Segment]


# --- trigger ------------------------------------------------------------------------------------

EVENT_LIKE = (K.EVENT, K.NTH_EVENT)


def trigger_fields():
    """The trigger's form fields, each shown for the kinds that read it."""
    return {
        "event_type": forms.ChoiceField(
            label=_("Event type"), required=False, widget=shown_for("trigger", *EVENT_LIKE, widget=forms.Select())
        ),
        "min_value": forms.DecimalField(
            label=_("Smallest value"),
            required=False,
            decimal_places=2,
            help_text=_("In the program's currency; empty: any value."),
            widget=shown_for("trigger", K.EVENT, widget=forms.NumberInput(attrs={"step": "0.01"})),
        ),
        "max_value": forms.DecimalField(
            label=_("Largest value"),
            required=False,
            decimal_places=2,
            widget=shown_for("trigger", K.EVENT, widget=forms.NumberInput(attrs={"step": "0.01"})),
        ),
        "nth": forms.IntegerField(
            label=_("Which occurrence (N)"),
            required=False,
            min_value=1,
            help_text=_("E.g. 10 for the tenth purchase."),
            widget=shown_for("trigger", K.NTH_EVENT, widget=forms.NumberInput()),
        ),
        "repeat": forms.BooleanField(
            label=_("Every N (10th, 20th, ...)"),
            required=False,
            widget=shown_for("trigger", K.NTH_EVENT, widget=forms.CheckboxInput()),
        ),
        "threshold": forms.TypedChoiceField(
            label=_("Score threshold"),
            required=False,
            coerce=int,
            empty_value=None,
            choices=[("", "---------")] + [(n, n) for n in range(10, 101, 10)],
            widget=shown_for("trigger", K.SCORE_THRESHOLD, widget=forms.Select()),
        ),
        "direction": forms.ChoiceField(
            label=_("Direction"),
            required=False,
            choices=[("up", _("rises to or above it")), ("down", _("falls below it"))],
            widget=shown_for("trigger", K.SCORE_THRESHOLD, widget=forms.Select()),
        ),
        "segments": forms.MultipleChoiceField(
            label=_("RFM segments"),
            required=False,
            choices=SEGMENT_CHOICES,
            widget=shown_for("trigger", K.SEGMENT_ENTERED, widget=forms.CheckboxSelectMultiple()),
        ),
        "churn_above": forms.DecimalField(
            label=_("Churn risk above (%)"),
            required=False,
            min_value=Decimal("0.01"),
            max_value=Decimal("99.99"),
            decimal_places=2,
            widget=shown_for("trigger", K.CHURN_RISK, widget=forms.NumberInput(attrs={"step": "0.01"})),
        ),
        "inactive_for": DurationField(
            label=_("Inactive for"), required=False, widget=shown_for("trigger", K.INACTIVITY, widget=DurationWidget())
        ),
        "cart_wait": DurationField(
            label=_("No purchase within"),
            required=False,
            help_text=_("Empty: %(n)s minutes.") % {"n": DEFAULT_CART_MINUTES},
            widget=shown_for("trigger", K.CART_ABANDONED, widget=DurationWidget()),
        ),
        "ticket_wait": DurationField(
            label=_("Unresolved for"),
            required=False,
            help_text=_("Whole hours. Empty: %(n)s hours.") % {"n": DEFAULT_TICKET_HOURS},
            widget=shown_for("trigger", K.TICKET_UNRESOLVED, widget=DurationWidget()),
        ),
        "survey_kind": forms.ChoiceField(
            label=_("Survey kind"),
            required=False,
            choices=[("any", _("any")), ("nps", "NPS"), ("csat", "CSAT"), ("ces", "CES"), ("custom", _("custom"))],
            widget=shown_for("trigger", K.SURVEY_ANSWERED, widget=forms.Select()),
        ),
        "band": forms.ChoiceField(
            label=_("Answer band"),
            required=False,
            choices=[
                ("any", _("any")),
                ("detractor", _("detractor")),
                ("passive", _("passive")),
                ("promoter", _("promoter")),
            ],
            widget=shown_for("trigger", K.SURVEY_ANSWERED, widget=forms.Select()),
        ),
        "answered_survey": forms.TypedChoiceField(
            label=_("Survey"),
            required=False,
            coerce=int,
            empty_value=None,
            help_text=_("Empty: any survey."),
            widget=shown_for("trigger", K.SURVEY_ANSWERED, widget=forms.Select()),
        ),
        "tier_from": forms.ChoiceField(
            label=_("From tier"), required=False, widget=shown_for("trigger", K.TIER_CHANGED, widget=forms.Select())
        ),
        "tier_to": forms.ChoiceField(
            label=_("To tier"), required=False, widget=shown_for("trigger", K.TIER_CHANGED, widget=forms.Select())
        ),
        "which_date": forms.ChoiceField(
            label=_("Date"),
            required=False,
            choices=[("birthday", _("birthday")), ("signup_anniversary", _("signup anniversary"))],
            widget=shown_for("trigger", K.DATE, widget=forms.Select()),
        ),
        "frequency": forms.ChoiceField(
            label=_("Frequency"),
            required=False,
            choices=[("daily", _("daily")), ("weekly", _("weekly")), ("monthly", _("monthly"))],
            widget=shown_for("trigger", K.SCHEDULE, widget=forms.Select()),
        ),
        "day": forms.IntegerField(
            label=_("Day"),
            required=False,
            min_value=1,
            max_value=31,
            help_text=_("Weekly: 1 = Monday … 7 = Sunday; monthly: day of the month. Empty: 1."),
            widget=shown_for("trigger", K.SCHEDULE, widget=forms.NumberInput()),
        ),
        "sample_percent": forms.IntegerField(
            label=_("Share of customers (%)"),
            required=False,
            min_value=1,
            max_value=100,
            help_text=_("Empty: 100 (everyone)."),
            widget=shown_for("trigger", K.SCHEDULE, widget=forms.NumberInput()),
        ),
    }


# config key -> form field, per trigger kind ("n" is stored for the form's "nth", ...)
TRIGGER_KEYS = {
    K.EVENT: {"event_type": "event_type", "min_value": "min_value", "max_value": "max_value"},
    K.NTH_EVENT: {"event_type": "event_type", "n": "nth", "repeat": "repeat"},
    K.SCORE_THRESHOLD: {"threshold": "threshold", "direction": "direction"},
    K.SEGMENT_ENTERED: {"segments": "segments"},
    K.CHURN_RISK: {"above": "churn_above"},
    K.INACTIVITY: {"days": "inactive_for"},
    K.CART_ABANDONED: {"minutes": "cart_wait"},
    K.TICKET_UNRESOLVED: {"hours": "ticket_wait"},
    K.SURVEY_ANSWERED: {"kind": "survey_kind", "band": "band", "survey": "answered_survey"},
    K.REFERRAL_CONVERTED: {},
    K.TIER_CHANGED: {"from": "tier_from", "to": "tier_to"},
    K.DATE: {"which": "which_date"},
    K.SCHEDULE: {"frequency": "frequency", "day": "day", "sample_percent": "sample_percent"},
}


def trigger_initial(kind, config):
    """Form initial values from a stored trigger config."""
    initial = {}
    for key, name in TRIGGER_KEYS.get(kind, {}).items():
        value = config.get(key)
        if value is None:
            continue
        if name == "churn_above":
            value = Decimal(str(value)) * 100
        elif name in ("inactive_for", "cart_wait", "ticket_wait"):
            value = value * UNIT_MINUTES[key]
        initial[name] = value
    return initial


def trigger_config(kind, data):
    """The stored trigger config from cleaned form data (empty fields are left out, so the
    trigger's defaults apply). Raises ValidationError for a duration not in whole units."""
    config = {}
    for key, name in TRIGGER_KEYS.get(kind, {}).items():
        value = data.get(name)
        if value in (None, "", []) or (name == "repeat" and not value):
            continue
        if name in ("min_value", "max_value"):
            value = json_number(value)
        elif name == "churn_above":
            value = float(value / 100)
        elif name in ("inactive_for", "cart_wait", "ticket_wait"):
            value = in_whole(value, key, name)
        config[key] = value
    return config


# --- audience ---------------------------------------------------------------------------------


def audience_fields():
    return {
        "audience_segments": forms.CharField(
            label=_("Partner segments"),
            required=False,
            help_text=_("Names your systems send as attributes.segment, separated by commas."),
            widget=shown_for("audience", "segment"),
        ),
        "audience_tiers": forms.MultipleChoiceField(
            label=_("Tiers"),
            required=False,
            widget=shown_for("audience", "tier", widget=forms.CheckboxSelectMultiple()),
        ),
        "audience_rfm": forms.MultipleChoiceField(
            label=_("RFM segments"),
            required=False,
            choices=SEGMENT_CHOICES,
            widget=shown_for("audience", "rfm_segment", widget=forms.CheckboxSelectMultiple()),
        ),
        "audience_filters": forms.CharField(
            label=_("Attribute filters"),
            required=False,
            help_text=_("One per line, as attribute = value (e.g. city = Kuala Lumpur); all must match."),
            widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        ),
    }


AUDIENCE_VALUE_FIELDS = {"segment": "audience_segments", "tier": "audience_tiers", "rfm_segment": "audience_rfm"}


def parse_scalar(text):
    """A typed value as JSON: true/false, a number that reads back the same, else the text."""
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            number = kind(text)
        except ValueError:
            continue
        if str(number) == text:
            return number
    return text


def show_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def audience_initial(kind, values, attributes):
    initial = {"audience_filters": "\n".join(f"{k} = {show_scalar(v)}" for k, v in (attributes or {}).items())}
    if kind in AUDIENCE_VALUE_FIELDS:
        name = AUDIENCE_VALUE_FIELDS[kind]
        initial[name] = ", ".join(values) if name == "audience_segments" else list(values)
    return initial


def audience_data(data):
    """The stored audience ({kind, values, attributes}) from cleaned form data."""
    kind = data.get("audience") or "all"
    values = data.get(AUDIENCE_VALUE_FIELDS.get(kind, ""), []) or []
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    attributes = {}
    for number, line in enumerate((data.get("audience_filters") or "").splitlines(), start=1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        if not equals or not key.strip():
            raise forms.ValidationError({"audience_filters": _("Line %(n)s: write attribute = value.") % {"n": number}})
        attributes[key.strip()] = parse_scalar(value)
    return {"kind": kind, "values": list(values), "attributes": attributes}


# --- conditions -------------------------------------------------------------------------------

OPERATORS = [
    ("eq", _("is")),
    ("ne", _("is not")),
    ("in", _("is one of")),
    ("not_in", _("is none of")),
    ("gt", _("is more than")),
    ("gte", _("is at least")),
    ("lt", _("is less than")),
    ("lte", _("is at most")),
    ("exists", _("is set")),
]
CONDITION_FIELDS = [
    (
        _("Customer"),
        [
            ("attributes", _("attribute (name below)")),
            ("tier", _("tier")),
            ("segment", _("RFM segment")),
            ("locale", _("language")),
            ("engagement_score", _("engagement score")),
            ("churn_risk", _("churn risk (0-1)")),
            ("purchase_count", _("number of purchases")),
            ("event_count", _("number of events")),
            ("revenue", _("revenue")),
            *[(f"consent.{channel}", _("consents to %(channel)s") % {"channel": channel}) for channel in CHANNELS],
        ],
    ),
    (
        _("The event (trigger “event of a type” only)"),
        [("event.value", _("event value")), ("event.properties", _("event property (name below)"))],
    ),
]
KEYED = {"attributes": "attributes.", "event.properties": "properties."}


class ConditionForm(forms.Form):
    """One condition row: what, which (attribute or property name), how, and the value."""

    field = forms.ChoiceField(label=_("Field"), choices=[("", "---------"), *CONDITION_FIELDS], required=False)
    key = forms.CharField(label=_("Name"), required=False, max_length=100)
    op = forms.ChoiceField(label=_("Operator"), choices=OPERATORS, required=False)
    value = forms.CharField(label=_("Value"), required=False, max_length=500)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The row's inputs sit in table cells under column headings: each carries its name.
        for field in self.fields.values():
            field.widget.attrs["aria-label"] = str(field.label)

    def condition(self):
        """(scope, stored condition) for this row: scope "customer" or "event"; None when empty."""
        data = self.cleaned_data
        field = data.get("field")
        if not field or data.get("DELETE"):
            return None
        op = data.get("op") or "eq"
        if field in KEYED:
            if not (data.get("key") or "").strip():
                raise forms.ValidationError({"key": _("Name the attribute or property.")})
            path = KEYED[field] + data["key"].strip()
        else:
            path = field.removeprefix("event.")
        scope = "event" if field.startswith("event.") else "customer"
        return scope, {"field": path, "op": op, "value": self.parse_value(field, op, data.get("value") or "")}

    @staticmethod
    def parse_value(field, op, text):
        if op == "exists":
            return text.strip().lower() not in ("no", "false")
        if field.startswith("consent."):
            return text.strip().lower() in ("yes", "true")
        if op in ("in", "not_in"):
            return [parse_scalar(part) for part in text.split(",") if part.strip()]
        if field in NUMERIC_FIELDS or field == "event.value":
            try:
                number = Decimal(text.strip())
            except InvalidOperation:
                return text.strip()  # the validator names it
            return json_number(number) if number.is_finite() else text.strip()
        return parse_scalar(text) if field != "locale" else text.strip()


def condition_initial(condition, scope):
    field, op, value = condition.get("field", ""), condition.get("op", "eq"), condition.get("value")
    key = ""
    for choice, prefix in KEYED.items():
        if field.startswith(prefix) and (scope == "event") == choice.startswith("event."):
            field, key = choice, field.removeprefix(prefix)
    if scope == "event" and field == "value":
        field = "event.value"
    if isinstance(value, list):
        shown = ", ".join(show_scalar(v) for v in value)
    elif field.startswith("consent.") or op == "exists":
        shown = "yes" if value else "no"
    else:
        shown = show_scalar(value)
    return {"field": field, "key": key, "op": op, "value": shown}


class BaseConditionFormSet(forms.BaseFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].widget.attrs["aria-label"] = str(_("Delete"))


ConditionFormSet = forms.formset_factory(
    ConditionForm, formset=BaseConditionFormSet, extra=2, can_delete=True, max_num=50, validate_max=True
)


# --- actions ----------------------------------------------------------------------------------

A = CampaignAction.Kind
# config key -> form field, per action kind
ACTION_KEYS = {
    A.GRANT_POINTS: {
        "points": "points",
        "percent": "percent",
        "max_points": "max_points",
        "rounding": "rounding",
        "tier_multiplier": "tier_multiplier",
        "reason": "reason",
    },
    A.GRANT_REWARD: {"item": "item"},
    A.SEND_SURVEY: {"survey": "survey"},
    A.SEND_MESSAGE: {"template_key": "template_key", "channels": "channels"},
    A.CREATE_PAYOUT: {"amount": "amount", "percent": "percent", "method": "method"},
    A.NOTIFY_TEAM: {"subject": "subject", "body": "body"},
    A.EMIT_WEBHOOK: {"type": "webhook_type"},
}
# What an action does when its config leaves the key out (actions.py).
ACTION_DEFAULTS = {"rounding": "down", "tier_multiplier": True, "method": Method.VOUCHER}
ROUNDINGS = [("down", _("down (never more)")), ("half_up", _("to the nearest")), ("up", _("up"))]


# The widget of each kind of action field unless one is given (a new one per field: shown_for
# writes the field's kinds into it).
ACTION_WIDGETS = {
    forms.IntegerField: forms.NumberInput,
    forms.ChoiceField: forms.Select,
    forms.TypedChoiceField: forms.Select,
    forms.BooleanField: forms.CheckboxInput,
    forms.MultipleChoiceField: forms.CheckboxSelectMultiple,
    forms.CharField: forms.TextInput,
}


def for_action(field_class, label, *kinds, widget=None, **kwargs):
    """An optional action field shown only for action `kinds` (see `shown_for`)."""
    widget = widget if widget is not None else ACTION_WIDGETS[field_class]()
    return field_class(label=label, required=False, widget=shown_for("action", *kinds, widget=widget), **kwargs)


class ActionForm(forms.ModelForm):
    """One action row. Only the fields of the chosen kind are read; the row's other stored
    config keys (a message's extra context, a payout's destination) are kept as they are."""

    points = for_action(
        forms.IntegerField,
        _("Points"),
        A.GRANT_POINTS,
        min_value=1,
        help_text=_("A fixed number, or leave empty and give a percent."),
    )
    amount = for_action(
        forms.DecimalField,
        _("Amount"),
        A.CREATE_PAYOUT,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        decimal_places=2,
        help_text=_("In the program's currency; or leave empty and give a percent."),
    )
    percent = for_action(
        forms.DecimalField,
        _("Percent of the event's value"),
        A.GRANT_POINTS,
        A.CREATE_PAYOUT,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        decimal_places=2,
    )
    max_points = for_action(forms.IntegerField, _("At most (points)"), A.GRANT_POINTS, min_value=1)
    rounding = for_action(forms.ChoiceField, _("Rounding"), A.GRANT_POINTS, choices=ROUNDINGS)
    tier_multiplier = for_action(
        forms.BooleanField, _("Times the customer's tier multiplier"), A.GRANT_POINTS, initial=True
    )
    reason = for_action(
        forms.CharField,
        _("Ledger reason (staff)"),
        A.GRANT_POINTS,
        max_length=200,
        help_text=_("Empty: “Campaign:” and the campaign's name."),
    )
    item = for_action(forms.TypedChoiceField, _("Catalogue reward"), A.GRANT_REWARD, coerce=int, empty_value=None)
    survey = for_action(forms.TypedChoiceField, _("Survey"), A.SEND_SURVEY, coerce=int, empty_value=None)
    template_key = for_action(forms.ChoiceField, _("Message template"), A.SEND_MESSAGE)
    channels = for_action(
        forms.MultipleChoiceField,
        _("Channels"),
        A.SEND_MESSAGE,
        choices=[(channel, channel) for channel in CHANNELS],
        help_text=_("Sent on each chosen channel the customer consented to. None ticked: all."),
    )
    method = for_action(
        forms.ChoiceField, _("Payout method"), A.CREATE_PAYOUT, choices=Method.choices, initial=Method.VOUCHER
    )
    subject = for_action(
        forms.CharField,
        _("Subject"),
        A.NOTIFY_TEAM,
        max_length=200,
        help_text=_("May use {{ customer }} and {{ campaign }}."),
    )
    body = for_action(forms.CharField, _("Body"), A.NOTIFY_TEAM, widget=forms.Textarea(attrs={"rows": 3, "cols": 40}))
    webhook_type = for_action(
        forms.ChoiceField, _("Webhook event"), A.EMIT_WEBHOOK, choices=[("", "---------"), *EventType.choices]
    )
    delay = DurationField(label=_("Delay"), required=False, help_text=_("After the trigger; empty: at once."))
    cancel_if_event_type = forms.ChoiceField(
        label=_("Cancel if, meanwhile, the customer had"), required=False, help_text=_("Delayed actions only.")
    )

    class Meta:
        model = CampaignAction
        fields = ["position", "kind", "cancel_if_event_type"]

    def __init__(self, *args, programs=(), campaign=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        self.fields["position"].required = False
        label_parts(self)
        program = self.program
        choices = scoped_choices([program] if program else programs)
        self.fields["item"].choices = [("", "---------"), *choices["items"]]
        self.fields["survey"].choices = [("", "---------"), *choices["surveys"]]
        self.fields["template_key"].choices = [("", "---------"), *choices["templates"]]
        self.fields["cancel_if_event_type"].choices = event_type_choices(self.instance.cancel_if_event_type)
        if self.instance.pk:
            self.initial.update(self.config_initial(self.instance))

    @property
    def program(self):
        """The campaign's program: on a new campaign, the one its (validated) form chose."""
        campaign = self.campaign  # the main form's instance: it holds the program once validated
        return campaign.program if campaign is not None and campaign.program_id else None

    @staticmethod
    def config_initial(action):
        initial = {"delay": action.delay_minutes}
        for key, name in ACTION_KEYS.get(action.kind, {}).items():
            if key in action.config:
                initial[name] = action.config[key]
        return initial

    def action_item(self):
        """The cleaned row as one item of lifecycle's `actions` (its id keeps the row's runs)."""
        data = self.cleaned_data
        kind = data["kind"]
        keys = ACTION_KEYS.get(kind, {})
        before = (self.instance.config or {}) if self.instance.pk else {}
        config = {k: v for k, v in before.items() if k not in keys}
        for key, name in keys.items():
            value = data.get(name)
            if value in (None, "", []):
                continue
            if key in ACTION_DEFAULTS and value == ACTION_DEFAULTS[key] and key not in before:
                continue  # the default applies; the rule stays as short as it was
            config[key] = json_number(value) if isinstance(value, Decimal) else value
        return {
            "id": self.instance.pk,
            "kind": kind,
            "config": config,
            "delay_minutes": data.get("delay") or 0,
            "cancel_if_event_type": data.get("cancel_if_event_type") or "",
        }

    def clean(self):
        data = super().clean()
        if not data.get("kind") or data.get("DELETE") or self.errors:
            return data
        try:
            validation.validate_action_item(self.program, self.action_item(), "action")
        except ConditionError as exc:
            kind = data["kind"]
            message = message_for(exc, lambda attr: label_in(self, action_field(kind, attr), attr))
            self.add_error(action_field(kind, exc.attr or ""), message)
        return data


def action_field(kind, attr):
    """The form field an action error (`action.config.points`) belongs to, or None."""
    if attr.endswith("delay_minutes"):
        return "delay"
    if attr == "action.kind":
        return "kind"
    if attr == "action.config":  # neither or both of a fixed amount and a percent
        return {A.GRANT_POINTS: "points", A.CREATE_PAYOUT: "amount"}.get(kind)
    key = attr.removeprefix("action.config.").split(".")[0]
    return ACTION_KEYS.get(kind, {}).get(key)


class ActionFormSet(forms.BaseInlineFormSet):
    """The campaign's action rows; `programs` (the staff member's) is set by the admin and
    offers choices until the campaign has a program."""

    programs = ()

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "programs": self.programs, "campaign": self.instance}

    def clean(self):
        super().clean()
        alive = [f for f in self.forms if f.cleaned_data.get("kind") and not f.cleaned_data.get("DELETE")]
        if not alive:
            raise forms.ValidationError(_("A campaign needs at least one action."))


# --- the campaign -----------------------------------------------------------------------------

LIMIT_ATTRS = {f"limits.{key}": name for key, name in validation.LIMIT_FIELDS.items()}


class CampaignFormBase(forms.ModelForm):
    """The campaign's own fields, its trigger, audience and conditions. Its status moves only
    through lifecycle (the status buttons and actions), so it is read-only here; `seen_status`
    is the status the page showed when it was opened, compared on save to tell the user what
    moved meanwhile. `programs` is set by the admin (see ActionFormSet)."""

    programs = ()
    seen_status = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Campaign
        fields = [
            "program",
            "name",
            "description",
            "priority",
            "customer_title_en",
            "customer_title_ar",
            "customer_title_ms",
            "starts_at",
            "ends_at",
            "audience",
            "trigger_kind",
            "per_customer_limit",
            "per_customer_period_days",
            "budget_points",
            "budget_money",
            "max_grants",
        ]
        labels = {
            "customer_title_en": _("Title for customers (English)"),
            "customer_title_ar": _("Title for customers (Arabic)"),
            "customer_title_ms": _("Title for customers (Malay)"),
            "trigger_kind": _("Kind"),
            "audience": _("Audience"),
            "per_customer_limit": _("Times per customer"),
            "per_customer_period_days": _("Within (days)"),
            "budget_points": _("Points budget"),
            "budget_money": _("Money budget"),
            "max_grants": _("Most grants in all"),
        }
        help_texts = {
            "per_customer_limit": _("Empty: no limit. 1 and no days: once ever."),
            "per_customer_period_days": _("E.g. 7: the limit counts per week."),
            "budget_money": _("In the program's currency. The campaign pauses when a budget runs out."),
        }

    class Media:
        js = ["campaigns/builder.js"]
        css = {"all": ["campaigns/builder.css"]}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        program = instance.program if instance.program_id else None
        choices = scoped_choices([program] if program else self.programs)
        self.fields["event_type"].choices = event_type_choices((instance.trigger_config or {}).get("event_type"))
        self.fields["answered_survey"].choices = [("", "---------"), *choices["surveys"]]
        tiers = [("", "---------"), *choices["tiers"]]
        self.fields["tier_from"].choices = self.fields["tier_to"].choices = tiers
        self.fields["audience_tiers"].choices = choices["tiers"]
        self.fields["seen_status"].initial = instance.status
        label_parts(self)
        if instance.pk:
            self.initial.update(trigger_initial(instance.trigger_kind, instance.trigger_config or {}))
            self.initial.update(
                audience_initial(instance.audience, instance.audience_values, instance.audience_attributes)
            )
        rows = [condition_initial(c, "customer") for c in instance.conditions or []]
        if instance.trigger_kind == K.EVENT:
            rows += [condition_initial(c, "event") for c in (instance.trigger_config or {}).get("conditions", [])]
        self.conditions = ConditionFormSet(self.data if self.is_bound else None, prefix="conditions", initial=rows)

    @property
    def media(self):
        return super().media + self.conditions.media

    def conditions_failed(self):
        """Mark the form invalid for an error shown on a condition row (said once)."""
        message = _("Check the conditions below.")
        if message not in self.non_field_errors():
            self.add_error(None, message)

    def _condition_rows(self):
        """{scope: [(row form, condition)]} of the filled condition rows."""
        rows = {"customer": [], "event": []}
        if not self.conditions.is_valid():
            self.conditions_failed()
            return rows
        for form in self.conditions.forms:
            try:
                found = form.condition()
            except forms.ValidationError as exc:
                form.add_error(None, exc)
                self.conditions_failed()
                continue
            if found:
                rows[found[0]].append((form, found[1]))
        return rows

    def rule_data(self):
        """The cleaned form as lifecycle's input (the API's shape), without the actions."""
        data = self.cleaned_data
        kind = data.get("trigger_kind")
        config = trigger_config(kind, data)
        rows = getattr(self, "_rows", {"customer": [], "event": []})
        if rows["event"]:
            config["conditions"] = [condition for _, condition in rows["event"]]
        return {
            "name": data.get("name") or "",
            "description": data.get("description") or "",
            "customer_titles": {lang: data.get(f"customer_title_{lang}", "") for lang in ("en", "ar", "ms")},
            "priority": data.get("priority") if data.get("priority") is not None else 0,
            "starts_at": data.get("starts_at"),
            "ends_at": data.get("ends_at"),
            "audience": audience_data(data),
            "trigger": {"kind": kind, "config": config},
            "conditions": [condition for _, condition in rows["customer"]],
            "limits": {
                key: data.get(name) for key, name in validation.LIMIT_FIELDS.items() if data.get(name) is not None
            },
        }

    def clean(self):
        data = super().clean()
        self._rows = self._condition_rows()
        if self._rows["event"] and data.get("trigger_kind") != K.EVENT:
            for form, _condition in self._rows["event"]:
                form.add_error("field", _("Event conditions apply to the trigger “event of a type” only."))
            self.conditions_failed()
        try:
            rule = self.rule_data()
        except forms.ValidationError as exc:
            self.add_error(None, exc)
            return data
        for attr, message in validation.rule_errors(data.get("program"), rule, actions=False):
            self._show_error(attr, message, data)
        self._check_survey_program(data)
        return data

    def _check_survey_program(self, data):
        # The trigger's survey is only a filter the validator does not look up; a campaign
        # must still not name another program's survey.
        from surveys.models import Survey

        survey, program = data.get("answered_survey"), data.get("program")
        if data.get("trigger_kind") == K.SURVEY_ANSWERED and survey and program:
            if not Survey.objects.filter(pk=survey, program=program).exists():
                self.add_error("answered_survey", _("This belongs to another program."))

    def _show_error(self, attr, error, data):
        """Put a validator error next to the field it names, naming fields by their labels."""
        parts = attr.split(".")
        if parts[0] == "conditions" or attr.startswith("trigger.config.conditions."):
            scope, index = ("customer", 1) if parts[0] == "conditions" else ("event", 3)
            rows = self._rows[scope]
            if len(parts) > index and parts[index].isdigit() and int(parts[index]) < len(rows):
                form = rows[int(parts[index])][0]
                sub = parts[index + 1] if len(parts) > index + 1 else None

                def row_label(path, form=form, index=index):
                    rest = path.split(".")[index + 1 :]
                    return label_in(form, rest[0] if rest else None, path)

                message = message_for(error, row_label)
                form.add_error(sub if sub in ("field", "op", "value") else None, message)
                self.conditions_failed()
                return
        kinds = data.get("trigger_kind"), data.get("audience")
        message = message_for(error, lambda path: label_in(self, self.field_for(path, *kinds), path))
        field = self.field_for(attr, *kinds)
        self.add_error(field if field in self.fields and field in data else None, message)

    @staticmethod
    def field_for(attr, trigger_kind, audience_kind):
        """The form field an error attr of validation.rule_errors belongs to, or None."""
        if attr.startswith("trigger.config."):
            key = attr.removeprefix("trigger.config.").split(".")[0]
            return TRIGGER_KEYS.get(trigger_kind, {}).get(key)
        if attr == "audience.values":
            return AUDIENCE_VALUE_FIELDS.get(audience_kind)
        if attr.startswith("audience.attributes"):
            return "audience_filters"
        named = {"trigger.kind": "trigger_kind", "audience.kind": "audience", "audience": "audience", **LIMIT_ATTRS}
        return named.get(attr, attr if attr in ("name", "priority", "starts_at", "ends_at") else None)


# The trigger and audience fields are declared on the class (the admin's fieldsets name them).
CampaignForm = type(
    "CampaignForm", (CampaignFormBase,), {"__module__": __name__, **trigger_fields(), **audience_fields()}
)
