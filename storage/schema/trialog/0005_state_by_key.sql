-- trialog schema version 5: domain state by key.
--
-- One row per key a statement kind keeps (a trial, an alias identifier of a
-- trial, a consent subject): the value is the kind's own encoding of what its
-- checks need, written in the same transaction as the entries that change it.
-- A check locks the rows of its keys (SELECT ... FOR UPDATE), so statements
-- about one trial or subject take turns while the rest of the log goes on.
CREATE TABLE trialog_state (
  k VARBINARY(191) NOT NULL PRIMARY KEY,
  v MEDIUMBLOB NOT NULL
) ENGINE=InnoDB;

-- state_built is set once trialog_state reflects every entry below
-- next_index; trialogd builds it at start-up from the entries of a database
-- that predates this version.
ALTER TABLE trialog_log ADD COLUMN state_built BOOLEAN NOT NULL DEFAULT FALSE;

-- erasure_logged is set once the subject's consent.erasure is in the log;
-- the reconciler logs again only erasures without it.
ALTER TABLE trialog_consent_subjects ADD COLUMN erasure_logged BOOLEAN NOT NULL DEFAULT FALSE,
  ADD INDEX erasure_pending (erasure_logged, erased_at);
