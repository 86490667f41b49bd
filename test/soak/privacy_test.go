package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScanLog(t *testing.T) {
	t.Parallel()
	secrets := append(apiKeySecrets("ops API key", "lg_abcdefghijklmnop"), Secret{"database password", "s3cretpw"})
	cases := []struct {
		name string
		log  string
		want []Finding
	}{
		{"CleanLog", `{"msg":"send","line_id":3}` + "\n" + `{"msg":"ok"}`, nil},
		{"AnAPIKey", `{"msg":"auth"}` + "\n" + `{"key":"lg_abcdefghijklmnop"}`, []Finding{{"x.log:2", "ops API key"}}},
		{"AKeyHash", `hash=` + apiKeySecrets("k", "lg_abcdefghijklmnop")[1].Value, []Finding{{"x.log:1", "ops API key hash (hex)"}}},
		{"APassword", `postgres://u:s3cretpw@h/db`, []Finding{{"x.log:1", "database password"}}},
		{"MessageText", `{"text":"hello ` + textMarker + `0123456789abcdef"}`, []Finding{{"x.log:1", "message text"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, ScanLog("x.log", []byte(c.log), secrets))
		})
	}
}

func TestScanOpsJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want []Finding
	}{
		{"ListWithoutSecrets", `{"api_keys":[{"id":1,"prefix":"ab12","scopes":["send"]}],"subscriptions":[{"id":2,"previous_secret_until":null}]}`, nil},
		{"AHashMember", `{"api_keys":[{"id":1,"key_hash":"AAAA"}]}`, []Finding{{"/v1/ops/api-keys", "member key_hash"}}},
		{"ASecretMember", `{"subscription":{"id":2,"secret":"whsec_x"}}`, []Finding{{"/v1/ops/api-keys", "member secret"}}},
		{"AKnownSecretAnywhere", `{"note":"whsec_known"}`, []Finding{{"/v1/ops/api-keys", "event subscription secret"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := ScanOpsJSON("/v1/ops/api-keys", []byte(c.body), []Secret{{"event subscription secret", "whsec_known"}})
			require.Equal(t, c.want, got)
		})
	}
}
