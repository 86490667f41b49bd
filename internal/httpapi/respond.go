package httpapi

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/store"
)

// statusOf is the one table from error kind to HTTP status.
var statusOf = map[apperr.Kind]int{
	apperr.Internal:             http.StatusInternalServerError,
	apperr.Invalid:              http.StatusBadRequest,
	apperr.Unprocessable:        http.StatusUnprocessableEntity,
	apperr.Unauthorized:         http.StatusUnauthorized,
	apperr.Forbidden:            http.StatusForbidden,
	apperr.NotFound:             http.StatusNotFound,
	apperr.MethodNotAllowed:     http.StatusMethodNotAllowed,
	apperr.Conflict:             http.StatusConflict,
	apperr.TooLarge:             http.StatusRequestEntityTooLarge,
	apperr.UnsupportedMediaType: http.StatusUnsupportedMediaType,
	apperr.RateLimited:          http.StatusTooManyRequests,
	apperr.Unavailable:          http.StatusServiceUnavailable,
	apperr.BadGateway:           http.StatusBadGateway,
}

// errorBody is the one JSON error envelope of the API.
type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	Reason     string `json:"reason,omitempty"`
	RetryAfter int    `json:"retry_after,omitempty"`
	RequestID  string `json:"request_id,omitempty"`
	TraceID    string `json:"trace_id,omitempty"`
	Details    any    `json:"details,omitempty"`
}

// Responder writes JSON and errors; it is the only place an error becomes a
// status code, and the place where errors are logged.
type Responder struct {
	Logger *slog.Logger
	Count  func(code string)
}

// JSON writes v with status.
func (rs Responder) JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// DatabaseRetryAfter is the retry hint of a 503 database_unavailable: about
// as long as a Postgres restart or failover takes.
const DatabaseRetryAfter = 5 * time.Second

// Error maps err to a status and the envelope. An unclassified error that
// says Postgres is out of reach (store.IsUnavailable) is a 503
// database_unavailable with Retry-After, for every handler and the key
// lookup alike; other unknown errors become a generic 500 whose detail only
// reaches the log.
func (rs Responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	status, body := rs.report(w, r, err)
	rs.JSON(w, status, errorBody{Error: body})
}

