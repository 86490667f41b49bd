package linqsim

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Cursors are opaque to clients; inside they hold an offset into a list
// ordered newest first, so items arriving between pages shift the pages (as
// an offset cursor would on Linq).
func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, bool) {
	if c == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
	if err != nil || n < 0 || !strings.HasPrefix(string(b), "o:") {
		return 0, false
	}
	return n, true
}

// query parses the query string; a malformed one is a 400 rather than
// silently dropped parameters.
func query(r *http.Request) (url.Values, *apiError) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errInvalid("query string is malformed")
	}
	return q, nil
}

func pageParams(q url.Values) (limit, offset int, aerr *apiError) {
	limit = 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, 0, errInvalid("limit must be between 1 and 100")
		}
		limit = n
	}
	offset, ok := decodeCursor(q.Get("cursor"))
	if !ok {
		return 0, 0, errInvalid("cursor is not valid")
	}
	return limit, offset, nil
}

func page[T any](items []T, limit, offset int) ([]T, *string) {
	if offset >= len(items) {
		return []T{}, nil
	}
	end := min(offset+limit, len(items))
	if end < len(items) {
		next := encodeCursor(end)
		return items[offset:end], &next
	}
	return items[offset:end], nil
}
