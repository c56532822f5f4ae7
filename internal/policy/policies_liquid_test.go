package policy_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestSetBodyLiquid(t *testing.T) {
	// The set-body reference page's examples: JSON to SOAP, and JSON to JSON.
	soap := `<set-body template="liquid">
    <soap:Envelope xmlns="http://tempuri.org/" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
        <soap:Body>
            <GetOpenOrders>
                <cust>{{body.getOpenOrders.cust}}</cust>
            </GetOpenOrders>
        </soap:Body>
    </soap:Envelope>
</set-body>`
	e := newEnv(t, apiDocs(doc(soap, "", "", "")))
	r := e.do(http.MethodPost, "/echo/x", http.Header{"Content-Type": {"application/json"}}, `{"getOpenOrders":{"cust":"Contoso &amp; <Co>"}}`)
	var got echoed
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if !strings.Contains(got.Body, "<soap:Body>") || !strings.Contains(got.Body, "<cust>Contoso &amp; <Co></cust>") {
		t.Errorf("soap: %q", got.Body)
	}

	jsonTmpl := `<set-body template="liquid">
{
"order": {
    "id": "{{body.customer.purchase.identifier}}",
    "summary": "{{body.customer.purchase.orderShortDesc}}"
    }
}
</set-body>`
	e = newEnv(t, apiDocs(doc("", "", `<set-variable name="v" value="seven" />`+jsonTmpl, "")))
	e2 := newEnv(t, apiDocs(doc(jsonTmpl, "", "", "")))
	r = e2.do(http.MethodPost, "/echo/x", nil, `{"customer":{"purchase":{"identifier":"1","orderShortDesc":"two"}}}`)
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	var order struct{ Order struct{ ID, Summary string } }
	if err := json.Unmarshal([]byte(got.Body), &order); err != nil || order.Order.ID != "1" || order.Order.Summary != "two" {
		t.Errorf("json: %q %v", got.Body, err)
	}

	// The context model, filters and control flow, on the response.
	e = newEnv(t, apiDocs(doc(`<set-variable name="v" value="seven" />`, "", `<set-body template="liquid"><![CDATA[{% if context.Response.StatusCode == 200 %}ok{% endif %} {{context.Request.Method | downcase}} {{context.Request.Headers["X-Id"]}} {{context.Variables["v"]}} {{context.Api.Id}}/{{context.Operation.Id}} {{context.Request.MatchedParameters["id"]}} {{body.method}} {% for h in body.header.X-Id %}[{{h}}]{% endfor %}]]></set-body>`, "")))
	r = e.get("/echo/items/42", "X-Id", "abc")
	if r.body != "ok get abc seven echo/get-item 42 GET [abc]" {
		t.Errorf("context: %q", r.body)
	}
}

func TestSetBodyLiquidChecks(t *testing.T) {
	c := newCompiler()
	for _, tc := range []struct{ body, want string }{
		{`{% include 'secrets' %}`, "liquid tag 'include' is not supported"},
		{`{% render 'x' %}`, "liquid tag 'render' is not supported"},
		{`{% if x %}unclosed`, "bad liquid template"},
	} {
		ps := c.CheckOffline(doc(`<set-body template="liquid">`+tc.body+`</set-body>`, "", "", ""), nil)
		if len(ps) == 0 || !strings.Contains(ps[0].Message, tc.want) {
			t.Errorf("%s: %v, want %q", tc.body, ps, tc.want)
		}
	}
}

// A liquid output tag looks like a named value: it is left to the template
// when no named value has that name, and substituted when one does.
func TestSetBodyLiquidNamedValues(t *testing.T) {
	kr := testKeyring(t)
	e := newEnv(t, apiDocs(doc(`<set-body template="liquid">{{greeting}} {{body.name}}</set-body>`, "", "", "")),
		namedValue(t, kr, "greeting", "hello", false))
	r := e.do(http.MethodPost, "/echo/x", nil, `{"name":"ann"}`)
	var got echoed
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got.Body != "hello ann" {
		t.Errorf("got %q", got.Body)
	}
}

// APIM's templates name filters in PascalCase (DotLiquid) and use its
// JsonEscape and XmlEscape.
func TestSetBodyLiquidAPIMFilters(t *testing.T) {
	e := newEnv(t, apiDocs(doc("", "", `<set-body template="liquid"><![CDATA[{{ body.method | Downcase }} {{ "a-b-a" | RemoveFirst: "a" }} {{ body.missing | Default: "none" }} {"q": "{{ 'say "hi"' | JsonEscape }}"} {{ "<&>" | XmlEscape }} | Upcase]]></set-body>`, "")))
	r := e.get("/echo/x")
	if want := `get -b-a none {"q": "say \"hi\""} &lt;&amp;&gt; | Upcase`; r.body != want {
		t.Errorf("got  %q\nwant %q", r.body, want)
	}
}
