package policy

import "testing"

// FuzzLLMBodies reads arbitrary backend answers and request bodies the way
// the LLM policies do: usage counts are never negative, and nothing
// panics.
func FuzzLLMBodies(f *testing.F) {
	for _, s := range []string{
		`{"usage":{"prompt_tokens":30,"completion_tokens":20,"total_tokens":50}}`,
		"data: {\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}\n\ndata: [DONE]\n\n",
		`{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"prompt":"x","input":["a","b"]}`,
		`"prompt_tokens": -5`, `"total_tokens":99999999999999999999999`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		u := scanUsage(b)
		if u.prompt < 0 || u.completion < 0 || u.totalOnly < 0 {
			t.Fatalf("negative usage %+v from %q", u, b)
		}
		if n := estimatePromptTokens(b); n < 0 {
			t.Fatalf("negative estimate %d", n)
		}
	})
}
