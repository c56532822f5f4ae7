package management

import (
	"errors"
	"net/http"

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
		s.describeOpenAPI(w, r, api)
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

// describeOpenAPI answers an export of an API that has no imported
// document with one made from its operations.
func (s *Server) describeOpenAPI(w http.ResponseWriter, r *http.Request, apiRec store.Record) {
	k, _ := s.opts.Registry.Kind("apis")
	res, err := decodeRecord(k, apiRec)
	if err != nil {
		s.fail(w, r, err, apiRec.ID)
		return
	}
	ok, _ := s.opts.Registry.Kind("apis/operations")
	recs, err := s.opts.Store.List(r.Context(), ok.Name, apiRec.ID)
	if err != nil {
		s.fail(w, r, err, apiRec.ID)
		return
	}
	ops := make([]*resource.Operation, 0, len(recs))
	for _, rec := range recs {
		o, err := decodeRecord(ok, rec)
		if err != nil {
			s.fail(w, r, err, rec.ID)
			return
		}
		ops = append(ops, o.(*resource.Operation))
	}
	doc, err := openapi.Generate(r.Context(), res.(*resource.API), ops)
	if err == nil {
		doc, err = openapi.Indent(doc)
	}
	if err != nil {
		s.fail(w, r, err, apiRec.ID)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(doc)
	}
}
