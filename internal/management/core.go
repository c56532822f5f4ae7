package management

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// installCoreHooks adds the integrity rules of the foundation's resources.
func (s *Server) installCoreHooks() {
	s.Handle(resource.KindAPIs, Hooks{Prepare: prepareAPI, Delete: deleteAPI})
	s.Handle(resource.KindOperations, Hooks{Prepare: prepareOperation})
	s.Handle(resource.KindProducts, Hooks{Prepare: prepareProduct, Delete: deleteProduct})
	s.Handle(resource.KindProductAPIs, Hooks{Prepare: prepareProductAPI})
	s.Handle(resource.KindUsers, Hooks{Delete: deleteUser})
	s.Handle(resource.KindSubscriptions, Hooks{
		Prepare: s.prepareSubscription,
		Actions: map[string]Action{
			"listSecrets":            s.listSecretsAction(resource.KindSubscriptions),
			"regeneratePrimaryKey":   s.regenerateKey("primaryKey"),
			"regenerateSecondaryKey": s.regenerateKey("secondaryKey"),
		},
	})
	s.Handle(resource.KindNamedValues, Hooks{Prepare: prepareNamedValue, Actions: map[string]Action{"listValue": s.listSecretsAction(resource.KindNamedValues), "listSecrets": s.listSecretsAction(resource.KindNamedValues)}})
	s.installOAuthHooks()
}

// each decodes every record of a kind in the transaction.
func each[T any](ctx context.Context, tx store.Tx, kind, parent string, fn func(id string, v *T) error) error {
	recs, err := tx.List(ctx, kind, parent)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		v := new(T)
		if err := json.Unmarshal(rec.Body, v); err != nil {
			return err
		}
		if err := fn(rec.ID, v); err != nil {
			return err
		}
	}
	return nil
}

func exists(ctx context.Context, tx store.Tx, id string) (bool, error) {
	_, err := tx.Get(ctx, id)
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, err
}

func conflict(format string, args ...any) error {
	return apierror.New(http.StatusConflict, "Conflict", format, args...)
}

func prepareAPI(ctx context.Context, tx store.Tx, id string, _, n resource.Resource) error {
	api := n.(*resource.API)
	return each(ctx, tx, resource.KindAPIs, "", func(other string, o *resource.API) error {
		if other != id && strings.EqualFold(strings.Trim(o.Path, "/"), api.Path) {
			return conflict("API %s already uses path %q.", other, api.Path)
		}
		return nil
	})
}

