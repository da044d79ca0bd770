package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	template "github.com/DataDog/datadog-agent/pkg/template/html"
	"github.com/Masterminds/semver/v3"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"
)

// searchPageSize is how many packages one search page lists.
const searchPageSize = 20

// maxReadme is the longest README rendered; a longer one is cut there.
const maxReadme = 1 << 20

// searchView is one page of search results.
type searchView struct {
	Query      string
	Hits       []registry.SearchHit
	Total      int
	From, To   int    // the 1-based range of hits shown
	Prev, Next string // links to the neighbouring pages; "" when none
}

// showsSearchBox: the search page's box, holding the query, is the only one.
func (searchView) showsSearchBox() {}

// searchPage lists the packages matching q that the visitor may see; an
// empty q lists them all.
func (s *Site) searchPage(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	from, _ := strconv.Atoi(r.URL.Query().Get("from"))
	from = max(from, 0)
	hits, total, err := s.registry.Search(r.Context(), auth.FromContext(r.Context()), q, from, searchPageSize)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := searchView{Query: q, Hits: hits, Total: total, From: from + 1, To: from + len(hits)}
	link := func(at int) string {
		u := url.Values{}
		if q != "" {
			u.Set("q", q)
		}
		if at > 0 {
			u.Set("from", strconv.Itoa(at))
		}
		if len(u) == 0 {
			return "/search"
		}
		return "/search?" + u.Encode()
	}
	if from > 0 {
		v.Prev = link(max(from-searchPageSize, 0))
	}
	if from+len(hits) < total {
		v.Next = link(from + searchPageSize)
	}
	title := "Packages"
	if q != "" {
		title = "Search: " + q
	}
	s.render(w, r, http.StatusOK, "search.html", title, v)
}

// packument is the part of a full packument the package page shows.
type packument struct {
	Name        string                    `json:"name"`
	DistTags    map[string]string         `json:"dist-tags"`
	Versions    map[string]packageVersion `json:"versions"`
	Time        map[string]string         `json:"time"`
	Maintainers []registry.Maintainer     `json:"maintainers"`
	Description string                    `json:"description"`
	Homepage    string                    `json:"homepage"`
	Keywords    []string                  `json:"keywords"`
	License     json.RawMessage           `json:"license"`
	Repository  json.RawMessage           `json:"repository"`
	Readme      string                    `json:"readme"`
}

// packageVersion is the part of a version document the page shows. The
// dependencies are kept raw, and read for the version shown only.
type packageVersion struct {
	Deprecated           string          `json:"deprecated"`
	Dependencies         json.RawMessage `json:"dependencies"`
	PeerDependencies     json.RawMessage `json:"peerDependencies"`
	OptionalDependencies json.RawMessage `json:"optionalDependencies"`
}

// packageVersionsShown is how many versions the package page lists unless
// asked for all of them.
const packageVersionsShown = 50

// packageView is the package page.
type packageView struct {
	Name        string
	Description string
	Latest      string
	Deprecated  string // the latest version's deprecation message
	Private     bool
	Install     string // npm's install command
	Installs    []installCommand
	License     string
	Homepage    string
	Repository  string
	Keywords    []string
	Maintainers []string
	Readme      template.HTML // sanitised; "" when there is none
	Tags        []distTag
	Versions    []versionRow
	AllVersions int    // how many versions there are; Versions may hold fewer
	VersionsURL string // the page with every version, when Versions holds fewer
	// DepsOf is the version whose dependencies are shown: the latest.
	DepsOf       string
	Dependencies []dependencyGroup
	Modified     time.Time
	// Origin, for a package served from an uplink, is where it came from;
	// nil for a local package. Such a package is read-only here: its page
	// offers nothing an owner would change.
	Origin *registry.Origin
	// Stale is set when the copy shown is past its uplink's max age and
	// the uplink could not be asked (offline, or failing).
	Stale bool
	// Staged counts the package's staged versions the viewer may see, and
	// StagedURL is their page ("" when there are none).
	Staged    int
	StagedURL string
	// AddOwner offers a site administrator who is not an owner "Add me as
	// owner", with a one-time password when OwnerOTP is set.
	AddOwner, OwnerOTP bool
}

// installCommand is how one client adds the package to a project.
type installCommand struct {
	Client, ID, Command string
}

// dependencyGroup is one kind of dependency of a version, named by its
// package.json field.
type dependencyGroup struct {
	Kind, ID string
	List     []dependency
}

