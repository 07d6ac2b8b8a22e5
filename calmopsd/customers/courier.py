"""The courier: delivers approved customer messages to their channels, once each.

Runs in the notifier's thread after each of its rounds. For each pending delivery
that is due (the oldest of its channel and incident first):

- the chain must hold a ``message.approved`` event with this very text — a row set to
  approved behind calmopsd's back sends nothing (given up, with that reason);
- a resolved message goes only to a channel an earlier message of that incident
  reached (dropped otherwise: "resolved" about something never announced);
- a channel removed from the config drops what was pending for it;
- failures are retried 10 s doubling to 10 min, across restarts, and given up after
  ``notify.give_up_after``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog

from calmopsd.config.customers import CustomerChannelConfig, CustomersConfig
from calmopsd.notices.notifier import retry_delay
from calmopsd.notices.send import Sender
from calmopsd.record.database import Database
from calmopsd.record.messages import (
    DeliveryStatus,
    MessageDelivery,
    MessageStatus,
    approved_text,
    claim_delivery,
    delivery_failed,
    due_deliveries,
    end_delivery,
    get_message,
    pending_for_channels_other_than,
    release_claims,
    sent_before,
)
from calmopsd.record.scope import Scope

log = structlog.get_logger("calmopsd.customers")

SENDS_PER_ROUND = 20
TITLES = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}


def channels_for(
    config: CustomersConfig, channel: str, audience: tuple[str, ...]
) -> list[CustomerChannelConfig]:
    """The configured channels a message for ``channel``/``audience`` goes to."""
    if channel == "status_page":
        return [c for c in config.channels if c.audience == "status_page"]
    if channel == "organizations":
        return [
            c
            for c in config.channels
            if c.audience == "organization" and c.organization in audience
        ]
    return []


class Courier:
    def __init__(
        self,
        database: Database,
        sender: Sender,
        config: CustomersConfig,
        give_up_after: timedelta,
    ):
        self.database = database
        self.sender = sender
        self.configure(config, give_up_after)
        self._released = False  # claims left by a stop or crash, released at the first round
        # Sent, but "sent" could not be written (the store refused): recorded next round,
        # never sent again.
        self._unrecorded: dict[tuple[int, str], tuple[MessageDelivery, datetime]] = {}

    def configure(self, config: CustomersConfig, give_up_after: timedelta) -> None:
        self.config = config
        self.channels: Mapping[str, CustomerChannelConfig] = {c.name: c for c in config.channels}
        self.give_up_after = give_up_after

    def run_once(self, now: datetime) -> dict[str, int]:
        outcomes = {"sent": 0, "failed": 0, "given_up": 0, "dropped": 0}
        channels, config = self.channels, self.config
        if not self._released:
            release_claims(self.database)
            self._released = True
        for delivery, done in list(self._unrecorded.values()):
            outcomes[self._record_sent(delivery, _fields(delivery), done)] += 1
        for delivery in pending_for_channels_other_than(self.database, channels):
            if end_delivery(self.database, delivery, DeliveryStatus.DROPPED, now,
                            reason="its channel was removed"):  # fmt: skip
                outcomes["dropped"] += 1
        down: set[str] = set()  # channels that failed this round: the rest wait, not hang
        for delivery in due_deliveries(self.database, now, limit=SENDS_PER_ROUND):
            channel = channels.get(delivery.channel_name)
            if channel is None or channel.name in down:
                continue
            outcome = self._deliver(delivery, channel, config, now)
            outcomes[outcome] += 1
            if outcome == "failed":
                down.add(channel.name)
        return outcomes

    def _refusal(
        self,
        delivery: MessageDelivery,
        channel: CustomerChannelConfig,
        config: CustomersConfig,
        now: datetime,
    ) -> tuple[DeliveryStatus, str] | None:
        """Why ``delivery`` must not go out (dropped, or given up), or None."""
        message = get_message(self.database, Scope.platform(), delivery.message_id)
        if message is None or message.status not in (MessageStatus.APPROVED, MessageStatus.SENT):
            return DeliveryStatus.DROPPED, "the message is no longer approved"
        serving = channels_for(config, message.channel, message.audience)
        if channel.name not in {c.name for c in serving}:
            # A reload gave the channel to another audience: an organization's message must
            # never reach another organization, nor the public status page.
            return DeliveryStatus.DROPPED, "the channel no longer serves this message's audience"
        if approved_text(self.database, message.id) != message.text:
            return DeliveryStatus.DROPPED, "no approval of this text in the audit chain"
        if message.phase == "resolved" and not sent_before(
            self.database, message.incident_id, channel.name, message.id
        ):
            return DeliveryStatus.DROPPED, "no earlier message of this incident reached it"
        if delivery.attempts > 0 and now - delivery.created_at > self.give_up_after:
            reason = f"not delivered within {self.give_up_after}"
            if delivery.last_error:
                reason += f"; last try: {delivery.last_error}"
            return DeliveryStatus.GIVEN_UP, reason
        return None

    def _deliver(
        self,
        delivery: MessageDelivery,
        channel: CustomerChannelConfig,
        config: CustomersConfig,
        now: datetime,
    ) -> str:
        fields = _fields(delivery)
        key = (delivery.message_id, channel.name)
        message = get_message(self.database, Scope.platform(), delivery.message_id)
        refusal = self._refusal(delivery, channel, config, now)
        if refusal is not None or message is None:
            status, reason = refusal or (DeliveryStatus.DROPPED, "the message is gone")
            if end_delivery(self.database, delivery, status, now, reason=reason):
                log.warning("customers.not_sent", **fields, reason=reason)
            return status.value
        if not claim_delivery(self.database, delivery):
            return "dropped"  # discarded or ended meanwhile: nothing goes
        result = self.sender.send(
            channel.url, title=TITLES.get(message.phase, message.phase), body=message.text,
            key=f"message:{message.id}:{channel.name}",
        )  # fmt: skip
        if result.ok:
            self._unrecorded[key] = (delivery, now)
            return self._record_sent(delivery, fields, now)
        delay = retry_delay(delivery.attempts + 1)
        delivery_failed(self.database, delivery, result.reason or "failed", now + delay)
        log.warning("customers.send_failed", **fields, attempts=delivery.attempts + 1,
                    reason=result.reason, retry_in_s=delay.total_seconds())  # fmt: skip
        return "failed"

    def _record_sent(
        self, delivery: MessageDelivery, fields: dict[str, object], done: datetime
    ) -> str:
        """Write that ``delivery`` went (``message.sent``); if the store refuses, the next
        round tries again. A send happened: it is recorded as sent whatever came between."""
        recorded = end_delivery(self.database, delivery, DeliveryStatus.SENT, done)
        self._unrecorded.pop((delivery.message_id, delivery.channel_name), None)
        if recorded:
            log.info("customers.sent", **fields, attempts=delivery.attempts + 1)
        return "sent"


def _fields(delivery: MessageDelivery) -> dict[str, object]:
    return {
        "message_id": delivery.message_id,
        "channel": delivery.channel_name,
        "incident_id": delivery.incident_id,
        "organization_id": delivery.organization_id,
    }
