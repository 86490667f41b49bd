package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/linegate/linegate/internal/apperr"
)

// statusOf is the one table from error kind to HTTP status.
var statusOf = map[apperr.Kind]int{
	apperr.Internal:         http.StatusInternalServerError,
	apperr.Invalid:          http.StatusBadRequest,
	apperr.Unprocessable:    http.StatusUnprocessableEntity,
	apperr.Unauthorized:     http.StatusUnauthorized,
	apperr.Forbidden:        http.StatusForbidden,
	apperr.NotFound:         http.StatusNotFound,
	apperr.MethodNotAllowed: http.StatusMethodNotAllowed,
	apperr.Conflict:         http.StatusConflict,
	apperr.TooLarge:         http.StatusRequestEntityTooLarge,
	apperr.RateLimited:      http.StatusTooManyRequests,
	apperr.Unavailable:      http.StatusServiceUnavailable,
	apperr.BadGateway:       http.StatusBadGateway,
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

// Error maps err to a status and the envelope. Unknown errors become a
// generic 500 whose detail only reaches the log.
func (rs Responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	ae, ok := apperr.As(err)
	if !ok {
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
	rs.JSON(w, status, errorBody{Error: body})
}

// Decode reads one JSON object into dst: malformed JSON is a 400, a body over
// the limit a 413, unknown fields a 400 naming the field.
func Decode(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return apperr.New(apperr.Invalid, "unsupported_media_type", "Content-Type must be application/json")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return apperr.New(apperr.TooLarge, "body_too_large", "request body exceeds "+strconv.FormatInt(tooBig.Limit, 10)+" bytes")
		case errors.Is(err, io.EOF):
			return apperr.New(apperr.Invalid, "invalid_json", "request body is empty")
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return apperr.New(apperr.Invalid, "invalid_json", "request body has "+strings.TrimPrefix(err.Error(), "json: "))
		default:
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				e := apperr.Field(typeErr.Field, "has the wrong type (want "+typeErr.Type.String()+")")
				return e
			}
			return apperr.New(apperr.Invalid, "invalid_json", "request body is not valid JSON")
		}
	}
	if dec.More() {
		return apperr.New(apperr.Invalid, "invalid_json", "request body must hold a single JSON object")
	}
	return nil
}
