"""BriefMaker (civic_briefs.production) without Prefect: small fakes of the provider protocols, a real
libSQL file, a local segment store and lock-file claims."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import threading
import time
import uuid
from contextlib import contextmanager
from decimal import Decimal

import pytest

from civic_briefs import importer, production, repo, retrying
from civic_briefs.claims import AtomicFileLockManager, Claims
from civic_briefs.models import Line, NewsItem, Segment, Usage, User
from civic_briefs.plan import DayPlan, plan_day
from civic_briefs.production import BriefMaker
from civic_briefs.providers.base import PermanentProviderError, ProviderError, RenderedPartResult
from civic_briefs.providers.offline_news import NoNews
from civic_briefs.providers.registry import Providers
from civic_briefs.publishing import audio_key
from civic_briefs.segment_store import LocalBlobStore, SegmentStore
from tests.standins.mp3 import tone_mp3

DAY = dt.date(2026, 5, 4)
LIMITS = {"anthropic": 2, "elevenlabs": 3}
USERS = [
    User(id="u0", name="Ada Zero", interests=["healthcare", "education"]),
    User(id="u1", name="Bo One", interests=["healthcare", "education"]),
    User(id="u2", name="Cy Two", interests=["taxes", "economy"]),
    User(id="u3", name="Di Three", interests=["economy", "healthcare", "climate"]),
    User(id="u4", name="Ed Four", interests=["science", "technology"]),
    User(id="u5", name="Flo Five", interests=["technology", "agriculture"]),
    User(id="u6", name="Gus Six", interests=["climate", "taxes", "education", "immigration"]),
    User(id="u7", name="Hal Seven", interests=["defense", "economy"]),
]


class SlotRecorder:
    """A ``slot_for`` fake: counts slots held per limit and which threads hold one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.held: collections.Counter[str] = collections.Counter()
        self.max_held: collections.Counter[str] = collections.Counter()
        self.taken: collections.Counter[str] = collections.Counter()
        self.holders: dict[str, set[int]] = collections.defaultdict(set)
        self.events: list[tuple[int, str, str]] = []  # (thread, "enter"/"exit"/"call:<what>", limit)

    def __call__(self, limit: str):
        @contextmanager
        def slot():
            me = threading.get_ident()
            with self.lock:
                assert me not in self.holders[limit], "a thread took a second slot of the same limit"
                self.held[limit] += 1
                self.taken[limit] += 1
                self.max_held[limit] = max(self.max_held[limit], self.held[limit])
                self.holders[limit].add(me)
                self.events.append((me, "enter", limit))
            try:
                yield
            finally:
                with self.lock:
                    self.held[limit] -= 1
                    self.holders[limit].discard(me)
                    self.events.append((me, "exit", limit))
        return slot

    def holding(self, limit: str, what: str) -> bool:
        me = threading.get_ident()
        with self.lock:
            self.events.append((me, f"call:{what}", limit))
            return me in self.holders[limit]


class FakeWriter:
    name = "fake-writer-v1"
    limit = "anthropic"

    def __init__(self, slots: SlotRecorder | None = None, fail_bill: str | None = None,
                 flaky: dict[str, int] | None = None):
        self.calls: list[tuple[str, str]] = []
        self.unslotted: list[str] = []
        self.slots, self.fail_bill, self.flaky = slots, fail_bill, dict(flaky or {})
        self._lock = threading.Lock()

    def _call(self, kind: str, ident: str) -> None:
        if self.slots is not None and not self.slots.holding(self.limit, f"{kind}:{ident}"):
            self.unslotted.append(f"{kind}:{ident}")
        with self._lock:
            self.calls.append((kind, ident))
            if self.flaky.get(ident, 0) > 0:
                self.flaky[ident] -= 1
                raise ProviderError(f"overloaded writing {ident}", retryable=True)
        time.sleep(0.003)

    @staticmethod
    def _lines(*texts: str) -> list[Line]:
        return [Line(speaker="AB"[i % 2], text=t) for i, t in enumerate(texts)]

    def write_story(self, bill, section, brief_date, brief_type) -> Segment:
        self._call("story", f"{bill.id}/{section}")
        if bill.id == self.fail_bill:
            raise PermanentProviderError(f"refused to write {bill.id}")
        return Segment(key=f"story:{bill.id}:{section}", kind="story", section=section, bill_ids=[bill.id],
                       lines=self._lines(f"{bill.label} as a {section}.", f"It is titled {bill.title}."),
                       digest=f"- **{bill.label}**", headline=bill.title,
                       usage=Usage(input_tokens=100, output_tokens=50, requests=1, dollars=Decimal("0.001")))

    def write_news(self, interest, items, brief_date, brief_type) -> Segment:
        self._call("news", interest)
        return Segment(key=f"news:{interest}", kind="news", interest=interest,
                       lines=self._lines(f"News on {interest}.", *(i.title for i in items)), digest=f"- {interest}",
                       usage=Usage(input_tokens=80, output_tokens=40, requests=1, dollars=Decimal("0.001")))

    def write_opening(self, user, stories, news, brief_date, brief_type, mentions=()) -> Segment:
        self._call("opening", user.id)
        return Segment(key=f"opening:{user.id}", kind="opening", shared=False,
                       lines=self._lines(f"Good morning, {user.first_name}!", f"{len(stories)} stories today."),
                       headline=f"Today for {user.first_name}", title=f"Civic Brief for {user.first_name}",
                       usage=Usage(input_tokens=60, output_tokens=30, requests=1, dollars=Decimal("0.001")))

    def write_close(self, user, stories, news, brief_date, brief_type) -> Segment:
        self._call("close", user.id)
        return Segment(key=f"close:{user.id}", kind="close", shared=False,
                       lines=self._lines(f"That's all, {user.first_name}.", "Written and voiced by AI."),
                       usage=Usage(input_tokens=60, output_tokens=30, requests=1, dollars=Decimal("0.001")))


