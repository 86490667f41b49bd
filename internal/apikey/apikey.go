// Package apikey issues, lists, revokes and checks the bearer keys product
// services and ops use. Only a SHA-256 of a key is stored; the key itself is
// shown once, when it is created.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/store"
)

// Scopes a key can carry.
const (
	ScopeSend     = "send"
	ScopeSignup   = "signup"
	ScopeOpsRead  = "ops:read"
	ScopeOpsWrite = "ops:write"
)

// AllScopes lists every scope, for dev keys.
var AllScopes = []string{ScopeSend, ScopeSignup, ScopeOpsRead, ScopeOpsWrite}

// Key is a stored key, without its secret.
type Key struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// Principal is the caller a request was authenticated as.
type Principal struct {
	KeyID  int64
	Name   string
	Scopes []string
}

// Has reports whether the principal may use scope.
func (p Principal) Has(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Config tunes the service.
type Config struct {
	// CacheTTL bounds how long a verified key is trusted without asking
	// Postgres again, i.e. how long a revocation can take to reach a replica.
	CacheTTL time.Duration
	Now      func() time.Time
}

// Service manages keys.
type Service struct {
	pool *pgxpool.Pool
	q    *store.Queries
	cfg  Config

	mu      sync.Mutex
	cache   map[[32]byte]cached
	touched map[int64]time.Time // when each key's last use was last recorded
}

// touchEvery bounds how often a key's last_used_at is written, per replica.
const touchEvery = time.Minute

type cached struct {
	p       Principal
	expires time.Time
}

// New builds a Service.
func New(pool *pgxpool.Pool, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{pool: pool, q: store.New(), cfg: cfg, cache: map[[32]byte]cached{}, touched: map[int64]time.Time{}}
}

// MaxNameLen bounds a key's name, which lists and logs show.
const MaxNameLen = 200

// Create makes a key and returns its secret once.
func (s *Service) Create(ctx context.Context, name string, scopes []string) (string, Key, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", Key{}, apperr.Field("name", "is required")
	}
	if utf8.RuneCountInString(name) > MaxNameLen || !utf8.ValidString(name) || strings.ContainsRune(name, 0) {
		return "", Key{}, apperr.Field("name", fmt.Sprintf("must be at most %d characters of UTF-8, without NUL", MaxNameLen))
	}
	if len(scopes) == 0 {
		return "", Key{}, apperr.Field("scopes", "at least one scope is required")
	}
	for _, sc := range scopes {
		if !slices.Contains(AllScopes, sc) {
			return "", Key{}, apperr.Field("scopes", fmt.Sprintf("unknown scope %q (use %s)", sc, strings.Join(AllScopes, ", ")))
		}
	}
	// A scope named twice is held once, in the order first named.
	held := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		if !slices.Contains(held, sc) {
			held = append(held, sc)
		}
	}
	scopes = held
	pb := make([]byte, prefixLen/2)
	if _, err := rand.Read(pb); err != nil {
		return "", Key{}, fmt.Errorf("read random: %w", err)
	}
	prefix := hex.EncodeToString(pb)
	secret, err := randomString(32)
	if err != nil {
		return "", Key{}, err
	}
	plain := "lg_" + prefix + "_" + secret
	h := sha256.Sum256([]byte(plain))
	row, err := s.q.APIKeyCreate(ctx, s.pool, store.APIKeyCreateParams{Name: name, Prefix: prefix, KeyHash: h[:], Scopes: scopes})
	if err != nil {
		return "", Key{}, fmt.Errorf("create api key: %w", store.Interpret(err))
	}
	return plain, toKey(row), nil
}

