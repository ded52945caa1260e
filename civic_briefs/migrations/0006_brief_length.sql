-- How long each user's briefs are: short (about 2 minutes), standard (about 5) or long (about 10).
-- The counts of stories and news each length takes are settings (BRIEFS_SHORT_BRIEF, ...), not rows.
ALTER TABLE users ADD COLUMN brief_length TEXT NOT NULL DEFAULT 'standard'
    CHECK (brief_length IN ('short', 'standard', 'long'))
