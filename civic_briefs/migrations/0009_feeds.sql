-- Each user's private podcast feed (civic_briefs.feed): the unguessable token in its storage key
-- (rotated by `civic-briefs rotate-feed`) and when the feed was last written, so the day's end can
-- rewrite a feed whose write after a publish failed.
CREATE TABLE IF NOT EXISTS feeds (
    user_id TEXT PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    written_at TEXT,
    created_at TEXT NOT NULL
);
-- The published MP3's size in bytes (the feed's enclosure length), and the URL of the brief's web
-- player page beside it (NULL until the page is written: it is written after the row).
ALTER TABLE briefs ADD COLUMN audio_bytes INTEGER;
ALTER TABLE briefs ADD COLUMN page_url TEXT
