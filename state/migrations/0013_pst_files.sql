-- 0013_pst_files: PST files found by a pstscan: source, who owns each,
-- what the pre-ingestion choices left out of each, and how each was
-- retired after its owner's cutover.
--
-- pst_files: one row per file found. record holds what collect learnt of
-- the file (format, encoding, password, store name, counts by item class,
-- date range, top addresses) as JSON; error is why it could not be read
-- ("" if it could). owner is the source user the file is assigned to
-- ("" if none), rule the rule that assigned it, candidates the users the
-- rules named when they disagreed (JSON array). retire_state is "" (not
-- retired), "retiring" (the intent is recorded, the move or marker may or
-- may not have happened) or "retired".
CREATE TABLE pst_files (
	path         TEXT PRIMARY KEY,
	record       TEXT NOT NULL,
	error        TEXT NOT NULL DEFAULT '',
	owner        TEXT NOT NULL DEFAULT '',
	rule         TEXT NOT NULL DEFAULT '',
	candidates   TEXT NOT NULL DEFAULT '[]',
	seen_at      INTEGER NOT NULL,
	retire_state TEXT NOT NULL DEFAULT '',
	retire_how   TEXT NOT NULL DEFAULT '',
	retired_to   TEXT NOT NULL DEFAULT '',
	retired_at   INTEGER
) WITHOUT ROWID;

CREATE INDEX pst_files_owner ON pst_files (owner);

-- pst_items: the pre-ingestion decision on every mail item of a user's
-- PST files, by the key the source gives it in its folder: "keep",
-- "duplicate" (left out as a copy of dup_of, or of a message the target
-- already held) or "filtered" (left out by a filter; reason says which).
-- A decision once made for an item that was copied stays, so that re-runs
-- never copy a duplicate nor lose what was copied.
CREATE TABLE pst_items (
	source_user   TEXT NOT NULL,
	source_folder TEXT NOT NULL,
	source_key    TEXT NOT NULL,
	path          TEXT NOT NULL,
	identity      TEXT NOT NULL,
	decision      TEXT NOT NULL,
	reason        TEXT NOT NULL DEFAULT '',
	dup_of        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (source_user, source_folder, source_key)
) WITHOUT ROWID;

CREATE INDEX pst_items_path ON pst_items (path);
