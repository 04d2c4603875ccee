"""Final-status hooks: higher apps (rewards) learn that a payout ended without payouts
importing them. Register in AppConfig.ready():

    from payouts.hooks import register_payout_final_handler
    register_payout_final_handler(fn)   # fn(payout_id, status)

`fn` is called by payouts.states INSIDE the transaction that moves the payout to
succeeded / failed / cancelled / reversed, exactly once per such move (the move is a
conditional UPDATE, so a repeated webhook or task cannot call it twice). If a handler
raises, the move rolls back and is retried later. Handlers must defer anything that leaves
the database with transaction.on_commit.
"""

_final_handlers = []


def register_payout_final_handler(handler):
    if handler not in _final_handlers:
        _final_handlers.append(handler)
    return handler


def unregister_payout_final_handler(handler):
    """For tests that register a temporary handler."""
    if handler in _final_handlers:
        _final_handlers.remove(handler)


def run_payout_final_handlers(payout_id, status):
    for handler in list(_final_handlers):
        handler(payout_id, status)


# Credential hooks: a provider's answer carried a gift card's code/PIN/link. The attempt is
# stored with it redacted, so whoever shows it to the customer must keep it now (rewards
# seals it on the redemption). fn(payout_id, [{"kind", "label", "value"}]) is called in
# the transaction that records the attempt; if it raises, the attempt is not recorded.
_credential_handlers = []


def register_payout_credentials_handler(handler):
    if handler not in _credential_handlers:
        _credential_handlers.append(handler)
    return handler


def run_payout_credentials_handlers(payout_id, credentials):
    for handler in list(_credential_handlers):
        handler(payout_id, credentials)
