package management

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/store"
)

// Names are case-insensitive, as in APIM: /apis/CaseA and /apis/casea are
// one resource. A resource keeps the spelling it was created with (the
// gateway and the identity provider read records by that exact ID); the
// management API finds it by any spelling, and refuses to create a second
// resource whose path differs from an existing one only in case.

// reader is what both store.Store and store.Tx offer.
type reader interface {
	Get(ctx context.Context, id string) (store.Record, error)
	List(ctx context.Context, kind, parent string) ([]store.Record, error)
}

// lookup returns the record at id, or at the one stored ID that equals id
// but for case (store.ErrNotFound if neither exists).
func (s *Server) lookup(ctx context.Context, q reader, id string) (store.Record, error) {
	rec, err := q.Get(ctx, id)
	if !errors.Is(err, store.ErrNotFound) {
		return rec, err
	}
	stored, ok, cerr := s.storedSpelling(ctx, q, id)
	if cerr != nil {
		return store.Record{}, cerr
	}
	if !ok {
		return store.Record{}, err
	}
	return q.Get(ctx, stored)
}

// storedSpelling returns the ID of the stored resource that equals id but
// for case, when id itself is not stored.
func (s *Server) storedSpelling(ctx context.Context, q reader, id string) (string, bool, error) {
	k, parent, ok := s.opts.Registry.Resolve(id)
	if !ok {
		return "", false, nil
	}
	if parent != "" {
		prec, err := s.lookup(ctx, q, parent)
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		if prec.ID != parent {
			id, parent = prec.ID+id[len(parent):], prec.ID
			if _, err := q.Get(ctx, id); err == nil {
				return id, true, nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return "", false, err
			}
		}
	}
	siblings, err := q.List(ctx, k.Name, parent)
	if err != nil {
		return "", false, err
	}
	for _, r := range siblings {
		if strings.EqualFold(r.ID, id) {
			return r.ID, true, nil
		}
	}
	return "", false, nil
}

// respell returns id with its parent's path spelled as stored, so that a
// resource created under /apis/ECHO lands under /apis/echo. A missing
// parent leaves id as it is (the caller reports it).
func (s *Server) respell(ctx context.Context, q reader, id, parent string) (string, string, error) {
	if parent == "" {
		return id, parent, nil
	}
	prec, err := s.lookup(ctx, q, parent)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return id, parent, nil
	case err != nil:
		return "", "", err
	}
	return prec.ID + id[len(parent):], prec.ID, nil
}

func caseConflict(id, stored string) error {
	return apierror.New(http.StatusConflict, "Conflict",
		"%s already exists as %s: names are case-insensitive, so use that name to change it.", id, stored)
}
