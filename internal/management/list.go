package management

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/resource"
)

var keyringIsSealed = keyring.IsSealed

const (
	defaultTop = 100
	maxTop     = 1000
)

func (s *Server) list(w http.ResponseWriter, r *http.Request, k *resource.Kind, parent string) {
	q := r.URL.Query()
	var errs resource.Errors
	top, skip := parseTop(q, &errs), 0
	if v := q.Get("$skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs.Add("$skip", "must be a non-negative integer")
		}
		skip = n
	}
	var filter *filterExpr
	if v := q.Get("$filter"); v != "" {
		f, err := parseFilter(v)
		if err != nil {
			errs.Add("$filter", "%s", err.Error())
		}
		filter = f
	}
	if len(errs) > 0 {
		apierror.Write(w, apierror.Validation(errs))
		return
	}
	if parent != "" {
		prec, err := s.lookup(r.Context(), s.opts.Store, parent)
		if err != nil {
			s.fail(w, r, err, parent)
			return
		}
		parent = prec.ID
	}
	recs, err := s.opts.Store.List(r.Context(), k.Name, parent)
	if err != nil {
		s.fail(w, r, err, parent)
		return
	}
	items := make([]json.RawMessage, 0, min(len(recs), top))
	matched := 0
	for _, rec := range recs {
		res, err := decodeRecord(k, rec)
		if err != nil {
			s.fail(w, r, err, rec.ID)
			return
		}
		if v := s.hooks[k.Name].View; v != nil {
			v(r.Context(), rec.ID, res)
		}
		body, err := represent(k, res)
		if err != nil {
			s.fail(w, r, err, rec.ID)
			return
		}
		if filter != nil {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				s.fail(w, r, err, rec.ID)
				return
			}
			if !filter.match(m) {
				continue
			}
		}
		matched++
		if matched > skip && len(items) < top {
			items = append(items, body)
		}
	}
	out := map[string]any{"value": items, "count": matched}
	if skip+top < matched {
		next := *r.URL
		nq := url.Values{}
		for key, v := range q {
			nq[key] = v
		}
		nq.Set("$skip", strconv.Itoa(skip+top))
		nq.Set("$top", strconv.Itoa(top))
		next.RawQuery = nq.Encode()
		next.Scheme, next.Host = "", ""
		out["nextLink"] = next.String()
	}
	writeJSON(w, http.StatusOK, out)
}

// parseTop reads $top (default defaultTop), adding a bad value to errs.
func parseTop(q url.Values, errs *resource.Errors) int {
	v := q.Get("$top")
	if v == "" {
		return defaultTop
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxTop {
		errs.Add("$top", "must be an integer from 1 to %d", maxTop)
	}
	return n
}
