"""How a logged-in person is named in the chat: ``user:<id>@<org uuid>``.

The chat's user identifier carries the organisation, so every look-up the chat makes
for a person is scoped to it; the part before ``@`` is the owner name the agent's
threads use (``store.users.Person.agent_user``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from store.users import Person

_IDENTIFIER = re.compile(r"^(?P<agent_user>user:\d+)@(?P<org>[0-9a-f-]{36})$")


@dataclass(frozen=True, slots=True)
class ChatIdentity:
    """The organisation and agent owner name behind a chat identifier."""

    org_id: uuid.UUID
    agent_user: str

    @property
    def identifier(self) -> str:
        """The chat identifier."""
        return f"{self.agent_user}@{self.org_id}"


@dataclass(frozen=True, slots=True)
class Asker:
    """The person in a chat session, with their role read fresh from the store."""

    identity: ChatIdentity
    role: str


def identifier_of(person: Person) -> str:
    """Return the chat identifier of a person who logged in."""
    return ChatIdentity(org_id=person.org_id, agent_user=person.agent_user).identifier


def parse_identifier(identifier: str | None) -> ChatIdentity | None:
    """Return the identity an identifier names, or None if it is not one of ours."""
    match = _IDENTIFIER.fullmatch(identifier or "")
    if match is None:
        return None
    return ChatIdentity(org_id=uuid.UUID(match["org"]), agent_user=match["agent_user"])


def person_metadata(person: Person) -> dict[str, str]:
    """What the chat keeps about the person in its session."""
    return {
        "org_id": str(person.org_id),
        "org_name": person.org_name,
        "role": person.role,
        "email": person.email or "",
        "agent_user": person.agent_user,
    }
