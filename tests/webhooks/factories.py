import factory

from engagement.webhooks.models import WebhookSubscription
from tests.factories import ProgramFactory


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """A subscription made directly (tests point it at a local http receiver)."""

    class Meta:
        model = WebhookSubscription

    program = factory.SubFactory(ProgramFactory)
    url = "https://partner.example/hooks"
    secret = factory.Sequence(lambda n: f"whsec_test_secret_{n}")
