-- trialog schema version 5: credentials that can be taken back.
--
-- entry_index is the leaf index of the principal.key entry that registered
-- the key (NULL for keys registered before this version: receipts then name
-- the entry by id only). revoked_index and revoked_entry_id are those of the
-- principal.key-revocation entry: the key stops counting from that leaf on.
-- They are written in the same transaction as that entry, under the log's
-- append lock, so no statement signed with the key is ordered after it.
ALTER TABLE trialog_keys
  ADD COLUMN entry_index BIGINT NULL,
  ADD COLUMN revoked_index BIGINT NULL,
  ADD COLUMN revoked_entry_id BINARY(32) NULL;

-- A deactivated principal holds no token and no valid key, for good.
ALTER TABLE trialog_principals ADD COLUMN deactivated_at DATETIME(6) NULL;
