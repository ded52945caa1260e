-- The day's plan (civic_briefs.plan.DayPlan as JSON): a day run again, or its batches on other
-- workers, work from the same plan.
CREATE TABLE IF NOT EXISTS day_plans (
    brief_type TEXT NOT NULL,
    brief_date TEXT NOT NULL,
    plan TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (brief_type, brief_date)
);
