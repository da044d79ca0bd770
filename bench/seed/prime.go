package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// primeCommand sends one GET /-/whoami with every token of a file, a few at
// a time, so that a benchmark's warm tokens are all in gatehouse's token
// cache before the load starts. Every answer must be 200.
func primeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	registry := fs.String("registry", "", "registry URL (required)")
	file := fs.String("tokens", "", "file of tokens, one a line (required)")
	concurrency := fs.Int("concurrency", 32, "requests at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *registry == "" || *file == "" {
		return errors.New("prime: -registry and -tokens are required")
	}
	tokens, err := readLines(*file)
	if err != nil {
		return fmt.Errorf("prime: %w", err)
	}
	start := time.Now()
	if err := Prime(ctx, NewClient(*registry), tokens, *concurrency); err != nil {
		return fmt.Errorf("prime: %w", err)
	}
	took := time.Since(start).Seconds()
	_, err = fmt.Fprintf(stdout, "%d tokens in %.1fs (%.0f/s)\n", len(tokens), took, float64(len(tokens))/took)
	return err
}

// Prime asks who each token is, concurrency requests at a time; the first
// answer that is not 200 stops it.
func Prime(ctx context.Context, cl *Client, tokens []string, concurrency int) error {
	return inParallel(ctx, len(tokens), concurrency, func(ctx context.Context, i int) error {
		if err := cl.do(ctx, http.MethodGet, "/-/whoami", tokens[i], nil, nil); err != nil {
			return fmt.Errorf("whoami with token %s: %w", maskToken(tokens[i]), err)
		}
		return nil
	})
}

// maskToken shows the start of a token only, for error messages.
func maskToken(t string) string {
	if len(t) < 12 {
		return "…"
	}
	return t[:8] + "…"
}
