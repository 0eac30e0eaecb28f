-- 0008_samples: how far a copying step had got at points in time, for
-- the throughput charts of the reports: one row per sample of a run (a
-- run is named by its step and start).
CREATE TABLE samples (
	step     TEXT NOT NULL,
	started  INTEGER NOT NULL,
	at       INTEGER NOT NULL,
	messages INTEGER NOT NULL,
	bytes    INTEGER NOT NULL,
	PRIMARY KEY (step, started, at)
) WITHOUT ROWID;
