-- trialog schema version 6: fewer random-key index bytes per entry, so that
-- a log larger than the buffer pool reads fewer pages per insert.
--
-- Index references are stored as the first 16 bytes of SHA-256 of the
-- reference (storage.RefKey) instead of the reference itself (up to 191
-- bytes; 71 for a document digest).
CREATE TABLE trialog_refs (
  ref_hash   BINARY(16) NOT NULL,
  leaf_index BIGINT NOT NULL,
  PRIMARY KEY (ref_hash, leaf_index)
) ENGINE=InnoDB;
INSERT INTO trialog_refs (ref_hash, leaf_index)
  SELECT UNHEX(LEFT(SHA2(ref, 256), 32)), leaf_index FROM trialog_entry_refs;
DROP TABLE trialog_entry_refs;

-- Entry ids are unique by their first 16 bytes (id_key); the full 32-byte id
-- stays in the row and is compared on every hit.
ALTER TABLE trialog_entries ADD COLUMN id_key BINARY(16) NULL;
UPDATE trialog_entries SET id_key = LEFT(id, 16);
ALTER TABLE trialog_entries MODIFY id_key BINARY(16) NOT NULL, ADD UNIQUE KEY id_key (id_key), DROP INDEX id;
