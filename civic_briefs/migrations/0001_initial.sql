CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    interests TEXT NOT NULL DEFAULT '[]',
    timezone TEXT NOT NULL DEFAULT 'UTC',
    created_at TEXT NOT NULL
);

CREATE TABLE bills (
    id TEXT PRIMARY KEY,
    congress INTEGER NOT NULL,
    bill_type TEXT NOT NULL,
    bill_number INTEGER NOT NULL,
    title TEXT NOT NULL,
    policy_area TEXT,
    subjects TEXT NOT NULL DEFAULT '[]',
    summary TEXT,
    sponsor_name TEXT,
    sponsor_party TEXT,
    sponsor_state TEXT,
    introduced_date TEXT,
    latest_action_date TEXT,
    latest_action_text TEXT,
    status TEXT NOT NULL DEFAULT 'introduced',
    updated_at TEXT NOT NULL,
    UNIQUE (congress, bill_type, bill_number)
);
CREATE INDEX bills_policy_area ON bills (policy_area, latest_action_date);

CREATE TABLE briefs (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    brief_type TEXT NOT NULL CHECK (brief_type IN ('daily', 'weekly')),
    brief_date TEXT NOT NULL,
    status TEXT NOT NULL,
    headline TEXT,
    title TEXT,
    transcript TEXT,
    digest TEXT,
    audio_url TEXT,
    duration_seconds REAL,
    policy_interests TEXT NOT NULL DEFAULT '[]',
    news TEXT NOT NULL DEFAULT '[]',
    costs TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (user_id, brief_type, brief_date)
);

CREATE TABLE brief_bills (
    brief_id TEXT NOT NULL REFERENCES briefs (id) ON DELETE CASCADE,
    bill_id TEXT NOT NULL REFERENCES bills (id),
    section TEXT NOT NULL CHECK (section IN ('top_story', 'quick_hit')),
    PRIMARY KEY (brief_id, bill_id)
);
CREATE INDEX brief_bills_bill ON brief_bills (bill_id);
