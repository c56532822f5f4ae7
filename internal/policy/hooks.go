package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// The management API's hooks, ready to register: SaveCheck as the Check
// hook (it runs after the write, inside the transaction, so it sees the new
// state) of the policy kinds, policyFragments and namedValues; DeleteCheck
// as the Delete hook of policyFragments and namedValues.

// dependentKinds are the kinds whose records may refer to named values and
// fragments.
func dependentKinds() []string { return append(resource.PolicyKinds(), resource.KindPolicyFragments) }

// SaveCheck refuses (400, one detail per problem) a policy document or
// fragment that does not compile, and a named value or fragment change that
// breaks a document using it (a detail per broken document).
func (c *Compiler) SaveCheck(ctx context.Context, tx store.Tx, rec store.Record) error {
	return c.saveCheck(ctx, tx, rec, nil)
}

// SaveCheckWarning is SaveCheck that also hands each warning of the saved
// document or fragment ("value: line:col: message") to warn, which the
// management API adds to its answer (management.AddWarning).
func (c *Compiler) SaveCheckWarning(warn func(ctx context.Context, message string)) func(ctx context.Context, tx store.Tx, rec store.Record) error {
	return func(ctx context.Context, tx store.Tx, rec store.Record) error { return c.saveCheck(ctx, tx, rec, warn) }
}

func (c *Compiler) saveCheck(ctx context.Context, tx store.Tx, rec store.Record, warn func(context.Context, string)) error {
	lk := c.StoreLookup(tx)
	var details []resource.FieldError
	if isPolicyKind(rec.Kind) || rec.Kind == resource.KindPolicyFragments {
		rep := c.Check(ctx, rec, lk)
		for _, p := range rep.Problems {
			details = append(details, resource.FieldError{Target: "value", Message: p.String()})
		}
		if len(details) > 0 {
			return apierror.Validation(details)
		}
		if warn != nil {
			for _, w := range rep.Warnings {
				warn(ctx, "value: "+w.String())
			}
		}
	}
	if rec.Kind != resource.KindNamedValues && rec.Kind != resource.KindPolicyFragments {
		return nil
	}
	docs, err := listDependents(ctx, tx)
	if err != nil {
		return err
	}
	for _, d := range affected(ctx, docs, rec, lk) {
		for _, p := range c.CheckRecord(ctx, d, lk) {
			details = append(details, resource.FieldError{Target: d.ID, Message: p.String()})
		}
	}
	if len(details) > 0 {
		return &apierror.Error{Status: http.StatusBadRequest, Code: "ValidationError",
			Message: "The change breaks policy documents that use " + rec.ID + ".", Details: details}
	}
	return nil
}

// affected returns the documents a change of rec (a named value or
// fragment) may break: those referring to it, and, for a named value
// whose display name changed, those referring to a name that no longer
// resolves.
func affected(ctx context.Context, docs []store.Record, rec store.Record, lk Lookup) []store.Record {
	users := Users(docs, rec)
	var out []store.Record
	for _, d := range docs {
		if d.ID == rec.ID {
			continue
		}
		if slices.Contains(users, d.ID) {
			out = append(out, d)
			continue
		}
		if rec.Kind != resource.KindNamedValues {
			continue
		}
		for _, n := range References(recordText(d)).NamedValues {
			if _, ok, _ := lk.NamedValue(ctx, n); !ok {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// DeleteCheck refuses (409) deleting a named value or fragment that a
// policy document or fragment uses, naming them.
func (c *Compiler) DeleteCheck(ctx context.Context, tx store.Tx, id string) error {
	rec, err := tx.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", id, err)
	}
	docs, err := listDependents(ctx, tx)
	if err != nil {
		return err
	}
	users := Users(docs, rec)
	if len(users) == 0 {
		return nil
	}
	what := "Named value"
	if rec.Kind == resource.KindPolicyFragments {
		what = "Policy fragment"
	}
	return apierror.New(http.StatusConflict, "Conflict", "%s %s is used by %s.", what, id, strings.Join(users, ", "))
}

func listDependents(ctx context.Context, tx store.Tx) ([]store.Record, error) {
	var out []store.Record
	for _, k := range dependentKinds() {
		recs, err := tx.List(ctx, k, "")
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k, err)
		}
		out = append(out, recs...)
	}
	return out, nil
}
