"""Status hooks: higher apps (surveys, campaigns) learn when a message moves on.

`register_status_handler(fn)` in the higher app's AppConfig.ready(); `fn(message_id, status)`
is called INSIDE the transaction that moves the message to sent, delivered, failed or
dropped, so a handler's own writes commit or roll back with the status change. Handlers must
be quick and defer anything that leaves the database with transaction.on_commit.
"""

_status_handlers = []

NOTIFIED_STATUSES = ("sent", "delivered", "failed", "dropped")


def register_status_handler(handler):
    if handler not in _status_handlers:
        _status_handlers.append(handler)
    return handler


def run_status_handlers(message_id, status):
    status = str(status)  # a plain string, not the TextChoices member
    if status not in NOTIFIED_STATUSES:
        return
    for handler in list(_status_handlers):
        handler(message_id, status)
