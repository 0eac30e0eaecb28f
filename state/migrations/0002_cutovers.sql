-- 0002_cutovers: the record of each user's cutover.
CREATE TABLE cutovers (
	source_user        TEXT PRIMARY KEY,
	at                 INTEGER,
	final_messages     INTEGER NOT NULL DEFAULT 0,
	final_sync_seconds REAL NOT NULL DEFAULT 0,
	verified           INTEGER NOT NULL DEFAULT 0,
	differences        INTEGER NOT NULL DEFAULT 0,
	report             TEXT NOT NULL DEFAULT ''
);
