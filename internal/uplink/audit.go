package uplink

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
)

// MaxAdvisoriesSize bounds the answer an uplink may send to a bulk audit.
const MaxAdvisoriesSize = 32 << 20

// BulkAdvisories asks the uplink's audit endpoint
// (/-/npm/v1/security/advisories/bulk, as npm 7 and later do) about the
// versions of the packages in installed, sent gzipped as npm sends it, and
// returns its answer: advisories per package name, each kept as the
// uplink wrote it. The caller removes every name the uplink must not hear
// of first. Errors are faults naming the uplink, as FetchPackument's are;
// an answer that is not a JSON object of lists is one too.
func (u *Uplink) BulkAdvisories(ctx context.Context, installed map[string][]string) (map[string]json.RawMessage, error) {
	const what = "a bulk audit"
	if u.Offline() {
		return nil, u.offline(what)
	}
	plain, err := json.Marshal(installed)
	if err != nil {
		return nil, fmt.Errorf("uplink %s: encode %s: %w", u.Name(), what, err)
	}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	if _, err := zw.Write(plain); err != nil {
		return nil, fmt.Errorf("uplink %s: compress %s: %w", u.Name(), what, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("uplink %s: compress %s: %w", u.Name(), what, err)
	}
	ctx, cancel := context.WithTimeout(ctx, u.spec.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.base.String()+"/-/npm/v1/security/advisories/bulk", &body)
	if err != nil {
		return nil, fmt.Errorf("uplink %s: request for %s: %w", u.Name(), what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", "application/json")
	res, err := u.do(req, "audit", what)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if err := u.checkStatus(res, what); err != nil {
		return nil, err
	}
	if res.ContentLength > MaxAdvisoriesSize {
		return nil, u.tooLarge(what+"'s answer", res.ContentLength, MaxAdvisoriesSize)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, MaxAdvisoriesSize+1))
	if err != nil {
		return nil, u.failed(what, err)
	}
	if len(raw) > MaxAdvisoriesSize {
		return nil, u.tooLarge(what+"'s answer", -1, MaxAdvisoriesSize)
	}
	u.obs.UpstreamBytes(u.Name(), "audit", int64(len(raw)))
	var answer map[string]json.RawMessage
	if err := json.Unmarshal(raw, &answer); err != nil {
		return nil, u.malformed(what, err)
	}
	out := make(map[string]json.RawMessage, len(answer))
	for name, list := range answer {
		if _, asked := installed[name]; !asked {
			continue // an answer about a name not asked of is dropped
		}
		if len(list) == 0 || list[0] != '[' {
			return nil, u.malformed(what, fmt.Errorf("the advisories of %q are not a list", name))
		}
		out[name] = list
	}
	return out, nil
}

// malformed is the fault of an answer that is not what was asked for.
func (u *Uplink) malformed(what string, err error) error {
	return fault.Wrap(fault.Upstream, err, fmt.Sprintf("uplink %s sent an unusable answer to %s", u.Name(), what))
}
