-- 0010_verified: what verification last found right, so that the next
-- verification checks only what changed since (new copies, flag changes,
-- folders whose counters moved).

-- One row per source folder that verified clean: both sides' counters as
-- they were listed before the check, and the user's copies of the folder
-- then. Modification sequences are 0 where a side has no CONDSTORE.
CREATE TABLE verified_folders (
	source_user        TEXT NOT NULL,
	source_folder      TEXT NOT NULL,
	source_uidvalidity INTEGER NOT NULL,
	source_uidnext     INTEGER NOT NULL,
	source_messages    INTEGER NOT NULL,
	source_modseq      INTEGER NOT NULL,
	target_folder      TEXT NOT NULL,
	target_uidvalidity INTEGER NOT NULL,
	target_uidnext     INTEGER NOT NULL,
	target_messages    INTEGER NOT NULL,
	target_modseq      INTEGER NOT NULL,
	pairs              INTEGER NOT NULL, -- copies recorded of the folder
	pairs_other        INTEGER NOT NULL, -- intents and refusals recorded of it
	pairs_sum          INTEGER NOT NULL, -- their target UIDs and sizes summed: a fingerprint
	extra              INTEGER NOT NULL, -- messages only on the target folder
	verified_at        INTEGER NOT NULL,
	PRIMARY KEY (source_user, source_folder)
) WITHOUT ROWID;

-- One row per message of a folder that verified clean: the copy as it was
-- found (target UIDVALIDITY and UID, size, flags, internal date) and the
-- hash of the bytes sent. content_at is when its content was last read
-- and compared, NULL if only its metadata was.
CREATE TABLE verified_messages (
	source_user        TEXT NOT NULL,
	source_folder      TEXT NOT NULL,
	source_uidvalidity INTEGER NOT NULL,
	source_key         TEXT NOT NULL,
	target_folder      TEXT NOT NULL,
	target_uidvalidity INTEGER NOT NULL,
	target_uid         INTEGER NOT NULL,
	size               INTEGER NOT NULL,
	hash               TEXT NOT NULL,
	flags              TEXT NOT NULL DEFAULT '[]',
	internal_date      INTEGER,
	verified_at        INTEGER NOT NULL,
	content_at         INTEGER,
	PRIMARY KEY (source_user, source_folder, source_uidvalidity, source_key)
) WITHOUT ROWID;

-- The last verification of each user: its kind (full or incremental),
-- when it ran, when the last full one ran (NULL: never), how many
-- messages' content it read, and how many differences it found.
CREATE TABLE verifications (
	source_user TEXT PRIMARY KEY,
	kind        TEXT NOT NULL CHECK (kind IN ('full', 'incremental')),
	at          INTEGER NOT NULL,
	full_at     INTEGER,
	sample      INTEGER NOT NULL,
	differences INTEGER NOT NULL
);
