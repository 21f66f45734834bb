package storage

import (
	"context"
	"database/sql"
	"fmt"
)

// Character set and collation of trialog's text, on its connections and in
// its tables: utf8mb4 holds every Unicode character, where MySQL's utf8
// (utf8mb3) and latin1 do not. utf8mb4_unicode_ci exists on MySQL 5.7+ and
// every MariaDB trialog supports.
const (
	Charset   = "utf8mb4"
	Collation = "utf8mb4_unicode_ci"
)

// notUTF8MB4 lists trialog's tables that still hold text in another
// character set: their default, or one of their columns.
const notUTF8MB4 = `SELECT TABLE_NAME FROM information_schema.TABLES
  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME LIKE 'trialog\_%'
    AND TABLE_COLLATION NOT LIKE 'utf8mb4\_%'
UNION
SELECT DISTINCT TABLE_NAME FROM information_schema.COLUMNS
  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'trialog\_%'
    AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> 'utf8mb4'`

// convertToUTF8MB4 converts the tables notUTF8MB4 finds. On a database
// created utf8mb4 it finds none and costs one query; tables already in
// utf8mb4 are never rebuilt.
func convertToUTF8MB4(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, notUTF8MB4)
	if err != nil {
		return fmt.Errorf("listing tables to convert to %s: %w", Charset, err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := conn.ExecContext(ctx, "ALTER TABLE `"+escapeIdent(t)+"` CONVERT TO CHARACTER SET "+Charset+" COLLATE "+Collation); err != nil {
			return fmt.Errorf("converting %s to %s: %w", t, Charset, err)
		}
	}
	return nil
}
