-- When a user's bulk copy waits outside the copy windows: until when.
ALTER TABLE users ADD COLUMN paused_until INTEGER;
