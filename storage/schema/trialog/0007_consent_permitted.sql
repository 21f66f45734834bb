-- trialog schema version 7: a consent subject's state lists the purposes its
-- latest grant permits, so that its status can say "partially withdrawn" or
-- "withdrawn" when those purposes are withdrawn one by one.
--
-- The domain state is a function of the log's entries: marking it unbuilt
-- makes trialogd rebuild it from them at start-up (storage.Store.BuildState),
-- with the new field. A new database has no trialog_log row yet; its state is
-- built from the start.
UPDATE trialog_log SET state_built = FALSE;
