"""Fault mode of the fake Bot API: a seeded rate of 429s, 502s and timeouts."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .records import ApiError, Fault, JSONDict

# The calls that change what a user sees (getUpdates, getMe and the like never fail).
MESSAGE_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "deleteMessage",
        "deleteMessages",
    }
)
KINDS = ("429", "502", "timeout")


@dataclass
class FaultMode:
    """Fails a `rate` of the calls to `methods`, each with one of `kinds` at random.

    "429" answers flood control with `retry_after` seconds, "502" Bad Gateway, both
    without applying the call; "timeout" applies the call or not (half each) and then
    answers nothing. Seeded: one seed gives one sequence of draws (which call gets which
    draw still follows the order the calls arrive in). Guarded by the fake's lock."""

    rate: float
    seed: int = 0
    retry_after: float = 0.2
    kinds: tuple[str, ...] = KINDS
    methods: frozenset[str] = MESSAGE_METHODS
    injected: list[Fault] = field(default_factory=list)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"a fault rate is between 0 and 1, not {self.rate}")
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"fault kinds are some of {KINDS}, not {self.kinds}")
        self._rng = random.Random(self.seed)

    def draw(self, method: str, params: JSONDict) -> str | None:
        """The fault for this call ("429", "502", "timeout"), or None: no fault."""
        if method not in self.methods or self._rng.random() >= self.rate:
            return None
        return self._rng.choice(self.kinds)

    def before(self, method: str, params: JSONDict, kind: str) -> bool:
        """Raise the error of a 429 or 502; for a timeout, whether to apply the call."""
        if kind == "429":
            self.injected.append(Fault(method, kind, False, params))
            raise ApiError.flood(self.retry_after)
        if kind == "502":
            self.injected.append(Fault(method, kind, False, params))
            raise ApiError.server_error()
        applied = self._rng.random() < 0.5
        self.injected.append(Fault(method, kind, applied, params))
        return applied
