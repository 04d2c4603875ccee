"""The admin's view of a state machine's history (engagement.state_machine.StatusChange rows)."""

from typing import Any

from django.contrib import admin


class StatusChangeInline(admin.TabularInline):
    """Read-only status history under an admin change page (set `model` in a subclass)."""

    extra = 0
    can_delete = False
    fields = readonly_fields = ["created_at", "from_status", "to_status", "reason", "actor"]

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
