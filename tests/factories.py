"""factory-boy factories for the base models; each app adds its own in tests/<app>/factories.py."""

import factory

from engagement.models import Customer, Program


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Program {n}")
    slug = factory.Sequence(lambda n: f"program-{n}")
    currency = "MYR"
    timezone = "Asia/Kuala_Lumpur"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    program = factory.SubFactory(ProgramFactory)
    external_id = factory.Sequence(lambda n: f"cust-{n}")
    name = factory.Faker("name")
    email = factory.LazyAttribute(lambda c: f"{c.external_id}@example.com")
    consent_email = True
