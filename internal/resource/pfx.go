package resource

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// maxPFXIterations bounds the key-derivation rounds a PFX may ask for.
// Decoding costs time in proportion, and the count is the file's to
// choose: a million SHA-1 rounds is under a second, and exporters use
// 2,048 to 600,000.
const maxPFXIterations = 1_000_000

// DecodePFX opens a PKCS#12 (PFX) file with its password, as APIM's
// certificates and authentication-certificate body take them: the leaf
// certificate, its private key and the other certificates in the file.
func DecodePFX(der []byte, password string) (key any, leaf *x509.Certificate, chain []*x509.Certificate, err error) {
	if len(der) > MaxCertificateBytes {
		return nil, nil, nil, fmt.Errorf("is a PFX of %d bytes; at most %d are accepted", len(der), MaxCertificateBytes)
	}
	if err := checkPFXWork(der, 0); err != nil {
		return nil, nil, nil, err
	}
	key, leaf, chain, err = pkcs12.DecodeChain(der, password)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("is not a PFX (PKCS#12) file that opens with the password: %s", strings.TrimPrefix(err.Error(), "pkcs12: "))
	}
	return key, leaf, chain, nil
}

// checkPFXWork refuses a PFX whose visible key-derivation parameters (the
// MAC's and the outer encryption's) ask for more than maxPFXIterations
// rounds. They sit in SEQUENCEs of a salt (OCTET STRING) then a count
// (INTEGER) — PKCS#12 PBE and PBKDF2 parameters — or of a digest, a salt
// and a count (the MAC data); OCTET STRINGs holding DER are looked into.
func checkPFXWork(der []byte, depth int) error {
	if depth > 16 {
		return nil
	}
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil {
		return nil // not DER: the decoder says why
	}
	for {
		if err := checkPFXValue(v, depth); err != nil {
			return err
		}
		if len(rest) == 0 {
			return nil
		}
		if rest, err = asn1.Unmarshal(rest, &v); err != nil {
			return nil
		}
	}
}

func checkPFXValue(v asn1.RawValue, depth int) error {
	switch {
	case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString && !v.IsCompound:
		return checkPFXWork(v.Bytes, depth+1)
	case !v.IsCompound:
		return nil
	}
	var kids []asn1.RawValue
	for rest := v.Bytes; len(rest) > 0; {
		var k asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &k); err != nil {
			return nil
		}
		kids = append(kids, k)
	}
	if v.Class == asn1.ClassUniversal && v.Tag == asn1.TagSequence {
		count := -1
		switch {
		case len(kids) >= 2 && isTag(kids[0], asn1.TagOctetString) && isTag(kids[1], asn1.TagInteger):
			count = 1
		case len(kids) == 3 && isTag(kids[0], asn1.TagSequence) && isTag(kids[1], asn1.TagOctetString) && isTag(kids[2], asn1.TagInteger):
			count = 2
		}
		if count >= 0 {
			n := new(big.Int).SetBytes(kids[count].Bytes)
			if n.Cmp(big.NewInt(maxPFXIterations)) > 0 {
				return fmt.Errorf("is a PFX that asks for %s key-derivation rounds; at most %d are accepted", n, maxPFXIterations)
			}
		}
	}
	for _, k := range kids {
		if err := checkPFXValue(k, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func isTag(v asn1.RawValue, tag int) bool {
	return v.Class == asn1.ClassUniversal && v.Tag == tag
}

// PFXFromBase64 reads a PFX written as base64 text, line breaks allowed
// (as Key Vault secrets and APIM's certificate data hold them).
func PFXFromBase64(text string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
}

// pfxToPEM turns a base64 PFX into a PEM certificate and a PEM PKCS#8
// private key.
func pfxToPEM(data, password string) (cert, key string, err error) {
	der, err := PFXFromBase64(data)
	if err != nil {
		return "", "", errors.New("is neither PEM (-----BEGIN CERTIFICATE-----) nor a base64 PFX")
	}
	k, leaf, _, err := DecodePFX(der, password)
	if err != nil {
		return "", "", err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", "", fmt.Errorf("is a PFX whose private key cannot be kept: %v", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})), nil
}
