"""Admin tenancy: staff who are not superusers see and choose only their programs.

Every admin of a program-owned model uses `ProgramScopedAdmin` (or sets `program_path`
for models that reach the program through a relation, e.g. "customer__program"). The
class scopes, in one place, everything a changelist or form could show or accept:

- the rows (`get_queryset`);
- list filter choices: related objects and distinct values come from the staff member's
  programs only (`ScopedRelatedFieldListFilter`, `ScopedAllValuesFieldListFilter`);
- foreign-key and many-to-many choices, and the label a raw-id widget prints next to an id;
- form validation: a row may only point at objects of its own program (for superusers too).

`scope_queryset(queryset, user)` is the one door for "what of this model may user see".
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.translation import gettext_lazy as _

from engagement.models import Program


def allowed_programs(user):
    if user.is_superuser:
        return Program.objects.all()
    return Program.objects.filter(staff__user=user)


def program_path(model):
    """The lookup from `model` to its Program: "" for Program itself, None when the model
    belongs to no program. Known from a `program` field, the registered admin's
    `program_path`, or one required foreign key to a program-owned model."""
    if model is Program:
        return ""
    try:
        field = model._meta.get_field("program")
        if field.is_relation and field.related_model is Program:
            return "program"
    except FieldDoesNotExist:
        pass
    registered = admin.site._registry.get(model)
    if isinstance(registered, ProgramScopedAdmin):
        return registered.program_path
    for field in model._meta.fields:
        if field.is_relation and not field.null and field.related_model is not model:
            try:
                field.related_model._meta.get_field("program")
            except FieldDoesNotExist:
                continue
            return f"{field.name}__program"
    return None


def scope_queryset(queryset, user):
    """The rows of `queryset` that `user` may see: all for superusers; otherwise rows of
    the user's programs, and for user accounts the staff of those programs. Models that
    belong to no program are returned unchanged."""
    if user.is_superuser:
        return queryset
    programs = allowed_programs(user)
    if queryset.model is get_user_model():
        return queryset.filter(program_memberships__program__in=programs).distinct()
    path = program_path(queryset.model)
    if path is None:
        return queryset
    return queryset.filter(**{f"{path}__in" if path else "pk__in": programs})


def program_of(obj):
    """The Program `obj` belongs to, or None (follows `program_path`)."""
    path = program_path(type(obj))
    if path is None:
        return None
    for name in [part for part in path.split("__") if part]:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """Related-object filter whose choices are only objects the staff member may see."""

    def field_choices(self, field, request, model_admin):
        if request.user.is_superuser:
            return super().field_choices(field, request, model_admin)
        related = field.related_model
        visible = scope_queryset(related._default_manager.all(), request.user)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False, ordering=ordering, limit_choices_to=models.Q(pk__in=visible.values("pk"))
        )


class ScopedAllValuesFieldListFilter(admin.AllValuesFieldListFilter):
    """Distinct-values filter across a relation, read from the admin's (scoped) rows
    instead of the whole related table."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_choices = (
            model_admin.get_queryset(request).distinct().order_by(field_path).values_list(field_path, flat=True)
        )


class ScopedForeignKeyRawIdWidget(ForeignKeyRawIdWidget):
    """Raw-id input that names the chosen object only if it is in `queryset`."""

    def __init__(self, rel, admin_site, queryset, **kwargs):
        self.queryset = queryset
        super().__init__(rel, admin_site, **kwargs)

    def label_and_url_for_value(self, value):
        key = self.rel.get_related_field().name
        try:
            visible = self.queryset.filter(**{key: value}).exists()
        except (ValueError, TypeError, forms.ValidationError):
            visible = False
        return super().label_and_url_for_value(value) if visible else ("", "")


class SameProgramFormMixin:
    """A row may only point at objects of its own program (checked for every user)."""

    def clean(self):
        data = super().clean()
        program = data.get("program") if "program" in data else program_of(self.instance)
        if not isinstance(program, Program):
            return data
        for name, value in list(data.items()):
            if name == "program" or not isinstance(value, models.Model):
                continue
            other = program_of(value)
            if other is not None and other != program:
                self.add_error(name, _("This belongs to another program."))
        return data


def _scoped_list_filter(model, entry):
    if not isinstance(entry, str):
        return entry
    fields = get_fields_from_path(model, entry)
    last = fields[-1]
    if last.is_relation:
        return (entry, ScopedRelatedFieldListFilter)
    if len(fields) > 1 and not last.choices and not isinstance(last, (models.BooleanField, models.DateField)):
        return (entry, ScopedAllValuesFieldListFilter)
    return entry


class ProgramScopedAdmin(admin.ModelAdmin):
    program_path = "program"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.program_path}__in": allowed_programs(request.user)})

    def get_list_filter(self, request):
        return [_scoped_list_filter(self.model, entry) for entry in super().get_list_filter(request)]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            base = self.get_field_queryset(None, db_field, request)
            if base is None:
                base = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = scope_queryset(base, request.user)
        if "widget" not in kwargs and db_field.name in self.raw_id_fields:
            kwargs["widget"] = ScopedForeignKeyRawIdWidget(
                db_field.remote_field, self.admin_site, kwargs["queryset"], using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            base = self.get_field_queryset(None, db_field, request)
            if base is None:
                base = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = scope_queryset(base, request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (SameProgramFormMixin, form), {})

    def get_changelist_form(self, request, **kwargs):
        form = super().get_changelist_form(request, **kwargs)
        return type(form.__name__, (SameProgramFormMixin, form), {})


class ReadOnlyScopedAdmin(ProgramScopedAdmin):
    """Rows that only the services write (events, snapshots, provider products, redemptions):
    staff see them; nobody adds, changes or deletes them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
