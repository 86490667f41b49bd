package linqsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Linq error codes. 1005, 2014, 2023, 2024, 2026 and 2027 are Linq's own (wire doc
// §1.2); 1007 is the pair-limit code Linegate agreed on; the others are the
// simulator's for errors Linq documents without a code.
const (
	codeInternal         = 1000
	codeInvalid          = 1001
	codeUnauthorized     = 1002
	codeNotFound         = 1003
	codeConflict         = 1004
	codeFirstMessageRule = 1005
	codeEditRejected     = 1006
	codePairLimit        = 1007
	codeContactCardExist = 2014
	codeMentionInDirect  = 2023
	codeOptedOut         = 2024
	codeBlocked          = 2026
	codeLineIneligible   = 2027
)

const docBase = "https://docs.linqapp.com/errors/"

// apiError is an answer in Linq's error envelope.
type apiError struct {
	status     int
	code       int
	message    string
	retryAfter int // seconds; 429 only
}

func (e *apiError) Error() string { return fmt.Sprintf("%d/%d %s", e.status, e.code, e.message) }

func errInvalid(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalid, message: fmt.Sprintf(format, args...)}
}

func errNotFound(msg string) *apiError {
	return &apiError{status: http.StatusNotFound, code: codeNotFound, message: msg}
}

func errConflict(msg string) *apiError {
	return &apiError{status: http.StatusConflict, code: codeConflict, message: msg}
}

func errLineIneligible(number string) *apiError {
	return &apiError{status: http.StatusForbidden, code: codeLineIneligible,
		message: "phone number " + number + " is not eligible to send right now"}
}

type errorBody struct {
	Success bool `json:"success"`
	Error   struct {
		Code       int    `json:"code"`
		Message    string `json:"message"`
		DocURL     string `json:"doc_url"`
		RetryAfter *int   `json:"retry_after,omitempty"`
	} `json:"error"`
	TraceID string `json:"trace_id"`
}

// writeError writes e in Linq's envelope. The body also carries the top-level
// `success:false` and `trace_id` keys that the SDKs ignore (wire doc §1.2),
// so clients are exercised against extra keys.
func writeError(w http.ResponseWriter, e *apiError) {
	var b errorBody
	b.Error.Code = e.code
	b.Error.Message = e.message
	b.Error.DocURL = docBase + strconv.Itoa(e.code)
	b.TraceID = newTraceID()
	if e.status == http.StatusTooManyRequests && e.retryAfter > 0 {
		ra := e.retryAfter
		b.Error.RetryAfter = &ra
		w.Header().Set("Retry-After", strconv.Itoa(ra))
	}
	writeJSON(w, e.status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"success":false,"error":{"code":1000,"message":"encode response","doc_url":"` + docBase + `1000"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
