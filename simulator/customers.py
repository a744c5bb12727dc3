"""Simulated customers: members, providers and employers getting in touch through every channel.

The mix follows seed 000 (CASSI 2022): most contacts by phone, 70% of them members and 30%
providers; chat 60/40; the rest by web form, app, e-mail and WhatsApp; a few ombudsman
escalations that cite an earlier protocol; a few urgent clinical calls.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.texts import TEXTS

log = logging.getLogger(__name__)

# Contacts per year in seed 000: 1,207,606 calls, 357k chats; the other channels are smaller.
CHANNEL_WEIGHTS = {
    "phone": 55,
    "chat": 17,
    "web": 7,
    "app": 7,
    "email": 5,
    "whatsapp": 6,
    "ombudsman": 2,
    "regulator": 1,
}
PROVIDER_SHARE = {"phone": 0.30, "chat": 0.40}
DEMANDS = {
    "member": [
        ("authorization", 25),
        ("debt", 18),
        ("enrolment", 12),
        ("information", 15),
        ("registration_update", 10),
        ("high_complexity", 5),
        ("clinical", 5),
        ("complaint", 10),
    ],
    "provider": [("provider_payment", 55), ("authorization", 35), ("information", 10)],
    "employer": [("enrolment", 60), ("debt", 40)],
}


@dataclass
class Customers:
    """Post interactions to intake at a Poisson rate, with the seeds' mix."""

    intake_url: str
    api_key: str
    rate_per_second: float
    rng: random.Random
    members: int = 3000
    providers: int = 400
    employers: int = 60
    recent: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=500))
    posted: int = 0
    errors: int = 0

    def body(self) -> dict[str, Any]:
        """One contact as a channel front end would post it."""
        channel = self.rng.choices(list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()))[0]
        if channel == "ombudsman" and self.recent:
            # The second instance: the same member comes back citing the earlier protocol.
            protocol, party_id = self.rng.choice(self.recent)
            return self._contact(channel, "member", party_id, "complaint", related=protocol)
        kind = self._party_kind(channel)
        pool = {"member": self.members, "provider": self.providers, "employer": self.employers}
        party_id = f"{kind[0]}{self.rng.randrange(pool[kind]):07d}"
        demands, weights = zip(*DEMANDS[kind], strict=True)
        demand = self.rng.choices(demands, weights=weights)[0]
        if channel in ("ombudsman", "regulator"):
            demand = "complaint"
        return self._contact(channel, kind, party_id, demand)

    def _party_kind(self, channel: str) -> str:
        roll = self.rng.random()
        if roll < PROVIDER_SHARE.get(channel, 0.10):
            return "provider"
        return "employer" if roll > 0.97 else "member"

    def _contact(
        self, channel: str, kind: str, party_id: str, demand: str, related: str | None = None
    ) -> dict[str, Any]:
        locale, subject, description = self.rng.choice(TEXTS[demand])
        body: dict[str, Any] = {
            "channel": channel,
            "party": {
                "kind": kind,
                "id": party_id,
                "name": f"Pessoa {party_id}",
                "email": f"{party_id.lower()}@example.org",
                "phone": f"+55119{self.rng.randrange(10**8):08d}",
            },
            "subject": subject,
            "description": description,
            "locale": locale,
        }
        if demand == "clinical" and channel in ("phone", "chat"):
            body["priority"] = "urgent"
        if related:
            body["related_protocol"] = related
        return body

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Post until stopped; a refused or failed post is logged and the simulation goes on."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        while not stop.is_set():
            await asyncio.sleep(self.rng.expovariate(self.rate_per_second))
            body = self.body()
            try:
                response = await client.post(
                    f"{self.intake_url}/v1/interactions", json=body, headers=headers
                )
            except httpx.HTTPError as exc:
                self.errors += 1
                log.warning("intake unreachable: %r", exc)
                continue
            if response.status_code != 201:
                self.errors += 1
                log.warning("intake refused a contact: %s %s", response.status_code, response.text)
                continue
            self.posted += 1
            if body["party"]["kind"] == "member" and body["channel"] != "ombudsman":
                self.recent.append((response.json()["protocol"], body["party"]["id"]))
