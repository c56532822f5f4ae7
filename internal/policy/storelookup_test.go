package policy_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/store"
	"github.com/tollgate/tollgate/internal/store/sqlite"
)

// TestCheckInStoreTransaction is the management API's use: named values
// (one sealed) and fragments are resolved inside the write transaction.
func TestCheckInStoreTransaction(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr := testKeyring(t)
	c := policy.NewCompiler(policy.Options{Open: kr.Open})
	_, err = st.Update(ctx, func(tx store.Tx) error {
		for _, r := range []store.Record{
			namedValue(t, kr, "backend-key", "k-123", true),
			fragment(t, "auth", `<fragment><set-header name="X-Key" exists-action="override"><value>{{backend-key}}</value></set-header></fragment>`),
		} {
			if _, err := tx.Put(ctx, r, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	good := `<policies><inbound><include-fragment fragment-id="auth"/></inbound></policies>`
	bad := "<policies><inbound>\n<include-fragment fragment-id=\"gone\"/><set-header name=\"a\"><value>{{nope}}</value></set-header></inbound></policies>"
	_, err = st.Update(ctx, func(tx store.Tx) error {
		lk := c.StoreLookup(tx)
		if ps := c.CheckDocument(ctx, "/apis/a/policies/policy", good, lk); len(ps) != 0 {
			t.Errorf("good: %v", ps)
		}
		ps := c.CheckDocument(ctx, "/apis/a/policies/policy", bad, lk)
		if len(ps) != 1 || ps[0].String() != "2:67: named value 'nope' is not defined" {
			t.Errorf("bad: %v", ps)
		}
		ps = c.CheckDocument(ctx, "/apis/a/policies/policy", strings.ReplaceAll(bad, "{{nope}}", "x"), lk)
		if len(ps) != 1 || ps[0].String() != "2:19: fragment 'gone' does not exist" {
			t.Errorf("bad fragment: %v", ps)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Deleting the named value would break the fragment: Users finds it,
	// CheckRecord confirms.
	recs, _, err := st.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var nv, frag store.Record
	for _, r := range recs {
		switch r.ID {
		case "/namedValues/backend-key":
			nv = r
		case "/policyFragments/auth":
			frag = r
		}
	}
	if users := policy.Users(recs, nv); len(users) != 1 || users[0] != "/policyFragments/auth" {
		t.Fatalf("users %v", users)
	}
	_, err = st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(ctx, nv.ID); err != nil {
			return err
		}
		ps := c.CheckRecord(ctx, frag, c.StoreLookup(tx))
		if len(ps) != 1 || !strings.Contains(ps[0].Message, "named value 'backend-key' is not defined") {
			t.Errorf("after delete: %v", ps)
		}
		return errRollback
	})
	if err != errRollback {
		t.Fatal(err)
	}
}

type rollback struct{}

func (rollback) Error() string { return "rollback" }

var errRollback error = rollback{}

// TestManagementHooks drives SaveCheck and DeleteCheck as the management
// API does: inside its write transaction, after (or before) the write.
func TestManagementHooks(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kr := testKeyring(t)
	c := policy.NewCompiler(policy.Options{Open: kr.Open, Limiter: ratelimit.NewLocal(ratelimit.LocalOptions{})})
	// write puts records and runs SaveCheck on the last, as the Check hook.
	write := func(recs ...store.Record) error {
		_, err := st.Update(ctx, func(tx store.Tx) error {
			for _, r := range recs {
				if _, err := tx.Put(ctx, r, ""); err != nil {
					return err
				}
			}
			return c.SaveCheck(ctx, tx, recs[len(recs)-1])
		})
		return err
	}
	del := func(id string) error {
		_, err := st.Update(ctx, func(tx store.Tx) error {
			if err := c.DeleteCheck(ctx, tx, id); err != nil {
				return err
			}
			return tx.Delete(ctx, id)
		})
		return err
	}
	limitDoc := rec(t, "/apis/a/policies/policy", "apis/policies", policyResource(`<policies><inbound><rate-limit-by-key calls="{{calls}}" renewal-period="60" counter-key="k"/><include-fragment fragment-id="f"/></inbound></policies>`))
	if err := write(namedValue(t, kr, "calls", "10", false), fragment(t, "f", `<fragment><set-variable name="a" value="b"/></fragment>`), limitDoc); err != nil {
		t.Fatalf("good documents refused: %v", err)
	}

	var ae *apierror.Error
	err = write(rec(t, "/policies/policy", "policies", policyResource("<policies>\n<inbound><bogus/></inbound></policies>")))
	if !errors.As(err, &ae) || ae.Status != 400 || len(ae.Details) != 1 || ae.Details[0].Target != "value" || ae.Details[0].Message != "2:10: unknown policy 'bogus'" {
		t.Errorf("bad document: %v", err)
	}
	if _, err := st.Get(ctx, "/policies/policy"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused document was stored: %v", err)
	}

	err = write(namedValue(t, kr, "calls", "ten", false))
	if !errors.As(err, &ae) || ae.Status != 400 || len(ae.Details) != 1 || ae.Details[0].Target != "/apis/a/policies/policy" || !strings.Contains(ae.Details[0].Message, "attribute 'calls' must be an integer") {
		t.Errorf("breaking named value: %v", err)
	}
	err = write(fragment(t, "f", `<fragment><forward-request/></fragment>`))
	if !errors.As(err, &ae) || ae.Status != 400 || len(ae.Details) != 1 || ae.Details[0].Target != "/apis/a/policies/policy" {
		t.Errorf("breaking fragment: %v", err)
	}
	err = del("/policyFragments/f")
	if !errors.As(err, &ae) || ae.Status != 409 || !strings.Contains(ae.Message, "/apis/a/policies/policy") {
		t.Errorf("deleting a used fragment: %v", err)
	}
	if err := write(namedValue(t, kr, "calls", "20", false)); err != nil {
		t.Errorf("harmless change refused: %v", err)
	}
	if err := del("/apis/a/policies/policy"); err != nil {
		t.Fatal(err)
	}
	if err := del("/namedValues/calls"); err != nil {
		t.Errorf("deleting an unused named value: %v", err)
	}
}
