"""The message state machine: every legal move, every illegal one, creation, races."""

import pytest

from engagement.channels import states
from engagement.channels.models import Message, MessageStatus, MessageStatusChange

S = MessageStatus
ALL = list(S)
PATHS = {
    S.QUEUED: (S.QUEUED, []),
    S.HELD: (S.HELD, []),
    S.SKIPPED: (S.SKIPPED, []),
    S.SENDING: (S.QUEUED, [S.SENDING]),
    S.SENT: (S.QUEUED, [S.SENDING, S.SENT]),
    S.DELIVERED: (S.QUEUED, [S.SENDING, S.DELIVERED]),
    S.FAILED: (S.QUEUED, [S.SENDING, S.FAILED]),
    S.DROPPED: (S.QUEUED, [S.DROPPED]),
}


def new_message(customer):
    return Message(program=customer.program, customer=customer, channel="email", template_key="welcome")


def message_in(status, customer):
    """A message brought to `status` through legal moves only."""
    initial, path = PATHS[status]
    message = states.create(new_message(customer), initial)
    for step in path:
        assert states.transition(message, step)
    message.refresh_from_db()
    assert message.status == status
    return message


def history(message):
    return list(MessageStatusChange.objects.filter(message=message).values_list("from_status", "to_status"))


def test_the_table_names_every_status_and_the_final_ones():
    assert set(states.TRANSITIONS) == set(S)
    assert states.FINAL == {S.FAILED, S.SKIPPED, S.DROPPED}
    assert states.INITIAL == {S.QUEUED, S.HELD, S.SKIPPED}


@pytest.mark.parametrize("status", ALL)
def test_a_message_is_created_only_in_an_initial_status(alice, status):
    if status in states.INITIAL:
        message = states.create(new_message(alice), status, reason="policy")
        assert Message.objects.get(pk=message.pk).status == status
        assert history(message) == [("", status)]
    else:
        with pytest.raises(states.IllegalTransition):
            states.create(new_message(alice), status)
        assert not Message.objects.exists()
        assert not MessageStatusChange.objects.exists()


@pytest.mark.parametrize(("source", "target"), states.allowed_pairs())
def test_each_legal_transition(alice, source, target):
    message = message_in(S(source), alice)
    before = history(message)

    assert states.transition(message, target, reason="test") is True

    message.refresh_from_db()
    assert message.status == target
    assert history(message) == [*before, (source, target)]
    assert MessageStatusChange.objects.filter(message=message).last().reason == "test"


ILLEGAL = [(a, b) for a in ALL for b in ALL if a != b and (str(a), str(b)) not in set(states.allowed_pairs())]


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_each_illegal_transition_is_refused_and_changes_nothing(alice, source, target):
    message = message_in(source, alice)
    before = history(message)

    with pytest.raises(states.IllegalTransition):
        states.transition(message, target)

    message.refresh_from_db()
    assert message.status == source
    assert history(message) == before


def test_a_stale_mover_loses_and_changes_nothing(alice):
    message = message_in(S.SENDING, alice)
    stale = Message.objects.get(pk=message.pk)
    assert states.transition(message, S.SENT, updates={"provider_id": "SM1"})

    assert states.transition(stale, S.QUEUED, updates={"provider_id": "lost"}) is False

    message.refresh_from_db()
    assert (message.status, message.provider_id) == (S.SENT, "SM1")
    assert history(message) == [("", S.QUEUED), (S.QUEUED, S.SENDING), (S.SENDING, S.SENT)]


def test_move_many_moves_only_the_rows_in_the_from_statuses(alice, bob):
    held, queued, sent = message_in(S.HELD, alice), message_in(S.QUEUED, bob), message_in(S.SENT, alice)

    moved = states.move_many(Message.objects.all(), [S.HELD, S.QUEUED], S.DROPPED, reason="erased")

    assert moved == sorted([held.pk, queued.pk])
    assert dict(Message.objects.values_list("pk", "status")) == {
        held.pk: S.DROPPED,
        queued.pk: S.DROPPED,
        sent.pk: S.SENT,
    }
    assert history(held)[-1] == (S.HELD, S.DROPPED)
    assert history(queued)[-1] == (S.QUEUED, S.DROPPED)
    assert history(sent)[-1] == (S.SENDING, S.SENT)


def test_move_many_refuses_an_illegal_source_and_changes_nothing(alice):
    held = message_in(S.HELD, alice)
    before = history(held)

    with pytest.raises(states.IllegalTransition):
        states.move_many(Message.objects.all(), [S.HELD, S.SENT], S.QUEUED)

    held.refresh_from_db()
    assert held.status == S.HELD
    assert history(held) == before
