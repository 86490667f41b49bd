package lines

import (
	"math"
)

// epsilon absorbs float error so that e.g. 7000 × 0.85 ÷ 20 = 297.5 floors
// to 297 and an exact 170.0 never floors to 169.
const epsilon = 1e-9

// UserCap is how many users a line with effectiveBudget (line_policy's
// effective budget: override or default, after warm-up) may carry, keeping
// headroom free, when each user sends and receives msgsPerUserPerDay.
func UserCap(effectiveBudget int, headroom, msgsPerUserPerDay float64) int {
	if msgsPerUserPerDay <= 0 {
		return 0
	}
	return max(int(math.Floor(float64(effectiveBudget)*(1-headroom)/msgsPerUserPerDay+epsilon)), 0)
}
