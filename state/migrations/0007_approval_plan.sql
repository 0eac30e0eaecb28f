-- 0007_approval_plan: what an approval covered (its users' rows, the
-- endpoints, the folder mapping), as JSON, so that a refusal after a change
-- can say what changed. Empty for approvals recorded before.
ALTER TABLE approvals ADD COLUMN plan TEXT NOT NULL DEFAULT '';
