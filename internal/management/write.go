package management

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

func (s *Server) write(w http.ResponseWriter, r *http.Request, k *resource.Kind, id string, patch bool) {
	body, err := readBody(r)
	if err != nil {
		s.fail(w, r, err, id)
		return
	}
	conds, err := parseConditions(r.Header)
	if err != nil {
		s.fail(w, r, err, id)
		return
	}
	ctx, warns := withWarnings(r.Context())
	rec, created, err := s.put(ctx, id, body, conds, patch)
	if err != nil {
		s.fail(w, r, err, id)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	warns.set(w.Header())
	s.writeRecord(w, r, k, rec, status)
}

// Put creates or replaces (or, with patch, merges into) the resource at id
// from a JSON body, exactly as PUT/PATCH on the API do, and waits until the
// change is served. ifMatch is an If-Match header value ("" for none).
// The defaults made on first start use it too.
func (s *Server) Put(ctx context.Context, id string, body []byte, ifMatch string, patch bool) (rec store.Record, created bool, err error) {
	conds, err := ifMatchCondition(ifMatch)
	if err != nil {
		return store.Record{}, false, err
	}
	return s.put(ctx, id, body, conds, patch)
}

func (s *Server) put(ctx context.Context, id string, body []byte, conds conditions, patch bool) (rec store.Record, created bool, err error) {
	k, parent, ok := s.opts.Registry.Resolve(id)
	if !ok {
		return store.Record{}, false, apierror.New(http.StatusNotFound, "NotFound", "No resource kind at %s.", id)
	}
	version, err := s.opts.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		rec, created, err = s.putTx(ctx, tx, k, id, parent, body, conds, patch)
		return err
	})
	if err != nil {
		return store.Record{}, false, err
	}
	s.sync(ctx, version)
	return rec, created, nil
}

