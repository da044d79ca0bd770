package account

import (
	"testing"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// TestSecurityWebLoginRowsAreBounded: POST /-/v1/login needs no account and
// writes a row each time. Before, one client wrote about 200 a second without
// limit; now an address may hold 20 waiting at once and the registry 10,000,
// each refused with a clear 429, and expired rows are purged.
func TestSecurityWebLoginRowsAreBounded(t *testing.T) {
	f := newFixture(t, Options{})
	flood := from(t.Context(), "198.51.100.7")
	for i := range maxWebAuthPerClient {
		if _, err := f.svc.StartWebAuth(flood, WebLogin, nil, "login"); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
	}
	_, err := f.svc.StartWebAuth(flood, WebLogin, nil, "login")
	wantFault(t, "one start too many from one address", err, fault.Locked,
		"Too many sign-ins waiting for a browser from your address; finish or let them expire, then try again")
	if e, _ := fault.As(err); e.RetryAfter <= 0 {
		t.Fatalf("no Retry-After: %+v", e)
	}
	// An IPv6 flood is one /64.
	v6 := from(t.Context(), "2001:db8:7::1")
	for range maxWebAuthPerClient {
		if _, err := f.svc.StartWebAuth(v6, WebLogin, nil, "login"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.svc.StartWebAuth(from(t.Context(), "2001:db8:7::ffff:1"), WebLogin, nil, "login")
	wantFault(t, "another address of the flooding /64", err, fault.Locked, "")

	// Someone else still starts one.
	if _, err := f.svc.StartWebAuth(from(t.Context(), "192.0.2.1"), WebLogin, nil, "login"); err != nil {
		t.Fatalf("another address: %v", err)
	}

	// Once they expire, the address may start again, and rows an hour past
	// their expiry are gone.
	f.now = f.now.Add(webAuthTTL + time.Hour + time.Second)
	if _, err := f.svc.StartWebAuth(flood, WebLogin, nil, "login"); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	var rows int
	if err := f.st.DB().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM web_auth`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Fatalf("%d rows after expiry and a new start, want the new one alone", rows)
	}

	// The registry as a whole holds at most maxWebAuthTotal waiting: a
	// flood spread over many addresses meets that bound.
	exp := f.now.Add(webAuthTTL).UnixMilli()
	if _, err := f.st.DB().ExecContext(t.Context(), `WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO web_auth (login_hash, done_hash, kind, command, created_at, expires_at, client)
		SELECT CAST('l' || i AS BLOB), CAST('d' || i AS BLOB), 'login', '', ?, ?, '10.9.' || (i / 256) || '.' || (i % 256) FROM n`,
		maxWebAuthTotal, f.now.UnixMilli(), exp); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.StartWebAuth(from(t.Context(), "192.0.2.77"), WebLogin, nil, "login")
	wantFault(t, "a start with the registry full", err, fault.Locked,
		"Too many sign-ins are waiting for a browser on this registry; try again in a minute")
}
