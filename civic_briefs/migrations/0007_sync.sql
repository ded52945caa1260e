-- Incremental sync of bills from the public sources (civic_briefs/sync).
-- A source's watermark: every file it listed with a lastmod at or before it has been imported or
-- refused for good, so the next sync asks only for what changed after it.
CREATE TABLE sync_watermarks (
    source TEXT PRIMARY KEY,
    watermark TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- What the last sync of each file did: a rerun after a failure skips the files it already did (same
-- lastmod), and a file whose bytes did not change is not imported again (same content hash).
CREATE TABLE sync_files (
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    lastmod TEXT NOT NULL,
    content_sha256 TEXT,
    bill_id TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('new', 'changed', 'unchanged', 'failed')),
    permanent INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source, path)
);
