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
