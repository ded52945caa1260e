-- When each listener's brief is published: by delivery_time (HH:MM, local) on their own local date,
-- in users.timezone (an IANA name, checked when saved), and their weekly deep-dive on weekly_day.
ALTER TABLE users ADD COLUMN delivery_time TEXT NOT NULL DEFAULT '06:00'
    CHECK (delivery_time GLOB '[0-2][0-9]:[0-5][0-9]' AND delivery_time < '24:00');
ALTER TABLE users ADD COLUMN weekly_day TEXT NOT NULL DEFAULT 'sunday'
    CHECK (weekly_day IN ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'))
