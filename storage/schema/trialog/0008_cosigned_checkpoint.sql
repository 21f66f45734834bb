-- trialog schema version 8: with a witness policy, the latest checkpoint of
-- each size as the witness quorum cosigned it (the signed note with the
-- witnesses' cosignature lines), so that a restart serves it again at once.
ALTER TABLE trialog_checkpoints ADD COLUMN cosigned_note TEXT NULL;
