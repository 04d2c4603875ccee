"""Demo data of checkout: filled in by load_demo (registered in CheckoutConfig.ready)."""


def load_demo(program, progress):
    """A promotion, a code pool and an order paid partly with points; safe to run twice."""
