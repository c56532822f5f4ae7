package expression

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxJwtLen bounds the token AsJwt will look at.
const maxJwtLen = 64 << 10

// Jwt is APIM's Jwt object: a decoded (not verified) JSON Web Token.
type Jwt struct {
	Id             string
	Issuer         string
	Subject        string
	Audiences      []string
	ExpirationTime *time.Time
	NotBefore      *time.Time
	IssuedAt       *time.Time
	Algorithm      string
	Type           string
	// Claims holds every payload claim; arrays become several values, other
	// non-string values their JSON text.
	Claims Claims
	// Header holds the JOSE header fields as strings.
	Header map[string]string

	// deferred is set when Claims and Header are parsed from header and
	// payload on first use (see DeferClaims); read them with AllClaims then.
	deferred        bool
	header, payload string
	loadOnce        sync.Once
}

// DeferClaims leaves Claims and Header to be parsed from the token's
// decoded header and payload (JSON) when first asked for (AllClaims,
// AllHeader): for a Jwt whose other fields a validator already read, so a
// token whose claims no expression reads is never decoded twice. It
// returns j.
func (j *Jwt) DeferClaims(header, payload string) *Jwt {
	j.deferred, j.header, j.payload = true, header, payload
	return j
}

// AllClaims returns Claims, parsing them first if they were deferred.
func (j *Jwt) AllClaims() Claims {
	j.load()
	return j.Claims
}

// AllHeader returns Header, parsing it first if it was deferred.
func (j *Jwt) AllHeader() map[string]string {
	j.load()
	return j.Header
}

func (j *Jwt) load() {
	if !j.deferred {
		return
	}
	j.loadOnce.Do(func() {
		if p, err := parseJwtJSON([]byte(j.header), []byte(j.payload)); err == nil {
			j.Claims, j.Header = p.Claims, p.Header
		}
	})
}

// Claims are JWT claims: IReadOnlyDictionary<string, string[]>.
type Claims map[string][]string

// GetValueOrDefault returns the values of claim name joined with ",", or def.
func (c Claims) GetValueOrDefault(name, def string) string {
	v, ok := c[name]
	if !ok {
		return def
	}
	return strings.Join(v, ",")
}

// ParseJwt decodes a compact JWS without verifying its signature, as AsJwt() does.
// A leading "Bearer " is not accepted (APIM's AsJwt does not strip it either).
func ParseJwt(token string) (*Jwt, error) {
	if len(token) > maxJwtLen {
		return nil, fmt.Errorf("jwt: token longer than %d bytes", maxJwtLen)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 && len(parts) != 5 {
		return nil, fmt.Errorf("jwt: %d segments, want 3", len(parts))
	}
	if len(parts) == 5 {
		return nil, fmt.Errorf("jwt: encrypted tokens are not supported")
	}
	hb, err := b64url(parts[0])
	if err != nil {
		return nil, fmt.Errorf("jwt: header: %w", err)
	}
	pb, err := b64url(parts[1])
	if err != nil {
		return nil, fmt.Errorf("jwt: payload: %w", err)
	}
	return parseJwtJSON(hb, pb)
}

// parseJwtJSON builds a Jwt from its decoded header and payload.
func parseJwtJSON(hb, pb []byte) (*Jwt, error) {
	var header map[string]any
	if err := json.Unmarshal(hb, &header); err != nil {
		return nil, fmt.Errorf("jwt: header: %w", err)
	}
	var payload map[string]any
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	if err := dec.Decode(&payload); err != nil {
		return nil, fmt.Errorf("jwt: payload: %w", err)
	}
	if payload == nil {
		return nil, fmt.Errorf("jwt: payload is not an object")
	}
	j := &Jwt{Claims: make(Claims, len(payload)), Header: make(map[string]string, len(header))}
	for k, v := range header {
		j.Header[k] = claimString(v)
	}
	j.Algorithm = j.Header["alg"]
	j.Type = j.Header["typ"]
	for k, v := range payload {
		switch v := v.(type) {
		case []any:
			vals := make([]string, 0, len(v))
			for _, e := range v {
				vals = append(vals, claimString(e))
			}
			j.Claims[k] = vals
		case nil:
			j.Claims[k] = []string{}
		default:
			j.Claims[k] = []string{claimString(v)}
		}
	}
	first := func(k string) string {
		if v := j.Claims[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	j.Id, j.Issuer, j.Subject = first("jti"), first("iss"), first("sub")
	j.Audiences = append([]string{}, j.Claims["aud"]...)
	j.ExpirationTime = numericDate(payload["exp"])
	j.NotBefore = numericDate(payload["nbf"])
	j.IssuedAt = numericDate(payload["iat"])
	return j, nil
}

func b64url(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	return base64.RawURLEncoding.DecodeString(s)
}

func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func numericDate(v any) *time.Time {
	n, ok := v.(json.Number)
	if !ok {
		return nil
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
		return nil
	}
	sec, frac := math.Modf(f)
	t := time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return &t
}
