// Package gc removes tarball blobs that no version references: what a
// publish leaves when it stops between writing its blob and committing its
// version, and the tarballs of unpublished versions. It is the only code
// that deletes tarball blobs; unpublishing removes metadata only, because
// blobs are content-addressed and one blob may serve several versions.
//
// It is safe to run while gatehouse nodes are serving. A publish writes its
// blob before it commits the version, so a blob written within the grace
// period is kept even when nothing references it yet, and each candidate is
// checked again, against the database and the blob store, just before it is
// deleted.
package gc

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// batchSize is how many listed blobs are looked up in the database at once.
const batchSize = 500

// Options tune a collection.
type Options struct {
	// Grace keeps every blob written less than this long ago: longer than
	// any publish takes between writing its blob and committing, plus any
	// clock difference between this machine and the blob store.
	Grace time.Duration
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Removed, when set, is told of every blob removed (in a dry run: every
	// blob that would be).
	Removed func(key string, a blob.Attributes)
}

// Summary counts what a collection saw and did.
type Summary struct {
	// Seen is the number of tarball blobs listed, and SeenBytes their size.
	Seen      int
	SeenBytes int64
	// Referenced blobs are used by at least one version and stay.
	Referenced int
	// Young blobs are unreferenced but written within the grace period, so
	// perhaps by a publish still in flight; they stay.
	Young int
	// Removed blobs were deleted (in a dry run: would have been), freeing
	// Freed bytes.
	Removed int
	Freed   int64
	// Foreign counts keys under the tarball prefix that are not content
	// addresses gatehouse wrote; they are left alone.
	Foreign int
}

// Collector removes unreferenced tarball blobs.
type Collector struct {
	store *store.Store
	blobs *blob.Store
	opts  Options
	// beforeRecheck, when set, runs just before a candidate is checked
	// again, so tests can act as a publish racing the collection.
	beforeRecheck func(key string)
}

// New returns a Collector over the metadata store st and the tarball store b.
func New(st *store.Store, b *blob.Store, opts Options) (*Collector, error) {
	if opts.Grace < 0 {
		return nil, fmt.Errorf("grace period %s: must not be negative", opts.Grace)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Collector{store: st, blobs: b, opts: opts}, nil
}

// listed is one blob as the listing saw it.
type listed struct {
	key   string
	attrs blob.Attributes
	// leftover is true for the temporary file of a folder store's write,
	// which no version can reference.
	leftover bool
}

// Run lists every tarball blob once and removes those no version
// references that were written before the grace period.
func (c *Collector) Run(ctx context.Context) (Summary, error) {
	var sum Summary
	var batch []listed
	err := c.blobs.List(ctx, blob.KeyPrefix(), func(key string, a blob.Attributes) error {
		l := listed{key: key, attrs: a}
		if !blob.IsKey(key) {
			if _, ok := blob.IsLeftover(key); !ok {
				sum.Foreign++
				return nil
			}
			l.leftover = true
		}
		sum.Seen++
		sum.SeenBytes += a.Size
		batch = append(batch, l)
		if len(batch) < batchSize {
			return nil
		}
		err := c.sweep(ctx, batch, &sum)
		batch = batch[:0]
		return err
	})
	if err == nil {
		err = c.sweep(ctx, batch, &sum)
	}
	return sum, err
}

// sweep looks a batch of listed blobs up in the database and removes the
// unreferenced ones older than the grace period.
func (c *Collector) sweep(ctx context.Context, batch []listed, sum *Summary) error {
	if len(batch) == 0 {
		return nil
	}
	keys := make([]string, 0, len(batch))
	for _, l := range batch {
		if !l.leftover {
			keys = append(keys, l.key)
		}
	}
	refs, err := c.store.Q().ReferencedBlobs(ctx, keys)
	if err != nil {
		return err
	}
	for _, l := range batch {
		switch {
		case refs[l.key]:
			sum.Referenced++
		case c.young(l.attrs.ModTime):
			sum.Young++
		default:
			if err := c.remove(ctx, l, sum); err != nil {
				return err
			}
		}
	}
	return nil
}

// young reports whether a blob written at t is within the grace period.
func (c *Collector) young(t time.Time) bool {
	return c.opts.Now().Sub(t) < c.opts.Grace
}

// remove deletes one candidate after checking it again: a publish may have
// committed a version using it, or written the same bytes again (a retried
// publish), since the listing.
func (c *Collector) remove(ctx context.Context, l listed, sum *Summary) error {
	if c.beforeRecheck != nil {
		c.beforeRecheck(l.key)
	}
	if !l.leftover {
		refs, err := c.store.Q().ReferencedBlobs(ctx, []string{l.key})
		if err != nil {
			return err
		}
		if refs[l.key] {
			sum.Referenced++
			return nil
		}
	}
	a, err := c.blobs.Stat(ctx, l.key)
	switch {
	case fault.Is(err, fault.NotFound):
		// Gone already (another collection, or a write's temporary file
		// renamed into place): nothing to remove or count.
		sum.Seen--
		sum.SeenBytes -= l.attrs.Size
		return nil
	case err != nil:
		return err
	}
	if c.young(a.ModTime) {
		sum.Young++
		return nil
	}
	if !c.opts.DryRun {
		if err := c.blobs.Delete(ctx, l.key); err != nil {
			return err
		}
	}
	sum.Removed++
	sum.Freed += a.Size
	if c.opts.Removed != nil {
		c.opts.Removed(l.key, a)
	}
	return nil
}
