package expression

import (
	"strings"
	"testing"
)

func TestCultureArguments(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(String.Format(CultureInfo.InvariantCulture, "{0}-{1:D2}", "a", 7))`, "a-07"},
		{`@(DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture))`, "2026-11-21T12:00:00.0000000Z"},
		{`@(double.Parse("1.5", System.Globalization.CultureInfo.InvariantCulture))`, 1.5},
		{`@(DateTime.Parse("2020-01-02T03:04:05Z", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal).Day)`, int64(2)},
		{`@((12.5).ToString("F1", new CultureInfo("en-US")))`, "12.5"},
		{`@(int.Parse("42", NumberStyles.Integer, CultureInfo.InvariantCulture))`, int64(42)},
		{`@(CultureInfo.GetCultureInfo("de-DE").Name)`, "de-DE"},
		// The shared access signature example of Azure's documentation.
		{`@{
			var resourceUri = Uri.EscapeDataString("https://ns.servicebus.windows.net/q");
			string sasToken;
			var expiry = Convert.ToString(1800000000);
			string stringToSign = resourceUri + "\n" + expiry;
			using (var hmac = new HMACSHA256(Encoding.UTF8.GetBytes("key")))
			{
				var signature = Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes(stringToSign)));
				sasToken = String.Format(CultureInfo.InvariantCulture, "SharedAccessSignature sr={0}&sig={1}&se={2}&skn={3}", resourceUri, Uri.EscapeDataString(signature), expiry, "Root");
			}
			return sasToken;
		}`, "SharedAccessSignature sr=https%3A%2F%2Fns.servicebus.windows.net%2Fq&sig=JetTt11lTkDLE3PX59tr5qgo6WGQzJDVIpboKT2SI7E%3D&se=1800000000&skn=Root"}, // checked with Python's hmac

	})
	for _, c := range [][2]string{
		{`@(String.Format(CultureInfo.Nope, "x"))`, "'CultureInfo' does not contain a definition for 'Nope'"},
		{`@(double.Parse("1", CultureInfo.InvariantCulture.Name))`, "'string' is not a culture or a styles value"},
	} {
		if _, err := Compile(c[0]); err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Compile(%s) = %v, want %q", c[0], err, c[1])
		}
	}
}
