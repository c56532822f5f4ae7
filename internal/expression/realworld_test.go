package expression

import (
	"testing"
)

// Constructs that APIM policy documents found in the wild use.

func TestUnicodeWhitespace(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{"@{\u00a0var\u00a0n = 2;\u2003return\tn\f*\v3;\u2028}", int64(6)},
		{"\u00a0@(\u3000\"a\"\u202f+ \"b\")\u00a0", "ab"},
	})
	if _, err := Compile("@(1 \u200b+ 1)"); err == nil {
		t.Error("a zero-width space (Cf, not Zs) compiled as white space")
	}
}
