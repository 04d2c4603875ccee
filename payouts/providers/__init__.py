"""Payout providers behind one interface (payouts.providers.base.PayoutProvider).

`get_provider(program, name)` returns an adapter bound to the program's account
(ProviderAccount, blank fields falling back to settings). A new provider is one module here
and one line in PROVIDERS."""

from engagement.models import Program
from payouts.models import ProviderAccount
from payouts.providers.base import PayoutProvider
from payouts.providers.paypal import PayPalProvider
from payouts.providers.razorpayx import RazorpayXProvider
from payouts.providers.sandbox import SandboxProvider
from payouts.providers.tango import TangoProvider
from payouts.providers.tremendous import TremendousProvider

PROVIDERS: dict[str, type[PayoutProvider]] = {
    "sandbox": SandboxProvider,
    "tremendous": TremendousProvider,
    "tango": TangoProvider,
    "paypal": PayPalProvider,
    "razorpayx": RazorpayXProvider,
}


def provider_names() -> list[str]:
    return sorted(PROVIDERS)


def provider_class(name: str) -> type[PayoutProvider]:
    return PROVIDERS[name]


def get_provider(program: Program, name: str) -> PayoutProvider:
    """The adapter `name` for `program`; raises KeyError for an unknown provider."""
    if name not in PROVIDERS:
        raise KeyError(f"Unknown payout provider {name!r}")
    account = ProviderAccount.objects.filter(program=program, provider=name).first()
    return PROVIDERS[name](program, account)
