"""Payout providers behind one interface (payouts.providers.base.PayoutProvider).

`get_provider(program, name)` returns an adapter bound to the program's account
(ProviderAccount, blank fields falling back to settings)."""

import importlib

PROVIDERS = {
    "sandbox": "payouts.providers.sandbox.SandboxProvider",
    "tremendous": "payouts.providers.tremendous.TremendousProvider",
    "tango": "payouts.providers.tango.TangoProvider",
    "paypal": "payouts.providers.paypal.PayPalProvider",
    "razorpayx": "payouts.providers.razorpayx.RazorpayXProvider",
}


def provider_names():
    return sorted(PROVIDERS)


def provider_class(name):
    module_name, _, class_name = PROVIDERS[name].rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)


def get_provider(program, name):
    from payouts.models import ProviderAccount

    if name not in PROVIDERS:
        raise KeyError(f"Unknown payout provider {name!r}")
    account = ProviderAccount.objects.filter(program=program, provider=name).first()
    return provider_class(name)(program, account)