class FakeSpeech:
    name = "fake-speech-v1"
    limit = "elevenlabs"

    def __init__(self, slots: SlotRecorder | None = None):
        self.texts: list[str] = []
        self.unslotted: list[str] = []
        self.slots = slots
        self._lock = threading.Lock()

    def render_part(self, lines, previous_request_ids, slot=contextlib.nullcontext) -> RenderedPartResult:
        # As the protocol says: the slot is entered around each request to the service.
        with slot():
            text = " | ".join(f"{s}:{t}" for s, t in lines)
            if self.slots is not None and not self.slots.holding(self.limit, text[:30]):
                self.unslotted.append(text)
            with self._lock:
                self.texts.append(text)
                number = len(self.texts)
            time.sleep(0.005)
        characters = sum(len(t) for _, t in lines)
        return RenderedPartResult(mp3=tone_mp3(0.2 + (characters % 17) / 100), request_id=f"req-{number}",
                                  usage=Usage(characters=characters, requests=1, dollars=Decimal("0.0003")))


class FakeStorage:
    name = "memory"

    def __init__(self):
        self.objects: dict[str, bytes] = {}
        self.puts: list[str] = []

    def put(self, key: str, mp3: bytes, content_type: str = "audio/mpeg") -> str:
        self.objects[key] = mp3
        if content_type == "audio/mpeg":  # the MP3 uploads (a brief's side files go beside each)
            self.puts.append(key)
        return f"memory://{key}"

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def key_of(self, user_id: str, day) -> str:
        """The one object stored for that user and day (its key is versioned by its bytes)."""
        [key] = [k for k in self.objects if k.startswith(f"briefs/{user_id}/daily/{day}-") and k.endswith(".mp3")]
        assert key == audio_key("briefs", user_id, "daily", day, self.objects[key])
        return key


NEWS = {interest: [NewsItem(interest=interest, title=f"{interest} headline {i}", url=f"https://n.example/{interest}/{i}")
                   for i in range(2)] for interest in ("healthcare", "economy", "technology")}


@pytest.fixture
def day(conn, tmp_path):
    importer.import_sample(conn)
    for user in USERS:
        repo.upsert_user(conn, user)
    conn.commit()
    plan = plan_day(conn, USERS, DAY, "daily", news_by_interest=NEWS, writer_name=FakeWriter.name, dedup_days=30,
                    top_stories=3, quick_hits=4, news_per_brief=6)
    store = SegmentStore(LocalBlobStore(tmp_path / "segments"))
    claims = Claims(AtomicFileLockManager(tmp_path / "claims"), f"test-{uuid.uuid4().hex}",
                    "files")
    return plan, store, claims


def make(plan: DayPlan, store, claims, writer=None, speech=None, storage=None, **options):
    providers = Providers(writer=writer or FakeWriter(), speech=speech or FakeSpeech(), news=NoNews(),
                          storage=storage or FakeStorage())
    options.setdefault("limit_sizes", LIMITS)
    return BriefMaker(plan, providers, store, claims, **options), providers


def brief_rows(conn) -> dict[str, dict]:
    return {u.id: repo.get_brief(conn, u.id, "daily", DAY) for u in USERS}


