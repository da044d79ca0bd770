package registry

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// TestCommits: writes that arrive while a commit runs share the next one;
// each caller returns once its write has committed, and a write that
// fails fails alone: the others of its batch are committed without it.
func TestCommits(t *testing.T) {
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := newCommits(t.Context(), st)
	row := func(name string) store.UplinkTarball {
		return store.UplinkTarball{Name: name, Version: "1.0.0", Uplink: "up", BlobKey: "k-" + name, Size: 1, FetchedAt: 1}
	}
	refused := errors.New("refused")

	for _, tc := range []struct {
		name   string
		writes int
		failAt int // -1: none fails
	}{
		{"all good", 10, -1},
		{"one fails", 6, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.batches
			// The first write holds its transaction open until the others
			// have queued up behind it.
			started, release := make(chan struct{}), make(chan struct{})
			first := make(chan error, 1)
			go func() {
				first <- c.do(func(q store.Queries) error {
					close(started)
					<-release
					return q.SaveUplinkTarball(t.Context(), row(tc.name+"-first"))
				})
			}()
			<-started
			errs := make([]error, tc.writes)
			var wg sync.WaitGroup
			for i := range tc.writes {
				wg.Go(func() {
					errs[i] = c.do(func(q store.Queries) error {
						if err := q.SaveUplinkTarball(t.Context(), row(fmt.Sprintf("%s-%d", tc.name, i))); err != nil {
							return err
						}
						if i == tc.failAt {
							return refused
						}
						return nil
					})
				})
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				c.mu.Lock()
				queued := len(c.queue)
				c.mu.Unlock()
				if queued == tc.writes {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d writes queued", queued, tc.writes)
				}
				time.Sleep(time.Millisecond)
			}
			close(release)
			wg.Wait()
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			if got := c.batches - before; got != 2 {
				t.Errorf("%d writes behind a commit took %d transactions, want 2", tc.writes, got)
			}
			for i, err := range errs {
				name := fmt.Sprintf("%s-%d", tc.name, i)
				_, readErr := st.Q().UplinkTarball(t.Context(), name, "1.0.0")
				switch {
				case i == tc.failAt:
					if !errors.Is(err, refused) {
						t.Errorf("the failing write: %v", err)
					}
					if readErr == nil {
						t.Errorf("the failing write's row was committed")
					}
				case err != nil || readErr != nil:
					t.Errorf("write %d: %v; read back: %v", i, err, readErr)
				}
			}
		})
	}
}

// BenchmarkCommits: a proxied tarball's record written by 16 requests at
// once (an npm install's parallel downloads), each in a transaction of its
// own as before (alone), against grouped with the writes arriving beside
// it (grouped). SQLite in its default settings here: a flush per commit.
func BenchmarkCommits(b *testing.B) {
	st, err := store.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c := newCommits(b.Context(), st)
	for _, grouped := range []bool{false, true} {
		b.Run(map[bool]string{false: "alone", true: "grouped"}[grouped], func(b *testing.B) {
			var n sync.Mutex
			i := 0
			before := c.batches
			b.SetParallelism(8) // 16 writers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n.Lock()
					i++
					r := store.UplinkTarball{Name: fmt.Sprintf("p%v-%d", grouped, i), Version: "1.0.0", Uplink: "up",
						BlobKey: "k", Size: 1, FetchedAt: 1}
					n.Unlock()
					save := func(q store.Queries) error { return q.SaveUplinkTarball(b.Context(), r) }
					var err error
					if grouped {
						err = c.do(save)
					} else {
						err = st.InTx(b.Context(), save)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			if grouped {
				b.ReportMetric(float64(c.batches-before)/float64(b.N), "commits/op")
			} else {
				b.ReportMetric(1, "commits/op")
			}
		})
	}
}
