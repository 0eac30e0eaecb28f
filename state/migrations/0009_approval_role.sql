-- 0009_approval_role: the role of whoever approved (e.g. "IT manager,
-- Example Corp"), beside the name.
ALTER TABLE approvals ADD COLUMN role TEXT NOT NULL DEFAULT '';
