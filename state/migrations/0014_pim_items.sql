-- 0014_pim_items: the items that are not mail (contacts, calendar items,
-- tasks, notes) uploaded to a CardDAV or CalDAV server, one row per item
-- and collection: where it went (the resource's href and ETag) and a hash
-- of what was uploaded, so that a pass run again uploads nothing twice and
-- an item changed on the source replaces its resource.
CREATE TABLE pim_items (
	source_user TEXT NOT NULL,
	item_key    TEXT NOT NULL,
	collection  TEXT NOT NULL,
	href        TEXT NOT NULL,
	etag        TEXT NOT NULL,
	hash        TEXT NOT NULL,
	uploaded    INTEGER NOT NULL,
	PRIMARY KEY (source_user, item_key, collection)
) WITHOUT ROWID;