// PutAll creates or replaces several resources in one transaction, as Put
// does each: all are written or none, and the change is served as one
// configuration version. The defaults made on first start use it.
func (s *Server) PutAll(ctx context.Context, ids []string, bodies [][]byte) error {
	if len(ids) != len(bodies) {
		return fmt.Errorf("put all: %d ids and %d bodies", len(ids), len(bodies))
	}
	version, err := s.opts.Store.Update(ctx, func(tx store.Tx) error {
		for i, id := range ids {
			k, parent, ok := s.opts.Registry.Resolve(id)
			if !ok {
				return apierror.New(http.StatusNotFound, "NotFound", "No resource kind at %s.", id)
			}
			if _, _, err := s.putTx(ctx, tx, k, id, parent, bodies[i], conditions{}, false); err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.sync(ctx, version)
	return nil
}

// putTx is one PUT or PATCH inside a write transaction.
func (s *Server) putTx(ctx context.Context, tx store.Tx, k *resource.Kind, id, parent string, body []byte, conds conditions, patch bool) (rec store.Record, created bool, err error) {
	err = func() error {
		var err error
		if id, parent, err = s.respell(ctx, tx, id, parent); err != nil {
			return err
		}
		var old resource.Resource
		oldRec, err := s.lookup(ctx, tx, id)
		if err == nil && oldRec.ID != id {
			if !patch {
				return caseConflict(id, oldRec.ID)
			}
			id = oldRec.ID
		}
		switch {
		case err == nil:
			if old, err = decodeRecord(k, oldRec); err != nil {
				return err
			}
		case errors.Is(err, store.ErrNotFound):
			if patch {
				return apierror.NotFound(id)
			}
		default:
			return err
		}
		created = old == nil
		if err := conds.check(id, !created, oldRec.ETag, false); err != nil {
			return err
		}

		res := k.New()
		if patch {
			reflect.ValueOf(res).Elem().Set(reflect.ValueOf(old).Elem())
		}
		set, errs := decodeInto(res, body, k.Hidden)
		for _, f := range []string{"id", "name"} {
			if slices.Contains(set, f) {
				if got := field(res, f).String(); got != "" && !strings.EqualFold(got, id) && !strings.EqualFold(got, resource.GetMeta(mustMeta(k, id)).Name) {
					errs.Add(f, "does not match the resource path %s", id)
				}
			}
		}
		resource.SetMeta(res, id)
		// Write-only fields the request did not set keep their stored
		// (sealed) values; hidden fields always do.
		if old != nil {
			for _, f := range append(append([]string(nil), k.Secrets...), k.Hidden...) {
				if !slices.Contains(set, f) {
					if dst := field(res, f); dst.IsValid() {
						dst.Set(field(old, f))
					}
				}
			}
		}
		res.Normalize()
		for _, ve := range append(res.Validate(), resource.CheckLengths(res)...) {
			if !hasTarget(errs, ve.Target) {
				errs = append(errs, ve)
			}
		}
		if len(errs) > 0 {
			return apierror.Validation(errs)
		}
		if parent != "" {
			if _, err := tx.Get(ctx, parent); errors.Is(err, store.ErrNotFound) {
				return apierror.New(http.StatusNotFound, "ParentNotFound", "%s does not exist, so %s cannot be created under it.", parent, id)
			} else if err != nil {
				return err
			}
		}
		if h := s.hooks[k.Name].Prepare; h != nil {
			if err := h(ctx, tx, id, old, res); err != nil {
				return err
			}
		}
		if err := s.sealSecrets(k, id, res); err != nil {
			return err
		}
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		rec, err = tx.Put(ctx, store.Record{ID: id, Kind: k.Name, Parent: parent, Body: b}, conds.storePrecondition(!created, oldRec.ETag))
		if err != nil {
			return err
		}
		action := "update"
		if created {
			action = "create"
		}
		if err := s.audit(ctx, tx, k, id, action, old, res); err != nil {
			return err
		}
		if h := s.hooks[k.Name].Check; h != nil {
			return h(ctx, tx, rec)
		}
		return nil
	}()
	return rec, created, err
}

func mustMeta(k *resource.Kind, id string) resource.Resource {
	r := k.New()
	resource.SetMeta(r, id)
	return r
}

func hasTarget(errs resource.Errors, target string) bool {
	for _, e := range errs {
		if e.Target == target {
			return true
		}
	}
	return false
}

// sealSecrets seals every write-only field still in plaintext, binding it to
// the resource's path.
func (s *Server) sealSecrets(k *resource.Kind, id string, res resource.Resource) error {
	for _, name := range secretFields(k, res) {
		f := field(res, name)
		if !f.IsValid() || f.Kind() != reflect.String || f.String() == "" || keyringIsSealed(f.String()) {
			continue
		}
		sealed, err := s.opts.Keyring.Seal([]byte(f.String()), []byte(id))
		if err != nil {
			return err
		}
		f.SetString(sealed)
	}
	return nil
}

// openSecrets returns the plaintext of a resource's write-only fields.
func (s *Server) openSecrets(k *resource.Kind, id string, res resource.Resource) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range secretFields(k, res) {
		f := field(res, name)
		if !f.IsValid() || f.String() == "" {
			continue
		}
		v := f.String()
		if keyringIsSealed(v) {
			pt, err := s.opts.Keyring.Open(v, []byte(id))
			if err != nil {
				return nil, err
			}
			v = string(pt)
		}
		out[name] = v
	}
	return out, nil
}

func (s *Server) sync(ctx context.Context, version int64) {
	if err := s.opts.Synced(ctx, version); err != nil {
		s.log.Error("management: change committed but not yet served", "version", version, "err", err)
	}
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, k *resource.Kind, id string) {
	query := map[string]string{}
	for key, v := range r.URL.Query() {
		if len(v) > 0 {
			query[key] = v[0]
		}
	}
	conds, err := parseConditions(r.Header)
	if err != nil {
		s.fail(w, r, err, id)
		return
	}
	if err := s.delete(r.Context(), id, conds, query); err != nil {
		s.fail(w, r, err, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Delete removes the resource at id and everything under its path, after the
// kind's Delete hook agreed (and cascaded). ifMatch is an If-Match header
// value ("" for none).
func (s *Server) Delete(ctx context.Context, id, ifMatch string, query map[string]string) error {
	conds, err := ifMatchCondition(ifMatch)
	if err != nil {
		return err
	}
	return s.delete(ctx, id, conds, query)
}

func (s *Server) delete(ctx context.Context, id string, conds conditions, query map[string]string) error {
	k, _, ok := s.opts.Registry.Resolve(id)
	if !ok {
		return apierror.New(http.StatusNotFound, "NotFound", "No resource kind at %s.", id)
	}
	version, err := s.opts.Store.Update(ctx, func(tx store.Tx) error {
		rec, err := s.lookup(ctx, tx, id)
		if err != nil {
			return err
		}
		id = rec.ID
		if err := conds.check(id, true, rec.ETag, false); err != nil {
			return err
		}
		old, err := decodeRecord(k, rec)
		if err != nil {
			return err
		}
		if h := s.hooks[k.Name].Delete; h != nil {
			if err := h(ctx, tx, id, old, query); err != nil {
				return err
			}
		}
		if err := tx.Delete(ctx, id); err != nil {
			return err
		}
		if _, err = tx.DeleteTree(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, k, id, "delete", old, nil)
	})
	if err != nil {
		return err
	}
	s.sync(ctx, version)
	return nil
}

func (s *Server) action(w http.ResponseWriter, r *http.Request, k *resource.Kind, id, name string) {
	if s.hooks[k.Name].Actions[name] == nil {
		apierror.Write(w, apierror.New(http.StatusNotFound, "NotFound", "%s has no action %q.", k.Name, name))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.fail(w, r, err, id)
		return
	}
	status, result, err := s.Act(r.Context(), id, name, body)
	if err != nil {
		s.fail(w, r, err, id)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if result == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, result)
}

// Act runs the action name of the resource at id with a JSON body, as
// POST {id}/{name} does, and waits until the change is served.
func (s *Server) Act(ctx context.Context, id, name string, body []byte) (status int, result any, err error) {
	k, _, ok := s.opts.Registry.Resolve(id)
	if !ok {
		return 0, nil, apierror.NotFound(id)
	}
	act := s.hooks[k.Name].Actions[name]
	if act == nil {
		return 0, nil, apierror.New(http.StatusNotFound, "NotFound", "%s has no action %q.", k.Name, name)
	}
	if target, msg := checkJSON(body); msg != "" {
		var errs resource.Errors
		errs.Add(target, "%s", msg)
		return 0, nil, apierror.Validation(errs)
	}
	version, err := s.opts.Store.Update(ctx, func(tx store.Tx) error {
		rec, err := s.lookup(ctx, tx, id)
		if err != nil {
			return err
		}
		id = rec.ID
		cur, err := decodeRecord(k, rec)
		if err != nil {
			return err
		}
		if status, result, err = act(ctx, tx, id, cur, body); err != nil {
			return err
		}
		var after resource.Resource
		if rec, err := tx.Get(ctx, id); err == nil {
			if after, err = decodeRecord(k, rec); err != nil {
				return err
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return s.audit(ctx, tx, k, id, name, cur, after)
	})
	if err != nil {
		return 0, nil, err
	}
	s.sync(ctx, version)
	return status, result, nil
}

// Secret returns the plaintext of one write-only field of the resource at
// id, as listSecrets would.
func (s *Server) Secret(ctx context.Context, id, name string) (string, error) {
	k, _, ok := s.opts.Registry.Resolve(id)
	if !ok {
		return "", apierror.NotFound(id)
	}
	rec, err := s.opts.Store.Get(ctx, id)
	if err != nil {
		return "", err
	}
	res, err := decodeRecord(k, rec)
	if err != nil {
		return "", err
	}
	secrets, err := s.openSecrets(k, id, res)
	if err != nil {
		return "", err
	}
	return secrets[name], nil
}
