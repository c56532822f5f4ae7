package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/management"
	"github.com/tollgate/tollgate/internal/policy"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// newLimiter returns the counters of rate limits and quotas: in process, or
// in Redis when the nodes share one. Redis calls fail fast and, while Redis
// is down, requests are let through (logged once a minute) rather than
// refused: a counter outage should not become an API outage.
func newLimiter(cfg serveConfig, log *slog.Logger) (ratelimit.Limiter, func()) {
	if cfg.Redis == "" {
		l := ratelimit.NewLocal(ratelimit.LocalOptions{})
		return l, func() { l.Close() }
	}
	client := redis.NewClient(&redis.Options{
		Addr: cfg.Redis, DialTimeout: 250 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
		WriteTimeout: 100 * time.Millisecond, MaxRetries: 1, DialerRetries: 1,
	})
	r := ratelimit.NewRedis(client, ratelimit.RedisOptions{Logger: log})
	return ratelimit.FailOpen(r, log, time.Minute), func() { client.Close() }
}

// policyKinds are the kinds whose records are policy documents.
var policyKinds = []string{"policies", "products/policies", "apis/policies", "apis/operations/policies"}

// installPolicyChecks makes the management API refuse what the gateway
// could not run: a document with problems, a named value or fragment change
// that breaks a document using it, and deleting one that is still used.
func installPolicyChecks(m *management.Server, c *policy.Compiler) {
	checkSelf := func(ctx context.Context, tx store.Tx, rec store.Record) error {
		return problemsError("value", c.CheckRecord(ctx, rec, c.StoreLookup(tx)))
	}
	for _, k := range policyKinds {
		m.Handle(k, management.Hooks{Check: checkSelf})
	}
	checkUsers := func(ctx context.Context, tx store.Tx, rec store.Record) error {
		users, err := policyUsers(ctx, tx, rec)
		if err != nil {
			return err
		}
		var details []resource.FieldError
		for _, u := range users {
			urec, err := tx.Get(ctx, u)
			if err != nil {
				return err
			}
			for _, p := range c.CheckRecord(ctx, urec, c.StoreLookup(tx)) {
				details = append(details, resource.FieldError{Target: u, Message: p.String()})
			}
		}
		if len(details) > 0 {
			return &apierror.Error{Status: http.StatusBadRequest, Code: "ValidationError",
				Message: "The change would break policy documents that use " + rec.ID + ".", Details: details}
		}
		return nil
	}
	refuseUsed := func(ctx context.Context, tx store.Tx, id string, _ resource.Resource, _ map[string]string) error {
		rec, err := tx.Get(ctx, id)
		if err != nil {
			return err
		}
		users, err := policyUsers(ctx, tx, rec)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return apierror.New(http.StatusConflict, "Conflict", "%s is used by %s.", id, strings.Join(users, ", "))
		}
		return nil
	}
	m.Handle("namedValues", management.Hooks{Check: checkUsers, Delete: refuseUsed})
	m.Handle("policyFragments", management.Hooks{Check: func(ctx context.Context, tx store.Tx, rec store.Record) error {
		if err := checkSelf(ctx, tx, rec); err != nil {
			return err
		}
		return checkUsers(ctx, tx, rec)
	}, Delete: refuseUsed})
}

// policyUsers lists the documents and fragments that refer to rec.
func policyUsers(ctx context.Context, tx store.Tx, rec store.Record) ([]string, error) {
	var all []store.Record
	for _, k := range append([]string{"policyFragments"}, policyKinds...) {
		recs, err := tx.List(ctx, k, "")
		if err != nil {
			return nil, err
		}
		all = append(all, recs...)
	}
	return policy.Users(all, rec), nil
}

// problemsError turns a document's problems into a 400 naming each with
// its line and column.
func problemsError(target string, ps []policy.Problem) error {
	if len(ps) == 0 {
		return nil
	}
	details := make([]resource.FieldError, len(ps))
	for i, p := range ps {
		details[i] = resource.FieldError{Target: target, Message: p.String()}
	}
	return &apierror.Error{Status: http.StatusBadRequest, Code: "ValidationError", Message: "The policy document has problems.", Details: details}
}
