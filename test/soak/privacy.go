package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// textMarker starts every message text the run writes, so that logs can be
// searched for any of them at once.
const textMarker = "soakmsg-"

var textToken = regexp.MustCompile(textMarker + `[0-9a-f]{16}`)

// Secret is a value that must never be logged or shown again.
type Secret struct{ Name, Value string }

// Finding is a secret or a message text where it must not be.
type Finding struct {
	Where string // a log file and line, or an ops route
	What  string // the secret's name or "message text"
}

func (f Finding) String() string { return f.What + " in " + f.Where }

// apiKeySecrets are a plain API key and the forms its stored hash could be
// shown in.
func apiKeySecrets(name, plain string) []Secret {
	h := sha256.Sum256([]byte(plain))
	return []Secret{
		{name, plain},
		{name + " hash (hex)", hex.EncodeToString(h[:])},
		{name + " hash (base64)", base64.StdEncoding.EncodeToString(h[:])},
		{name + " hash (base64url)", base64.RawURLEncoding.EncodeToString(h[:])},
	}
}

// ScanLog finds secrets and message texts in the lines of one log.
func ScanLog(where string, log []byte, secrets []Secret) []Finding {
	var out []Finding
	for i, line := range bytes.Split(log, []byte("\n")) {
		at := fmt.Sprintf("%s:%d", where, i+1)
		for _, s := range secrets {
			if s.Value != "" && bytes.Contains(line, []byte(s.Value)) {
				out = append(out, Finding{Where: at, What: s.Name})
			}
		}
		if textToken.Match(line) {
			out = append(out, Finding{Where: at, What: "message text"})
		}
	}
	return out
}

// secretFields are JSON member names that only a creation answer may carry.
var secretFields = []string{"secret", "signing_secret", "previous_secret", "password", "key", "plain", "api_key_plain"}

// ScanOpsJSON finds secrets, key hashes and secret-named members in an ops
// answer (not the answer that created the key or subscription).
func ScanOpsJSON(where string, body []byte, secrets []Secret) []Finding {
	out := ScanLog(where, body, secrets)
	for i := range out {
		out[i].Where = where
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return out
	}
	var names []string
	walkJSON(v, func(name string, val any) {
		n := strings.ToLower(name)
		_, isString := val.(string)
		if strings.Contains(n, "hash") || (isString && slices.Contains(secretFields, n)) {
			names = append(names, name)
		}
	})
	sort.Strings(names)
	for _, n := range names {
		out = append(out, Finding{Where: where, What: "member " + n})
	}
	return out
}

func walkJSON(v any, f func(name string, val any)) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			f(k, x)
			walkJSON(x, f)
		}
	case []any:
		for _, x := range t {
			walkJSON(x, f)
		}
	}
}
