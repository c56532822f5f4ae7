package policy

import (
	"net/http"
	"testing"
	"time"
)

// FuzzBodyConversions feeds bodies (network input) to the converters of
// json-to-xml, xml-to-json and liquid templates, and cache entries (read
// back from Redis) to their decoders: errors are fine, panics are not.
func FuzzBodyConversions(f *testing.F) {
	for _, s := range []string{
		`{"soapenv:Envelope":{"xmlns:soapenv":"http://schemas.xmlsoap.org/soap/envelope/","soapenv:Header":{},"soapenv:Body":{"q":{"#attrs":{"n":"t"},"i":[1,2,null,true]}}}}`,
		`[1,{"a":[]},"x"]`,
		`<?xml version="1.0"?><r a="1" xmlns:x="urn:x"><x:i>a</x:i><i>b</i>text<n/></r>`,
		`<a><b>`,
		string(encodeCachedResponse(200, http.Header{"A": {"b"}}, []byte("body"), time.Unix(1, 0))),
		string(encodeCachedValue(int64(3))),
	} {
		f.Add([]byte(s))
	}
	j := &jsonToXML{nsSeparator: ":", nsPrefix: "xmlns", attributeName: "#attrs"}
	direct, friendly := &xmlToJSON{direct: true}, &xmlToJSON{alwaysArray: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = j.convert(b)
		_, _ = direct.convert(b)
		_, _ = friendly.convert(b)
		_ = liquidBodyValue(b)
		if r, ok := decodeCachedResponse(b); ok && (r.status < 100 || r.header == nil) {
			t.Fatalf("decoded a bad response %+v", r)
		}
		_, _ = decodeCachedValue(b)
	})
}
