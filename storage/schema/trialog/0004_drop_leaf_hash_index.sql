-- trialog schema version 4: leaf hashes are found through trialogd's
-- in-memory tree (or Trillian's own index); a second random-key index on
-- every entry only slowed inserts once the table outgrew the buffer pool.
ALTER TABLE trialog_entries DROP INDEX leaf_hash;
