package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/store/storetest"
)

// The start banner names the database without its credentials.
func TestBannerHidesDatabasePassword(t *testing.T) {
	dsn, _ := storetest.PostgresDSN(t)
	// The test server trusts local connections, so the passwords are
	// accepted and ignored.
	dsn = strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:s3cret-userinfo@", 1) + "&password=s3cret-param&sslpassword=s3cret-ssl"
	_, out := testServer(t, t.TempDir(), "--database", dsn)
	banner := out.String()
	if strings.Contains(banner, "s3cret") {
		t.Fatalf("the banner shows a database password:\n%s", banner)
	}
	if !strings.Contains(banner, "password=xxxxx") || !strings.Contains(banner, "sslpassword=xxxxx") || !strings.Contains(banner, "search_path=") {
		t.Errorf("the banner does not name the database (masked):\n%s", banner)
	}
}

// Start errors about the database or Redis do not print their passwords.
func TestStartErrorsHidePasswords(t *testing.T) {
	for _, db := range []string{
		// Refused by the driver's parser, which quotes parameters.
		"postgres://tg:s3cret-userinfo@127.0.0.1:1/t?password=s3cret-param&sslmode=bogus",
		"postgres://tg@127.0.0.1:1/t?sslpassword=s3cret-ssl&connect_timeout=bogus",
		// Parsed, then the connection fails.
		"postgres://tg:s3cret-userinfo@127.0.0.1:1/t?password=s3cret-param&sslmode=disable&connect_timeout=2",
	} {
		cfg, err := loadServeConfig([]string{"--data-dir", t.TempDir(), "--gateway-addr", "127.0.0.1:0", "--management-addr", "", "--identity-addr", "", "--portal-addr", "", "--database", db}, func(string) string { return "" })
		if err != nil {
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("config error shows a password: %v", err)
			}
			continue
		}
		_, err = startServer(context.Background(), cfg, io.Discard)
		if err == nil {
			t.Fatalf("start on %s succeeded", db)
		}
		if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("start error: %v", err)
		}
	}
	_, err := loadServeConfig([]string{"--redis", "redis://:s3cret-redis@cache:notaport/0"}, func(string) string { return "" })
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("bad Redis URL: %v", err)
	}
}
