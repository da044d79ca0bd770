package server

import (
	"net/http"
	"slices"

	"github.com/gatehouse-registry/gatehouse/internal/npmapi"
	"github.com/gatehouse-registry/gatehouse/internal/route"
	"github.com/gatehouse-registry/gatehouse/internal/web"
)

// routeTable is the route table of the registry's address: the npm API's
// routes (internal/npmapi/routes.go), the website's pages
// (internal/web/routes.go) and the readiness check. One address serves
// both: browsers get the website's pages, npm clients the API. The table
// dispatches each request, and names it for the metrics and the log line,
// whose path it redacts.
func routeTable(api *npmapi.API, site *web.Site, ready http.HandlerFunc) (*route.Table, error) {
	return route.New(slices.Concat(api.Routes(), site.Routes(), []route.Route{
		// Every method, answered by ready itself (405 but for GET and HEAD);
		// not an API route, so a token from outside its IP ranges does not
		// stop a load balancer's probe.
		{Path: readyPath, Name: "ready", Handler: ready},
	}), api.NotFound())
}
