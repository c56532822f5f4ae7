package credential

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tollgate/tollgate/internal/resource"
	"github.com/tollgate/tollgate/internal/store"
)

// Rewrap re-wraps, with the keyring's primary key, the data keys of every
// stored token and of the providers' and connections' client secrets, so
// that an older master key can be retired. Ciphertexts are untouched and
// the gateway keeps serving meanwhile: a token refreshed concurrently is
// already sealed with the primary key. It returns how many values moved.
func (m *Manager) Rewrap(ctx context.Context) (int, error) {
	n := 0
	recs, err := m.opts.Store.State().List(ctx, tokenStatePrefix+"/")
	if err != nil {
		return 0, fmt.Errorf("list stored tokens: %w", err)
	}
	for _, r := range recs {
		var st tokenState
		if err := json.Unmarshal(r.Value, &st); err != nil || st.Sealed == "" {
			continue
		}
		re, err := m.opts.Keyring.Rewrap(st.Sealed)
		if err != nil {
			return n, fmt.Errorf("rewrap %s: %w", r.Key, err)
		}
		if re == st.Sealed {
			continue
		}
		st.Sealed = re
		v, err := json.Marshal(&st)
		if err != nil {
			return n, err
		}
		err = m.opts.Store.State().CompareAndSwap(ctx, r.Key, r.Value, store.StateRecord{Key: r.Key, Value: v, Expires: r.Expires})
		switch {
		case err == nil:
			n++
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			// Refreshed (sealed with the primary key) or gone meanwhile.
		default:
			return n, fmt.Errorf("rewrap %s: %w", r.Key, err)
		}
	}
	for _, kind := range []string{resource.KindAuthorizationProviders, resource.KindProviderAuthorizations} {
		_, err := m.opts.Store.Update(ctx, func(tx store.Tx) error {
			recs, err := tx.List(ctx, kind, "")
			if err != nil {
				return err
			}
			for _, rec := range recs {
				var fields map[string]json.RawMessage
				if err := json.Unmarshal(rec.Body, &fields); err != nil {
					return fmt.Errorf("decode %s: %w", rec.ID, err)
				}
				var sealed string
				if raw, ok := fields["clientSecret"]; !ok || json.Unmarshal(raw, &sealed) != nil || sealed == "" {
					continue
				}
				re, err := m.opts.Keyring.Rewrap(sealed)
				if err != nil {
					return fmt.Errorf("rewrap %s: %w", rec.ID, err)
				}
				if re == sealed {
					continue
				}
				fields["clientSecret"], _ = json.Marshal(re)
				if rec.Body, err = json.Marshal(fields); err != nil {
					return err
				}
				if _, err := tx.Put(ctx, rec, rec.ETag); err != nil {
					return fmt.Errorf("rewrap %s: %w", rec.ID, err)
				}
				n++
			}
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
