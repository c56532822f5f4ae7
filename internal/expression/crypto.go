package expression

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// System.Security.Cryptography as policy documents use it: hash algorithms
// (SHA256.Create().ComputeHash(bytes), new HMACSHA256(key).ComputeHash(bytes)),
// AES/Rijndael through APIM's byte[].Encrypt/Decrypt helpers, and the byte
// array helpers around them (new byte[n], BitConverter, hex strings).

// hashAlgorithm is a HashAlgorithm or KeyedHashAlgorithm (HMAC).
type hashAlgorithm struct {
	name string
	size int // bits
	newH func() hash.Hash
	hmac bool
	key  []byte
}

func (h *hashAlgorithm) sum(b []byte) []byte {
	var m hash.Hash
	if h.hmac {
		m = hmac.New(h.newH, h.key)
	} else {
		m = h.newH()
	}
	m.Write(b)
	return m.Sum(nil)
}

// symmetricAlgorithm is an Aes / Rijndael instance.
type symmetricAlgorithm struct {
	name    string
	key, iv []byte
	mode    cipherMode
	padding paddingMode
}

type cipherMode int

const (
	modeCBC cipherMode = 1
	modeECB cipherMode = 2
)

type paddingMode int

const (
	padNone  paddingMode = 1
	padPKCS7 paddingMode = 2
	padZeros paddingMode = 3
)

var (
	tHashAlg    = &typ{name: "HashAlgorithm"}
	tSymAlg     = &typ{name: "SymmetricAlgorithm"}
	tCipherMode = &typ{name: "CipherMode", valueType: true}
	tPadding    = &typ{name: "PaddingMode", valueType: true}
)

var hashAlgorithms = map[string]struct {
	size int
	newH func() hash.Hash
}{
	"MD5":    {128, md5.New},
	"SHA1":   {160, sha1.New},
	"SHA256": {256, sha256.New},
	"SHA384": {384, sha512.New384},
	"SHA512": {512, sha512.New},
}

func argBytes(args []any, i int, name string) ([]byte, error) {
	switch v := args[i].(type) {
	case []byte:
		return v, nil
	case nil:
		return nil, errArgNull(name)
	default:
		return nil, fmt.Errorf("argument '%s' must be a byte[], not %s", name, typeNameOf(v))
	}
}

// randomBytes fills a new slice from the system's secure source.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

func newSymmetric(name string) *symmetricAlgorithm {
	return &symmetricAlgorithm{name: name, key: randomBytes(32), iv: randomBytes(16), mode: modeCBC, padding: padPKCS7}
}

// symmetricByName is the algorithm named by Encrypt's alg argument.
func symmetricByName(name string) (*symmetricAlgorithm, error) {
	n := strings.TrimPrefix(name, "System.Security.Cryptography.")
	switch n {
	case "Aes", "AES", "AesManaged", "AesCryptoServiceProvider", "AesCng", "Rijndael", "RijndaelManaged":
		return &symmetricAlgorithm{name: n, mode: modeCBC, padding: padPKCS7}, nil
	}
	return nil, fmt.Errorf("the symmetric algorithm '%s' is not supported; use \"Aes\" or \"Rijndael\"", name)
}

func checkAESKey(key []byte) error {
	switch len(key) {
	case 16, 24, 32:
		return nil
	}
	return errors.New("Specified key is not a valid size for this algorithm.")
}

func checkIV(iv []byte) error {
	if len(iv) != aes.BlockSize {
		return errors.New("Specified initialization vector (IV) does not match the block size for this algorithm.")
	}
	return nil
}

