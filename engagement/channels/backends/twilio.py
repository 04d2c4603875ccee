"""SMS and WhatsApp through a Twilio-style HTTP API.

POST {SMS_API_URL}/2010-04-01/Accounts/{SMS_ACCOUNT_SID}/Messages.json, form-encoded
To, From, Body (and StatusCallback when CHANNELS_STATUS_CALLBACK_URL is set), HTTP basic
auth (account sid, auth token). WhatsApp uses "whatsapp:+..." for To and From. The answer's
"sid" is the provider id. With no SMS_API_URL configured (the demo) nothing leaves the
machine: the message is logged and recorded as sent with provider id "console-<id>".
"""

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

from engagement.channels.backends import DeliveryResult, PermanentError, TransientError

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


class TwilioBackend:
    def __init__(self, *, channel, base_url, account_sid, auth_token, from_number, status_callback=""):
        self.channel = channel
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.status_callback = status_callback

    @classmethod
    def from_settings(cls, channel):
        sender = settings.WHATSAPP_FROM if channel == "whatsapp" else settings.SMS_FROM
        if channel == "whatsapp" and sender and not sender.startswith("whatsapp:"):
            sender = f"whatsapp:{sender}"
        return cls(
            channel=channel,
            base_url=settings.SMS_API_URL,
            account_sid=settings.SMS_ACCOUNT_SID,
            auth_token=settings.SMS_AUTH_TOKEN,
            from_number=sender,
            status_callback=settings.CHANNELS_STATUS_CALLBACK_URL,
        )

    def send(self, message):
        if not self.base_url:
            logger.info("%s (console) to %s: %s", self.channel, message.to_address, message.body)
            return DeliveryResult(provider_id=f"console-{message.pk}")
        fields = {"To": message.to_address, "From": self.from_number, "Body": message.body}
        if self.status_callback:
            fields["StatusCallback"] = self.status_callback
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(fields).encode(),
            headers={
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            # 429 and 5xx: the provider may accept it later; other 4xx never will.
            if exc.code == 429 or exc.code >= 500:
                raise TransientError(f"HTTP {exc.code}: {detail}") from exc
            raise PermanentError(f"HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        return DeliveryResult(provider_id=str(answer.get("sid", "")))
