// Package auth answers "who is asking": it turns a credential (a bearer token,
// and later a session cookie) and the client's address into a Principal.
package auth

import (
	"context"
	"net/netip"
)

// Kind is the kind of credential a request came with.
type Kind string

// The kinds of credential. Session is a login (npm login, website); the others
// are access tokens (spec/tokens.md section 1).
const (
	KindSession    Kind = "session"
	KindReadOnly   Kind = "read-only"
	KindAutomation Kind = "automation"
	KindPublish    Kind = "publish"
	KindGranular   Kind = "granular"
	// KindOIDC is a short-lived token a CI job got by exchanging its OIDC
	// identity (trusted publishing): it may publish or stage one package.
	KindOIDC Kind = "oidc"
	// KindOperator is the operator at the command line (gatehouse user
	// ...), who holds the database itself: never a token's kind, never
	// made by the Authenticator.
	KindOperator Kind = "operator"
)

// Principal is who a request acts for. The zero value (and nil) is anonymous.
type Principal struct {
	UserID   int64
	UserName string
	Email    string
	// TokenID and TokenKey identify the credential used.
	TokenID  int64
	TokenKey string
	Kind     Kind
	// Grants are a granular token's grants; nil for every other kind.
	Grants *Grants
	// Bypass2FA is set on granular tokens created to skip OTP for package writes.
	Bypass2FA bool
	// Trust is what an OIDC-exchanged token may do; nil for every other kind.
	Trust *Trust
	// ClientIP is the resolved client address.
	ClientIP netip.Addr
	// Admin is set when the user is a site administrator (read with the
	// credential; a promotion or demotion drops every cached credential).
	Admin bool
	// AddressBound is set when the credential is a token limited to
	// address ranges (npm token create --cidr): made for one place.
	AddressBound bool
	// OIDCSubject is the subject of the OpenID Connect token a credential
	// was exchanged for (trusted publishing), "" for every other credential;
	// the audit log records it.
	OIDCSubject string
}

// Authenticated reports whether the principal is a known user.
func (p *Principal) Authenticated() bool { return p != nil && p.UserID != 0 }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal in ctx, or an anonymous one.
func FromContext(ctx context.Context) *Principal {
	if p, ok := ctx.Value(principalKey{}).(*Principal); ok && p != nil {
		return p
	}
	return &Principal{}
}

// ClientIPKey is the context key of the resolved client address. WithClientIP
// is the way to set it; a context type of its own that carries it beside
// other values (the server's per-request context, one allocation for all of
// them) answers this key with a netip.Addr or a *netip.Addr.
type ClientIPKey struct{}

// WithClientIP returns ctx carrying the resolved client address.
func WithClientIP(ctx context.Context, ip netip.Addr) context.Context {
	return context.WithValue(ctx, ClientIPKey{}, ip)
}

// ClientIP returns the client address in ctx (the zero Addr if unknown).
func ClientIP(ctx context.Context) netip.Addr {
	switch ip := ctx.Value(ClientIPKey{}).(type) {
	case netip.Addr:
		return ip
	case *netip.Addr:
		return *ip
	}
	return netip.Addr{}
}

type otpKey struct{}

// WithOTP returns ctx carrying the one-time password a request came with
// (npm sends it in the npm-otp header).
func WithOTP(ctx context.Context, otp string) context.Context {
	return context.WithValue(ctx, otpKey{}, otp)
}

// OTP returns the one-time password in ctx, or "".
func OTP(ctx context.Context) string {
	s, _ := ctx.Value(otpKey{}).(string)
	return s
}
