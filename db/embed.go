// Package db embeds the SQL migrations and the function set so the binary,
// the tests and CI apply exactly the same files.
package db

import "embed"

// Migrations holds db/migrations/*.sql in goose format.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Functions holds db/functions/*.sql: one SQL or PL/pgSQL function per file,
// named after it, each a CREATE OR REPLACE. The migrator applies them after
// every migrate up, so a change to a function is a diff of its file, not a
// copy in a new migration.
//
//go:embed functions/*.sql
var Functions embed.FS