// report classifies err for Error (and the public pages, which answer
// HTML): its status and envelope, the Retry-After header set, the error
// counted and, past 499, logged.
func (rs Responder) report(w http.ResponseWriter, r *http.Request, err error) (int, errorObject) {
	ae, ok := apperr.As(err)
	switch {
	case (!ok || ae.Kind == apperr.Internal) && store.IsUnavailable(err):
		ae = &apperr.Error{Kind: apperr.Unavailable, Code: "database_unavailable",
			Message: "the database cannot be reached; retry later", RetryAfter: DatabaseRetryAfter, Err: err}
	case !ok:
		ae = &apperr.Error{Kind: apperr.Internal, Code: "internal", Message: "internal error", Err: err}
	}
	status := statusOf[ae.Kind]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	body := errorObject{Code: ae.Code, Message: ae.Message, Field: ae.Field, RequestID: RequestIDFrom(r.Context())}
	if status >= 500 && ae.Kind == apperr.Internal {
		body.Message = "internal error"
	}
	if ae.RetryAfter > 0 {
		secs := int(math.Ceil(ae.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		body.RetryAfter = secs
	}
	if ae.Kind == apperr.RateLimited || ae.Kind == apperr.Unavailable {
		body.Reason = ae.Code
	}
	if tid, ok := ae.Details["trace_id"].(string); ok {
		body.TraceID = tid
	}
	if len(ae.Details) > 0 {
		body.Details = ae.Details
	}
	if rs.Count != nil {
		rs.Count(ae.Code)
	}
	if status >= 500 && rs.Logger != nil {
		rs.Logger.ErrorContext(r.Context(), "request failed",
			slog.String("method", r.Method), slog.String("route", routePattern(r)),
			slog.Int("status", status), slog.String("code", ae.Code), slog.Any("error", err),
			slog.String("request_id", body.RequestID))
	}
	return status, body
}

// Decode reads one JSON object into dst: a body declared as anything but
// JSON is a 415, malformed JSON, a body that is not an object and unknown
// fields are a 400 invalid_json, a body over the limit a 413, a field of the
// wrong JSON type a 422 naming the field. Messages speak of JSON types,
// never of Go ones. A body without a Content-Type is read as JSON.
func Decode(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return apperr.New(apperr.UnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	body := bufio.NewReader(r.Body)
	if err := expectObject(body); err != nil {
		return err
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			typeErr.Field = jsonPath(reflect.TypeOf(dst), typeErr.Field)
		}
		return decodeError(err)
	}
	if dec.More() {
		return apperr.New(apperr.Invalid, "invalid_json", "request body must hold a single JSON object")
	}
	if path, ok := nulString(reflect.ValueOf(dst), ""); ok {
		return apperr.Field(path, "must not contain a NUL character")
	}
	return nil
}

// nulString finds a string in v holding a NUL character (\u0000 in JSON):
// valid JSON and UTF-8, but Postgres text and jsonb cannot store it, and a
// value refused in a batched transaction would fail every caller batched
// with it. It returns the value's JSON path.
func nulString(v reflect.Value, path string) (string, bool) {
	switch v.Kind() {
	case reflect.String:
		return path, strings.IndexByte(v.String(), 0) >= 0
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return nulString(v.Elem(), path)
		}
	case reflect.Struct:
		for _, f := range reflect.VisibleFields(v.Type()) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || f.Anonymous || name == "-" {
				continue
			}
			fv, err := v.FieldByIndexErr(f.Index)
			if err != nil { // promoted through a nil embedded pointer
				continue
			}
			if p, ok := nulString(fv, joinPath(path, cmp.Or(name, f.Name))); ok {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 { // raw JSON kept for later decoding
			return path, v.Kind() == reflect.Slice && bytes.Contains(v.Bytes(), []byte(`\u0000`))
		}
		for i := range v.Len() {
			if p, ok := nulString(v.Index(i), path+"["+strconv.Itoa(i)+"]"); ok {
				return p, true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			k := fmt.Sprint(it.Key())
			if strings.IndexByte(k, 0) >= 0 {
				return path, true
			}
			if p, ok := nulString(it.Value(), joinPath(path, k)); ok {
				return p, true
			}
		}
	}
	return "", false
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// expectObject checks that the body's first JSON token opens an object,
// leaving it unread.
func expectObject(body *bufio.Reader) error {
	for {
		c, err := body.ReadByte()
		if err != nil {
			return decodeError(err)
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return body.UnreadByte()
		default:
			return apperr.New(apperr.Invalid, "invalid_json", "request body must be a JSON object")
		}
	}
}

// isJSON says whether a Content-Type names JSON: application/json or a
// +json type, with any parameters.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func decodeError(err error) error {
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return apperr.New(apperr.TooLarge, "body_too_large", "request body exceeds "+strconv.FormatInt(tooBig.Limit, 10)+" bytes")
	case errors.Is(err, io.EOF):
		return apperr.New(apperr.Invalid, "invalid_json", "request body is empty")
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return apperr.New(apperr.Invalid, "invalid_json", "request body has "+strings.TrimPrefix(err.Error(), "json: "))
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return apperr.Field(typeErr.Field, "must be "+jsonTypeName(typeErr.Type))
	default:
		return apperr.New(apperr.Invalid, "invalid_json", "request body is not valid JSON")
	}
}

// jsonPath drops from encoding/json's path of a field the names of the Go
// structs embedded on the way ("SendRequest.user_ref" for a request that
// embeds messaging.SendRequest): the caller knows the JSON names only.
func jsonPath(t reflect.Type, path string) string {
	var out []string
	for part := range strings.SplitSeq(path, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct {
			if f, ok := t.FieldByName(part); ok && f.Anonymous && f.Tag.Get("json") == "" {
				t = f.Type
				continue
			}
			t = fieldByJSONName(t, part)
		}
		out = append(out, part)
	}
	return strings.Join(out, ".")
}

// fieldByJSONName is the type of t's field that JSON calls name (embedded
// structs' fields included), or t itself when there is none.
func fieldByJSONName(t reflect.Type, name string) reflect.Type {
	for _, f := range reflect.VisibleFields(t) {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name || tag == "" && strings.EqualFold(f.Name, name) {
			return f.Type
		}
	}
	return t
}

// jsonTypeName names the JSON type a Go destination type accepts.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	default:
		return "of another JSON type"
	}
}
