package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
)

// Bounds on a bulk audit: the packages of a large project's tree, and the
// versions of each that are installed, number in the thousands.
const (
	maxAuditNames    = 50000
	maxAuditVersions = 200000
)

// Advisories answers npm's bulk audit of installed (package name to the
// versions installed) from the uplinks: each uplink is asked about the
// names it serves, and never about a local name (a local package, a name
// ever published here, a name in a local user's or organization's scope:
// the dependency confusion shield), a name no uplink serves, or one p may
// not read. It returns the advisories per name, and, when an uplink could
// not answer, what the others did along with an Upstream fault saying
// which failed. Without uplinks it returns no advisories.
func (s *Service) Advisories(ctx context.Context, p *auth.Principal, installed map[string][]string) (map[string]json.RawMessage, error) {
	if err := s.MayRead(p); err != nil {
		return nil, err
	}
	if len(installed) > maxAuditNames {
		return nil, fault.Invalidf("an audit may name at most %d packages, got %d", maxAuditNames, len(installed))
	}
	versions := 0
	for _, vs := range installed {
		versions += len(vs)
	}
	if versions > maxAuditVersions {
		return nil, fault.Invalidf("an audit may name at most %d versions, got %d", maxAuditVersions, versions)
	}
	out := map[string]json.RawMessage{}
	x := s.proxy
	if x == nil {
		return out, nil
	}
	asks, err := x.auditAsks(ctx, p, installed)
	if err != nil {
		return nil, err
	}
	var failed []error
	for _, ask := range asks {
		adv, err := ask.u.BulkAdvisories(ctx, ask.names)
		if err != nil {
			x.log.Warn("uplink failed: the audit answers without its advisories",
				slog.String("uplink", ask.u.Name()), slog.Int("packages", len(ask.names)), slog.Any("error", err))
			failed = append(failed, err)
			continue
		}
		for name, list := range adv {
			out[name] = list
		}
	}
	if len(failed) > 0 {
		return out, fault.Wrap(fault.Upstream, errors.Join(failed...),
			fmt.Sprintf("the audit is incomplete: %s", errors.Join(failed...)))
	}
	return out, nil
}

// auditAsk is what one uplink is asked in an audit.
type auditAsk struct {
	u     *uplink.Uplink
	names map[string][]string
}

// auditAsks sorts installed's names by the uplink that serves them,
// leaving out every name an uplink must not hear of (see Advisories).
func (x *proxy) auditAsks(ctx context.Context, p *auth.Principal, installed map[string][]string) ([]auditAsk, error) {
	var asks []auditAsk
	index := map[string]int{}
	q := x.s.store.Q()
	for name, vs := range installed {
		u := x.uplinkFor(name)
		if u == nil || len(vs) == 0 || policy.Decide(p, policy.Read, x.s.uplinkFacts(u, name)) != nil {
			continue
		}
		local, err := x.isLocal(ctx, q, name)
		if err != nil {
			return nil, err
		}
		if local {
			continue
		}
		i, ok := index[u.Name()]
		if !ok {
			i = len(asks)
			index[u.Name()] = i
			asks = append(asks, auditAsk{u: u, names: map[string][]string{}})
		}
		asks[i].names[name] = vs
	}
	return asks, nil
}