// dependency is one dependency and the range it asks for; Link is false
// for a name no package could have.
type dependency struct {
	Name, Range string
	Link        bool
}

// distTag is one dist-tag.
type distTag struct{ Tag, Version string }

// versionRow is one version of a package, newest first.
type versionRow struct {
	Version    string
	Published  time.Time // zero when unknown
	Tags       []string
	Deprecated string
}

// packagePage shows a package: its README, versions, dist-tags and install
// command. A package the visitor may not read is a page that does not
// exist, the same as a name never published.
func (s *Site) packagePage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p := auth.FromContext(r.Context())
	v, err := s.packageData(r.Context(), p, name, r.URL.Query().Get("versions") == "all")
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "package.html", v.Name, v)
}

// packageData is what the package page shows p of name, local or served
// from an uplink (the same page). A package p may not read, whatever the
// reason (policy, a token's grants, a name an uplink may not serve, the
// uplink not having it), is the same NotFound as a name that does not
// exist; an uplink that failed is its own error (502 or 504, naming the
// uplink: it tells nothing of a private name, which is never asked of an
// uplink).
func (s *Site) packageData(ctx context.Context, p *auth.Principal, name string, allVersions bool) (packageView, error) {
	doc, err := s.registry.Packument(ctx, p, name, false, "")
	if err != nil {
		if e, ok := fault.As(err); ok && e.Kind != fault.Internal && e.Kind != fault.Upstream && e.Kind != fault.UpstreamTimeout {
			err = fault.NotFoundf("There is no package named %s here.", name)
		}
		return packageView{}, err
	}
	var pk packument
	if err := json.Unmarshal(doc.Body, &pk); err != nil {
		return packageView{}, fmt.Errorf("decode the packument of %s: %w", name, err)
	}
	v := buildPackageView(pk, doc.Modified, allVersions)
	if doc.Origin != nil {
		v.Origin, v.Stale = doc.Origin, doc.Warning != ""
		return v, nil
	}
	if acc, err := s.registry.Access(ctx, p, pk.Name); err == nil {
		v.Private = acc.Access == store.Restricted
	}
	if s.opts.Admin != nil && policy.DecideAdmin(p, policy.AdminChange) == nil && !slices.Contains(v.Maintainers, p.UserName) {
		v.AddOwner = true
		if v.OwnerOTP, err = s.accounts.NeedsOTP(ctx, p, policy.OTPAdmin); err != nil {
			return packageView{}, err
		}
	}
	if p.Authenticated() {
		// The package's Staged page, when it has staged versions p may see.
		_, n, err := s.registry.StagedList(ctx, p, registry.StagedQuery{Package: pk.Name, PerPage: 1})
		if err == nil && n > 0 {
			v.Staged = n
			v.StagedURL = stagedBase(p.UserName) + "?package=" + url.QueryEscape(pk.Name)
		}
	}
	return v, nil
}

// buildPackageView turns a packument into what the page shows: the newest
// versions, or all of them.
func buildPackageView(pk packument, modified time.Time, allVersions bool) packageView {
	v := packageView{Name: pk.Name, Description: pk.Description, Latest: pk.DistTags["latest"],
		Install: "npm install " + pk.Name, Installs: installCommands(pk.Name), Keywords: pk.Keywords, Modified: modified,
		License: licenseText(pk.License), Homepage: webURL(pk.Homepage), Repository: repositoryURL(pk.Repository)}
	if lv, ok := pk.Versions[v.Latest]; ok {
		v.Deprecated = lv.Deprecated
	}
	for _, m := range pk.Maintainers {
		v.Maintainers = append(v.Maintainers, m.Name)
	}
	tagsOf := map[string][]string{}
	for tag, ver := range pk.DistTags {
		v.Tags = append(v.Tags, distTag{Tag: tag, Version: ver})
		tagsOf[ver] = append(tagsOf[ver], tag)
	}
	sort.Slice(v.Tags, func(i, j int) bool {
		if (v.Tags[i].Tag == "latest") != (v.Tags[j].Tag == "latest") {
			return v.Tags[i].Tag == "latest"
		}
		return v.Tags[i].Tag < v.Tags[j].Tag
	})
	for ver, pv := range pk.Versions {
		row := versionRow{Version: ver, Deprecated: pv.Deprecated, Tags: tagsOf[ver]}
		sort.Strings(row.Tags)
		if t, err := time.Parse(time.RFC3339, pk.Time[ver]); err == nil {
			row.Published = t
		}
		v.Versions = append(v.Versions, row)
	}
	sort.Slice(v.Versions, func(i, j int) bool { return newerVersion(v.Versions[i].Version, v.Versions[j].Version) })
	v.AllVersions = len(v.Versions)
	if !allVersions && len(v.Versions) > packageVersionsShown {
		v.Versions = v.Versions[:packageVersionsShown]
		v.VersionsURL = "/package/" + pk.Name + "?versions=all#versions"
	}
	v.DepsOf = v.Latest
	if _, ok := pk.Versions[v.DepsOf]; !ok && v.AllVersions > 0 {
		v.DepsOf = v.Versions[0].Version
	}
	v.Dependencies = dependencyGroups(pk.Versions[v.DepsOf])
	if pk.Readme != "" && pk.Readme != "ERROR: No README data found!" {
		v.Readme = renderReadme(pk.Readme)
	}
	return v
}

