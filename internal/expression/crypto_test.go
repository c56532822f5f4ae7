package expression

import (
	"strings"
	"testing"
)

// runErrCases checks that each expression compiles and fails at run time
// with a message containing msg.
func runErrCases(t *testing.T, cases [][2]string) {
	t.Helper()
	for _, c := range cases {
		p, err := Compile(c[0])
		if err != nil {
			t.Errorf("Compile(%s): %v", c[0], err)
			continue
		}
		_, err = p.Eval(testContext())
		if err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Eval(%s) error = %v, want %q", c[0], err, c[1])
		}
	}
}

// Known answers: FIPS 180 / RFC 1321 test vectors, RFC 4231-style HMAC of the
// "quick brown fox", NIST SP 800-38A F.2.1 for AES-128-CBC.
func TestHashesAndHMAC(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(BitConverter.ToString(SHA256.Create().ComputeHash(Encoding.UTF8.GetBytes("abc"))).Replace("-", "").ToLower())`,
			"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{`@(Convert.ToBase64String(SHA256.Create().ComputeHash(Encoding.UTF8.GetBytes("abc"))))`, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="},
		{`@(Convert.ToHexString(MD5.Create().ComputeHash(Encoding.UTF8.GetBytes(""))))`, "D41D8CD98F00B204E9800998ECF8427E"},
		{`@(Convert.ToHexString(SHA1.Create().ComputeHash(Encoding.ASCII.GetBytes("abc"))))`, "A9993E364706816ABA3E25717850C26C9CD0D89D"},
		{`@(Convert.ToHexString(new SHA512Managed().ComputeHash(Encoding.UTF8.GetBytes("abc"))).Substring(0, 16))`, "DDAF35A193617ABA"},
		{`@(Convert.ToHexString(System.Security.Cryptography.SHA384.Create().ComputeHash(Encoding.UTF8.GetBytes("abc"))).Substring(0, 16))`, "CB00753F45A35E8B"},
		{`@(Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes("abc"))).Substring(0, 8))`, "BA7816BF"},
		{`@(SHA256.Create().HashSize)`, int64(256)},
		{`@(Convert.ToHexString(new HMACSHA256(Encoding.UTF8.GetBytes("key")).ComputeHash(Encoding.UTF8.GetBytes("The quick brown fox jumps over the lazy dog"))).ToLower())`,
			"f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"},
		{`@(Convert.ToHexString(new HMACMD5(Encoding.UTF8.GetBytes("key")).ComputeHash(Encoding.UTF8.GetBytes("The quick brown fox jumps over the lazy dog"))).ToLower())`,
			"80070713463e7749b90c2dc24911e275"},
		{`@(Convert.ToHexString(new HMACSHA1(Encoding.UTF8.GetBytes("key")).ComputeHash(Encoding.UTF8.GetBytes("The quick brown fox jumps over the lazy dog"))).ToLower())`,
			"de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"},
		{`@(Convert.ToHexString(HMACSHA256.HashData(Encoding.UTF8.GetBytes("key"), Encoding.UTF8.GetBytes("The quick brown fox jumps over the lazy dog"))).Substring(0, 8))`, "F7BC83F4"},
		{`@{
			var h = new HMACSHA256();
			h.Key = Encoding.UTF8.GetBytes("key");
			return Convert.ToHexString(h.ComputeHash(Encoding.UTF8.GetBytes("xThe quick brown fox jumps over the lazy dog"), 1, 43)).Substring(0, 8);
		}`, "F7BC83F4"},
		// The shared-access-signature example of APIM's documentation shape.
		{`@{
			using (var hmac = new HMACSHA256(Convert.FromBase64String("a2V5")))
			{
				var sig = Convert.ToBase64String(hmac.ComputeHash(Encoding.UTF8.GetBytes("The quick brown fox jumps over the lazy dog")));
				return Uri.EscapeDataString(sig);
			}
		}`, "97yD9DBThCSxMpjmqm%2BxQ%2B9NWaFJRhdZl0edvC0aPNg%3D"},
	})
}

func TestBytesAndEncodings(t *testing.T) {
	runEvalCases(t, testContext(), []evalCase{
		{`@(BitConverter.ToString(new byte[] {1, 0xAB, 255}))`, "01-AB-FF"},
		{`@(new byte[16].Length)`, int64(16)},
		{`@{ var b = new byte[2]; b[1] = 7; return b[1] + b[0]; }`, int64(7)},
		{`@(new byte[] {104, 105}.Select(b => b.ToString("x2")).ToArray().Length)`, int64(2)},
		{`@(String.Concat(new byte[] {1, 171}.Select(b => b.ToString("x2"))))`, "01ab"},
		{`@(new string[3].Length)`, int64(3)},
		{`@(BitConverter.ToString(Encoding.Unicode.GetBytes("Aé")))`, "41-00-E9-00"},
		{`@(BitConverter.ToString(Encoding.BigEndianUnicode.GetBytes("A")))`, "00-41"},
		{`@(Encoding.Unicode.GetString(Encoding.Unicode.GetBytes("h€llo😀")))`, "h€llo😀"},
		{`@(Encoding.ASCII.GetString(Encoding.ASCII.GetBytes("héllo")))`, "h?llo"},
		{`@(Encoding.UTF8.GetByteCount("é"))`, int64(2)},
		{`@(Encoding.UTF8.GetString(Convert.FromHexString("68656C6C6F")))`, "hello"},
		{`@(Convert.ToBase64String(Convert.FromBase64String("AAECAwQ=")))`, "AAECAwQ="},
		{`@(System.Text.Encoding.Unicode.GetBytes("ab").Length)`, int64(4)},
	})
	runErrCases(t, [][2]string{
		{`@(Convert.FromHexString("abc"))`, "not a multiple of 2"},
		{`@(Convert.FromHexString("zz"))`, "non-hex character"},
		{`@(new byte[-1])`, "overflow"},
		{`@(new byte[2000000])`, "larger than allowed"},
		{`@{ var b = new byte[1]; b[0] = 256; return b; }`, "cannot store 256 in a byte"},
	})
}

func TestEncryptDecrypt(t *testing.T) {
	const key = `Convert.FromHexString("2B7E151628AED2A6ABF7158809CF4F3C")`
	const iv = `Convert.FromHexString("000102030405060708090A0B0C0D0E0F")`
	const pt = `Convert.FromHexString("6BC1BEE22E409F96E93D7E117393172A")`
	runEvalCases(t, testContext(), []evalCase{
		// NIST SP 800-38A F.2.1: the first block; PKCS7 adds one block of padding.
		{`@(Convert.ToHexString(` + pt + `.Encrypt("Aes", ` + key + `, ` + iv + `)).Substring(0, 32))`, "7649ABAC8119B246CEE98E9B12E9197D"},
		{`@(` + pt + `.Encrypt("Rijndael", ` + key + `, ` + iv + `).Length)`, int64(32)},
		{`@{
			var aes = new RijndaelManaged();
			aes.Key = ` + key + `;
			aes.IV = ` + iv + `;
			aes.Padding = PaddingMode.None;
			return Convert.ToHexString(` + pt + `.Encrypt(aes));
		}`, "7649ABAC8119B246CEE98E9B12E9197D"},
		{`@{
			var aes = Aes.Create();
			aes.Mode = CipherMode.ECB;
			aes.Padding = PaddingMode.None;
			return Convert.ToHexString(` + pt + `.Encrypt(aes, ` + key + `, ` + iv + `));
		}`, "3AD77BB40D7A3660A89ECAF32466EF97"}, // SP 800-38A F.1.1
		{`@(Encoding.UTF8.GetString(Encoding.UTF8.GetBytes("secret text").Encrypt("Aes", ` + key + `, ` + iv + `).Decrypt("Aes", ` + key + `, ` + iv + `)))`, "secret text"},
		{`@{
			var aes = Aes.Create();
			var c = Encoding.UTF8.GetBytes("round trip with a generated key").Encrypt(aes);
			return Encoding.UTF8.GetString(c.Decrypt(aes)) + aes.Key.Length + aes.IV.Length + aes.KeySize;
		}`, "round trip with a generated key3216256"},
	})
	runErrCases(t, [][2]string{
		{`@(new byte[3].Encrypt("DES", new byte[8], new byte[8]))`, "'DES' is not supported"},
		{`@(new byte[3].Encrypt("Aes", new byte[5], new byte[16]))`, "Specified key is not a valid size"},
		{`@(new byte[3].Encrypt("Aes", new byte[16], new byte[5]))`, "initialization vector"},
		{`@(new byte[3].Decrypt("Aes", new byte[16], new byte[16]))`, "not a complete block"},
		{`@(new byte[16].Decrypt("Aes", new byte[16], new byte[16]))`, "Padding is invalid"},
		{`@(new byte[3].Encrypt("Aes"))`, "needs a key and an IV"},
		{`@{ var a = Aes.Create(); a.Key = new byte[3]; return 1; }`, "Specified key is not a valid size"},
	})
}

// Unknown members of the new types fail at compile time, naming the member.
func TestNewTypesCompileErrors(t *testing.T) {
	for _, c := range [][2]string{
		{`@(SHA256.Create().ComputeHashh(new byte[0]))`, "'HashAlgorithm' does not contain a method 'ComputeHashh'"},
		{`@(SHA256.Creat())`, "'SHA256' does not contain a method 'Creat'"},
		{`@(new Uri("https://x").Hostt)`, "'Uri' does not contain a definition for 'Hostt'"},
		{`@(new Random().NextInt())`, "'Random' does not contain a method 'NextInt'"},
		{`@(DateTimeOffset.UtcNow.ToUnixTimeSecond())`, "does not contain a method 'ToUnixTimeSecond'"},
		{`@(XDocument.Parse("<a/>").Rooot)`, "'XDocument' does not contain a definition for 'Rooot'"},
		{`@(Regex.Match("a", "a").Groups["x"].Valu)`, "'Group' does not contain a definition for 'Valu'"},
		{`@(context.Request.Body.AsFormUrlEncodedContents())`, "'IMessageBody' does not contain a method 'AsFormUrlEncodedContents'"},
		{`@(new byte[2].Encryptt("Aes", new byte[16], new byte[16]))`, "'byte[]' does not contain a method 'Encryptt'"},
		{`@(new TripleDES())`, "'new TripleDES' is not supported"},
		{`@{ var a = Aes.Create(); a.BlockSize = 64; return 1; }`, "the property 'BlockSize' is read-only"},
		{`@{ var a = Aes.Create(); a.Key = "text"; return 1; }`, "cannot implicitly convert type 'string' to 'byte[]'"},
		{`@(new byte[] {"a"})`, "cannot convert 'string' to 'byte'"},
		{`@(new byte[1.5])`, "the size of an array must be an int"},
		{`@{ using (var x = 1 return 1; }`, "expected ')'"},
	} {
		_, err := Compile(c[0])
		if err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("Compile(%s) = %v, want %q", c[0], err, c[1])
		}
	}
}
