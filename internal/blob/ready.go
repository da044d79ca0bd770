package blob

import (
	"context"
	"fmt"
)

// Ping reports whether the store can be reached, cheaply enough to run on
// every readiness probe. A folder-backed store must still have its folder,
// readable (a folder removed, or a volume gone, fails); a bucket must answer
// (unreachable, refused credentials or a missing bucket fail). It reads no
// blob and writes nothing.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reach the blob store: %w", err)
	}
	return s.b.ping(ctx)
}
