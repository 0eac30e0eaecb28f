-- Folders a pass of the copy engine skipped, and why: kept until a later
-- pass copies the folder.
CREATE TABLE folder_failures (
    source_user   TEXT NOT NULL,
    source_folder TEXT NOT NULL,
    reason        TEXT NOT NULL,
    failed_at     INTEGER NOT NULL,
    PRIMARY KEY (source_user, source_folder)
);
