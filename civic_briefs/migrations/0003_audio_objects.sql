-- Every MP3 object a brief has put in storage, so none is lost track of: 'uploading' from before its
-- upload until its brief row points at it ('live', in the same transaction), 'retired' once a newer
-- version replaced it (removed after BRIEFS_REPLACED_AUDIO_HOURS). An 'uploading' object whose
-- publisher is gone (a crash between upload and row) is an orphan, and is removed.
CREATE TABLE IF NOT EXISTS audio_objects (
    key TEXT PRIMARY KEY,
    brief_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('uploading', 'live', 'retired')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audio_objects_by_brief ON audio_objects (brief_id, state);
CREATE INDEX IF NOT EXISTS audio_objects_by_state ON audio_objects (state, updated_at);