def test_every_distinct_segment_is_written_and_rendered_once(day, conn):
    plan, store, claims = day
    slots = SlotRecorder()
    writer, speech = FakeWriter(slots), FakeSpeech(slots)
    maker, providers = make(plan, store, claims, writer, speech, slot_for=slots, max_concurrent_briefs=4)
    outcomes = list(maker.run())

    assert sorted(o.user_id for o in outcomes) == sorted(u.id for u in USERS)
    assert {o.status for o in outcomes} == {"published"} and all(o.made_now for o in outcomes)
    pairs = {(s.bill_id, s.section) for p in plan.users for s in p.stories}
    interests_with_news = {n.interest for p in plan.users for n in p.news}
    story_uses = sum(len(p.stories) for p in plan.users)
    assert len(pairs) < story_uses  # the users really share stories
    written = collections.Counter(writer.calls)
    assert set(written.values()) == {1}, [c for c, n in written.items() if n > 1]
    assert {i for k, i in written if k == "story"} == {f"{b}/{s}" for b, s in pairs}
    assert {i for k, i in written if k == "news"} == interests_with_news
    assert {i for k, i in written if k == "opening"} == {i for k, i in written if k == "close"} == {u.id for u in USERS}
    distinct = len(pairs) + len(interests_with_news) + 2 * len(USERS)
    assert len(writer.calls) == distinct
    # Each segment is rendered once (each fits one part), none twice.
    assert len(speech.texts) == len(set(speech.texts)) == distinct
    assert (maker.tally.written, maker.tally.rendered, maker.tally.reused) == (distinct, distinct, 0)

    rows = brief_rows(conn)
    for user_plan in plan.users:
        row = rows[user_plan.user.id]
        assert row["status"] == "published"
        assert [(b["bill_id"], b["section"]) for b in row["bills"]] == [(s.bill_id, s.section) for s in user_plan.stories]
        costs = row["costs"]["segments"]
        assert [c["key"] for c in costs if c["kind"] == "story"] == [
            s.key for s in user_plan.stories if s.section == "top_story"] + [
            s.key for s in user_plan.stories if s.section == "quick_hit"]
        assert all(c["listeners"] == plan.listeners()[c["key"]] for c in costs if c["shared"])
        assert row["audio_url"] == f"memory://{providers.storage.key_of(user_plan.user.id, DAY)}"
    # One upload per brief.
    assert sorted(providers.storage.puts) == sorted(providers.storage.key_of(u.id, DAY) for u in USERS)

    # Every provider request was made holding a slot of its limit; never more slots than the pool has
    # threads, slots kept across consecutive requests, and all given back at the end.
    assert writer.unslotted == [] and speech.unslotted == []
    assert 1 <= slots.max_held["anthropic"] <= LIMITS["anthropic"]
    assert 1 <= slots.max_held["elevenlabs"] <= LIMITS["elevenlabs"]
    assert slots.taken["anthropic"] < len(writer.calls) and slots.taken["elevenlabs"] < len(speech.texts)
    assert slots.held == collections.Counter({"anthropic": 0, "elevenlabs": 0})


def test_briefs_finish_in_the_users_order(day, conn):
    plan, store, claims = day
    maker, _ = make(plan, store, claims, limit_sizes={"anthropic": 1, "elevenlabs": 1},
                    max_concurrent_briefs=len(USERS))
    order = [o.user_id for o in maker.run()]
    assert sorted(order) == sorted(u.id for u in USERS)
    # Work is taken for the earliest brief first: the first user's brief is out before the last's.
    assert order.index(USERS[0].id) < order.index(USERS[-1].id)
    assert order[0] == USERS[0].id


def test_a_failing_shared_segment_fails_only_the_briefs_that_need_it(day, conn):
    plan, store, claims = day
    counts = collections.Counter(s.bill_id for p in plan.users for s in p.stories)
    bad = next(b for b, n in counts.most_common() if n >= 2 and n < len(USERS))
    needing = {p.user.id for p in plan.users if any(s.bill_id == bad for s in p.stories)}
    writer, speech = FakeWriter(fail_bill=bad), FakeSpeech()
    maker, providers = make(plan, store, claims, writer, speech, max_concurrent_briefs=4)
    outcomes = {o.user_id: o for o in maker.run()}

    assert {u for u, o in outcomes.items() if o.status == "failed"} == needing
    assert {u for u, o in outcomes.items() if o.status == "published"} == {u.id for u in USERS} - needing
    for uid in needing:
        assert outcomes[uid].error == f"PermanentProviderError: refused to write {bad}"
    rows = brief_rows(conn)
    for uid in needing:
        assert rows[uid]["status"] == "failed" and rows[uid]["audio_url"] is None
        assert rows[uid]["error"] == f"PermanentProviderError: refused to write {bad}"
    for uid in {u.id for u in USERS} - needing:
        assert rows[uid]["status"] == "published" and rows[uid]["audio_url"]
    # The refused story was tried once per section it has (a permanent error is not retried), nothing
    # of it was rendered, and the failed briefs wrote no personal segment and uploaded nothing.
    sections = {s.section for p in plan.users for s in p.stories if s.bill_id == bad}
    assert sorted(i for k, i in writer.calls if i.startswith(f"{bad}/")) == sorted(f"{bad}/{s}" for s in sections)
    assert {i for k, i in writer.calls if k == "opening"} == {u.id for u in USERS} - needing
    assert sorted(providers.storage.puts) == sorted(providers.storage.key_of(u, DAY) for u in {u.id for u in USERS} - needing)
    label = plan.bills[bad].label
    assert speech.texts and not any(f"{label} as a" in t for t in speech.texts)