// crypt encrypts or decrypts in with alg's mode and padding (.NET's defaults
// are CBC and PKCS7).
func (alg *symmetricAlgorithm) crypt(e *env, in, key, iv []byte, encrypt bool) ([]byte, error) {
	if err := checkAESKey(key); err != nil {
		return nil, err
	}
	if alg.mode == modeCBC {
		if err := checkIV(iv); err != nil {
			return nil, err
		}
	}
	if err := e.grow(len(in) + aes.BlockSize); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	bs := aes.BlockSize
	var data []byte
	if encrypt {
		switch alg.padding {
		case padPKCS7:
			n := bs - len(in)%bs
			data = append(bytes.Clone(in), bytes.Repeat([]byte{byte(n)}, n)...)
		case padZeros:
			data = bytes.Clone(in)
			if r := len(in) % bs; r != 0 {
				data = append(data, make([]byte, bs-r)...)
			}
		default:
			data = bytes.Clone(in)
		}
		if len(data)%bs != 0 {
			return nil, errors.New("The input data is not a complete block.")
		}
	} else {
		if len(in)%bs != 0 {
			return nil, errors.New("The input data is not a complete block.")
		}
		data = bytes.Clone(in)
	}
	switch alg.mode {
	case modeCBC:
		if encrypt {
			cipher.NewCBCEncrypter(block, iv).CryptBlocks(data, data)
		} else {
			cipher.NewCBCDecrypter(block, iv).CryptBlocks(data, data)
		}
	default:
		for i := 0; i < len(data); i += bs {
			if encrypt {
				block.Encrypt(data[i:i+bs], data[i:i+bs])
			} else {
				block.Decrypt(data[i:i+bs], data[i:i+bs])
			}
		}
	}
	if !encrypt && alg.padding == padPKCS7 {
		n := 0
		if len(data) > 0 {
			n = int(data[len(data)-1])
		}
		if n == 0 || n > bs || n > len(data) || !bytes.Equal(data[len(data)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
			return nil, errors.New("Padding is invalid and cannot be removed.")
		}
		data = data[:len(data)-n]
	}
	return data, nil
}

// encryptMethod is APIM's byte[].Encrypt / Decrypt:
// (string alg, byte[] key, byte[] iv), (SymmetricAlgorithm alg) and
// (SymmetricAlgorithm alg, byte[] key, byte[] iv).
func encryptMethod(encrypt bool) *method {
	return mth(1, 3, tBytes, nil, func(e *env, _ *callInfo, r any, args []any) (any, error) {
		in := r.([]byte)
		var alg *symmetricAlgorithm
		var key, iv []byte
		switch a := args[0].(type) {
		case string:
			if len(args) != 3 {
				return nil, errors.New("an algorithm given by name needs a key and an IV: Encrypt(\"Aes\", key, iv)")
			}
			var err error
			if alg, err = symmetricByName(a); err != nil {
				return nil, err
			}
		case *symmetricAlgorithm:
			alg, key, iv = a, a.key, a.iv
		case nil:
			return nil, errArgNull("alg")
		default:
			return nil, fmt.Errorf("argument 'alg' must be an algorithm name or a SymmetricAlgorithm, not %s", typeNameOf(a))
		}
		if len(args) == 2 {
			return nil, errors.New("give both a key and an IV, or neither")
		}
		if len(args) == 3 {
			var err error
			if key, err = argBytes(args, 1, "key"); err != nil {
				return nil, err
			}
			if iv, err = argBytes(args, 2, "iv"); err != nil {
				return nil, err
			}
		}
		return alg.crypt(e, in, key, iv, encrypt)
	})
}

// fillBytes makes byte[] enumerable and writable, and adds the crypto types.
func fillBytes() {
	tBytes.elem = tInt
	tBytes.each = func(v any, f func(any) (bool, error)) error {
		for _, x := range v.([]byte) {
			if stop, err := f(int64(x)); stop || err != nil {
				return err
			}
		}
		return nil
	}
	tBytes.index.set = func(_ *env, r, k, v any) error {
		a, i := r.([]byte), k.(int64)
		if i < 0 || i >= int64(len(a)) {
			return errIndexRange
		}
		n, ok := v.(int64)
		if !ok || n < 0 || n > 255 {
			return fmt.Errorf("cannot store %s in a byte", toString(v))
		}
		a[i] = byte(n)
		return nil
	}
	addLinq(tBytes)
	tBytes.methods["Encrypt"] = encryptMethod(true)
	tBytes.methods["Decrypt"] = encryptMethod(false)

	bytesProp := func(get func(*symmetricAlgorithm) *[]byte, check func([]byte) error) *prop {
		return &prop{t: tBytes, get: func(_ *env, v any) (any, error) {
			return bytes.Clone(*get(v.(*symmetricAlgorithm))), nil
		}, set: func(_ *env, r, v any) error {
			b, ok := v.([]byte)
			if !ok {
				return errArgNull("value")
			}
			if err := check(b); err != nil {
				return err
			}
			*get(r.(*symmetricAlgorithm)) = bytes.Clone(b)
			return nil
		}}
	}
	tSymAlg.props = map[string]*prop{
		"Key": bytesProp(func(a *symmetricAlgorithm) *[]byte { return &a.key }, checkAESKey),
		"IV":  bytesProp(func(a *symmetricAlgorithm) *[]byte { return &a.iv }, checkIV),
		"Mode": {t: tCipherMode, get: func(_ *env, v any) (any, error) { return v.(*symmetricAlgorithm).mode, nil },
			set: func(_ *env, r, v any) error {
				m, ok := v.(cipherMode)
				if !ok {
					return errors.New("Specified cipher mode is not valid for this algorithm.")
				}
				r.(*symmetricAlgorithm).mode = m
				return nil
			}},
		"Padding": {t: tPadding, get: func(_ *env, v any) (any, error) { return v.(*symmetricAlgorithm).padding, nil },
			set: func(_ *env, r, v any) error {
				m, ok := v.(paddingMode)
				if !ok {
					return errors.New("Specified padding mode is not valid for this algorithm.")
				}
				r.(*symmetricAlgorithm).padding = m
				return nil
			}},
		"KeySize": {t: tInt, get: func(_ *env, v any) (any, error) { return int64(len(v.(*symmetricAlgorithm).key) * 8), nil },
			set: func(_ *env, r, v any) error {
				n, _ := v.(int64)
				if n != 128 && n != 192 && n != 256 {
					return errors.New("Specified key is not a valid size for this algorithm.")
				}
				r.(*symmetricAlgorithm).key = randomBytes(int(n / 8))
				return nil
			}},
		"BlockSize": constProp(tInt, int64(128)),
	}
	tSymAlg.methods = map[string]*method{
		"GenerateKey": mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			a := r.(*symmetricAlgorithm)
			a.key = randomBytes(max(len(a.key), 16))
			return nil, nil
		}),
		"GenerateIV": mth(0, 0, tVoid, nil, func(_ *env, _ *callInfo, r any, _ []any) (any, error) {
			r.(*symmetricAlgorithm).iv = randomBytes(aes.BlockSize)
			return nil, nil
		}),
		"Dispose": mth(0, 0, tVoid, nil, func(*env, *callInfo, any, []any) (any, error) { return nil, nil }),
		"Clear":   mth(0, 0, tVoid, nil, func(*env, *callInfo, any, []any) (any, error) { return nil, nil }),
	}
	newSym := func(name string) *method {
		return mth(0, 0, tSymAlg, nil, func(*env, *callInfo, any, []any) (any, error) { return newSymmetric(name), nil })
	}
	for _, name := range []string{"Aes", "Rijndael"} {
		c := staticClass(name)
		c.methods["Create"] = newSym(name)
		registerStatic(c)
	}
	for _, name := range []string{"AesManaged", "AesCryptoServiceProvider", "AesCng", "RijndaelManaged"} {
		constructors[name] = newSym(name)
		typeNames[name] = tSymAlg
	}
	typeNames["Aes"], typeNames["Rijndael"], typeNames["SymmetricAlgorithm"] = tSymAlg, tSymAlg, tSymAlg
	cm := staticClass("CipherMode")
	cm.props["CBC"] = constProp(tCipherMode, modeCBC)
	cm.props["ECB"] = constProp(tCipherMode, modeECB)
	pm := staticClass("PaddingMode")
	pm.props["None"] = constProp(tPadding, padNone)
	pm.props["PKCS7"] = constProp(tPadding, padPKCS7)
	pm.props["Zeros"] = constProp(tPadding, padZeros)
	registerStatic(cm, pm)

	// Hash algorithms.
	computeHash := mth(1, 3, tBytes, ts(tBytes, tInt, tInt), func(e *env, _ *callInfo, r any, args []any) (any, error) {
		b, err := argBytes(args, 0, "buffer")
		if err != nil {
			return nil, err
		}
		if len(args) == 3 {
			off, err := argInt(args, 1, "offset")
			if err != nil {
				return nil, err
			}
			count, err := argInt(args, 2, "count")
			if err != nil {
				return nil, err
			}
			if off < 0 || count < 0 || off+count > int64(len(b)) {
				return nil, errors.New("Offset and length were out of bounds for the array or count is greater than the number of elements from index to the end of the source collection.")
			}
			b = b[off : off+count]
		} else if len(args) == 2 {
			return nil, errors.New("no overload for method 'ComputeHash' takes 2 arguments")
		}
		return r.(*hashAlgorithm).sum(b), nil
	})
	tHashAlg.props = map[string]*prop{
		"HashSize": pr(tInt, func(v any) any { return int64(v.(*hashAlgorithm).size) }),
		"Key": {t: tBytes, get: func(_ *env, v any) (any, error) {
			h := v.(*hashAlgorithm)
			if !h.hmac {
				return nil, fmt.Errorf("'%s' does not have a key", h.name)
			}
			return bytes.Clone(h.key), nil
		}, set: func(_ *env, r, v any) error {
			h := r.(*hashAlgorithm)
			b, ok := v.([]byte)
			if !h.hmac || !ok {
				return fmt.Errorf("'%s' takes a byte[] key only when it is an HMAC", h.name)
			}
			h.key = bytes.Clone(b)
			return nil
		}},
	}
	tHashAlg.methods = map[string]*method{
		"ComputeHash": computeHash,
		"Dispose":     mth(0, 0, tVoid, nil, func(*env, *callInfo, any, []any) (any, error) { return nil, nil }),
		"Clear":       mth(0, 0, tVoid, nil, func(*env, *callInfo, any, []any) (any, error) { return nil, nil }),
	}
	typeNames["HashAlgorithm"], typeNames["KeyedHashAlgorithm"], typeNames["HMAC"] = tHashAlg, tHashAlg, tHashAlg
	for name, h := range hashAlgorithms {
		c := staticClass(name)
		c.methods["Create"] = mth(0, 0, tHashAlg, nil, func(*env, *callInfo, any, []any) (any, error) {
			return &hashAlgorithm{name: name, size: h.size, newH: h.newH}, nil
		})
		c.methods["HashData"] = mth(1, 1, tBytes, ts(tBytes), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			b, err := argBytes(args, 0, "source")
			if err != nil {
				return nil, err
			}
			return (&hashAlgorithm{newH: h.newH}).sum(b), nil
		})
		registerStatic(c)
		typeNames[name] = tHashAlg
		for _, suffix := range []string{"Managed", "CryptoServiceProvider", "Cng"} {
			constructors[name+suffix] = c.methods["Create"]
			typeNames[name+suffix] = tHashAlg
		}
		hname := "HMAC" + name
		constructors[hname] = mth(0, 1, tHashAlg, ts(tBytes), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			key := randomBytes(64)
			if len(args) == 1 {
				b, err := argBytes(args, 0, "key")
				if err != nil {
					return nil, err
				}
				key = bytes.Clone(b)
			}
			return &hashAlgorithm{name: hname, size: h.size, newH: h.newH, hmac: true, key: key}, nil
		})
		typeNames[hname] = tHashAlg
		hc := staticClass(hname)
		hc.methods["HashData"] = mth(2, 2, tBytes, ts(tBytes, tBytes), func(_ *env, _ *callInfo, _ any, args []any) (any, error) {
			key, err := argBytes(args, 0, "key")
			if err != nil {
				return nil, err
			}
			b, err := argBytes(args, 1, "source")
			if err != nil {
				return nil, err
			}
			return (&hashAlgorithm{newH: h.newH, hmac: true, key: key}).sum(b), nil
		})
		registerStatic(hc)
	}

	// BitConverter and hex strings.
	bc := staticClass("BitConverter")
	bc.methods["ToString"] = mth(1, 1, tString, ts(tBytes), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		b, err := argBytes(args, 0, "value")
		if err != nil {
			return nil, err
		}
		if err := e.grow(len(b) * 3); err != nil {
			return nil, err
		}
		var sb strings.Builder
		for i, x := range b {
			if i > 0 {
				sb.WriteByte('-')
			}
			fmt.Fprintf(&sb, "%02X", x)
		}
		return sb.String(), nil
	})
	registerStatic(bc)
	conv := staticClasses["Convert"]
	conv.methods["ToHexString"] = mth(1, 1, tString, ts(tBytes), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		b, err := argBytes(args, 0, "inArray")
		if err != nil {
			return nil, err
		}
		if err := e.grow(len(b) * 2); err != nil {
			return nil, err
		}
		return strings.ToUpper(hex.EncodeToString(b)), nil
	})
	conv.methods["FromHexString"] = mth(1, 1, tBytes, ts(tString), func(e *env, _ *callInfo, _ any, args []any) (any, error) {
		s, err := argStr(args, 0, "s")
		if err != nil {
			return nil, err
		}
		if len(s)%2 != 0 {
			return nil, errors.New("The input is not a valid hex string as its length is not a multiple of 2.")
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, errors.New("The input is not a valid hex string as it contains a non-hex character.")
		}
		return b, e.grow(len(b))
	})

	for _, t := range []*typ{tHashAlg, tSymAlg, tCipherMode, tPadding} {
		addObjectMethods(t)
	}
}

