package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkTouchTokens writes batches of 1,024 last uses of tokens drawn at
// random from 60,000, in one transaction each: "prepared" is TouchTokens
// (an UPDATE per token, prepared once), "rows" an UPDATE per token parsed
// each time (before issue 20), "values" a statement per 512 tokens
// (UPDATE … FROM (VALUES …), tried for issue 20 and dropped: slower).
func BenchmarkTouchTokens(b *testing.B) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "t.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u, err := s.Q().CreateUser(ctx, User{Name: "alice", PasswordHash: "x"})
	if err != nil {
		b.Fatal(err)
	}
	const tokens = 60_000
	if err := s.InTx(ctx, func(q Queries) error {
		for i := range tokens {
			if _, err := q.CreateToken(ctx, Token{Key: fmt.Sprintf("key-%d", i), Hash: fmt.Appendf(nil, "hash-%032d", i),
				UserID: u.ID, Kind: "granular", Masked: "npm_abcd...wxyz", Grants: `{"packages_all":true,"permission":"read-only"}`,
				CreatedAt: 1}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	batch := func(at int64) []Touch {
		out := make([]Touch, 1024)
		for i := range out {
			out[i] = Touch{TokenID: 1 + rand.Int64N(tokens), At: at, IP: "127.0.0.1"}
		}
		return out
	}
	for _, c := range []struct {
		name  string
		write func(q Queries, t []Touch) error
	}{
		{"prepared", func(q Queries, t []Touch) error { return q.TouchTokens(ctx, t) }},
		{"values", func(q Queries, t []Touch) error {
			for len(t) > 0 {
				chunk := t[:min(len(t), 512)]
				t = t[len(chunk):]
				query := `UPDATE tokens SET last_used_at = v.column2, last_used_ip = v.column3 FROM (VALUES ` +
					strings.Repeat(`(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT)), `, len(chunk)-1) +
					`(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS TEXT))) AS v WHERE tokens.id = v.column1
					AND (tokens.last_used_at IS NULL OR tokens.last_used_at < v.column2)`
				args := make([]any, 0, 3*len(chunk))
				for _, u := range chunk {
					args = append(args, u.TokenID, u.At, u.IP)
				}
				if _, err := q.execBuilt(ctx, query, args...); err != nil {
					return err
				}
			}
			return nil
		}},
		{"rows", func(q Queries, t []Touch) error {
			for _, t := range t {
				if _, err := q.exec(ctx, `UPDATE tokens SET last_used_at = ?, last_used_ip = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, t.At, t.IP, t.TokenID, t.At); err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			at := int64(1000)
			for b.Loop() {
				at++
				t := batch(at)
				if err := s.InTx(ctx, func(q Queries) error { return c.write(q, t) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