def test_a_retried_request_gives_its_slot_back_while_it_waits(day, conn, monkeypatch):
    plan, store, claims = day
    monkeypatch.setattr(production, "with_retries",
                        lambda work, what, **kw: retrying.with_retries(work, what, initial_wait=0.01, **kw))
    user_plan = plan.users[0]
    first = f"{user_plan.stories[0].bill_id}/{user_plan.stories[0].section}"
    slots = SlotRecorder()
    writer = FakeWriter(slots, flaky={first: 1})
    maker, _ = make(plan, store, claims, writer, FakeSpeech(slots), slot_for=slots, max_concurrent_briefs=4)
    assert {o.status for o in maker.run()} == {"published"}
    assert [c for c in writer.calls if c == ("story", first)] == [("story", first)] * 2
    calls = [(t, e) for t, e, limit in slots.events if limit == "anthropic"]
    tries = [i for i, (_, e) in enumerate(calls) if e == f"call:story:{first}"]
    thread = calls[tries[0]][0]
    between = [e for t, e in calls[tries[0] + 1:tries[1]] if t == thread]
    assert between[:2] == ["exit", "enter"], between


def test_a_forced_second_run_makes_nothing_new_and_the_same_audio(day, conn):
    plan, store, claims = day
    maker, first = make(plan, store, claims, max_concurrent_briefs=4)
    assert {o.status for o in maker.run()} == {"published"}
    before = brief_rows(conn)
    # The second run starts after the first one's last save (times are to the second).
    last = max(r["updated_at"] for r in before.values())
    while repo.now_iso() <= last:
        time.sleep(0.05)

    writer, speech, storage = FakeWriter(), FakeSpeech(), FakeStorage()
    again, _ = make(plan, store, claims, writer, speech, storage, max_concurrent_briefs=4, force=True)
    outcomes = list(again.run())
    assert {o.status for o in outcomes} == {"published"} and all(o.made_now for o in outcomes)
    assert writer.calls == [] and speech.texts == []
    assert (again.tally.written, again.tally.rendered) == (0, 0)
    assert again.tally.reused == maker.tally.written + maker.tally.rendered
    assert storage.objects == first.storage.objects  # the same bytes for every brief
    after = brief_rows(conn)
    for uid, row in after.items():
        assert row["updated_at"] > last
        assert {k: row[k] for k in ("transcript", "duration_seconds", "headline", "bills")} == {
            k: before[uid][k] for k in ("transcript", "duration_seconds", "headline", "bills")}
        assert not any(c["made_now"] for c in row["costs"]["segments"])

    # Without force a published brief is kept as it is: nothing is even read from the store.
    kept, _ = make(plan, store, claims, FakeWriter(), FakeSpeech(), max_concurrent_briefs=4)
    outcomes = list(kept.run())
    assert {o.status for o in outcomes} == {"published"} and not any(o.made_now for o in outcomes)
    assert (kept.tally.written, kept.tally.rendered, kept.tally.reused) == (0, 0, 0)


def test_a_slot_that_cannot_be_given_back_does_not_stop_the_day(day, conn):
    """Giving a slot back is an API call: when it fails (an API that answers 503 for a moment), the
    pool thread carries on (the slot's lease runs out on the server) and every brief is still made."""
    plan, store, claims = day
    failed_releases = []

    def slot_for(limit: str):
        @contextmanager
        def slot():
            yield
            failed_releases.append(limit)
            raise RuntimeError("HTTP 503 Service Unavailable")
        return slot

    writer, speech = FakeWriter(), FakeSpeech()
    maker, _ = make(plan, store, claims, writer, speech, slot_for=slot_for, limit_sizes={"anthropic": 1, "elevenlabs": 1})
    done: list = []
    runner = threading.Thread(target=lambda: done.extend(maker.run()), daemon=True)
    runner.start()
    runner.join(60)  # a guard: a dead pool thread would leave the day waiting forever
    assert not runner.is_alive(), "the day hung after a failed slot release"
    assert sorted(o.user_id for o in done) == sorted(u.id for u in USERS)
    assert {o.status for o in done} == {"published"}
    assert "anthropic" in failed_releases and "elevenlabs" in failed_releases
