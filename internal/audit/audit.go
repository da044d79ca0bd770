// Package audit is the audit log: every security-relevant event (sign-ins,
// tokens, two-factor changes, package and organization changes, admin
// actions) recorded in the database with who did it, from where, to what,
// and how it ended. The domain services write it through Recorder: an event
// for a change is written in the change's own transaction, so an event
// exists exactly when its change committed (what the webhooks built on this
// log rely on); a refusal, which changes nothing, is written in batches off
// the request path, folded together when it repeats, within a bound per
// minute whatever an attacker sends. docs/audit.md lists the events.
//
// Nothing secret is ever written: events name tokens by key, never by
// value, and carry no password, one-time password, recovery code or key;
// token strings that reach a field by mistake are masked on the way in.
package audit

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/user"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/store"
)

// Action names what happened: an area and a verb, "token.create".
type Action string

// The actions. A new one is a constant here (and a row of docs/audit.md,
// which a test compares with Actions).
const (
	// Accounts: sign-in (a success creates the session the event names),
	// sign-up, password, email.
	SignIn         Action = "user.signin"
	SignUp         Action = "user.signup"
	PasswordChange Action = "user.password_change"
	PasswordReset  Action = "user.password_reset" // a new password set with an administrator's reset link
	EmailChange    Action = "user.email_change"
	// SSOLink links an account to a single sign-on provider's subject
	// (its first sign-in through a provider is a user.signup or a
	// user.signin naming the provider and subject).
	SSOLink Action = "user.sso_link"

	// Two-factor authentication.
	TFAEnable     Action = "tfa.enable"
	TFADisable    Action = "tfa.disable"
	TFAModeChange Action = "tfa.mode_change"

	// Tokens and sessions.
	TokenCreate     Action = "token.create"
	TokenRevoke     Action = "token.revoke"
	TokenNewAddress Action = "token.new_address" // a token used from an address it was not used from before

	// Packages.
	PackagePublish   Action = "package.publish"
	PackageUnpublish Action = "package.unpublish"
	PackageDeprecate Action = "package.deprecate"
	DistTagSet       Action = "package.dist_tag_set"
	DistTagRemove    Action = "package.dist_tag_remove"
	OwnerAdd         Action = "package.owner_add"
	OwnerRemove      Action = "package.owner_remove"
	AccessChange     Action = "package.access_change"
	// Staged publishing and trusted publishing (issue 17).
	PackageStage  Action = "package.stage"
	StageApprove  Action = "package.stage_approve"
	StageReject   Action = "package.stage_reject"
	TrustCreate   Action = "package.trust_create"
	TrustRevoke   Action = "package.trust_revoke"
	TrustExchange Action = "token.oidc_exchange" // a CI job's OIDC identity exchanged for a short-lived token
	// PackageChange is only ever a refusal: a package document sent back
	// whole (npm deprecate, npm unpublish of a version, npm owner) refused
	// before what it changes could be told.
	PackageChange Action = "package.change"

	// Organizations and teams.
	OrgCreate         Action = "org.create"
	OrgMemberSet      Action = "org.member_set"
	OrgMemberRemove   Action = "org.member_remove"
	TeamCreate        Action = "team.create"
	TeamDelete        Action = "team.delete"
	TeamMemberAdd     Action = "team.member_add"
	TeamMemberRemove  Action = "team.member_remove"
	TeamPackageGrant  Action = "team.package_grant"
	TeamPackageRevoke Action = "team.package_revoke"

	// Webhooks.
	HookCreate Action = "hook.create"
	HookUpdate Action = "hook.update"
	HookDelete Action = "hook.delete"

	// Site administration.
	AdminUserCreate    Action = "admin.user_create"
	AdminPromote       Action = "admin.promote"
	AdminDemote        Action = "admin.demote"
	AdminDisable       Action = "admin.disable"
	AdminEnable        Action = "admin.enable"
	AdminPasswordReset Action = "admin.password_reset"
	AdminTFAReset      Action = "admin.tfa_reset"
	AdminTokensRevoke  Action = "admin.tokens_revoke"
	AdminUserDelete    Action = "admin.user_delete"
	AdminOwnerAdd      Action = "admin.owner_add"
)

// Actions lists every action, in the order of docs/audit.md.
func Actions() []Action {
	return []Action{
		SignIn, SignUp, PasswordChange, PasswordReset, EmailChange, SSOLink,
		TFAEnable, TFADisable, TFAModeChange,
		TokenCreate, TokenRevoke, TokenNewAddress,
		PackagePublish, PackageUnpublish, PackageDeprecate, DistTagSet, DistTagRemove, OwnerAdd, OwnerRemove, AccessChange,
		PackageStage, StageApprove, StageReject, TrustCreate, TrustRevoke, TrustExchange,
		PackageChange,
		OrgCreate, OrgMemberSet, OrgMemberRemove, TeamCreate, TeamDelete, TeamMemberAdd, TeamMemberRemove,
		TeamPackageGrant, TeamPackageRevoke,
		HookCreate, HookUpdate, HookDelete,
		AdminUserCreate, AdminPromote, AdminDemote, AdminDisable, AdminEnable, AdminPasswordReset, AdminTFAReset,
		AdminTokensRevoke, AdminUserDelete, AdminOwnerAdd,
	}
}

