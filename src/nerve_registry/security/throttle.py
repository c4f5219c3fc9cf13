"""Throttling of failed logins, per account name and per client address.

Both the API login and the token endpoint's Basic credentials go through one
``LoginThrottle``:

1. ``begin`` rejects an attempt with TooManyRequestsError (429 and
   Retry-After) while the account name or the address is locked out. It also
   counts the attempt as pending, so that parallel attempts cannot check more
   passwords than the failure limit allows.
2. ``failed`` records a failure and returns how long to hold back the failed
   response. The delay doubles with each failure in the window, so that
   guessing slows down before the lockout. Reaching the limit locks the name or
   address for the lockout time, after which its count starts again at zero.
3. ``succeeded`` clears the failures of the account name. The failures of the
   address stay, so that one valid account cannot reset the address count.

NOTE: the counts live in the memory of one service process, so a restart
clears every lockout.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from nerve_registry.errors import TooManyRequestsError

logger = logging.getLogger(__name__)

# Maximum delay in seconds of one failed response, however many failures came before.
MAX_FAILURE_DELAY = 10.0
# Retry-After in seconds when parallel attempts already use up the remaining tries.
PENDING_RETRY_AFTER = 1
# Names and addresses tracked at once. Above this, idle entries are dropped first.
MAX_TRACKED_KEYS = 100_000


@dataclass(frozen=True)
class ThrottlePolicy:
    """Limits of failed logins. Times are in seconds."""

    max_failures: int = 10
    max_failures_per_address: int = 50
    window: float = 15 * 60
    lockout: float = 15 * 60
    failure_delay: float = 0.5


@dataclass
class _KeyState:
    failures: deque[float] = field(default_factory=deque)
    pending: int = 0
    locked_until: float = 0.0

    def idle(self, now: float) -> bool:
        return not self.failures and self.pending == 0 and self.locked_until <= now


@dataclass(frozen=True)
class Attempt:
    """One login attempt that ``begin`` let through: the keys it counts against."""

    identity: str
    address: str | None

    @property
    def keys(self) -> tuple[tuple[str, str], ...]:
        keys = [("account", self.identity)]
        if self.address:
            keys.append(("address", self.address))
        return tuple(keys)


@dataclass(frozen=True)
class FailureOutcome:
    """Outcome of a failed attempt: the delay before the response, and the lockouts it started."""

    delay: float
    locked: tuple[str, ...]


class LoginThrottle:
    """Failure counts and lockouts of account names and client addresses; thread-safe."""

    def __init__(
        self, policy: ThrottlePolicy, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], _KeyState] = {}

    def begin(self, identity: str, address: str | None) -> Attempt:
        """Admit one attempt, or raise TooManyRequestsError with the seconds to wait."""
        attempt = Attempt(identity, address)
        with self._lock:
            now = self._clock()
            for key in attempt.keys:
                self._check(key, self._state(key, now), now)

            for key in attempt.keys:
                self._states[key].pending += 1

        return attempt

    def succeeded(self, attempt: Attempt) -> None:
        with self._lock:
            now = self._clock()
            for key in attempt.keys:
                state = self._state(key, now)
                state.pending = max(0, state.pending - 1)
                if key[0] == "account":
                    state.failures.clear()
                self._forget_if_idle(key, now)

    def abandoned(self, attempt: Attempt) -> None:
        """Release an attempt that ended without a password decision, such as a database error."""
        with self._lock:
            now = self._clock()
            for key in attempt.keys:
                state = self._state(key, now)
                state.pending = max(0, state.pending - 1)
                self._forget_if_idle(key, now)

    def failed(self, attempt: Attempt) -> FailureOutcome:
        """Record a failure; return the delay for its response and the keys it locked."""
        with self._lock:
            now = self._clock()
            highest_count = 0
            locked: list[str] = []
            for key in attempt.keys:
                state = self._state(key, now)
                state.pending = max(0, state.pending - 1)
                state.failures.append(now)
                highest_count = max(highest_count, len(state.failures))

                if len(state.failures) >= self._limit(key):
                    state.locked_until = now + self.policy.lockout
                    state.failures.clear()
                    locked.append(f"{key[0]} {key[1]}")

        return FailureOutcome(delay=self._delay(highest_count), locked=tuple(locked))

    def _check(self, key: tuple[str, str], state: _KeyState, now: float) -> None:
        kind, value = key
        if state.locked_until > now:
            wait = math.ceil(state.locked_until - now)
            raise TooManyRequestsError(
                f"Too many failed logins for {_describe(kind, value)}. "
                f"Try again in {wait} seconds.",
                retry_after=wait,
            )

        if len(state.failures) + state.pending >= self._limit(key):
            raise TooManyRequestsError(
                f"Too many login attempts at once for {_describe(kind, value)}. "
                f"Try again in {PENDING_RETRY_AFTER} second.",
                retry_after=PENDING_RETRY_AFTER,
            )

    def _state(self, key: tuple[str, str], now: float) -> _KeyState:
        """Return the state of ``key`` with failures older than the window dropped."""
        state = self._states.get(key)
        if state is None:
            if len(self._states) >= MAX_TRACKED_KEYS:
                self._drop_idle(now)
            state = self._states[key] = _KeyState()

        horizon = now - self.policy.window
        while state.failures and state.failures[0] <= horizon:
            state.failures.popleft()
        return state

    def _forget_if_idle(self, key: tuple[str, str], now: float) -> None:
        state = self._states.get(key)
        if state is not None and state.idle(now):
            del self._states[key]

    def _drop_idle(self, now: float) -> None:
        """Drop entries with nothing left to enforce; log if the table stays full."""
        horizon = now - self.policy.window
        for key in list(self._states):
            state = self._states[key]
            while state.failures and state.failures[0] <= horizon:
                state.failures.popleft()
            if state.idle(now):
                del self._states[key]

        if len(self._states) >= MAX_TRACKED_KEYS:
            logger.warning(
                "Login throttle tracks %d names and addresses with recent failures; "
                "new ones are tracked beyond the intended maximum",
                len(self._states),
            )

    def _limit(self, key: tuple[str, str]) -> int:
        if key[0] == "account":
            return self.policy.max_failures
        return self.policy.max_failures_per_address

    def _delay(self, failures: int) -> float:
        """Return the delay after failure number ``failures``: none after one, then doubling."""
        if failures < 2 or self.policy.failure_delay <= 0:
            return 0.0
        delay = self.policy.failure_delay * 2.0 ** min(failures - 2, 32)
        return min(delay, MAX_FAILURE_DELAY)


def _describe(kind: str, value: str) -> str:
    if kind == "account":
        return f"account '{value}'"
    return f"client address {value}"
