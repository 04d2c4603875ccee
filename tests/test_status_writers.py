"""One door per status: nothing but its state machine writes `Invitation.status`,
`Message.status` or `Fulfilment.status` (surveys.states, engagement.channels.states,
rewards.fulfilment).

A grep over the parsed source of every app module (not tests, not migrations) for the ways a
status gets written: `x.status = ...`, `save(update_fields=[..."status"...])`, a queryset
`update/create/...(status=...)`, a model built with `status=...`, `bulk_update(..., ["status"])`
and raw SQL `UPDATE surveys_invitation/channels_message SET ... status`. A write counts as one
of ours when its target is named for invitations or messages, or the value written is an
invitation, message or fulfilment status (`Invitation.Status.X`, `MessageStatus.X`,
`FulfilmentStatus.X`, or an alias of them).
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("config", "engagement", "payouts", "rewards", "surveys")
DOORS = {"surveys/states.py", "engagement/channels/states.py", "engagement/state_machine.py", "rewards/fulfilment.py"}
TARGET = re.compile(r"invitation|message|\bmsg|fulfilment", re.IGNORECASE)
STATUS_TYPES = ("Invitation.Status", "MessageStatus", "FulfilmentStatus")
WRITE_METHODS = {
    "update", "create", "get_or_create", "update_or_create", "bulk_create", "Invitation", "Message", "Fulfilment",
}  # fmt: skip
RAW_SQL = re.compile(
    r"UPDATE\s+\"?(surveys_invitation|channels_message|rewards_fulfilment)\"?\s+SET[^;]*\bstatus\b",
    re.IGNORECASE | re.S,
)


def _root(node):
    """The name a chain like `Invitation.objects.filter(...).update` starts from."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return node.id if isinstance(node, ast.Name) else ""


def _status_aliases(tree):
    """Names bound to a status type in the module (`S = Invitation.Status`)."""
    return {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and ast.unparse(node.value) in STATUS_TYPES
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _is_our_status(value, aliases):
    text = ast.unparse(value)
    return text.startswith(STATUS_TYPES) or _root(value) in aliases


def _mentions_status(node):
    return any(isinstance(item, ast.Constant) and item.value == "status" for item in ast.walk(node))


def status_writes(source):
    """(line, code) of every write of an invitation's or a message's status in `source`."""
    tree = ast.parse(source)
    aliases = _status_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for item in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(item, ast.Attribute) and item.attr == "status":
                        if TARGET.search(ast.unparse(item.value)) or _is_our_status(node.value, aliases):
                            found.append(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            ours = bool(TARGET.search(_root(node.func))) or name in ("Invitation", "Message", "Fulfilment")
            keywords = {kw.arg: kw.value for kw in node.keywords}
            if name in WRITE_METHODS and "status" in keywords:
                if ours or _is_our_status(keywords["status"], aliases):
                    found.append(node)
            elif name in WRITE_METHODS and "defaults" in keywords and _mentions_status(keywords["defaults"]) and ours:
                found.append(node)
            elif name == "save" and "update_fields" in keywords and _mentions_status(keywords["update_fields"]):
                if TARGET.search(_root(node.func)):
                    found.append(node)
            elif name == "bulk_update" and ours and any(_mentions_status(arg) for arg in node.args[1:]):
                found.append(node)
    found = [(node.lineno, ast.unparse(node)[:120]) for node in found]
    found += [(source[: match.start()].count("\n") + 1, match.group(0)[:120]) for match in RAW_SQL.finditer(source)]
    return sorted(set(found))


def app_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in relative and relative not in DOORS:
                yield relative


def test_only_the_state_machines_write_invitation_message_and_fulfilment_statuses():
    writers = {path: found for path in app_modules() if (found := status_writes((ROOT / path).read_text()))}
    assert writers == {}


@pytest.mark.parametrize(
    "code",
    [
        "invitation.status = Invitation.Status.FAILED",
        "message.status, message.reason = decision.status, ''",
        "obj.status = S.SENT",
        "Invitation.objects.filter(pk=1).update(status='expired')",
        "invitations.filter(status__in=x).update(status=new_status)",
        "queryset.update(status=S.EXPIRED, updated_at=now)",
        "Message.objects.filter(pk=1).update(status=MessageStatus.QUEUED)",
        "Message.objects.create(program=p, status=MessageStatus.HELD)",
        "Invitation(program=p, status='held')",
        "invitation.save(update_fields=['status', 'failed_at'])",
        "Invitation.objects.update_or_create(pk=1, defaults={'status': 'sent'})",
        "Message.objects.bulk_update(rows, ['status'])",
        "cursor.execute('UPDATE surveys_invitation SET status = %s')",
        "fulfilment.status = FulfilmentStatus.SHIPPED",
        "Fulfilment.objects.filter(pk=1).update(status='returned')",
        "Fulfilment(program=p, status=FulfilmentStatus.REQUESTED)",
        "fulfilment.save(update_fields=['status'])",
        "cursor.execute('UPDATE rewards_fulfilment SET status = %s')",
    ],
)
def test_the_grep_finds_each_way_of_writing_a_status(code):
    source = "from surveys.models import Invitation\nS = Invitation.Status\n" + code + "\n"
    assert [line for line, _code in status_writes(source)] == [3]


@pytest.mark.parametrize(
    "code",
    [
        "followup.status = FollowUp.Status.RESOLVED",
        "Payout.objects.filter(pk=1).update(status=Status.QUEUED)",
        "Message.objects.filter(status=MessageStatus.HELD).count()",
        "if invitation.status == Invitation.Status.ANSWERED: pass",
        "if fulfilment.status == FulfilmentStatus.SHIPPED: pass",
        "redemption.status = Redemption.Status.COMPLETED",
    ],
)
def test_the_grep_ignores_reads_and_other_models(code):
    assert status_writes(code + "\n") == []
