package webhooks

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStorable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"NoNUL", `{"text":"a\nb"}`, `{"text":"a\nb"}`},
		{"NULInText", `{"text":"a\u0000b"}`, `{"text":"a\ufffdb"}`},
		{"SeveralNULs", `["\u0000","x\u0000\u0000"]`, `["\ufffd","x\ufffd\ufffd"]`},
		{"EscapedBackslashBeforeU0000IsText", `{"text":"a\\u0000b"}`, `{"text":"a\\u0000b"}`},
		{"EscapedBackslashThenNUL", `{"text":"\\\u0000"}`, `{"text":"\\\ufffd"}`},
		{"OtherUnicodeEscapes", `{"text":"\u0041\u00e9"}`, `{"text":"\u0041\u00e9"}`},
		{"SurrogatePairKept", `{"text":"\ud83d\ude00"}`, `{"text":"\ud83d\ude00"}`},
		{"LoneHighSurrogate", `{"text":"a\ud800b"}`, `{"text":"a\ufffdb"}`},
		{"LoneLowSurrogate", `{"text":"\udc00"}`, `{"text":"\ufffd"}`},
		{"NotUTF8", "{\"text\":\"a\xffb\"}", "{\"text\":\"a\ufffdb\"}"},
		{"HighSurrogateThenNonSurrogate", `{"text":"\ud800\u0041"}`, `{"text":"\ufffd\u0041"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, string(storable([]byte(tt.in))))
		})
	}
}

// FuzzStorable: on any valid JSON the result is valid JSON whose values
// are the input's as encoding/json decodes them (a lone surrogate is U+FFFD)
// with each NUL replaced by U+FFFD too.
func FuzzStorable(f *testing.F) {
	for _, s := range []string{`{"a":"\u0000"}`, `"\ud800\ud800\udc00"`, `"\udbff"`, `"\\u0000"`, `["\\\u0000",1,{"b":"\u0000\\"}]`, `{"\u0000":0}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var before any
		if json.Unmarshal(in, &before) != nil {
			return
		}
		var after any
		out := storable(in)
		require.NoError(t, json.Unmarshal(out, &after), "%q", out)
		require.Equal(t, replaced(before), after)
	})
}

// replaced is v with every NUL in its strings (keys too) replaced by U+FFFD.
func replaced(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "\x00", "\ufffd")
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = replaced(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[replaced(k).(string)] = replaced(e)
		}
		return out
	}
	return v
}
