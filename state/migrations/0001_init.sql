-- 0001_init: the first mailshift state schema.
--
-- Conventions: times are UTC Unix nanoseconds (INTEGER), or RFC 3339 text
-- for the rare time outside the nanosecond range, and NULL for "never";
-- lists (flags, capabilities, users) are JSON arrays of strings; booleans are
-- 0/1; every table is keyed by the source user's name.

-- "mshf": marks the file as a mailshift state.
PRAGMA application_id = 1836279910;

-- One row per mailbox of the project and where it stands.
CREATE TABLE users (
	source_user     TEXT PRIMARY KEY,
	target_user     TEXT NOT NULL,
	batch           TEXT NOT NULL DEFAULT '',
	collected_at    INTEGER,
	tested_at       INTEGER,
	bulk_started_at INTEGER,
	bulk_done_at    INTEGER,
	synced_at       INTEGER,
	cutover_at      INTEGER,
	error_step      TEXT NOT NULL DEFAULT '',
	error           TEXT NOT NULL DEFAULT ''
);

-- What collect learned about one side of one user.
CREATE TABLE accounts (
	source_user  TEXT NOT NULL,
	side         TEXT NOT NULL CHECK (side IN ('source', 'target')),
	login        TEXT NOT NULL DEFAULT '',
	kind         TEXT NOT NULL DEFAULT '',
	server       TEXT NOT NULL DEFAULT '',
	capabilities TEXT NOT NULL DEFAULT '[]',
	delimiter    INTEGER NOT NULL DEFAULT 0,
	prefix       TEXT NOT NULL DEFAULT '',
	append_limit INTEGER NOT NULL DEFAULT 0,
	quota_used   INTEGER NOT NULL DEFAULT -1,
	quota_limit  INTEGER NOT NULL DEFAULT -1,
	uidplus      INTEGER NOT NULL DEFAULT 0,
	condstore    INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT '',
	collected_at INTEGER,
	PRIMARY KEY (source_user, side)
);

-- The folders of an account, in the order collect listed them.
CREATE TABLE account_folders (
	source_user    TEXT NOT NULL,
	side           TEXT NOT NULL,
	position       INTEGER NOT NULL,
	name           TEXT NOT NULL,
	role           TEXT NOT NULL DEFAULT '',
	noselect       INTEGER NOT NULL DEFAULT 0,
	messages       INTEGER NOT NULL DEFAULT 0,
	bytes          INTEGER NOT NULL DEFAULT 0,
	uidvalidity    INTEGER NOT NULL DEFAULT 0,
	uidnext        INTEGER NOT NULL DEFAULT 0,
	highest_modseq INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (source_user, side, position),
	FOREIGN KEY (source_user, side) REFERENCES accounts (source_user, side) ON DELETE CASCADE
);

-- Things collect found that need a decision before copying.
CREATE TABLE problems (
	id          INTEGER PRIMARY KEY,
	source_user TEXT NOT NULL,
	kind        TEXT NOT NULL,
	folder      TEXT NOT NULL DEFAULT '',
	detail      TEXT NOT NULL DEFAULT '',
	action      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX problems_by_user ON problems (source_user, kind, folder);

-- Sign-offs of a plan, newest last.
CREATE TABLE approvals (
	id          INTEGER PRIMARY KEY,
	hash        TEXT NOT NULL,
	approved_by TEXT NOT NULL DEFAULT '',
	at          INTEGER,
	text        TEXT NOT NULL DEFAULT ''
);

-- Outcomes of `mailshift test`, newest last.
CREATE TABLE test_runs (
	id        INTEGER PRIMARY KEY,
	at        INTEGER,
	plan_hash TEXT NOT NULL DEFAULT '',
	users     TEXT NOT NULL DEFAULT '[]',
	messages  INTEGER NOT NULL DEFAULT 0,
	bytes     INTEGER NOT NULL DEFAULT 0,
	seconds   REAL NOT NULL DEFAULT 0,
	passed    INTEGER NOT NULL DEFAULT 0,
	detail    TEXT NOT NULL DEFAULT ''
);

-- Sync position of each source folder.
CREATE TABLE cursors (
	source_user        TEXT NOT NULL,
	source_folder      TEXT NOT NULL,
	source_uidvalidity INTEGER NOT NULL,
	target_folder      TEXT NOT NULL DEFAULT '',
	target_uidvalidity INTEGER NOT NULL DEFAULT 0,
	uidnext            INTEGER NOT NULL DEFAULT 0,
	highest_modseq     INTEGER NOT NULL DEFAULT 0,
	messages           INTEGER NOT NULL DEFAULT 0,
	synced_at          INTEGER,
	PRIMARY KEY (source_user, source_folder)
);

-- One row per source message and its copy on the target: the hot table.
CREATE TABLE pairs (
	source_user        TEXT NOT NULL,
	source_folder      TEXT NOT NULL,
	source_uidvalidity INTEGER NOT NULL,
	source_key         TEXT NOT NULL,
	source_uid         INTEGER NOT NULL DEFAULT 0,
	size               INTEGER NOT NULL DEFAULT 0,
	hash               TEXT NOT NULL DEFAULT '',
	flags              TEXT NOT NULL DEFAULT '[]',
	internal_date      INTEGER,
	target_folder      TEXT NOT NULL DEFAULT '',
	target_uidvalidity INTEGER NOT NULL DEFAULT 0,
	target_uidnext     INTEGER NOT NULL DEFAULT 0,
	target_uid         INTEGER NOT NULL DEFAULT 0,
	status             TEXT NOT NULL CHECK (status IN ('intent', 'copied', 'failed')),
	error              TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (source_user, source_folder, source_uidvalidity, source_key)
) WITHOUT ROWID;
CREATE INDEX pairs_by_uid ON pairs (source_user, source_folder, source_uid, source_key);
CREATE INDEX pairs_failed ON pairs (source_user) WHERE status = 'failed';
