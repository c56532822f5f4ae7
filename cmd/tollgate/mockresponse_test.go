package main

import (
	"strings"
	"testing"
	"time"
)

// TestMockResponseExamples: mock-response answers with the example the
// operation's contract holds for the status and content type, as APIM's
// does, through the management API and the gateway.
func TestMockResponseExamples(t *testing.T) {
	srv, _ := testServer(t, t.TempDir())
	mg, gw := srv.urls["management"], srv.urls["gateway"]
	if st, _, body := call(t, "PUT", mg+"/apis/mocked", `{"displayName": "Mocked", "path": "mocked", "subscriptionRequired": false}`, srv.admin()...); st != 201 {
		t.Fatalf("PUT api: %d %s", st, body)
	}
	op := `{"displayName": "Get pet", "method": "GET", "urlTemplate": "/pets/{id}",
		"templateParameters": [{"name": "id", "type": "string", "required": true}],
		"responses": [
			{"statusCode": 200, "representations": [
				{"contentType": "application/json", "examples": {"other": {"name": "Rex"}, "default": {"name": "Fido", "id": 1}}},
				{"contentType": "application/xml", "examples": {"default": "<pet><name>Fido</name></pet>"}}]},
			{"statusCode": 404, "representations": [{"contentType": "application/problem+json", "examples": {"default": {"title": "no such pet"}}}]}]}`
	if st, _, body := call(t, "PUT", mg+"/apis/mocked/operations/get-pet", op, srv.admin()...); st != 201 {
		t.Fatalf("PUT operation: %d %s", st, body)
	}
	for _, tc := range []struct {
		policy, ctype, body string
		status              int
	}{
		{`<mock-response status-code="200" content-type="application/json" />`, "application/json", `{"name":"Fido","id":1}`, 200},
		{`<mock-response status-code="200" content-type="application/json" index="1" />`, "application/json", `{"name":"Rex"}`, 200},
		{`<mock-response status-code="200" content-type="application/xml" />`, "application/xml", `<pet><name>Fido</name></pet>`, 200},
		{`<mock-response status-code="404" />`, "application/problem+json", `{"title":"no such pet"}`, 404},
		{`<mock-response status-code="500" />`, "application/json", ``, 500},
	} {
		if st, body := putPolicy(t, srv, "/apis/mocked/operations/get-pet/policies/policy",
			`<policies><inbound><base />`+tc.policy+`</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`); st != 200 && st != 201 {
			t.Fatalf("PUT policy: %d %s", st, body)
		}
		var st int
		var h map[string][]string
		var body []byte
		for range 50 {
			st, h, body = call(t, "GET", gw+"/mocked/pets/7", "")
			if st == tc.status && strings.Join(h["Content-Type"], "") == tc.ctype && string(body) == tc.body {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if st != tc.status || strings.Join(h["Content-Type"], "") != tc.ctype || string(body) != tc.body {
			t.Errorf("%s: %d %v %q", tc.policy, st, h["Content-Type"], body)
		}
	}
}
