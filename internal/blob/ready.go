package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// Ping reports whether the store can be reached, cheaply enough to run on
// every readiness probe. A folder-backed store must still have its folder,
// readable (a folder removed, or a volume gone, fails); any other bucket
// must answer a one-key listing (unreachable, refused credentials or a
// missing bucket fail). It reads no blob and writes nothing.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reach the blob store: %w", err)
	}
	if s.dir != "" {
		f, err := os.Open(s.dir)
		if err != nil {
			return fmt.Errorf("open the blob folder: %w", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("stat the blob folder: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("the blob folder %s is not a folder", s.dir)
		}
		// Reading one entry proves the folder is readable, not only there.
		if _, err := f.Readdirnames(1); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the blob folder: %w", err)
		}
		return nil
	}
	ok, err := s.bucket.IsAccessible(ctx)
	if err != nil {
		return fmt.Errorf("reach the blob store: %w", err)
	}
	if !ok {
		return errors.New("the blob store's bucket does not exist")
	}
	return nil
}