func deleteAPI(ctx context.Context, tx store.Tx, id string, _ resource.Resource, q map[string]string) error {
	if err := deleteSubscriptionsWhere(ctx, tx, q, id, func(s *resource.Subscription) bool { return s.Scope == id }); err != nil {
		return err
	}
	name := resource.NameOf(id)
	recs, err := tx.List(ctx, resource.KindProductAPIs, "")
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if resource.NameOf(rec.ID) == name {
			if err := tx.Delete(ctx, rec.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteSubscriptionsWhere refuses with 409 when subscriptions match, unless
// the request says deleteSubscriptions=true, in which case it deletes them.
func deleteSubscriptionsWhere(ctx context.Context, tx store.Tx, q map[string]string, id string, match func(*resource.Subscription) bool) error {
	var hits []string
	if err := each(ctx, tx, resource.KindSubscriptions, "", func(sid string, s *resource.Subscription) error {
		if match(s) {
			hits = append(hits, sid)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(hits) == 0 {
		return nil
	}
	if q["deleteSubscriptions"] != "true" {
		return conflict("%s has %d subscription(s) (e.g. %s); delete with ?deleteSubscriptions=true to delete them too.", id, len(hits), hits[0])
	}
	for _, sid := range hits {
		if err := tx.Delete(ctx, sid); err != nil {
			return err
		}
	}
	return nil
}

// templateShape reduces a URL template to what matching sees: parameter
// names don't matter, the query part is ignored.
func templateShape(t string) string {
	if i := strings.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	segs := strings.Split(t, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "{}"
		}
	}
	return strings.ToLower(strings.Join(segs, "/"))
}

func prepareOperation(ctx context.Context, tx store.Tx, id string, _, n resource.Resource) error {
	op := n.(*resource.Operation)
	shape := templateShape(op.URLTemplate)
	return each(ctx, tx, resource.KindOperations, resource.ParentOf(mustKind(resource.KindOperations), id), func(other string, o *resource.Operation) error {
		if other != id && strings.EqualFold(o.Method, op.Method) && templateShape(o.URLTemplate) == shape {
			return conflict("Operation %s already handles %s %s.", other, o.Method, o.URLTemplate)
		}
		return nil
	})
}

func mustKind(name string) *resource.Kind {
	for _, k := range resource.CoreKinds() {
		if k.Name == name {
			return &k
		}
	}
	panic("unknown core kind " + name)
}

// openProductsOf returns the open products (other than except) that contain
// the API named apiName.
func openProductsOf(ctx context.Context, tx store.Tx, apiName, except string) ([]string, error) {
	recs, err := tx.List(ctx, resource.KindProductAPIs, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rec := range recs {
		if resource.NameOf(rec.ID) != apiName || rec.Parent == except {
			continue
		}
		prec, err := tx.Get(ctx, rec.Parent)
		if err != nil {
			return nil, err
		}
		var p resource.Product
		if err := json.Unmarshal(prec.Body, &p); err != nil {
			return nil, err
		}
		if !resource.Bool(p.SubscriptionRequired, true) {
			out = append(out, rec.Parent)
		}
	}
	return out, nil
}

func prepareProduct(ctx context.Context, tx store.Tx, id string, _, n resource.Resource) error {
	p := n.(*resource.Product)
	if resource.Bool(p.SubscriptionRequired, true) {
		return nil
	}
	recs, err := tx.List(ctx, resource.KindProductAPIs, id)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		others, err := openProductsOf(ctx, tx, resource.NameOf(rec.ID), id)
		if err != nil {
			return err
		}
		if len(others) > 0 {
			return conflict("API /apis/%s is already in the open product %s; an API can belong to only one product that does not require a subscription.", resource.NameOf(rec.ID), others[0])
		}
	}
	return nil
}

func deleteProduct(ctx context.Context, tx store.Tx, id string, _ resource.Resource, q map[string]string) error {
	return deleteSubscriptionsWhere(ctx, tx, q, id, func(s *resource.Subscription) bool { return s.Scope == id })
}

func prepareProductAPI(ctx context.Context, tx store.Tx, id string, _, _ resource.Resource) error {
	product := resource.ParentOf(mustKind(resource.KindProductAPIs), id)
	apiID := "/apis/" + resource.NameOf(id)
	ok, err := exists(ctx, tx, apiID)
	if err != nil {
		return err
	}
	if !ok {
		return apierror.New(http.StatusNotFound, "ApiNotFound", "%s does not exist.", apiID)
	}
	prec, err := tx.Get(ctx, product)
	if err != nil {
		return err
	}
	var p resource.Product
	if err := json.Unmarshal(prec.Body, &p); err != nil {
		return err
	}
	if resource.Bool(p.SubscriptionRequired, true) {
		return nil
	}
	others, err := openProductsOf(ctx, tx, resource.NameOf(id), product)
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return conflict("%s is already in the open product %s; an API can belong to only one product that does not require a subscription.", apiID, others[0])
	}
	return nil
}

func deleteUser(ctx context.Context, tx store.Tx, id string, _ resource.Resource, q map[string]string) error {
	return deleteSubscriptionsWhere(ctx, tx, q, id, func(s *resource.Subscription) bool { return s.OwnerID == id })
}

// newKey makes a subscription key: 32 hex characters, as APIM's.
func newKey() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

func (s *Server) keyHash(key string) string {
	h := s.opts.Hasher.Sum(key)
	return hex.EncodeToString(h[:])
}

func (s *Server) prepareSubscription(ctx context.Context, tx store.Tx, id string, old, n resource.Resource) error {
	sub := n.(*resource.Subscription)
	var errs resource.Errors
	if sub.Scope != "/apis" {
		ok, err := exists(ctx, tx, sub.Scope)
		if err != nil {
			return err
		}
		if !ok {
			errs.Add("scope", "%s does not exist", sub.Scope)
		}
	}
	if sub.OwnerID != "" {
		ok, err := exists(ctx, tx, sub.OwnerID)
		if err != nil {
			return err
		}
		if !ok {
			errs.Add("ownerId", "%s does not exist", sub.OwnerID)
		}
	}
	if len(errs) > 0 {
		return apierror.Validation(errs)
	}
	if old == nil {
		sub.CreatedDate = s.opts.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		if err := s.checkSubscriptionsLimit(ctx, tx, id, sub); err != nil {
			return err
		}
	} else {
		sub.CreatedDate = old.(*resource.Subscription).CreatedDate
	}
	for _, k := range []struct {
		key, hash *string
		name      string
	}{{&sub.PrimaryKey, &sub.PrimaryKeyHash, "primaryKey"}, {&sub.SecondaryKey, &sub.SecondaryKeyHash, "secondaryKey"}} {
		if *k.key == "" {
			*k.key = newKey()
		} else if keyringIsSealed(*k.key) {
			continue // kept from the stored subscription, hash kept too
		} else if err := s.checkKeyUnique(ctx, tx, id, *k.key, k.name); err != nil {
			return err
		}
		*k.hash = s.keyHash(*k.key)
	}
	if sub.PrimaryKey == sub.SecondaryKey {
		return apierror.Validation([]resource.FieldError{{Target: "secondaryKey", Message: "must differ from primaryKey"}})
	}
	return nil
}

// checkKeyUnique refuses a caller-chosen key that another subscription has.
// Generated keys are 128 random bits and need no check.
func (s *Server) checkKeyUnique(ctx context.Context, tx store.Tx, id, key, field string) error {
	h := s.keyHash(key)
	return each(ctx, tx, resource.KindSubscriptions, "", func(other string, o *resource.Subscription) error {
		if other != id && (o.PrimaryKeyHash == h || o.SecondaryKeyHash == h) {
			return apierror.Validation([]resource.FieldError{{Target: field, Message: "is already used by another subscription"}})
		}
		return nil
	})
}

func (s *Server) checkSubscriptionsLimit(ctx context.Context, tx store.Tx, id string, sub *resource.Subscription) error {
	if sub.OwnerID == "" || !strings.HasPrefix(sub.Scope, "/products/") {
		return nil
	}
	prec, err := tx.Get(ctx, sub.Scope)
	if err != nil {
		return err
	}
	var p resource.Product
	if err := json.Unmarshal(prec.Body, &p); err != nil {
		return err
	}
	if p.SubscriptionsLimit == nil {
		return nil
	}
	count := 0
	if err := each(ctx, tx, resource.KindSubscriptions, "", func(other string, o *resource.Subscription) error {
		if other != id && o.OwnerID == sub.OwnerID && o.Scope == sub.Scope && (o.State == "active" || o.State == "submitted" || o.State == "suspended") {
			count++
		}
		return nil
	}); err != nil {
		return err
	}
	if count >= *p.SubscriptionsLimit {
		return conflict("%s already has %d subscription(s) to %s, its limit.", sub.OwnerID, count, sub.Scope)
	}
	return nil
}

// listSecretsAction returns the plaintext of a resource's write-only fields.
func (s *Server) listSecretsAction(kind string) Action {
	k, _ := s.opts.Registry.Kind(kind)
	return func(ctx context.Context, tx store.Tx, id string, cur resource.Resource, _ []byte) (int, any, error) {
		secrets, err := s.openSecrets(k, id, cur)
		if err != nil {
			return 0, nil, err
		}
		if nv, ok := cur.(*resource.NamedValue); ok && !nv.Secret {
			secrets["value"] = nv.Value
		}
		return http.StatusOK, secrets, nil
	}
}

func (s *Server) regenerateKey(field string) Action {
	return func(ctx context.Context, tx store.Tx, id string, cur resource.Resource, _ []byte) (int, any, error) {
		sub := cur.(*resource.Subscription)
		key := newKey()
		sealed, err := s.opts.Keyring.Seal([]byte(key), []byte(id))
		if err != nil {
			return 0, nil, err
		}
		if field == "primaryKey" {
			sub.PrimaryKey, sub.PrimaryKeyHash = sealed, s.keyHash(key)
		} else {
			sub.SecondaryKey, sub.SecondaryKeyHash = sealed, s.keyHash(key)
		}
		b, err := json.Marshal(sub)
		if err != nil {
			return 0, nil, err
		}
		rec, err := tx.Get(ctx, id)
		if err != nil {
			return 0, nil, err
		}
		rec.Body = b
		if _, err := tx.Put(ctx, rec, rec.ETag); err != nil {
			return 0, nil, err
		}
		return http.StatusNoContent, nil, nil
	}
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func prepareNamedValue(_ context.Context, _ store.Tx, _ string, _, n resource.Resource) error {
	nv := n.(*resource.NamedValue)
	if !nv.Secret && keyringIsSealed(nv.Value) {
		return apierror.Validation([]resource.FieldError{{Target: "value", Message: "is required when a secret named value is made non-secret"}})
	}
	return nil
}
