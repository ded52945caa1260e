"""Making the planned briefs: every distinct segment written once and rendered once, every brief
assembled and published as soon as its own segments are ready.

Three pools of threads share the work:
- writers (as many as the script writer's limit allows) write segments;
- speakers (as many as the speech renderer's limit allows) render them, so while any render is
  waiting no slot of the ``elevenlabs`` limit is idle;
- drivers (``max_concurrent_briefs``) each carry one brief at a time, in the users' order, from
  its shared segments to its personal ones to publishing.
Work is taken in priority order: what the earliest brief still waiting needs comes first, the
longest piece first among equals. A pool thread keeps its provider slot while it has work and gives
it back when idle, before waiting on another process's claim, and before a retry's back-off.

Every piece is looked up in the segment store first and saved there when made, under a claim
(``civic_briefs.claims``) held, and renewed, only while it is made; so a day run again, an ad-hoc
brief and a second worker never pay for a piece twice. Nothing here knows Prefect: the caller hands in the
providers and how to take a provider's concurrency slot.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import itertools
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from civic_briefs import audio, briefing, db, keys, publishing, rendering, repo
from civic_briefs.briefing import BriefCosts, SegmentCost
from civic_briefs.claims import CLAIM_WAIT_SECONDS, Claims
from civic_briefs.models import PublishedBrief, RenderedSegment, Script, Segment
from civic_briefs.plan import DayPlan, UserPlan
from civic_briefs.providers.registry import Providers
from civic_briefs.retrying import with_retries
from civic_briefs.segment_store import SegmentStore

log = logging.getLogger(__name__)
T = TypeVar("T")

SlotFactory = Callable[[str], Callable[[], AbstractContextManager[object]]]
# Briefs joined and uploaded at once in one process.
MAX_PARALLEL_PUBLISHES = 4
# How long a run waits for a brief another live run is making before giving up on it.
BRIEF_CLAIM_MAX_WAIT_SECONDS = 4 * 3600.0
# How long a pool thread with nothing to do keeps its provider slot before giving it back.
IDLE_GRACE_SECONDS = 1.0


def no_slots(limit: str) -> Callable[[], AbstractContextManager[object]]:
    return contextlib.nullcontext


class BriefClaimedError(RuntimeError):
    """Another run holds the brief's claim: this run does not make it too."""


class BadInputError(ValueError):
    """The plan found the user's brief cannot be made (e.g. an unknown interest id)."""


class BriefOutcome(BaseModel):
    """One user's line in the day's report."""

    user_id: str
    status: Literal["published", "skipped", "failed"]
    made_now: bool = True
    headline: str = ""
    duration_seconds: float | None = None
    audio_url: str | None = None
    error: str = ""
    brief: PublishedBrief | None = None
    script: Script | None = Field(default=None, description="Briefs published by this run: their script.")
    costs: BriefCosts | None = None


@dataclass
class Tally:
    """What a run made and what it took from the segment store."""

    written: int = 0
    rendered: int = 0
    reused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, made_now: bool, kind: str) -> None:
        with self.lock:
            if not made_now:
                self.reused += 1
            elif kind == "write":
                self.written += 1
            else:
                self.rendered += 1


class _SlotKeeper:
    """One thread's hold on one slot of a provider's limit, kept across consecutive requests."""

    def __init__(self, factory: Callable[[], AbstractContextManager[object]]):
        self._factory = factory
        self._held: AbstractContextManager[object] | None = None

    def hold(self) -> None:
        if self._held is None:
            held = self._factory()
            held.__enter__()
            self._held = held

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            try:
                held.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001 - its lease then runs out on the server
                log.warning("Could not give back a concurrency slot (%s: %s); its lease will expire",
                            type(exc).__name__, exc)

    @contextlib.contextmanager
    def per_request(self) -> Iterator[None]:
        """The slot around one provider request: taken if not held, kept after a success, and given
        back after a failure, so the provider's own back-off before its retry holds nothing."""
        self.hold()
        try:
            yield
        except BaseException:
            self.release()
            raise


