-- trialog schema version 1.

-- The log this database serves: one row. next_index is the next leaf index to
-- assign; the appender takes this row FOR UPDATE, which makes appends from
-- several trialogd replicas take turns.
CREATE TABLE trialog_log (
  id                 TINYINT NOT NULL PRIMARY KEY,
  tree_id            BIGINT NOT NULL,
  origin             VARCHAR(255) NOT NULL,
  log_public_key     VARCHAR(512) NOT NULL,
  service_public_key VARBINARY(32) NOT NULL,
  next_index         BIGINT NOT NULL,
  created_at         DATETIME(6) NOT NULL
) ENGINE=InnoDB;

CREATE TABLE trialog_principals (
  id          VARCHAR(40) NOT NULL PRIMARY KEY,
  name        VARCHAR(200) NOT NULL,
  role        VARCHAR(20) NOT NULL,
  created_at  DATETIME(6) NOT NULL
) ENGINE=InnoDB;

-- API tokens, only as SHA-256 hashes.
CREATE TABLE trialog_tokens (
  token_hash   BINARY(32) NOT NULL PRIMARY KEY,
  principal_id VARCHAR(40) NOT NULL,
  created_at   DATETIME(6) NOT NULL,
  INDEX (principal_id)
) ENGINE=InnoDB;

-- Signing keys registered to principals; entry_id is the principal.key entry
-- that logged the registration.
CREATE TABLE trialog_keys (
  key_id       BINARY(32) NOT NULL PRIMARY KEY,
  principal_id VARCHAR(40) NOT NULL,
  public_key   BINARY(32) NOT NULL,
  entry_id     BINARY(32) NOT NULL,
  created_at   DATETIME(6) NOT NULL,
  INDEX (principal_id)
) ENGINE=InnoDB;

-- Every entry in log order. The leaf bytes are stored verbatim: this table is
-- the log's write-ahead order; Trillian is fed from it and must agree with it.
CREATE TABLE trialog_entries (
  leaf_index   BIGINT NOT NULL PRIMARY KEY,
  id           BINARY(32) NOT NULL,
  leaf_hash    BINARY(32) NOT NULL,
  leaf         MEDIUMBLOB NOT NULL,
  type         VARCHAR(64) NOT NULL,
  principal_id VARCHAR(40) NOT NULL,
  received_at  DATETIME(6) NOT NULL,
  UNIQUE KEY (id),
  INDEX (leaf_hash)
) ENGINE=InnoDB;

-- Index keys of entries (a document digest, a trial, a subject), from the
-- signed statement only.
CREATE TABLE trialog_entry_refs (
  ref        VARBINARY(191) NOT NULL,
  leaf_index BIGINT NOT NULL,
  PRIMARY KEY (ref, leaf_index)
) ENGINE=InnoDB;

-- Every checkpoint trialogd signed, by size.
CREATE TABLE trialog_checkpoints (
  tree_size  BIGINT NOT NULL PRIMARY KEY,
  root_hash  BINARY(32) NOT NULL,
  note       TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB;
