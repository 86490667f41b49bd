package lines

import (
	"math"
	"time"
)

// warmupFloor is the share of its budget a brand-new line starts with.
const warmupFloor = 0.2

// epsilon absorbs float error so that e.g. 7000 × 0.85 ÷ 20 = 297.5 floors
// to 297 and an exact 170.0 never floors to 169.
const epsilon = 1e-9

// WarmupFactor is the share of its budget a line may use at now: 20 % when
// warm-up starts, rising linearly to 100 % after warmupDays (0 = no
// warm-up).
func WarmupFactor(warmupStarted, now time.Time, warmupDays int) float64 {
	if warmupDays <= 0 {
		return 1
	}
	elapsed := now.Sub(warmupStarted).Hours() / 24
	frac := math.Min(1, math.Max(0, elapsed/float64(warmupDays)))
	return warmupFloor + (1-warmupFloor)*frac
}

// Capacity returns the effective budget and the user cap of a line with
// budget (messages per day) at warm-up factor, for headroom and the
// messages each user sends and receives per day.
func Capacity(budget int, factor, headroom, msgsPerUserPerDay float64) (effective, userCap int) {
	eff := float64(budget) * factor
	effective = int(math.Floor(eff + epsilon))
	if msgsPerUserPerDay <= 0 {
		return effective, 0
	}
	userCap = int(math.Floor(eff*(1-headroom)/msgsPerUserPerDay + epsilon))
	return effective, max(userCap, 0)
}
