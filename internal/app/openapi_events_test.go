package app_test

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linegate/linegate/internal/events"
	"github.com/linegate/linegate/internal/health"
)

// TestOpenAPIDescribesEveryEvent keeps the spec's webhooks (the events sent
// to product services) in step with what is sent: one entry per event
// type, and each schema's fields, and which of them are always there, as
// the Go types marshal them.
func TestOpenAPIDescribesEveryEvent(t *testing.T) {
	t.Parallel()
	var spec struct {
		Webhooks map[string]struct {
			Post struct {
				RequestBody struct {
					Content map[string]struct {
						Schema specSchema `yaml:"schema"`
					} `yaml:"content"`
				} `yaml:"requestBody"`
			} `yaml:"post"`
		} `yaml:"webhooks"`
		Components struct {
			Schemas map[string]specSchema `yaml:"schemas"`
		} `yaml:"components"`
	}
	readSpec(t, &spec)
	const prefix = "#/components/schemas/"

	payloads := map[string]any{
		events.TypeMessageReceived:   events.MessageReceived{},
		events.TypeMessageStatus:     events.MessageStatus{},
		events.TypeUserConnected:     events.UserConnected{},
		events.TypeUserOptedOut:      events.UserOptChanged{},
		events.TypeUserOptedIn:       events.UserOptChanged{},
		events.TypeUserLineChanged:   health.UserLineChanged{},
		events.TypeUserDeleted:       events.UserDeleted{},
		events.TypeLineStatusChanged: health.LineStatusChanged{},
	}
	require.ElementsMatch(t, events.Types, slices.Collect(maps.Keys(payloads)), "every event type has its payload here")
	require.ElementsMatch(t, events.Types, slices.Collect(maps.Keys(spec.Webhooks)), "the spec's webhooks are the event types")

	require.ElementsMatch(t, events.Types, spec.Components.Schemas["EventType"].Enum,
		"subscriptions take, and deliveries carry, every event type")
	envelope := spec.Components.Schemas["Event"]
	requireFields(t, "Event", envelope, events.Envelope{})
	requireFields(t, "MessagePart", spec.Components.Schemas["MessagePart"], events.Part{})
	for _, typ := range events.Types {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			body := spec.Webhooks[typ].Post.RequestBody.Content["application/json"].Schema
			require.Len(t, body.AllOf, 2)
			require.Equal(t, prefix+"Event", body.AllOf[0].Ref)
			require.Equal(t, typ, body.AllOf[1].Properties.Type.Const)
			name := strings.TrimPrefix(body.AllOf[1].Properties.Data.Ref, prefix)
			data, ok := spec.Components.Schemas[name]
			require.True(t, ok, "schema %q", name)
			requireFields(t, name, data, payloads[typ])
		})
	}
}

// specSchema is the part of an OpenAPI schema these checks read.
type specSchema struct {
	Enum       []string       `yaml:"enum"`
	Required   []string       `yaml:"required"`
	Properties map[string]any `yaml:"properties"`
	AllOf      []struct {
		Ref        string `yaml:"$ref"`
		Properties struct {
			Type struct {
				Const string `yaml:"const"`
			} `yaml:"type"`
			Data struct {
				Ref string `yaml:"$ref"`
			} `yaml:"data"`
		} `yaml:"properties"`
	} `yaml:"allOf"`
}

// requireFields checks that s has v's JSON fields as its properties and
// requires those that are always marshalled (no omitempty).
func requireFields(t *testing.T, name string, s specSchema, v any) {
	t.Helper()
	var fields, always []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		tag, opts, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		fields = append(fields, tag)
		if !strings.Contains(opts, "omitempty") {
			always = append(always, tag)
		}
	}
	require.ElementsMatch(t, fields, slices.Collect(maps.Keys(s.Properties)), "%s's properties", name)
	require.ElementsMatch(t, always, s.Required, "%s's required fields", name)
}
