"""The admin dashboard renders real data (KPIs, trend SVG, distribution, segments, goals) and
respects program tenancy; goals report progress and on-track status."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import time_machine
from django.contrib.auth import get_user_model

from engagement import goals, metrics, scoring
from engagement.models import Customer, Event, Goal, MetricSnapshot, ProgramStaff

NOW = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)


def seed(program):
    people = [Customer.objects.create(program=program, external_id=f"d-{i}") for i in range(10)]
    events = []
    for i, person in enumerate(people):
        for k in range(i % 4 + 1):
            events.append(
                Event(
                    program=program,
                    customer=person,
                    event_id=f"d-{i}-{k}",
                    type="purchase",
                    occurred_at=NOW - timedelta(days=3 * k + i),
                    value=Decimal("20.00"),
                    properties={"order_id": f"{i}-{k}"},
                )
            )
        events.append(
            Event(
                program=program,
                customer=person,
                event_id=f"n-{i}",
                type="survey_answered",
                occurred_at=NOW - timedelta(days=1),
                properties={"survey": "1", "kind": "nps", "score": 10 if i < 6 else 3},
            )
        )
    Event.objects.bulk_create(events)


def test_dashboard_renders_with_data_and_goals(acme, admin_client):
    seed(acme)
    with time_machine.travel(NOW, tick=False):
        scoring.rescore_program(acme)
        for n in range(1, 6):
            metrics.snapshot_metrics(acme, date(2025, 6, 1) - timedelta(days=n))
        Goal.objects.create(
            program=acme, name="NPS ≥ 50", metric="nps", target=50, deadline=date(2025, 7, 1), created=NOW
        )
        response = admin_client.get("/admin/dashboard/", {"program": acme.pk, "days": 30})

    assert response.status_code == 200
    html = response.content.decode()
    kpi = {k["name"]: k for k in response.context["kpis"]}
    assert list(kpi) == metrics.KPI_METRICS
    assert kpi["nps"]["value"] == "20.00"  # 6 promoters, 4 detractors of 10
    assert 'data-metric="nps"' in html and "<polyline points=" in html and "<rect" in html
    assert "cdn" not in html.lower() and '<script src="http' not in html
    segments = {row["segment"]: row["customers"] for row in response.context["segments"]}
    assert sum(segments.values()) == 10
    assert sum(bar["count"] for bar in response.context["distribution"]) == 10
    [goal] = response.context["goals"]
    # Created now: the baseline is today's value, no progress expected yet.
    assert (goal.current, goal.baseline, goal.percent, goal.status) == (Decimal("20"), Decimal("20"), 0, "on_track")
    assert "NPS ≥ 50" in html and 'role="progressbar"' in html
    assert MetricSnapshot.objects.filter(program=acme, name="nps").count() == 5


def test_goal_progress_and_status(acme):
    seed(acme)
    goal = Goal.objects.create(
        program=acme, metric="nps", target=Decimal("60"), deadline=date(2025, 6, 30), created=NOW - timedelta(days=10)
    )

    with time_machine.travel(NOW, tick=False):
        behind = goals.get_goal_progress(goal)
    goal.target = Decimal("20")
    with time_machine.travel(NOW, tick=False):
        achieved = goals.get_goal_progress(goal)
    goal.target, goal.deadline = Decimal("60"), date(2025, 5, 1)
    with time_machine.travel(NOW, tick=False):
        missed = goals.get_goal_progress(goal)

    # Baseline (30 days before creation) has no answers: progress is 20 of 60 from 0.
    assert (behind.current, behind.baseline, behind.percent, behind.status) == (Decimal("20"), None, 33, "on_track")
    assert (achieved.percent, achieved.status) == (100, "achieved")
    assert missed.status == "missed"


def test_dashboard_is_for_staff_and_their_programs_only(acme, globex, client):
    staff = get_user_model().objects.create_user("staff", password="pw", is_staff=True)
    ProgramStaff.objects.create(program=globex, user=staff)
    client.force_login(staff)

    response = client.get("/admin/dashboard/", {"program": acme.pk})

    assert response.status_code == 200
    assert response.context["program"] == globex
    assert list(response.context["programs"]) == [globex]


def test_dashboard_redirects_anonymous_users_to_login(client):
    response = client.get("/admin/dashboard/")

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_index_links_to_the_dashboard(admin_client):
    assert 'href="/admin/dashboard/"' in admin_client.get("/admin/").content.decode()
