"""Admin tenancy: staff who are not superusers see and choose only their programs.

Every admin of a program-owned model uses `ProgramScopedAdmin` (or sets `program_path`
for models that reach the program through a relation, e.g. "customer__program").
"""

from django.contrib import admin

from engagement.models import Program


def allowed_programs(user):
    if user.is_superuser:
        return Program.objects.all()
    return Program.objects.filter(staff__user=user)


class ProgramScopedAdmin(admin.ModelAdmin):
    program_path = "program"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.program_path}__in": allowed_programs(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Program and not request.user.is_superuser:
            kwargs["queryset"] = allowed_programs(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
