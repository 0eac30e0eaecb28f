-- 0005_approval_users: an approval covers a list of users, so that one
-- wave can be approved while another is not ready. Approvals recorded
-- before keep covering every user (all_users = 1); their hash is over all
-- of the users file's rows.
ALTER TABLE approvals ADD COLUMN all_users INTEGER NOT NULL DEFAULT 0;
UPDATE approvals SET all_users = 1;

-- The users each approval covers. A user's approval is the newest one that
-- covers it: the index answers that per user.
CREATE TABLE approval_users (
	source_user TEXT NOT NULL,
	approval_id INTEGER NOT NULL REFERENCES approvals (id) ON DELETE CASCADE,
	PRIMARY KEY (source_user, approval_id)
) WITHOUT ROWID;
CREATE INDEX approval_users_by_approval ON approval_users (approval_id);