// Outcome is how an event ended.
type Outcome string

// The outcomes.
const (
	Success Outcome = "success"
	Failure Outcome = "failure"
)

// Actor is who did something.
type Actor struct {
	// UserID and User name the acting account; 0 and "" for an anonymous
	// client. For the operator at the command line, User is the name of
	// the operating-system account that ran the command.
	UserID int64
	User   string
	// TokenKey and TokenKind name the credential used: a token's key (never
	// the token), and its kind (session, granular, ..., or operator).
	TokenKey  string
	TokenKind string
	// OIDCSubject is the subject of the OpenID Connect token a credential
	// came from (trusted publishing).
	OIDCSubject string
}

// ActorOf is the actor behind principal p: anonymous for nil.
func ActorOf(p *auth.Principal) Actor {
	if p == nil {
		return Actor{}
	}
	a := Actor{UserID: p.UserID, User: p.UserName, TokenKey: p.TokenKey, TokenKind: string(p.Kind), OIDCSubject: p.OIDCSubject}
	if a.OIDCSubject == "" && p.Trust != nil {
		// A token exchanged for a CI job's identity acts as that job.
		a.OIDCSubject = p.Trust.Subject
	}
	return a
}

// Operator is the principal of the operator at the command line, named
// after the operating-system account running the command.
func Operator() *auth.Principal {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	} else {
		name = os.Getenv("USER")
	}
	return &auth.Principal{Kind: auth.KindOperator, UserName: name}
}

// Target is what an event was done to; the fields that do not apply are empty.
type Target struct {
	// UserID and User name the account the event was done to (the owner
	// added, the user disabled, the account a sign-in tried).
	UserID  int64
	User    string
	Package string
	Version string
	Org     string
	Team    string
	// Token is the key of the token or session created, revoked or used.
	Token string
}

// Event is one entry of the audit log.
type Event struct {
	// ID orders events by commit; 0 before it is written.
	ID int64
	// Time is when it happened; for refusals folded together, the first,
	// LastTime the last, and Count how many.
	Time, LastTime time.Time
	Count          int64
	Action         Action
	Outcome        Outcome
	// Reason says briefly why a failure failed.
	Reason string
	Actor  Actor
	// Client is the client's address, as resolved for the request.
	Client netip.Addr
	// RequestID is the request's id, as in the access log and X-Request-Id.
	RequestID string
	Target    Target
	// Detail adds what the action needs said (a dist-tag and its version,
	// a role, a 2FA mode, the way a sign-in went): never a secret.
	Detail string
}

// Recorder is how the domain services write the log.
type Recorder interface {
	// Record writes e, a change's event, in the transaction q runs in: it
	// commits with the change or not at all. The time, the client's
	// address and the request id come from ctx where e leaves them empty.
	Record(ctx context.Context, q store.Queries, e Event) error
	// Refused notes e, a refusal that changed nothing (a wrong password, a
	// forbidden publish), to be written shortly in a batch; it never blocks
	// on the database and never fails the request.
	Refused(ctx context.Context, e Event)
}

// Discard is a Recorder that writes nothing, for services built without a log.
type Discard struct{}

// Record implements Recorder.
func (Discard) Record(context.Context, store.Queries, Event) error { return nil }

// Refused implements Recorder.
func (Discard) Refused(context.Context, Event) {}

// RequestIDKey is the context key of the request's id. WithRequestID is
// the way to set it; a context type of its own that carries it beside
// other values (the server's per-request context, one allocation for all
// of them) answers this key with a string or a *string.
type RequestIDKey struct{}

// WithRequestID returns ctx carrying the request's id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, RequestIDKey{}, id)
}

// RequestID returns the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := LookupRequestID(ctx)
	return id
}

// LookupRequestID returns the request id ctx carries and whether it
// carries one (which may be "").
func LookupRequestID(ctx context.Context) (string, bool) {
	switch id := ctx.Value(RequestIDKey{}).(type) {
	case string:
		return id, true
	case *string:
		return *id, true
	}
	return "", false
}

// maxReason bounds a failure's reason, in bytes.
const maxReason = 200

// RefusalOf reports whether err is a refusal worth recording (a failed
// password or one-time password, a lockout, a forbidden action, a disabled
// account) and its reason. Missing or malformed input, things not found and
// conflicts are not: they change nothing and say nothing about an attack
// that the refusals do not. The first challenge for a one-time password,
// asked before any was given, is not either: it is how npm learns it needs
// one. otpGiven says whether the request carried one.
func RefusalOf(err error, otpGiven bool) (string, bool) {
	if err == nil {
		return "", false
	}
	var e *fault.Error
	if !errors.As(err, &e) {
		return "", false
	}
	switch e.Kind {
	case fault.Unauthorized:
		if e.Challenge == "OTP" {
			if !otpGiven {
				return "", false
			}
			return "wrong one-time password", true
		}
	case fault.Forbidden, fault.Locked:
	default:
		return "", false
	}
	return truncate(e.Message, maxReason), true
}

// truncate cuts s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.TrimSpace(s) + "…"
}
