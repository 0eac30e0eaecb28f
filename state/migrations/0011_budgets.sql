-- throttle.daily_per_user: the bytes copied for each user in its current
-- 24-hour period, which began at period_start (Unix nanoseconds). Kept
-- across runs, so that a new run does not start the day afresh, and not
-- deleted when a user is forgotten: the service counts what was
-- transferred for the account whatever mailshift forgets.
CREATE TABLE budgets (
  source_user TEXT PRIMARY KEY,
  period_start INTEGER NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0
);

-- Why a user's copy is paused (paused_until): "windows" (outside
-- throttle.windows), "budget" (throttle.daily_per_user spent), "limits"
-- (the server said the account's limits are exceeded); "" for windows in
-- state files written before.
ALTER TABLE users ADD COLUMN paused_reason TEXT NOT NULL DEFAULT '';
