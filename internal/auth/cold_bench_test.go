package auth

import (
	"context"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/token"
)

// auditRows writes each new address's event as a row of the audit log, as
// internal/audit does (without its masking): the writes a cold token costs.
type auditRows struct{}

func (auditRows) TokenNewAddress(ctx context.Context, q store.Queries, p Principal, ip netip.Addr, at time.Time) error {
	_, err := q.InsertAuditEvent(ctx, newAddressEvent(p, ip, at))
	return err
}

func newAddressEvent(p Principal, ip netip.Addr, at time.Time) store.AuditEvent {
	return store.AuditEvent{At: at.UnixMilli(), Action: "token.new_address", Outcome: "success", ActorID: p.UserID,
		ActorName: p.UserName, TokenKey: p.TokenKey, TokenKind: string(p.Kind), ClientIP: ip.String(),
		TargetUserID: p.UserID, TargetUser: p.UserName, TargetToken: p.TokenKey}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBearerCold authenticates tokens never used before, one request
// each, and writes what they noted (last use, address, event) before it
// stops: what a cold token costs, look-up and writes. cpu-ns/op is the
// process's CPU time per token, the background writer's included. Run it
// with a fixed count (-benchtime 20000x): each token is stored first.
func BenchmarkBearerCold(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	f.authn.SetAddressLog(auditRows{})
	raws := make([]string, b.N)
	err := f.st.InTx(ctx, func(q store.Queries) error {
		for i := range raws {
			raw, err := f.format.Generate()
			if err != nil {
				return err
			}
			h := token.Hash(raw)
			if _, err := q.CreateToken(ctx, store.Token{Hash: h[:], Key: raw[4:40], UserID: f.user.ID,
				Masked: token.Mask(raw), Kind: string(KindReadOnly), CreatedAt: f.now.UnixMilli()}); err != nil {
				return err
			}
			raws[i] = raw
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	f.authn.obs = silentObserver{}
	ip := netip.MustParseAddr("127.0.0.1")
	cpu := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		if _, err := f.authn.Bearer(ctx, raws[i], ip); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.authn.FlushLastUse(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu)/float64(b.N), "cpu-ns/op")
}
