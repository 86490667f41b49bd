// Package apperr holds the small closed set of error kinds that every domain
// package returns and that the HTTP layer maps to a status in one table.
package apperr

import (
	"errors"
	"time"
)

// Kind classifies an error for the caller; each kind maps to one HTTP status.
type Kind int

// The kinds. Internal is the zero value on purpose: an unclassified error is
// an internal one.
const (
	Internal Kind = iota
	Invalid
	Unprocessable
	Unauthorized
	Forbidden
	NotFound
	MethodNotAllowed
	Conflict
	TooLarge
	UnsupportedMediaType
	RateLimited
	Unavailable
	BadGateway
)

// Error is a domain error with a stable machine-readable code.
type Error struct {
	Kind    Kind
	Code    string // e.g. "pair_limit", "invalid_json", "opted_out"
	Message string
	// Field names the request field at fault, for validation errors.
	Field string
	// RetryAfter is sent as the Retry-After header when positive.
	RetryAfter time.Duration
	// Details are extra JSON members of the error object (never secrets).
	Details map[string]any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New builds an error of kind with code and message.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Field builds a 422 validation error naming the offending field.
func Field(field, message string) *Error {
	return &Error{Kind: Unprocessable, Code: "invalid_field", Field: field, Message: field + ": " + message}
}

// Limited builds a 429 with a reason code and a retry hint.
func Limited(code, message string, retryAfter time.Duration) *Error {
	return &Error{Kind: RateLimited, Code: code, Message: message, RetryAfter: retryAfter}
}

// Wrap attaches a cause to e and returns it.
func (e *Error) Wrap(err error) *Error { e.Err = err; return e }

// As finds the *Error in err's chain.
func As(err error) (*Error, bool) {
	var ae *Error
	if errors.As(err, &ae) {
		return ae, true
	}
	return nil, false
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool {
	ae, ok := As(err)
	return ok && ae.Code == code
}
