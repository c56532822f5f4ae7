package management

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/openapi"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// exportOpenAPI answers GET /apis/{id}?export=openapi with the OpenAPI
// document the API was imported from.
func (s *Server) exportOpenAPI(w http.ResponseWriter, r *http.Request, id string) {
	api, err := s.lookup(r.Context(), s.opts.Store, id)
	if err != nil {
		s.fail(w, r, err, id)
		return
	}
	specID := api.ID + "/specifications/" + resource.SpecificationOpenAPI
	rec, err := s.opts.Store.Get(r.Context(), specID)
	if errors.Is(err, store.ErrNotFound) {
		apierror.Write(w, apierror.New(http.StatusNotFound, "NotFound", "%s has no OpenAPI document: import one with `tollgate import openapi FILE --api %s`.", api.ID, strings.TrimPrefix(api.ID, "/apis/")))
		return
	}
	if err != nil {
		s.fail(w, r, err, specID)
		return
	}
	k, _ := s.opts.Registry.Kind("apis/specifications")
	res, err := decodeRecord(k, rec)
	if err != nil {
		s.fail(w, r, err, specID)
		return
	}
	doc, err := openapi.Indent([]byte(res.(*resource.Specification).Value))
	if err != nil {
		s.fail(w, r, err, specID)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("ETag", `"`+rec.ETag+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(doc)
	}
}
