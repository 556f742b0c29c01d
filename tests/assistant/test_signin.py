"""The admin cookie, the signing key and the password throttle, on their own (a fake clock at chidao's
own seam: the throttle and the sessions take a clock)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from assistant.signin import AdminSessions, Throttle, load_secret


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_five_free_failures_then_a_doubling_lockout_capped():
    clock = Clock()
    throttle = Throttle(free=5, base_s=1.0, cap_s=300.0, clock=clock)
    lockouts = [throttle.failed("10.0.0.1") for _ in range(5)]
    assert lockouts == [0.0] * 5 and throttle.retry_after("10.0.0.1") == 0.0
    lockouts = []
    for _ in range(12):
        lockouts.append(throttle.failed("10.0.0.1"))
        clock.now += lockouts[-1]  # the client waits its turn each time
    assert lockouts[:9] == [1, 2, 4, 8, 16, 32, 64, 128, 256] and lockouts[9:] == [300, 300, 300]
    throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 300
    assert throttle.retry_after("10.0.0.2") == 0.0  # per client
    throttle.succeeded("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 0.0 and throttle.failed("10.0.0.1") == 0.0


def test_the_throttle_forgets_clients_rather_than_filling_memory():
    clock = Clock()
    throttle = Throttle(clock=clock, max_clients=100)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
        clock.now += 1
    assert len(throttle._clients) <= 101


def test_admin_cookies_are_signed_bound_to_the_password_and_expire():
    clock = Clock(1_800_000_000)
    sessions = AdminSessions(b"k" * 32, "mat-khau", lifetime_s=3600, clock=clock)
    cookie = sessions.issue()
    assert sessions.valid(cookie)
    expires, signature = cookie.split(".")
    assert not sessions.valid(f"{int(expires) + 1000}.{signature}")  # a longer life is a new signature
    assert not sessions.valid(cookie[:-1] + ("0" if cookie[-1] != "0" else "1"))
    assert not AdminSessions(b"k" * 32, "mat-khau-moi", clock=clock).valid(cookie)  # password changed
    assert not AdminSessions(b"x" * 32, "mat-khau", clock=clock).valid(cookie)  # another key
    assert not AdminSessions(b"k" * 32, None, clock=clock).valid(cookie)  # no password: no cookie
    for junk in ("", "abc", "1.2.3", ".", "9" * 40 + ".00"):
        assert not sessions.valid(junk)
    clock.now += 3601
    assert not sessions.valid(cookie)


def test_the_signing_key_is_made_once_with_mode_0600(settings):
    first = load_secret(settings)
    path = settings.home / "secret.key"
    assert path.stat().st_mode & 0o777 == 0o600 and len(first) >= 32
    assert load_secret(settings) == first  # every process on this home reads the same key
    given = settings.model_copy(update={"session_secret": SecretStr("from-settings-xyz")})
    assert load_secret(given) == b"from-settings-xyz"
    path.write_text("short")
    with pytest.raises(ValueError, match="secret.key"):
        load_secret(settings)
