"""LoginThrottle with a fake clock: delays, lockouts, recovery and parallel attempts."""

import pytest

from nerve_registry.errors import TooManyRequestsError
from nerve_registry.security.throttle import MAX_FAILURE_DELAY, LoginThrottle, ThrottlePolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _throttle(clock: FakeClock, **policy: float) -> LoginThrottle:
    defaults = {
        "max_failures": 3,
        "max_failures_per_address": 5,
        "window": 60,
        "lockout": 30,
        "failure_delay": 0.5,
    }
    return LoginThrottle(ThrottlePolicy(**{**defaults, **policy}), clock=clock)  # type: ignore[arg-type]


def _fail(throttle: LoginThrottle, identity: str = "alice", address: str = "10.0.0.1") -> float:
    return throttle.failed(throttle.begin(identity, address)).delay


def test_lockout_after_max_failures(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    for _ in range(3):
        _fail(throttle)

    with pytest.raises(TooManyRequestsError) as caught:
        throttle.begin("alice", "10.0.0.2")

    assert caught.value.retry_after == 30
    assert "alice" in caught.value.message


def test_lockout_ends_after_wait(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    for _ in range(3):
        _fail(throttle)

    clock.now += 30
    attempt = throttle.begin("alice", "10.0.0.1")

    assert attempt.identity == "alice"


def test_retry_after_counts_down(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    for _ in range(3):
        _fail(throttle)

    clock.now += 20.5
    with pytest.raises(TooManyRequestsError) as caught:
        throttle.begin("alice", "10.0.0.1")

    assert caught.value.retry_after == 10


def test_failures_outside_window_forgotten(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    _fail(throttle)
    _fail(throttle)
    clock.now += 61
    _fail(throttle)

    attempt = throttle.begin("alice", "10.0.0.1")

    assert attempt.identity == "alice"


def test_success_clears_account_failures(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    _fail(throttle)
    _fail(throttle)
    throttle.succeeded(throttle.begin("alice", "10.0.0.1"))
    _fail(throttle)
    _fail(throttle)

    attempt = throttle.begin("alice", "10.0.0.9")

    assert attempt.identity == "alice"


def test_address_lockout_spans_names(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    for number in range(5):
        _fail(throttle, identity=f"user{number}")

    with pytest.raises(TooManyRequestsError) as caught:
        throttle.begin("somebody", "10.0.0.1")

    assert "10.0.0.1" in caught.value.message


def test_success_keeps_address_failures(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    for number in range(4):
        _fail(throttle, identity=f"user{number}")
    throttle.succeeded(throttle.begin("owner", "10.0.0.1"))
    _fail(throttle, identity="user9")

    with pytest.raises(TooManyRequestsError):
        throttle.begin("owner", "10.0.0.1")


def test_delay_doubles(clock: FakeClock) -> None:
    throttle = _throttle(clock, max_failures=10)

    delays = [_fail(throttle) for _ in range(5)]

    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0]


def test_delay_capped(clock: FakeClock) -> None:
    throttle = _throttle(clock, max_failures=40, max_failures_per_address=40)

    delays = [_fail(throttle) for _ in range(30)]

    assert max(delays) == MAX_FAILURE_DELAY


def test_delay_off(clock: FakeClock) -> None:
    throttle = _throttle(clock, failure_delay=0)

    delays = [_fail(throttle) for _ in range(2)]

    assert delays == [0.0, 0.0]


def test_parallel_attempts_limited(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    for _ in range(3):
        throttle.begin("alice", "10.0.0.1")

    with pytest.raises(TooManyRequestsError) as caught:
        throttle.begin("alice", "10.0.0.1")

    assert caught.value.retry_after == 1


def test_abandoned_attempt_released(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    for _ in range(3):
        throttle.abandoned(throttle.begin("alice", "10.0.0.1"))

    attempt = throttle.begin("alice", "10.0.0.1")

    assert attempt.identity == "alice"


def test_lockout_reported_once(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    outcomes = [throttle.failed(throttle.begin("alice", "10.0.0.1")) for _ in range(3)]

    assert [outcome.locked for outcome in outcomes] == [(), (), ("account alice",)]
