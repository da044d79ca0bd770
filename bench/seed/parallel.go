package main

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// inParallel runs fn for 0 ≤ i < count, workers at a time. The first error
// cancels the context the others run with, starts no more, and is what
// inParallel returns once the running ones have ended.
func inParallel(ctx context.Context, count, workers int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(workers, 1))
	for i := range count {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}
