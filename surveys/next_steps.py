"""What the thank-you page offers next, by score band: a hook that higher apps fill at
start-up (surveys must not import rewards). A provider is `fn(invitation, response, band)`
returning None or {"text": str, "link": a path on this site, "link_label": str, "copy": bool}; the first
answer wins. Without one, a detractor reads that the team will get back to them.
"""

_providers = []


def register_next_step(provider):
    if provider not in _providers:
        _providers.append(provider)
    return provider


def get_next_step(invitation, response, band):
    for provider in list(_providers):
        step = provider(invitation, response, band)
        if step:
            return step
    return None
