-- 0006_approval_users: an approval covers a list of users, so that one
-- wave can be approved while another is not ready yet.
CREATE TABLE approval_users (
	source_user TEXT NOT NULL,
	approval_id INTEGER NOT NULL REFERENCES approvals (id) ON DELETE CASCADE,
	PRIMARY KEY (source_user, approval_id)
) WITHOUT ROWID;
CREATE INDEX approval_users_by_approval ON approval_users (approval_id);

-- Approvals recorded before covered every user of the project at the time:
-- the users recorded now (approve recorded the users file's rows first).
-- Their hash is over all of those users' rows, so they hold as long as
-- those rows, the endpoints and the folder mapping are unchanged.
INSERT INTO approval_users (source_user, approval_id)
	SELECT u.source_user, a.id FROM approvals a CROSS JOIN users u;
