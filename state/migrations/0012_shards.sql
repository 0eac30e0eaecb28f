-- 0012_shards: a shard's state says which shard of which approved plan it
-- is (one row); a project's state lists the shard states merged into it.
CREATE TABLE shard (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	shard_index INTEGER NOT NULL, -- 1 to shard_count
	shard_count INTEGER NOT NULL,
	plan_hash   TEXT NOT NULL,    -- of the approved plan it was split from
	split_hash  TEXT NOT NULL,    -- of that plan's assignment to shard_count shards
	users       TEXT NOT NULL DEFAULT '[]',
	seeded_from TEXT NOT NULL DEFAULT '',
	seeded_at   INTEGER,
	runs        INTEGER NOT NULL DEFAULT 0 -- steps run on it, to tell an older copy from a newer
);

CREATE TABLE shard_merges (
	split_hash  TEXT NOT NULL,
	shard_index INTEGER NOT NULL,
	shard_count INTEGER NOT NULL,
	plan_hash   TEXT NOT NULL,
	users       TEXT NOT NULL DEFAULT '[]',
	path        TEXT NOT NULL DEFAULT '',
	merged_at   INTEGER,
	seeded_at   INTEGER,
	runs        INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (split_hash, shard_index)
);