class _PriorityPool:
    """Worker threads taking jobs lowest priority first; each thread has its own slot keeper."""

    def __init__(self, name: str, workers: int, slot: Callable[[], AbstractContextManager[object]]):
        self._queue: queue.PriorityQueue[tuple[Any, int, Any, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._slot = slot
        self._local = threading.local()
        # Each thread runs in a copy of the caller's context (Prefect's settings and run context).
        self._threads = [threading.Thread(target=contextvars.copy_context().run, args=(self._work,),
                                          name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def keeper(self) -> _SlotKeeper:
        keeper = getattr(self._local, "keeper", None)
        if keeper is None:
            keeper = self._local.keeper = _SlotKeeper(self._slot)
        return keeper

    def submit(self, priority: Any, work: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((priority, next(self._order), future, work))
        return future

    def _work(self) -> None:
        # Nothing may end this loop but the shutdown sentinel: a dead thread would leave its
        # queue's futures unresolved and the briefs waiting on them forever.
        while True:
            try:
                # A short grace: work comes in bursts (a brief's segments), and each slot taken is
                # two round trips to the Prefect API.
                item = self._queue.get(timeout=IDLE_GRACE_SECONDS)
            except queue.Empty:
                self.keeper().release()  # idle: the slot is someone else's to use
                item = self._queue.get()
            _, _, future, work = item
            if future is None:
                self.keeper().release()
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work())
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(exc)

    def shutdown(self) -> None:
        for _ in self._threads:
            self._queue.put(((float("inf"),), next(self._order), None, None))
        for thread in self._threads:
            thread.join()


def _pool_size(provider: Any, limit_sizes: dict[str, int]) -> int:
    limit = getattr(provider, "limit", None)
    if limit:
        return max(1, limit_sizes.get(limit, 1))
    return max(2, os.cpu_count() or 2)  # offline providers are CPU-bound here


class BriefMaker:
    """Makes the briefs of a ``DayPlan``; see the module docstring."""

    def __init__(self, plan: DayPlan, providers: Providers, store: SegmentStore, claims: Claims, *,
                 limit_sizes: dict[str, int], slot_for: SlotFactory = no_slots, max_concurrent_briefs: int = 32,
                 key_prefix: str = "briefs", force: bool = False, listeners: Counter[str] | None = None):
        self.plan, self.providers, self.store, self.claims = plan, providers, store, claims
        self.force, self.key_prefix = force, key_prefix
        self.max_concurrent_briefs = max(1, max_concurrent_briefs)
        self.limit_sizes = limit_sizes
        self.slot_for = slot_for
        self.tally = Tally()
        # How many briefs share each shared segment: the day's counts when this is a brief beside it.
        self.listeners = listeners if listeners is not None else plan.listeners()
        self._writes: dict[str, Future[tuple[Segment, bool]]] = {}
        self._renders: dict[str, Future[tuple[RenderedSegment, bool]]] = {}
        self._lock = threading.Lock()
        self._publishing = threading.BoundedSemaphore(MAX_PARALLEL_PUBLISHES)
        self._started = repo.now_iso()

    # ---- the run ----

    def run(self, user_ids: list[str] | None = None) -> Iterator[BriefOutcome]:
        """Make the briefs of ``user_ids`` (default: every user of the plan); yield each outcome
        as soon as that brief is done, in the order they finish."""
        wanted = set(user_ids) if user_ids is not None else None
        users = [p for p in self.plan.users if wanted is None or p.user.id in wanted]
        existing = db.run_with_reconnect(lambda c: repo.brief_statuses(c, self.plan.brief_type, self.plan.brief_date))
        writer_limit = getattr(self.providers.writer, "limit", None)
        speech_limit = getattr(self.providers.speech, "limit", None)
        self._writers = _PriorityPool("write", _pool_size(self.providers.writer, self.limit_sizes),
                                      self.slot_for(writer_limit) if writer_limit else contextlib.nullcontext)
        self._speakers = _PriorityPool("render", _pool_size(self.providers.speech, self.limit_sizes),
                                       self.slot_for(speech_limit) if speech_limit else contextlib.nullcontext)
        done: queue.Queue[BriefOutcome] = queue.Queue()
        try:
            todo = []
            for index, user_plan in enumerate(users):
                status = existing.get(user_plan.user.id)
                # A skipped brief is made when the plan now finds something for it.
                if not self.force and (status == "published" or (status == "skipped" and not user_plan.has_content)):
                    done.put(self._existing(user_plan))
                    continue
                todo.append((index, user_plan))
                if user_plan.has_content:
                    self._want_shared(index, user_plan)
            with ThreadPoolExecutor(self.max_concurrent_briefs, thread_name_prefix="brief") as drivers:
                for index, user_plan in todo:
                    drivers.submit(lambda i=index, p=user_plan: done.put(self._drive(i, p)))
                for _ in range(len(users)):
                    yield done.get()
        finally:
            self._writers.shutdown()
            self._speakers.shutdown()

    def _existing(self, user_plan: UserPlan) -> BriefOutcome:
        row = db.run_with_reconnect(lambda c: repo.get_brief(c, user_plan.user.id, self.plan.brief_type, self.plan.brief_date))
        return _outcome(publishing.brief_from_row(row))

    def _drive(self, index: int, user_plan: UserPlan) -> BriefOutcome:
        """Carry one brief from its segments to publishing; a failure becomes a failed outcome."""
        user = user_plan.user
        try:
            if user_plan.error:
                raise BadInputError(user_plan.error)
            if not user_plan.has_content:
                reason = (f"No bills or news matched interests {', '.join(user.interests)} that this user has not "
                          "heard lately")
                return _outcome(self._record(user_plan, "skipped", reason))
            claim = publishing.brief_claim_key(repo.brief_id(user.id, self.plan.brief_type, self.plan.brief_date))
            # Held from the first personal step to the row: a second run for the same brief (an ad-hoc
            # run twice, two day runs) waits here, then returns what the first published.
            self._claim_brief(claim, user.id)
            try:
                return self._existing_now(user_plan) or self._make(index, user_plan, claim)
            finally:
                self.claims.release(claim)
        except Exception as exc:  # noqa: BLE001 - one brief's failure must not stop the others
            log.error("Brief for %s failed: %s: %s", user.id, type(exc).__name__, exc)
            error = str(exc) if isinstance(exc, BadInputError) else f"{type(exc).__name__}: {exc}"
            try:
                kept = self._record(user_plan, "failed", error)
            except Exception as save_error:  # noqa: BLE001
                log.error("Could not record the failure of %s: %s", user.id, save_error)
                kept = None
            # This run failed, even where an earlier published brief is kept (it says so).
            return BriefOutcome(user_id=user.id, status="failed", made_now=False, error=kept.error if kept else error,
                                brief=kept)

    def _claim_brief(self, claim: str, user_id: str) -> None:
        """Wait for the brief's claim as long as another live run holds it (a live holder renews it;
        a dead one's lapses within a minute), up to ``BRIEF_CLAIM_MAX_WAIT_SECONDS``: a brief is never
        made by two runs at once."""
        deadline = time.monotonic() + BRIEF_CLAIM_MAX_WAIT_SECONDS
        while not self.claims.claim(claim, wait_seconds=min(CLAIM_WAIT_SECONDS, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                raise BriefClaimedError(f"another run has been making {user_id}'s brief for over "
                                        f"{BRIEF_CLAIM_MAX_WAIT_SECONDS / 3600:.0f} h; not making it a second time")
            log.info("%s's brief is still being made by another run; waiting for it", user_id)

    def _holding(self, claim: str, user_id: str) -> bool:
        """True while this run holds the brief's claim; a claim that lapsed (this process was paused
        past its hold) is taken again if no one else took it, else publishing stops here."""
        if self.claims.holds(claim):
            return True
        if self.claims.is_claimed_by_other(claim) or not self.claims.claim(claim, wait_seconds=0):
            raise BriefClaimedError(f"{user_id}'s brief was claimed by another run while this one was paused; "
                                    "not publishing it a second time")
        return True

    def _existing_now(self, user_plan: UserPlan) -> BriefOutcome | None:
        """The brief another run published while this one was starting (or, without ``force``, at any
        time), returned as it is; None when this run is to make it."""
        plan, user = self.plan, user_plan.user
        row = db.run_with_reconnect(lambda c: repo.get_brief(c, user.id, plan.brief_type, plan.brief_date))
        if row and row["status"] == "published" and (not self.force or row["updated_at"] >= self._started):
            log.info("Brief %s was published by another run meanwhile; keeping it", row["id"])
            return _outcome(publishing.brief_from_row(row))
        return None

    def _record(self, user_plan: UserPlan, status: str, reason: str) -> PublishedBrief:
        return db.run_with_reconnect(lambda c: publishing.record_outcome(
            c, user_id=user_plan.user.id, brief_type=self.plan.brief_type, brief_date=self.plan.brief_date,
            interests=user_plan.user.interests, status=status, reason=reason))

    # ---- one brief ----

    def _make(self, index: int, user_plan: UserPlan, claim: str) -> BriefOutcome:
        plan, user = self.plan, user_plan.user
        stories = [self._writes[s.key].result()[0] for s in user_plan.stories]
        news = [self._writes[n.key].result()[0] for n in user_plan.news]
        personal = {kind: keys.personal_key(kind, user, stories, news, plan.brief_date, plan.brief_type, plan.writer_name,
                                            mentions=user_plan.mentions)
                    for kind in ("opening", "close")}
        writer = self.providers.writer
        opening_f = self._write(personal["opening"], (index,), lambda: writer.write_opening(
            user, stories, news, plan.brief_date, plan.brief_type, mentions=user_plan.mentions))
        close_f = self._write(personal["close"], (index,), lambda: writer.write_close(
            user, stories, news, plan.brief_date, plan.brief_type))
        opening, close = opening_f.result()[0], close_f.result()[0]
        script = briefing.assemble_script(opening, stories, news, close, plan.selection(user_plan))
        # Which content key each segment of the script was written under (the script reorders them).
        content_keys = {id(opening): personal["opening"], id(close): personal["close"]}
        for planned, segment in zip(user_plan.stories + user_plan.news, stories + news):
            content_keys[id(segment)] = planned.key
        renders = [self._render(segment, (index, -segment.characters)) for segment in script.segments]
        costs, parts = [], []
        for segment, render in zip(script.segments, renders):
            key = content_keys[id(segment)]
            written_now = self._writes[key].result()[1]
            rendered, rendered_now = render.result()
            parts.append(rendered)
            costs.append(SegmentCost(key=key, kind=segment.kind, shared=segment.shared,
                                     listeners=self.listeners.get(key, 1) if segment.shared else 1,
                                     made_now=written_now or rendered_now, script=segment.usage, speech=rendered.usage))
        return self._publish(user_plan, script, parts, BriefCosts.of(costs), claim)

    def _publish(self, user_plan: UserPlan, script: Script, parts: list[RenderedSegment], costs: BriefCosts,
                 claim: str) -> BriefOutcome:
        plan, user = self.plan, user_plan.user
        # A few at a time: joining is CPU work, and each brief's MP3 is megabytes in memory.
        with self._publishing:
            # The segments were mastered when rendered: joined at frame level with 1 s pauses, decoded once
            # to measure, with every segment's and line's times.
            joined = rendering.join_brief([rendering.SegmentAudio.of(self._stored(p), len(segment.lines))
                                           for p, segment in zip(parts, script.segments)])
            mp3 = audio.tag_mp3(joined.mp3, title=script.title, artist="Civic Briefs",
                                album=f"Civic Briefs {plan.brief_type}", date=plan.brief_date.isoformat(),
                                comment=script.headline)
            brief_audio = joined.model_copy(update={"mp3": mp3})
            published = with_retries(lambda: self._holding(claim, user.id) and publishing.publish(
                self.providers.storage, self.key_prefix, user_id=user.id, brief_type=plan.brief_type,
                brief_date=plan.brief_date, interests=user.interests, script=script, audio=brief_audio,
                selection=plan.selection(user_plan), news=plan.news_items(user_plan), costs=costs),
                f"publishing {user.id}'s brief")
        return _outcome(published, script=script, costs=costs)

    def _stored(self, rendered: RenderedSegment) -> RenderedSegment:
        # Rendered segments are kept in the store, not in memory: a day of any size fits.
        found = self.store.render(rendered.key)
        if found is None:
            raise RuntimeError(f"rendered segment {rendered.key} is missing from the segment store {self.store.name}")
        return found

    # ---- shared work, each piece once ----

    def _want_shared(self, index: int, user_plan: UserPlan) -> None:
        plan, writer = self.plan, self.providers.writer
        for rank, story in enumerate(user_plan.stories):
            bill = plan.bills[story.bill_id]
            self._write(story.key, (index, rank), lambda b=bill, s=story.section: writer.write_story(
                b, s, plan.brief_date, plan.brief_type), render_priority=index)
        for rank, planned in enumerate(user_plan.news, start=len(user_plan.stories)):
            items = plan.news[planned.interest]
            self._write(planned.key, (index, rank), lambda i=planned.interest, n=items: writer.write_news(
                i, n, plan.brief_date, plan.brief_type), render_priority=index)

    def _write(self, key: str, priority: tuple, make: Callable[[], Segment],
               render_priority: int | None = None) -> Future[tuple[Segment, bool]]:
        with self._lock:
            future = self._writes.get(key)
            if future is not None:
                return future
            pool = self._writers
            future = pool.submit(priority, lambda: self._once(
                key, "write", self.store.segment, self.store.put_segment, _in_slot(make, pool.keeper()), pool.keeper()))
            self._writes[key] = future
        if render_priority is not None:
            # A shared segment is rendered as soon as it is written, for the first brief that needs it.
            future.add_done_callback(lambda f: f.exception() is None and self._render(
                f.result()[0], (render_priority, -f.result()[0].characters)))
        return future

    def _render(self, segment: Segment, priority: tuple) -> Future[tuple[RenderedSegment, bool]]:
        key = keys.render_key(segment, self.providers.speech.name)
        with self._lock:
            future = self._renders.get(key)
            if future is None:
                pool = self._speakers
                speech = self.providers.speech
                future = pool.submit(priority, lambda: self._once(
                    key, "render", self.store.render, self.store.put_render,
                    lambda: rendering.render_segment(speech, segment, slot=pool.keeper().per_request).model_copy(
                        update={"key": key}), pool.keeper()))
                self._renders[key] = future
            return future

    def _once(self, key: str, kind: str, load: Callable[[str], T | None], save: Callable[[str, T], None],
              make: Callable[[], T], keeper: _SlotKeeper) -> tuple[T, bool]:
        """The piece under ``key``: from the store, or made (under a claim) and saved there.
        Returns it and whether this run made it.

        The claim is renewed while this process lives, so however long a slot takes to come, no
        other process makes the piece meanwhile; a claim held elsewhere is waited for holding no slot.
        """
        found = load(key)
        if found is not None:
            self.tally.count(False, kind)
            return _light(found), False
        if not self.claims.claim(key, wait_seconds=0):
            # Another process is making it: wait for it without holding a slot anyone could use.
            keeper.release()
            if not self.claims.claim(key):
                log.warning("The claim on %s outlived its hold; making it here", key)
        try:
            found = load(key)
            if found is not None:
                self.tally.count(False, kind)
                return _light(found), False

            made = with_retries(make, f"{kind} {key}", before_sleep=keeper.release)
            # Paid for: keep it, trying again if the store fails for a moment.
            with_retries(lambda: save(key, made), f"saving {kind} {key}")
            self.tally.count(True, kind)
            return _light(made), True
        finally:
            self.claims.release(key)


def _in_slot(make: Callable[[], T], keeper: _SlotKeeper) -> Callable[[], T]:
    """``make`` (one provider request, with the SDK's own retries inside) holding the writer's slot."""
    def made() -> T:
        with keeper.per_request():
            return make()
    return made


def _light(piece: T) -> T:
    """Rendered audio is read back from the store when a brief is joined; only its facts stay in memory."""
    if isinstance(piece, RenderedSegment):
        return piece.model_copy(update={"mp3": b""})  # type: ignore[return-value]
    return piece


def _outcome(brief: PublishedBrief, script: Script | None = None, costs: BriefCosts | None = None) -> BriefOutcome:
    return BriefOutcome(user_id=brief.user_id, status=brief.status, made_now=brief.made_now,
                        headline=brief.headline or "", audio_url=brief.audio_url,
                        duration_seconds=round(brief.duration_seconds, 1) if brief.duration_seconds else None,
                        error=brief.error or "", brief=brief, script=script, costs=costs)


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
