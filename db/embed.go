// Package db embeds the SQL migrations so the binary, the tests and CI apply
// exactly the same files.
package db

import "embed"

// Migrations holds db/migrations/*.sql in goose format.
//
//go:embed migrations/*.sql
var Migrations embed.FS
