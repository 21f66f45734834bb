package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ConsentSubject is a minted consent subject as stored: the trial it belongs
// to and, once erased, when. The secret's hash is never read back.
type ConsentSubject struct {
	Subject  string
	TrialID  string
	ErasedAt *time.Time // nil while the subject is live
}

const (
	insertConsentSubject  = `INSERT INTO trialog_consent_subjects (subject, trial_id, secret_hash) VALUES (?, ?, ?)`
	selectConsentSubject  = `SELECT subject, trial_id, erased_at FROM trialog_consent_subjects WHERE subject = ?`
	selectConsentBySecret = `SELECT subject, trial_id, erased_at FROM trialog_consent_subjects WHERE secret_hash = ?`
	eraseConsentSubject   = `UPDATE trialog_consent_subjects SET secret_hash = NULL, erased_at = COALESCE(erased_at, ?) WHERE subject = ?`
	eraseConsentBySecret  = `UPDATE trialog_consent_subjects SET secret_hash = NULL, erased_at = COALESCE(erased_at, ?) WHERE secret_hash = ? AND subject = ?`
	selectConsentErasedAt = `SELECT erased_at FROM trialog_consent_subjects WHERE subject = ?`
)

// CreateConsentSubject stores a new subject of trial with the hash of its
// secret. A duplicate subject or hash (a broken random source) is
// ErrDuplicateKey.
func (s *Store) CreateConsentSubject(ctx context.Context, subject, trial string, secretHash []byte) error {
	_, err := s.db.ExecContext(ctx, insertConsentSubject, subject, trial, secretHash)
	if isDuplicate(err) {
		return ErrDuplicateKey
	}
	return err
}

// ConsentSubject returns the subject with this reference, erased or not, or
// ErrNotFound.
func (s *Store) ConsentSubject(ctx context.Context, subject string) (*ConsentSubject, error) {
	return scanConsentSubject(s.db.QueryRowContext(ctx, selectConsentSubject, subject))
}

// ConsentSubjectBySecret returns the live subject whose secret has this
// hash, or ErrNotFound. An erased subject has no hash any more, so it is not
// found: by the same query, in the same time, as a secret never issued.
func (s *Store) ConsentSubjectBySecret(ctx context.Context, secretHash []byte) (*ConsentSubject, error) {
	return scanConsentSubject(s.db.QueryRowContext(ctx, selectConsentBySecret, secretHash))
}

func scanConsentSubject(row *sql.Row) (*ConsentSubject, error) {
	var c ConsentSubject
	var erased sql.NullTime
	err := row.Scan(&c.Subject, &c.TrialID, &erased)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if erased.Valid {
		t := erased.Time.UTC()
		c.ErasedAt = &t
	}
	return &c, nil
}

// EraseConsentSubject destroys the link from a secret to subject (its hash)
// and marks the subject erased at at, unless it was erased before. With a
// non-nil secretHash only the subject holding that hash is erased. It
// returns when the subject was erased (the first time), or ErrNotFound.
func (s *Store) EraseConsentSubject(ctx context.Context, subject string, secretHash []byte, at time.Time) (time.Time, error) {
	at = at.UTC().Truncate(time.Microsecond)
	var res sql.Result
	var err error
	if secretHash != nil {
		res, err = s.db.ExecContext(ctx, eraseConsentBySecret, at, secretHash, subject)
	} else {
		res, err = s.db.ExecContext(ctx, eraseConsentSubject, at, subject)
	}
	if err != nil {
		return time.Time{}, err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 && secretHash != nil {
		return time.Time{}, ErrNotFound
	}
	var erased sql.NullTime
	err = s.db.QueryRowContext(ctx, selectConsentErasedAt, subject).Scan(&erased)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !erased.Valid) {
		return time.Time{}, ErrNotFound
	}
	if err != nil {
		return time.Time{}, err
	}
	return erased.Time.UTC(), nil
}

// MarkErasureLogged records that subject's consent.erasure is in the log
// (durably appended), so that the reconciler leaves it alone.
func (s *Store) MarkErasureLogged(ctx context.Context, subject string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE trialog_consent_subjects SET erasure_logged = TRUE WHERE subject = ? AND erased_at IS NOT NULL`, subject)
	return err
}

// UnloggedErasures lists the erased subjects whose consent.erasure is not
// known to be in the log, with the time of their erasure: the reconciler's
// whole work, which does not grow with the erasures already logged.
func (s *Store) UnloggedErasures(ctx context.Context) ([]ConsentSubject, error) {
	return s.erased(ctx, `SELECT subject, trial_id, erased_at FROM trialog_consent_subjects WHERE erasure_logged = FALSE AND erased_at IS NOT NULL`)
}

// ErasedConsentSubjects lists every erased subject with the time of its
// erasure.
func (s *Store) ErasedConsentSubjects(ctx context.Context) ([]ConsentSubject, error) {
	return s.erased(ctx, `SELECT subject, trial_id, erased_at FROM trialog_consent_subjects WHERE erased_at IS NOT NULL`)
}

func (s *Store) erased(ctx context.Context, q string) ([]ConsentSubject, error) {
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ConsentSubject
	for rows.Next() {
		var c ConsentSubject
		var at time.Time
		if err := rows.Scan(&c.Subject, &c.TrialID, &at); err != nil {
			return nil, err
		}
		at = at.UTC()
		c.ErasedAt = &at
		out = append(out, c)
	}
	return out, rows.Err()
}
