-- trialog schema version 9: credentials that can be taken back.
--
-- entry_index is the leaf index of the principal.key entry that registered
-- the key (filled below for keys registered before this version; NULL only
-- if that entry is not in trialog_entries). revoked_index and revoked_entry_id are those of the
-- principal.key-revocation entry: the key stops counting from that leaf on.
-- They are written in the same transaction as that entry, under the log's
-- append lock, so no statement signed with the key is ordered after it.
ALTER TABLE trialog_keys
  ADD COLUMN entry_index BIGINT NULL,
  ADD COLUMN revoked_index BIGINT NULL,
  ADD COLUMN revoked_entry_id BINARY(32) NULL;

-- A deactivated principal holds no token and no valid key, for good.
ALTER TABLE trialog_principals ADD COLUMN deactivated_at DATETIME(6) NULL;

-- Keys registered before this version: their principal.key entry's index,
-- from the log's own order.
-- (id_key, the first 16 bytes of the id, is the entries' unique key.)
UPDATE trialog_keys k JOIN trialog_entries e ON e.id_key = LEFT(k.entry_id, 16) AND e.id = k.entry_id
  SET k.entry_index = e.leaf_index WHERE k.entry_index IS NULL;