// newBytes compiles new byte[n] and new byte[] { ... }.
func (c *compiler) newBytes(n *newNode) cexpr {
	p := n.p
	if n.size != nil {
		return c.newSized(n, tBytes)
	}
	fns := make([]evalFn, len(n.elems))
	for i, el := range n.elems {
		x := c.value(el)
		if !assignable(x.t, tInt) {
			c.errf(el.position(), "cannot convert '%s' to 'byte'", x.t.name)
		}
		fns[i] = x.fn
	}
	return cexpr{fn: func(e *env) (any, error) {
		if err := e.grow(len(fns)); err != nil {
			return nil, at(p, err)
		}
		out := make([]byte, len(fns))
		for i, f := range fns {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			b, ok := v.(int64)
			if !ok || b < 0 || b > 255 {
				return nil, &RuntimeError{Offset: p, Msg: fmt.Sprintf("cannot convert %s to a byte", toString(v))}
			}
			out[i] = byte(b)
		}
		return out, nil
	}, t: tBytes}
}

// newSized compiles new T[n] for byte, string and object arrays.
func (c *compiler) newSized(n *newNode, t *typ) cexpr {
	if len(n.elems) > 0 {
		c.errf(n.p, "an array with a size cannot have an initializer")
	}
	size := c.value(n.size)
	if !assignable(size.t, tInt) || size.t == tDouble {
		c.errf(n.size.position(), "the size of an array must be an int, not '%s'", size.t.name)
	}
	p, sf := n.p, size.fn
	return cexpr{fn: func(e *env) (any, error) {
		v, err := sf(e)
		if err != nil {
			return nil, err
		}
		k, ok := v.(int64)
		if !ok || k < 0 {
			return nil, &RuntimeError{Offset: p, Msg: "Arithmetic operation resulted in an overflow."}
		}
		if err := e.grow(int(min(k, MaxStringLen+1))); err != nil {
			return nil, at(p, err)
		}
		switch t {
		case tBytes:
			return make([]byte, k), nil
		case tStrArr:
			return make([]string, k), nil
		}
		return make([]any, k), nil
	}, t: t}
}
