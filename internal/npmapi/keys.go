package npmapi

import (
	"net/http"

	"github.com/gatehouse-registry/gatehouse/internal/fault"
	"github.com/gatehouse-registry/gatehouse/internal/signing"
)

// registryKeys answers GET /-/npm/v1/keys: {"keys": [...]}, the public keys
// that verify the dist.signatures of the versions gatehouse serves, expired
// ones included (npm audit signatures and pacote read it). It is public, as
// on npm: the keys are what anyone needs to check a signature.
func (a *API) registryKeys(w http.ResponseWriter, r *http.Request) {
	if a.opts.Keys == nil {
		a.writeError(w, r, fault.NotFoundf("Not found"))
		return
	}
	keys, err := a.opts.Keys.PublicKeys(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if keys == nil {
		keys = []signing.PublicKey{}
	}
	writeJSON(w, http.StatusOK, map[string][]signing.PublicKey{"keys": keys})
}
