package lines

// PoolFill is the pool's users against the caps of its usable lines: the
// one definition the capacity plan and the ops line list both answer with,
// so that their figures of one name never disagree.
type PoolFill struct {
	// UsableLines are the lines line_policy lets take users (MaySignup:
	// active, health ok, not held), the ones assignment and failover place
	// users on.
	UsableLines int `json:"usable_lines"`
	// Users are the users on the usable lines; UsersElsewhere those on the
	// lines that take none (draining, down, held, at risk…), whose caps
	// are not capacity. Together they are every user of the pool.
	Users          int `json:"users"`
	UsersElsewhere int `json:"users_elsewhere"`
	// Capacity is the usable lines' caps and Room what they can still
	// take, line by line: a line over its cap (after a failover onto it)
	// adds none, so Room may exceed Capacity - Users.
	Capacity int `json:"capacity"`
	Room     int `json:"room"`
	// Fill is Users ÷ Capacity (0 without capacity).
	Fill float64 `json:"fill"`
}

// FillOf is the PoolFill of the lines List gave.
func FillOf(ls []Line) PoolFill {
	var f PoolFill
	for _, l := range ls {
		if !l.MaySignup {
			f.UsersElsewhere += l.UserCount
			continue
		}
		f.UsableLines++
		f.Users += l.UserCount
		f.Capacity += l.Cap
		f.Room += max(l.HeadroomLeft(), 0)
	}
	if f.Capacity > 0 {
		f.Fill = float64(f.Users) / float64(f.Capacity)
	}
	return f
}
