-- What the published MP3 measures (civic_briefs.mastering, ITU-R BS.1770-4): integrated loudness
-- in LUFS (mastered to -16) and true peak in dBTP (at most -1). NULL for briefs published before
-- mastering, and for skipped or failed ones.
ALTER TABLE briefs ADD COLUMN loudness_lufs REAL;
ALTER TABLE briefs ADD COLUMN true_peak_dbtp REAL