// installCommands are the commands that add name to a project, one a client.
func installCommands(name string) []installCommand {
	return []installCommand{
		{Client: "npm", ID: "install-npm", Command: "npm install " + name},
		{Client: "pnpm", ID: "install-pnpm", Command: "pnpm add " + name},
		{Client: "yarn", ID: "install-yarn", Command: "yarn add " + name},
		{Client: "bun", ID: "install-bun", Command: "bun add " + name},
	}
}

// dependencyGroups reads a version's dependencies, peer and optional
// dependencies, each sorted by name; a kind it has none of is left out, and
// so is a field that is not an object of strings.
func dependencyGroups(pv packageVersion) []dependencyGroup {
	var out []dependencyGroup
	for _, g := range []struct {
		kind, id string
		raw      json.RawMessage
	}{
		{"dependencies", "dependencies", pv.Dependencies},
		{"peerDependencies", "peer-dependencies", pv.PeerDependencies},
		{"optionalDependencies", "optional-dependencies", pv.OptionalDependencies},
	} {
		var m map[string]string
		if len(g.raw) == 0 || json.Unmarshal(g.raw, &m) != nil || len(m) == 0 {
			continue
		}
		group := dependencyGroup{Kind: g.kind, ID: g.id}
		for name, rng := range m {
			group.List = append(group.List, dependency{Name: name, Range: rng,
				Link: registry.ValidateLegacyPackageName(name) == nil})
		}
		sort.Slice(group.List, func(i, j int) bool { return group.List[i].Name < group.List[j].Name })
		out = append(out, group)
	}
	return out
}

// newerVersion orders versions newest first by semver, then by text.
func newerVersion(a, b string) bool {
	va, errA := semver.NewVersion(a)
	vb, errB := semver.NewVersion(b)
	if errA == nil && errB == nil {
		return va.GreaterThan(vb)
	}
	return a > b
}

// licenseText reads package.json's license: a string, or the old {type} object.
func licenseText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.Type
	}
	return ""
}

// repositoryURL reads package.json's repository ("url" string or object) as
// a link for browsers, or "".
func repositoryURL(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var o struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(raw, &o) != nil {
			return ""
		}
		s = o.URL
	}
	s = strings.TrimPrefix(s, "git+")
	return webURL(strings.TrimSuffix(s, ".git"))
}

// webURL keeps only http and https links.
func webURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

// readmeMarkdown renders READMEs as GitHub-flavoured Markdown. Raw HTML is
// let through here because the sanitiser below decides what of it stays.
var readmeMarkdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithRendererOptions(html.WithUnsafe()),
)

// readmePolicy is what may remain of a README's HTML: user-generated content
// rules (no scripts, styles, event handlers, forms or frames; links get
// rel="nofollow noreferrer").
var readmePolicy = func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoReferrerOnLinks(true)
	return p
}()

// renderReadme renders Markdown to sanitised HTML.
func renderReadme(src string) template.HTML {
	if len(src) > maxReadme {
		src = src[:maxReadme]
	}
	var buf bytes.Buffer
	if err := readmeMarkdown.Convert([]byte(src), &buf); err != nil {
		return template.HTML("<pre>" + template.HTMLEscapeString(src) + "</pre>")
	}
	return template.HTML(readmePolicy.SanitizeBytes(buf.Bytes()))
}
