-- trialog schema version 10: text is utf8mb4, whatever the server's default.
-- A database created with another default (latin1 on many servers) could
-- not store a principal named "Zoë 医院". New tables now default to utf8mb4;
-- storage.Migrate converts any trialog_ table or column still in another
-- character set after the numbered migrations.
ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
