-- trialog schema version 2: each checkpoint keeps the compact range of its
-- tree (the roots of the perfect subtrees covering [0, size), left to right,
-- concatenated 32-byte hashes), so that trialogd can extend the tree and
-- prove new leaves without reading Trillian's nodes.
ALTER TABLE trialog_checkpoints ADD COLUMN compact_range MEDIUMBLOB NULL;