// List returns every key, revoked ones included.
func (s *Service) List(ctx context.Context) ([]Key, error) {
	rows, err := s.q.APIKeyList(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	out := make([]Key, 0, len(rows))
	for _, r := range rows {
		out = append(out, toKey(r))
	}
	return out, nil
}

// Revoke disables the key named by ref: its prefix (8 lowercase hex
// characters, as listed) or its numeric id. A ref of eight digits is read as
// a prefix, so a ref never names two keys; revoke such an id with RevokeByID.
func (s *Service) Revoke(ctx context.Context, ref string) (Key, error) {
	if IsPrefix(ref) {
		return s.RevokeByPrefix(ctx, ref)
	}
	id, err := strconv.ParseInt(ref, 10, 64)
	if err != nil || id <= 0 {
		return Key{}, errNoSuchKey
	}
	return s.RevokeByID(ctx, id)
}

// RevokeByID disables the key with this id.
func (s *Service) RevokeByID(ctx context.Context, id int64) (Key, error) {
	if id <= 0 {
		return Key{}, errNoSuchKey
	}
	return s.revoke(s.q.APIKeyRevokeByID(ctx, s.pool, id))
}

// RevokeByPrefix disables the key with this prefix.
func (s *Service) RevokeByPrefix(ctx context.Context, prefix string) (Key, error) {
	if !IsPrefix(prefix) {
		return Key{}, errNoSuchKey
	}
	return s.revoke(s.q.APIKeyRevokeByPrefix(ctx, s.pool, prefix))
}

// IsPrefix reports whether s has the shape of a key prefix.
func IsPrefix(s string) bool {
	if len(s) != prefixLen {
		return false
	}
	for i := range len(s) {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// prefixLen is the length of a key's prefix: 4 random bytes in hex.
const prefixLen = 8

var errNoSuchKey = apperr.New(apperr.NotFound, "not_found", "no active key with that id or prefix")

// revoke interprets a revocation's result (id and prefix are each unique,
// so at most one row changed) and drops the verified-key cache.
func (s *Service) revoke(row store.ApiKey, err error) (Key, error) {
	if err != nil {
		if errors.Is(store.Interpret(err), store.ErrNotFound) {
			return Key{}, errNoSuchKey
		}
		return Key{}, fmt.Errorf("revoke api key: %w", err)
	}
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
	return toKey(row), nil
}

// Authenticate checks a bearer key. Unknown and revoked keys are the same
// 401 so a caller cannot probe which keys exist.
func (s *Service) Authenticate(ctx context.Context, plain string) (Principal, error) {
	unauth := apperr.New(apperr.Unauthorized, "unauthorized", "missing, unknown or revoked API key")
	if plain == "" || !strings.HasPrefix(plain, "lg_") {
		return Principal{}, unauth
	}
	h := sha256.Sum256([]byte(plain))
	now := s.cfg.Now()
	if s.cfg.CacheTTL > 0 {
		s.mu.Lock()
		c, ok := s.cache[h]
		s.mu.Unlock()
		if ok && now.Before(c.expires) {
			return c.p, nil
		}
	}
	row, err := s.q.APIKeyGetByHash(ctx, s.pool, h[:])
	if err != nil {
		if errors.Is(store.Interpret(err), store.ErrNotFound) {
			return Principal{}, unauth
		}
		return Principal{}, fmt.Errorf("look up api key: %w", err)
	}
	if row.RevokedAt != nil {
		return Principal{}, unauth
	}
	p := Principal{KeyID: row.ID, Name: row.Name, Scopes: row.Scopes}
	if s.cfg.CacheTTL > 0 {
		s.mu.Lock()
		if len(s.cache) > 10000 {
			clear(s.cache)
		}
		s.cache[h] = cached{p: p, expires: now.Add(s.cfg.CacheTTL)}
		s.mu.Unlock()
	}
	if s.touchDue(row.ID, now) {
		// Off the request's path; with the cache off too, so that keys
		// in use never look unused.
		go func() {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = s.q.APIKeyTouch(tctx, s.pool, row.ID)
		}()
	}
	return p, nil
}

// touchDue reports whether key id's use should be recorded now: at most
// once per touchEvery.
func (s *Service) touchDue(id int64, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.touched[id]; ok && now.Sub(at) < touchEvery {
		return false
	}
	if len(s.touched) > 10000 {
		clear(s.touched)
	}
	s.touched[id] = now
	return true
}

func toKey(r store.ApiKey) Key {
	return Key{ID: r.ID, Name: r.Name, Prefix: r.Prefix, Scopes: r.Scopes, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt, LastUsedAt: r.LastUsedAt}
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
