"""The invitation state machine: every legal move, every illegal one, creation, races."""

import pytest

from surveys import states
from surveys.models import Invitation, InvitationStatusChange

S = Invitation.Status
ALL = list(S)
PATHS = {
    S.HELD: (S.HELD, []),
    S.QUEUED: (S.QUEUED, []),
    S.SENT: (S.QUEUED, [S.SENT]),
    S.DELIVERED: (S.QUEUED, [S.SENT, S.DELIVERED]),
    S.OPENED: (S.QUEUED, [S.SENT, S.DELIVERED, S.OPENED]),
    S.ANSWERED: (S.QUEUED, [S.SENT, S.OPENED, S.ANSWERED]),
    S.FAILED: (S.QUEUED, [S.FAILED]),
    S.EXPIRED: (S.QUEUED, [S.SENT, S.EXPIRED]),
}


def new_invitation(survey, customer):
    return Invitation(program=survey.program, survey=survey, customer=customer, channel="email")


def invitation_in(status, survey, customer):
    """An invitation brought to `status` through legal moves only."""
    initial, path = PATHS[status]
    invitation = states.create(new_invitation(survey, customer), initial)
    for step in path:
        assert states.transition(invitation, step)
    invitation.refresh_from_db()
    assert invitation.status == status
    return invitation


def history(invitation):
    return list(InvitationStatusChange.objects.filter(invitation=invitation).values_list("from_status", "to_status"))


def test_the_table_names_every_status_and_the_final_ones():
    assert set(states.TRANSITIONS) == set(S)
    assert states.FINAL == {S.FAILED, S.ANSWERED, S.EXPIRED}
    assert states.INITIAL == {S.HELD, S.QUEUED}


@pytest.mark.parametrize("status", ALL)
def test_an_invitation_is_created_only_in_an_initial_status(nps, alice, status):
    if status in states.INITIAL:
        invitation = states.create(new_invitation(nps, alice), status, reason="cooldown")
        assert Invitation.objects.get(pk=invitation.pk).status == status
        assert history(invitation) == [("", status)]
    else:
        with pytest.raises(states.IllegalTransition):
            states.create(new_invitation(nps, alice), status)
        assert not Invitation.objects.exists()
        assert not InvitationStatusChange.objects.exists()


@pytest.mark.parametrize(("source", "target"), states.allowed_pairs())
def test_each_legal_transition(nps, alice, source, target):
    invitation = invitation_in(S(source), nps, alice)
    before = history(invitation)

    assert states.transition(invitation, target, reason="test") is True

    invitation.refresh_from_db()
    assert invitation.status == target
    assert history(invitation) == [*before, (source, target)]
    assert InvitationStatusChange.objects.filter(invitation=invitation).last().reason == "test"


ILLEGAL = [(a, b) for a in ALL for b in ALL if a != b and (str(a), str(b)) not in set(states.allowed_pairs())]


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_each_illegal_transition_is_refused_and_changes_nothing(nps, alice, source, target):
    invitation = invitation_in(source, nps, alice)
    before = history(invitation)

    with pytest.raises(states.IllegalTransition):
        states.transition(invitation, target)

    invitation.refresh_from_db()
    assert invitation.status == source
    assert history(invitation) == before


def test_a_late_callback_never_moves_an_answered_invitation_back(nps, alice):
    invitation = invitation_in(S.OPENED, nps, alice)
    stale = Invitation.objects.get(pk=invitation.pk)
    assert states.transition(invitation, S.ANSWERED)

    assert states.transition(stale, S.EXPIRED) is False

    invitation.refresh_from_db()
    assert invitation.status == S.ANSWERED
    assert history(invitation)[-1] == (S.OPENED, S.ANSWERED)
    assert len(history(invitation)) == 5


def test_move_many_moves_only_the_rows_in_the_from_statuses(nps, alice, bob):
    sent, opened, answered = (
        invitation_in(S.SENT, nps, alice),
        invitation_in(S.OPENED, nps, bob),
        invitation_in(S.ANSWERED, nps, alice),
    )

    moved = states.move_many(Invitation.objects.all(), [S.SENT, S.OPENED], S.EXPIRED, reason="link expired")

    assert moved == sorted([sent.pk, opened.pk])
    assert dict(Invitation.objects.values_list("pk", "status")) == {
        sent.pk: S.EXPIRED,
        opened.pk: S.EXPIRED,
        answered.pk: S.ANSWERED,
    }
    assert history(sent)[-1] == (S.SENT, S.EXPIRED)
    assert history(answered)[-1] == (S.OPENED, S.ANSWERED)


def test_move_many_refuses_an_illegal_source_and_changes_nothing(nps, alice):
    held = invitation_in(S.HELD, nps, alice)

    with pytest.raises(states.IllegalTransition):
        states.move_many(Invitation.objects.all(), [S.HELD, S.DELIVERED], S.SENT)

    held.refresh_from_db()
    assert held.status == S.HELD
    assert history(held) == [("", S.HELD)]
