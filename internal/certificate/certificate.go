// Package certificate keeps the TLS certificate gatehouse serves HTTPS with,
// read from a PEM certificate chain and key file pair, and reads it again
// without a restart: on demand (SIGHUP), and when the files change. A
// handshake always gets a whole pair: a new one replaces the old atomically,
// and a new pair that does not load (half written, mismatched, expired
// into the unreadable) leaves the old one serving.
package certificate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"sync/atomic"
	"time"
)

// maxFileSize bounds what is read of either file: a certificate chain is a
// few kilobytes.
const maxFileSize = 1 << 20

// Keeper holds the certificate served and the files it came from.
type Keeper struct {
	certFile, keyFile string
	log               *slog.Logger
	current           atomic.Pointer[tls.Certificate]
	// sum is the digest of the files' bytes last read, so that a poll
	// that finds them unchanged does nothing.
	sum atomic.Pointer[[sha256.Size]byte]
}

// New reads the pair certFile, keyFile and returns a Keeper serving it, or
// an error saying what is wrong with it (the files are not logged, nor any
// byte of the key).
func New(certFile, keyFile string, log *slog.Logger) (*Keeper, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("certificate: tls_cert and tls_key go together: set both, or neither for plain HTTP")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &Keeper{certFile: certFile, keyFile: keyFile, log: log}
	if _, err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// TLSConfig is the server side TLS configuration: TLS 1.2 and later, Go's
// cipher suites and curves (forward secret AEADs only, as the standard
// library chooses them), and the current certificate on every handshake.
// net/http adds HTTP/2 to it when serving.
func (k *Keeper) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: k.GetCertificate,
	}
}

// GetCertificate returns the pair served now (tls.Config.GetCertificate).
func (k *Keeper) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.current.Load(), nil
}

// Serial is the serial number of the certificate served now.
func (k *Keeper) Serial() *big.Int { return k.current.Load().Leaf.SerialNumber }

// Reload reads the files again and, when they changed and hold a valid
// pair, serves it from the next handshake on; changed reports whether it
// did. On an error the pair served stays the one before.
func (k *Keeper) Reload() (changed bool, err error) {
	certPEM, err := readFile(k.certFile)
	if err != nil {
		return false, err
	}
	keyPEM, err := readFile(k.keyFile)
	if err != nil {
		return false, err
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if old := k.sum.Load(); old != nil && bytes.Equal(old[:], sum[:]) {
		return false, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// tls's messages name what is wrong (no PEM block, a key that
		// does not match) without quoting the key.
		return false, fmt.Errorf("certificate: %s and %s: %w", k.certFile, k.keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return false, fmt.Errorf("certificate: %s: %w", k.certFile, err)
		}
	}
	k.current.Store(&pair)
	k.sum.Store(&sum)
	return true, nil
}

// Watch reloads the pair every interval when the files changed, and at once
// on each value of hup (SIGHUP), logging what it serves or why it keeps the
// old pair, until ctx is done.
func (k *Keeper) Watch(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failed := "" // the error last logged, said once until it changes
	for {
		asked := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			asked = true
		}
		changed, err := k.Reload()
		if err == nil {
			failed = ""
		}
		switch {
		case err != nil && (asked || err.Error() != failed):
			// A poll may catch the files half rewritten: it tries again at
			// the next tick, and keeps the old pair until they are whole.
			failed = err.Error()
			k.log.Error("the TLS certificate files do not load: still serving the certificate before",
				slog.String("serial", k.Serial().Text(16)), slog.Any("error", err))
		case changed:
			leaf := k.current.Load().Leaf
			k.log.Info("serving a new TLS certificate", slog.String("serial", leaf.SerialNumber.Text(16)),
				slog.String("subject", leaf.Subject.String()), slog.Time("not_after", leaf.NotAfter))
		case asked:
			k.log.Info("the TLS certificate files are unchanged", slog.String("serial", k.Serial().Text(16)))
		}
	}
}

// readFile reads a file of at most maxFileSize bytes.
func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("certificate: read %s: %w", name, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("certificate: %s is larger than %d bytes", name, maxFileSize)
	}
	return b, nil
}
