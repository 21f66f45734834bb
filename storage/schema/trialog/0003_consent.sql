-- trialog schema version 3: consent subjects, off the log.
--
-- One row per minted subject. secret_hash is SHA-256 of a domain label and
-- the patient's 32-byte random secret: the only link from the patient to the
-- subject, which erasure destroys (secret_hash set to NULL, erased_at set).
-- The secret itself is never stored. The row stays, without the link, so
-- that statements for an erased subject are refused (docs/privacy.md).
CREATE TABLE trialog_consent_subjects (
  subject     VARCHAR(64) NOT NULL PRIMARY KEY,
  trial_id    VARCHAR(32) NOT NULL,
  secret_hash BINARY(32) NULL,
  erased_at   DATETIME(6) NULL,
  UNIQUE KEY (secret_hash),
  INDEX (trial_id)
) ENGINE=InnoDB;
