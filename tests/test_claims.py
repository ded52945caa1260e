"""Claims (civic_briefs.claims) on lock files and on Redis: one holder at a time, released, expired.

Each Claims object stands for a process (its own lock manager, as a process has). The Redis tests
use a namespace of their own per run and are skipped when no Redis answers.
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from civic_briefs import claims as claims_module
from civic_briefs.claims import AtomicFileLockManager, Claims, claims_for, redis_lock_manager
from civic_briefs.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_or_skip():
    manager = redis_lock_manager(REDIS_URL)
    if manager is None:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return manager


@pytest.fixture(params=["files", "redis"])
def make_claims(request, tmp_path):
    """A factory of Claims in one namespace of this test, each with its own lock manager."""
    namespace = f"test-claims-{uuid.uuid4().hex}"
    made: list[Claims] = []
    if request.param == "redis":
        _redis_or_skip()

    def make() -> Claims:
        if request.param == "redis":
            manager = redis_lock_manager(REDIS_URL)
        else:
            manager = AtomicFileLockManager(tmp_path / "claims")
        claim = Claims(manager, namespace, request.param)
        made.append(claim)
        return claim

    yield make
    if request.param == "redis":  # leave nothing of this run in Redis
        client = redis_lock_manager(REDIS_URL).client
        for name in client.scan_iter(match=f"lock:civic-briefs-{made[0]._namespace}-*" if made else "none"):
            client.delete(name)


def test_a_second_holder_waits_for_the_first_to_release(make_claims):
    first, second = make_claims(), make_claims()
    assert first.claim("story-aaaa", wait_seconds=1.0) is True
    assert first.is_claimed_by_other("story-aaaa") is False
    assert second.is_claimed_by_other("story-aaaa") is True
    assert second.claim("story-aaaa", wait_seconds=0.3) is False
    # Another key is free.
    assert second.claim("story-bbbb", wait_seconds=0.3) is True
    first.release("story-aaaa")
    assert second.is_claimed_by_other("story-aaaa") is False
    assert second.claim("story-aaaa", wait_seconds=0.3) is True
    assert first.claim("story-aaaa", wait_seconds=0.3) is False
    second.release("story-aaaa")
    second.release("story-bbbb")
    assert first.claim("story-aaaa", wait_seconds=0.3) is True
    first.release("story-aaaa")


def test_a_waiting_claim_gets_the_key_when_it_is_released(make_claims):
    first, second = make_claims(), make_claims()
    assert first.claim("render-cccc")
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(second.claim("render-cccc", wait_seconds=20)))
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive() and got == []  # still waiting while the first holds it
    first.release("render-cccc")
    waiter.join(20)
    assert got == [True]


def test_an_expired_claim_can_be_taken_and_its_old_holder_cannot_release_it(make_claims, monkeypatch):
    monkeypatch.setattr(claims_module, "CLAIM_HOLD_SECONDS", 0.6)
    first, second, third = make_claims(), make_claims(), make_claims()
    assert first.claim("news-dddd")
    assert second.claim("news-dddd", wait_seconds=0.1) is False
    # A live holder keeps its claim past the hold: it is renewed.
    assert second.claim("news-dddd", wait_seconds=1.5) is False
    # A holder that died (it renews no more): its claim runs out after the hold, then the next one gets it.
    first.stop_renewing()
    assert second.claim("news-dddd", wait_seconds=10) is True
    first.release("news-dddd")  # the old holder's late release is a no-op...
    assert third.claim("news-dddd", wait_seconds=0.1) is False  # ...the new holder keeps it
    second.release("news-dddd")
    assert third.claim("news-dddd", wait_seconds=0.1) is True
    third.release("news-dddd")


def test_threads_of_one_process_are_holders_of_their_own(make_claims):
    claims = make_claims()
    assert claims.claim("opening-eeee")
    results: list[bool] = []
    other = threading.Thread(target=lambda: results.extend(
        [claims.is_claimed_by_other("opening-eeee"), claims.claim("opening-eeee", wait_seconds=0.3)]))
    other.start()
    other.join(10)
    assert results == [True, False]
    # The holder's own thread claims it again at once (it already holds it).
    assert claims.claim("opening-eeee", wait_seconds=0.1) is True
    claims.release("opening-eeee")


def test_namespaces_do_not_share_claims(tmp_path):
    manager = AtomicFileLockManager(tmp_path)
    a = Claims(manager, "db-one|store", "files")
    b = Claims(AtomicFileLockManager(tmp_path), "db-two|store", "files")
    assert a.claim("story-ffff") and b.claim("story-ffff", wait_seconds=0.1)
    a.release("story-ffff")
    b.release("story-ffff")


def test_claims_for_chooses_redis_or_lock_files(tmp_path):
    def settings(**values) -> Settings:
        return Settings(_env_file=None, segment_store_path=tmp_path / "segments", **values)

    dead = "redis://127.0.0.1:1/0"
    files = claims_for(settings(locks="file", redis_url=REDIS_URL), "ns")
    assert files.kind == "files"
    assert files._manager.lock_files_directory == (tmp_path / "segments" / "claims").resolve()
    assert claims_for(settings(locks="auto", redis_url=dead), "ns").kind == "files"
    with pytest.raises(RuntimeError, match="BRIEFS_LOCKS=redis but no Redis answers"):
        claims_for(settings(locks="redis", redis_url="redis://user:s3cret@127.0.0.1:1/0"), "ns")
    try:
        claims_for(settings(locks="redis", redis_url="redis://user:s3cret@127.0.0.1:1/0"), "ns")
    except RuntimeError as err:
        assert "s3cret" not in str(err)
    if redis_lock_manager(REDIS_URL) is not None:
        assert claims_for(settings(locks="auto", redis_url=REDIS_URL), "ns").kind == "redis"
        assert claims_for(settings(locks="redis", redis_url=REDIS_URL), "ns").kind == "redis"


def _contend(make_claims, contenders: int = 4, rounds: int = 30) -> tuple[list[str], int, int]:
    """Contenders (each with its own lock manager, as processes have) claim one key over and over;
    returns the errors raised, how many times two held it at once, and how many claims succeeded."""
    lock = threading.Lock()
    errors: list[str] = []
    state = {"held": 0, "overlaps": 0, "claimed": 0}

    def contend(claims: Claims) -> None:
        for _ in range(rounds):
            try:
                if not claims.claim("story-contended", wait_seconds=10):
                    errors.append("claim timed out")
                    continue
            except Exception as exc:  # noqa: BLE001 - what the test is about
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                state["held"] += 1
                state["overlaps"] += state["held"] > 1
                state["claimed"] += 1
            with lock:
                state["held"] -= 1
            claims.release("story-contended")

    threads = [threading.Thread(target=contend, args=(make_claims(),)) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    return errors, state["overlaps"], state["claimed"]


def test_claims_contended_by_several_processes_never_raise_nor_overlap(make_claims):
    errors, overlaps, claimed = _contend(make_claims)
    assert errors == [] and overlaps == 0 and claimed == 4 * 30


def test_file_claims_wait_while_another_process_is_writing_its_lock_file(tmp_path):
    folder = tmp_path / "claims"
    mine = Claims(AtomicFileLockManager(folder), "ns", "files")
    # A lock file that is not whole (Prefect's own file locks leave one while they write it) is held.
    folder.mkdir()
    (folder / f"{mine._key('story-abcd')}.lock").touch()
    assert mine.is_claimed_by_other("story-abcd") is True
    assert mine.claim("story-abcd", wait_seconds=0.3) is False


# --- a renewal and a release never leave a lock behind (issue 8 review A) ---------------------------

class SlowRenewals(AtomicFileLockManager):
    """Lock files whose renewal pauses after its first look at the lock, as a loaded machine may;
    records whether a release ran while a renewal was under way."""

    PAUSE = 0.4

    def __init__(self, folder):
        super().__init__(folder)
        self.renewing = threading.Event()
        self.released_during_renewal = False
        self._local = threading.local()

    def _read(self, key):
        info = super()._read(key)
        if getattr(self._local, "pause_after_read", False):
            self._local.pause_after_read = False
            self.renewing.set()
            threading.Event().wait(self.PAUSE)
        return info

    def extend(self, key, holder, hold_timeout):
        self._local.pause_after_read = True
        try:
            return super().extend(key, holder, hold_timeout)
        finally:
            self.renewing.clear()

    def release_lock(self, key, holder):
        self.released_during_renewal |= self.renewing.is_set()
        super().release_lock(key, holder)


def test_a_release_while_the_claim_is_being_renewed_leaves_no_lock_file(tmp_path, monkeypatch):
    monkeypatch.setattr(claims_module, "CLAIM_HOLD_SECONDS", 0.4)  # renewed every 0.1 s
    manager = SlowRenewals(tmp_path / "claims")
    mine = Claims(manager, "ns", "files")
    lock_file = tmp_path / "claims" / f"{mine._key('story-renew')}.lock"
    assert mine.claim("story-renew")
    assert manager.renewing.wait(5)  # the renewer has read the lock and is about to write it back
    mine.release("story-renew")
    assert manager.released_during_renewal is False  # the release waited for the renewal to end
    assert not lock_file.exists()
    threading.Event().wait(0.3)  # past any renewal that might still come
    assert not lock_file.exists()
    other = Claims(AtomicFileLockManager(tmp_path / "claims"), "ns", "files")
    assert other.claim("story-renew", wait_seconds=0) is True
    other.release("story-renew")


def _renew_in_background(manager: SlowRenewals, key: str, holder: str) -> tuple[threading.Thread, list[bool]]:
    renewed: list[bool] = []
    thread = threading.Thread(target=lambda: renewed.append(manager.extend(key, holder, 60)))
    thread.start()
    assert manager.renewing.wait(5)
    return thread, renewed


def test_a_renewal_does_not_bring_back_a_lock_released_meanwhile(tmp_path):
    manager = SlowRenewals(tmp_path)
    assert manager.acquire_lock("k", "me", hold_timeout=60)
    thread, renewed = _renew_in_background(manager, "k", "me")
    AtomicFileLockManager(tmp_path).release_lock("k", "me")  # as from a process of its own
    thread.join(5)
    assert renewed == [False]
    assert not (tmp_path / "k.lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing left aside either


def test_a_renewal_does_not_overwrite_a_lock_another_process_took(tmp_path):
    manager, other = SlowRenewals(tmp_path), AtomicFileLockManager(tmp_path)
    assert manager.acquire_lock("k", "me", hold_timeout=60)
    thread, renewed = _renew_in_background(manager, "k", "me")
    other.release_lock("k", "me")
    assert other.acquire_lock("k", "them", acquire_timeout=0, hold_timeout=60)
    thread.join(5)
    assert renewed == [False]
    assert other.is_lock_holder("k", "them") and not other.is_lock_holder("k", "me")


def test_a_renewal_of_a_lock_still_held_extends_it(tmp_path):
    manager = AtomicFileLockManager(tmp_path)
    assert manager.acquire_lock("k", "me", hold_timeout=5)
    before = json.loads((tmp_path / "k.lock").read_bytes())["expires"]
    assert manager.extend("k", "me", 60) is True
    after = json.loads((tmp_path / "k.lock").read_bytes())["expires"]
    assert 50 < after - before < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.lock"]
