"""A brief made by the pipeline (offline writer and espeak-ng through ``BriefMaker``, a real libSQL
file, local storage) is published mastered, and its row keeps the loudness and peak measured on
the file it points at (migration 0004)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import miniaudio
import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly

from civic_briefs.models import User
from tests import worlds

DAY = dt.date(2026, 3, 2)


def test_a_published_brief_row_keeps_the_loudness_and_peak_of_its_file(settings_env):
    settings = settings_env()
    user = User(id="ana", name="Ana Kowalski", interests=["healthcare", "education"])
    worlds.seed([user])
    row = worlds.made_brief(settings, user, DAY, top_stories=3, quick_hits=4, news_per_brief=6)
    sound = miniaudio.mp3_read_f32(Path(row["audio_url"].removeprefix("file://")).read_bytes())
    samples = np.frombuffer(sound.samples, dtype=np.float32).reshape(-1, sound.nchannels)
    lufs = pyloudnorm.Meter(sound.sample_rate).integrated_loudness(samples.astype(np.float64))
    peak = 20 * math.log10(float(np.abs(resample_poly(samples, 4, 1, axis=0)).max()))
    assert lufs == pytest.approx(-16.0, abs=0.25) and peak <= -1.0
    assert row["loudness_lufs"] == pytest.approx(lufs, abs=0.01)
    assert row["true_peak_dbtp"] == pytest.approx(peak, abs=0.01)
    assert row["duration_seconds"] == pytest.approx(len(samples) / sound.sample_rate, abs=0.001)


def test_the_migration_adds_real_columns_for_the_figures(conn):
    cols = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(briefs)").fetchall()}
    assert cols["loudness_lufs"] == "REAL" and cols["true_peak_dbtp"] == "REAL"
    applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations").fetchall()}
    assert "0004_brief_loudness" in applied
