package store

import (
	"context"
	"fmt"
)

// InitSetting stores value under name unless a value is there already, and
// returns the value stored: the one given, or the one another process
// stored first.
func (q Queries) InitSetting(ctx context.Context, name, value string) (string, error) {
	if _, err := q.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		name, value); err != nil {
		return "", fmt.Errorf("store setting %s: %w", name, err)
	}
	var stored string
	if err := q.row(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&stored); err != nil {
		return "", fmt.Errorf("read setting %s: %w", name, q.scanErr(err, "setting not found"))
	}
	return stored, nil
}

// Setting returns the value stored under name; NotFound when there is none.
func (q Queries) Setting(ctx context.Context, name string) (string, error) {
	var v string
	if err := q.row(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v); err != nil {
		return "", q.scanErr(err, "setting not found")
	}
	return v, nil
}

// PutSetting stores value under name, replacing what was there.
func (q Queries) PutSetting(ctx context.Context, name, value string) error {
	if _, err := q.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value); err != nil {
		return fmt.Errorf("store setting %s: %w", name, err)
	}
	return nil
}
