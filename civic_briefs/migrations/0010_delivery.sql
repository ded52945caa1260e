-- When each listener's brief is published: by delivery_time (HH:MM, local) on their own local date,
-- in users.timezone (an IANA name, checked when saved), and their weekly deep-dive on weekly_day.
ALTER TABLE users ADD COLUMN delivery_time TEXT NOT NULL DEFAULT '06:00'
    CHECK (length(delivery_time) = 5 AND substr(delivery_time, 3, 1) = ':');
ALTER TABLE users ADD COLUMN weekly_day TEXT NOT NULL DEFAULT 'sunday'
    CHECK (weekly_day IN ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'))
