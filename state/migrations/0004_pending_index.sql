-- Finds the folders with unsettled or refused messages without reading
-- every pair of the user (a nothing-changed sync asks on every pass).
CREATE INDEX pairs_pending ON pairs (source_user, source_folder) WHERE status IN ('intent', 'failed');
