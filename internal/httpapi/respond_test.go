package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/apperr"
)

// embeddedRequest is embedded as a handler's request embeds a service's
// (sendMessageRequest embeds messaging.SendRequest).
type embeddedRequest struct {
	UserRef string `json:"user_ref"`
}

type decodeTarget struct {
	embeddedRequest
	Inner struct {
		embeddedRequest
	} `json:"inner"`
	Name   string   `json:"name"`
	Count  int      `json:"count"`
	Ratio  float64  `json:"ratio"`
	On     *bool    `json:"on"`
	Tags   []string `json:"tags"`
	Parent struct {
		ID string `json:"id"`
	} `json:"parent"`
	Meta map[string]string `json:"meta"`
	Raw  json.RawMessage   `json:"raw"`
}

// goTypeName matches what Go spells and JSON does not: qualified or
// pointer or slice types, struct and map types.
var goTypeName = regexp.MustCompile(`[A-Za-z]+\.[A-Z]|\*[a-z]|\[\][a-z]|struct|map\[|int64|float64`)

func TestDecode(t *testing.T) {
	t.Parallel()
	decode := func(t *testing.T, body string) error {
		t.Helper()
		req := httptest.NewRequest("POST", "/x", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		var dst decodeTarget
		return Decode(req, &dst)
	}

	t.Run("WrongTopLevelTypeIs400InvalidJSON", func(t *testing.T) {
		t.Parallel()
		for _, body := range []string{`[]`, `[{"name":"x"}]`, `"x"`, `42`, `true`, `null`, "  \n\t[1]"} {
			t.Run(body, func(t *testing.T) {
				t.Parallel()
				ae, ok := apperr.As(decode(t, body))
				require.True(t, ok)
				require.Equal(t, apperr.Invalid, ae.Kind)
				require.Equal(t, "invalid_json", ae.Code)
				require.NotRegexp(t, goTypeName, ae.Message)
			})
		}
	})

	t.Run("WrongFieldTypeIs422NamingFieldAndJSONType", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			body, field, want string
		}{
			{`{"name": 5}`, "name", "must be a string"},
			{`{"count": "5"}`, "count", "must be an integer"},
			{`{"count": 1.5}`, "count", "must be an integer"},
			{`{"ratio": "x"}`, "ratio", "must be a number"},
			{`{"on": "yes"}`, "on", "must be a boolean"},
			{`{"tags": "a"}`, "tags", "must be an array"},
			{`{"tags": [1]}`, "tags", "must be a string"},
			{`{"parent": []}`, "parent", "must be an object"},
			{`{"parent": {"id": 7}}`, "parent.id", "must be a string"},
			{`{"user_ref": 5}`, "user_ref", "must be a string"},
			{`{"inner": {"user_ref": 5}}`, "inner.user_ref", "must be a string"},
		}
		for _, tt := range tests {
			t.Run(tt.body, func(t *testing.T) {
				t.Parallel()
				ae, ok := apperr.As(decode(t, tt.body))
				require.True(t, ok)
				require.Equal(t, apperr.Unprocessable, ae.Kind)
				require.Equal(t, tt.field, ae.Field)
				require.Contains(t, ae.Message, tt.want)
				require.NotRegexp(t, goTypeName, ae.Message)
			})
		}
	})

	t.Run("NULCharacterIs422NamingTheField", func(t *testing.T) {
		t.Parallel()
		tests := []struct{ body, field string }{
			{`{"name": "a\u0000b"}`, "name"},
			{`{"user_ref": "\u0000"}`, "user_ref"},
			{`{"inner": {"user_ref": "x\u0000"}}`, "inner.user_ref"},
			{`{"tags": ["ok", "\u0000"]}`, "tags[1]"},
			{`{"parent": {"id": "\u0000"}}`, "parent.id"},
			{`{"meta": {"k": "\u0000"}}`, "meta.k"},
			{`{"meta": {"\u0000": "v"}}`, "meta"},
			{`{"raw": {"a": "\u0000"}}`, "raw"},
		}
		for _, tt := range tests {
			t.Run(tt.body, func(t *testing.T) {
				t.Parallel()
				ae, ok := apperr.As(decode(t, tt.body))
				require.True(t, ok)
				require.Equal(t, apperr.Unprocessable, ae.Kind)
				require.Equal(t, tt.field, ae.Field)
				require.Contains(t, ae.Message, "NUL")
			})
		}
		require.NoError(t, decode(t, `{"name": "a\\u0000b", "tags": ["\u0001"]}`), "an escaped backslash and other controls are text")
	})

	t.Run("MalformedEmptyAndTrailingAre400", func(t *testing.T) {
		t.Parallel()
		for _, body := range []string{``, `   `, `{"name":`, `{"name":"a"} {"name":"b"}`, `{"nope":1}`} {
			t.Run(body, func(t *testing.T) {
				t.Parallel()
				require.True(t, apperr.IsCode(decode(t, body), "invalid_json"))
			})
		}
	})

	t.Run("ContentTypeOtherThanJSONIs415", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			contentType string
			ok          bool
		}{
			{"", true},
			{"application/json", true},
			{"Application/JSON; charset=utf-8", true},
			{"application/merge-patch+json", true},
			{"text/plain", false},
			{"application/x-www-form-urlencoded", false},
			{"application/jsonx", false},
			{"application/json;;", false},
		}
		for _, tt := range tests {
			t.Run(tt.contentType, func(t *testing.T) {
				t.Parallel()
				req := httptest.NewRequest("POST", "/x", strings.NewReader(`{"name":"a"}`))
				if tt.contentType != "" {
					req.Header.Set("Content-Type", tt.contentType)
				}
				var dst decodeTarget
				err := Decode(req, &dst)
				if tt.ok {
					require.NoError(t, err)
					require.Equal(t, "a", dst.Name)
					return
				}
				ae, ok := apperr.As(err)
				require.True(t, ok)
				require.Equal(t, apperr.UnsupportedMediaType, ae.Kind)
				require.Equal(t, "unsupported_media_type", ae.Code)
				rec := httptest.NewRecorder()
				Responder{}.Error(rec, req, err)
				require.Equal(t, http.StatusUnsupportedMediaType, rec.Code)
			})
		}
	})

	t.Run("ObjectDecodes", func(t *testing.T) {
		t.Parallel()
		req := httptest.NewRequest("POST", "/x", strings.NewReader(` {"name":"a","count":2,"tags":["x"],"parent":{"id":"p"}}`))
		var dst decodeTarget
		require.NoError(t, Decode(req, &dst))
		require.Equal(t, "a", dst.Name)
		require.Equal(t, 2, dst.Count)
		require.Equal(t, []string{"x"}, dst.Tags)
		require.Equal(t, "p", dst.Parent.ID)
	})
}
