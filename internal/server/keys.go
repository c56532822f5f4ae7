package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/tollgate/tollgate/internal/apierror"
	"github.com/tollgate/tollgate/internal/keyring"
	"github.com/tollgate/tollgate/internal/store"
)

// Master key rotation (POST /keys/rotate, /keys/dropOld on the management
// API; `tollgate keys rotate`): a new primary key is added to the key file
// and loaded into the running keyring at once (everything holding the
// keyring seals with it from then on, and still opens with the older
// keys), then every sealed value in the store — configuration records'
// secrets and runtime state such as the credential manager's tokens, the
// identity provider's signing keys and the lookup key — is re-wrapped:
// only the data keys change, never the ciphertexts, and the gateway keeps
// serving. Dropping the older keys is refused while any value still needs
// them.

// keyRotation serialises rotations on this node.
type keyRotation struct {
	mu sync.Mutex
	s  *Server
}

// KeyRotationResult is the answer of /keys/rotate and /keys/dropOld.
type KeyRotationResult struct {
	PrimaryKeyID string   `json:"primaryKeyId"`
	KeyIDs       []string `json:"keyIds"`
	Rewrapped    int      `json:"rewrapped"`
	Dropped      []string `json:"dropped,omitempty"`
}

func (k *keyRotation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := strings.TrimPrefix(r.URL.Path, "/keys")
	if r.Method != http.MethodPost || (action != "/rotate" && action != "/dropOld") {
		if r.Method != http.MethodPost && (action == "/rotate" || action == "/dropOld") {
			apierror.Write(w, apierror.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "Method %s is not allowed here.", r.Method))
			return
		}
		apierror.Write(w, apierror.NotFound(r.URL.Path))
		return
	}
	var req struct {
		DropOld bool `json:"dropOld"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10+1))
	if err != nil || len(body) > 4<<10 {
		apierror.Write(w, apierror.New(http.StatusBadRequest, "InvalidRequestBody", "The request body could not be read or is over 4 KiB."))
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			apierror.Write(w, apierror.New(http.StatusBadRequest, "InvalidRequestBody", "The request body must be {\"dropOld\": true|false}: %v", err))
			return
		}
	}
	res, err := k.run(r.Context(), action == "/rotate", action == "/dropOld" || req.DropOld)
	if err != nil {
		var ae *apierror.Error
		if !errors.As(err, &ae) {
			k.s.log.Error("master key rotation", "err", err)
			err = apierror.New(http.StatusInternalServerError, "KeyRotationFailed", "The master key rotation failed: %v", err)
		}
		apierror.Write(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(res)
}

func (k *keyRotation) run(ctx context.Context, rotate, dropOld bool) (*KeyRotationResult, error) {
	cfg := k.s.cfg
	if cfg.MasterKey != "" || cfg.MasterKeyFile == "" {
		return nil, apierror.New(http.StatusConflict, "MasterKeyNotInFile",
			"The master key comes from TOLLGATE_MASTER_KEY: rotation needs a key file (--master-key-file); see docs/operations.md.")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	kr := k.s.keyring
	if rotate {
		if err := keyring.RotateFile(cfg.MasterKeyFile); err != nil {
			return nil, err
		}
		if err := k.reload(); err != nil {
			return nil, err
		}
		k.s.log.Info("master key rotated: new primary key", "kid", kr.PrimaryID())
	}
	n, err := rewrapStore(ctx, k.s.store, kr)
	if err != nil {
		return nil, fmt.Errorf("re-wrap sealed values: %w", err)
	}
	res := &KeyRotationResult{PrimaryKeyID: kr.PrimaryID(), Rewrapped: n}
	if dropOld {
		left, err := sealedOutside(ctx, k.s.store, kr)
		if err != nil {
			return nil, err
		}
		if left > 0 {
			return nil, apierror.New(http.StatusConflict, "OlderKeysInUse",
				"%d sealed values still need an older key (written meanwhile by a node without the new key?): run the rotation again before dropping.", left)
		}
		before := kr.IDs()
		if err := keyring.DropOlderFile(cfg.MasterKeyFile); err != nil {
			return nil, err
		}
		if err := k.reload(); err != nil {
			return nil, err
		}
		res.Dropped = before[1:]
		k.s.log.Info("master key rotation: older keys dropped", "dropped", len(res.Dropped))
	}
	res.KeyIDs = kr.IDs()
	return res, nil
}

// reload reads the key file into the running keyring.
func (k *keyRotation) reload() error {
	fresh, err := keyring.LoadFile(k.s.cfg.MasterKeyFile)
	if err != nil {
		return err
	}
	k.s.keyring.Replace(fresh)
	return nil
}

// rewrapStore re-wraps every sealed value of the configuration (in one
// transaction: one configuration version) and of the runtime state (each
// record compared and swapped, so a concurrent write wins and is retried).
func rewrapStore(ctx context.Context, st store.Store, kr *keyring.Keyring) (int, error) {
	n := 0
	recs, _, err := st.All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the configuration: %w", err)
	}
	_, err = st.Update(ctx, func(tx store.Tx) error {
		n = 0
		for _, r := range recs {
			cur, err := tx.Get(ctx, r.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			body, moved, err := kr.RewrapValue(cur.Body)
			if err != nil {
				return fmt.Errorf("%s: %w", cur.ID, err)
			}
			if moved == 0 {
				continue
			}
			cur.Body = body
			if _, err := tx.Put(ctx, cur, cur.ETag); err != nil {
				return fmt.Errorf("%s: %w", cur.ID, err)
			}
			n += moved
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	states, err := st.State().List(ctx, "")
	if err != nil {
		return n, fmt.Errorf("read the runtime state: %w", err)
	}
	for _, s := range states {
		for attempt := 0; ; attempt++ {
			v, moved, err := kr.RewrapValue(s.Value)
			if err != nil {
				return n, fmt.Errorf("state %s: %w", s.Key, err)
			}
			if moved == 0 {
				break
			}
			err = st.State().CompareAndSwap(ctx, s.Key, s.Value, store.StateRecord{Key: s.Key, Value: v, Expires: s.Expires})
			if err == nil {
				n += moved
				break
			}
			if errors.Is(err, store.ErrNotFound) {
				break // gone meanwhile
			}
			if !errors.Is(err, store.ErrConflict) || attempt == 5 {
				return n, fmt.Errorf("state %s: %w", s.Key, err)
			}
			// Written meanwhile: re-wrap what is there now.
			if s, err = st.State().Get(ctx, s.Key); errors.Is(err, store.ErrNotFound) {
				break
			} else if err != nil {
				return n, fmt.Errorf("state %s: %w", s.Key, err)
			}
		}
	}
	return n, nil
}

// sealedOutside counts the stored sealed values not wrapped by the
// primary key.
func sealedOutside(ctx context.Context, st store.Store, kr *keyring.Keyring) (int, error) {
	recs, _, err := st.All(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the configuration: %w", err)
	}
	n := 0
	for _, r := range recs {
		n += kr.SealedOutside(r.Body)
	}
	states, err := st.State().List(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("read the runtime state: %w", err)
	}
	for _, s := range states {
		n += kr.SealedOutside(s.Value)
	}
	return n, nil
}
