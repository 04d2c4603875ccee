"""Delivering webhook deliveries (placeholder; full version follows)."""


def attempt_delivery(delivery_id):
    return None


def sweep_deliveries():
    return None
