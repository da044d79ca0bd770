package uplink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// MaxSearchSize bounds the answer an uplink may send to a search.
const MaxSearchSize = 8 << 20

// SearchResult is one package an uplink's search found.
type SearchResult struct {
	Name, Scope, Version, Description string
	Keywords                          []string
	Date                              time.Time
	// Maintainers are user names, with their e-mail addresses when the
	// uplink gave them.
	Maintainers []Maintainer
}

// Maintainer is a package's maintainer, as an uplink's search lists it.
type Maintainer struct {
	Username string `json:"username"`
	Email    string `json:"email"`
}

// SearchPage is one page of an uplink's search: its results, and how many
// it has in all.
type SearchPage struct {
	Results []SearchResult
	Total   int
}

// Search asks the uplink's search (/-/v1/search, as npm search does) for
// text, size results from the from-th. Errors are faults naming the
// uplink, as FetchPackument's are; an answer that is not a search's is
// one too.
func (u *Uplink) Search(ctx context.Context, text string, from, size int) (SearchPage, error) {
	const what = "a search"
	if u.Offline() {
		return SearchPage{}, u.offline(what)
	}
	ctx, cancel := context.WithTimeout(ctx, u.spec.Timeout)
	defer cancel()
	q := url.Values{"text": {text}, "from": {strconv.Itoa(from)}, "size": {strconv.Itoa(size)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base.String()+"/-/v1/search?"+q.Encode(), nil)
	if err != nil {
		return SearchPage{}, fmt.Errorf("uplink %s: request for %s: %w", u.Name(), what, err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := u.do(req, "search", what)
	if err != nil {
		return SearchPage{}, err
	}
	defer res.Body.Close()
	if err := u.checkStatus(res, what); err != nil {
		return SearchPage{}, err
	}
	if res.ContentLength > MaxSearchSize {
		return SearchPage{}, u.tooLarge(what+"'s answer", res.ContentLength, MaxSearchSize)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, MaxSearchSize+1))
	if err != nil {
		return SearchPage{}, u.failed(what, err)
	}
	if len(raw) > MaxSearchSize {
		return SearchPage{}, u.tooLarge(what+"'s answer", -1, MaxSearchSize)
	}
	u.obs.UpstreamBytes(u.Name(), "search", int64(len(raw)))
	var answer struct {
		Objects []struct {
			Package struct {
				Name        string       `json:"name"`
				Scope       string       `json:"scope"`
				Version     string       `json:"version"`
				Description string       `json:"description"`
				Keywords    []string     `json:"keywords"`
				Date        time.Time    `json:"date"`
				Maintainers []Maintainer `json:"maintainers"`
			} `json:"package"`
		} `json:"objects"`
		Total *int `json:"total"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return SearchPage{}, u.malformed(what, err)
	}
	if answer.Total == nil || *answer.Total < 0 {
		return SearchPage{}, u.malformed(what, fmt.Errorf("no total"))
	}
	page := SearchPage{Total: *answer.Total}
	for _, o := range answer.Objects {
		p := o.Package
		if !nameChars(trimScope(p.Name)) {
			continue // not a package name: dropped
		}
		scope := p.Scope
		if scope == "unscoped" {
			scope = ""
		}
		page.Results = append(page.Results, SearchResult{Name: p.Name, Scope: scope, Version: p.Version,
			Description: p.Description, Keywords: p.Keywords, Date: p.Date, Maintainers: p.Maintainers})
	}
	return page, nil
}

// trimScope is name without its scope ("@scope/pkg" gives "pkg"), or ""
// for a scoped name without a package part.
func trimScope(name string) string {
	if len(name) > 0 && name[0] == '@' {
		for i := 1; i < len(name); i++ {
			if name[i] == '/' {
				if !nameChars(name[1:i]) {
					return ""
				}
				return name[i+1:]
			}
		}
		return ""
	}
	return name
}
