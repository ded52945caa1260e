-- Where a published brief's chapters (Podcasting 2.0 JSON), transcript (JSON) and captions (WebVTT)
-- are: objects beside its MP3, of the same version, kept and removed with it (audio_objects names
-- the MP3 only). NULL for a brief without measured times, and for skipped or failed briefs.
ALTER TABLE briefs ADD COLUMN chapters_url TEXT;
ALTER TABLE briefs ADD COLUMN transcript_url TEXT;
ALTER TABLE briefs ADD COLUMN captions_url TEXT
