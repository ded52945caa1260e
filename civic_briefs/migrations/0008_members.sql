-- Members of Congress as the BILLSTATUS records name them, and who sponsors or cosponsors each bill.
-- A member's row holds their newest record (congress): an older bill imported later keeps it.
CREATE TABLE IF NOT EXISTS members (
    bioguide_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    party TEXT,
    state TEXT,
    district INTEGER,
    chamber TEXT CHECK (chamber IN ('house', 'senate')),
    congress INTEGER,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS members_by_seat ON members (state, chamber, district);
-- withdrawn: the date a cosponsor took their name off (NULL while it is on): withdrawn rows do not count.
-- Re-importing a bill replaces its rows.
CREATE TABLE IF NOT EXISTS bill_sponsors (
    bill_id TEXT NOT NULL REFERENCES bills (id) ON DELETE CASCADE,
    bioguide_id TEXT NOT NULL REFERENCES members (bioguide_id),
    role TEXT NOT NULL CHECK (role IN ('sponsor', 'cosponsor')),
    date TEXT,
    original INTEGER NOT NULL DEFAULT 0,
    withdrawn TEXT,
    PRIMARY KEY (bill_id, bioguide_id, role)
);
CREATE INDEX IF NOT EXISTS bill_sponsors_by_member ON bill_sponsors (bioguide_id);
-- Where the listener lives: a USPS state or territory code, and their congressional district (0 at-large).
ALTER TABLE users ADD COLUMN state TEXT;
ALTER TABLE users ADD COLUMN district INTEGER CHECK (district IS NULL OR (district BETWEEN 0 AND 53 AND state IS NOT NULL))
