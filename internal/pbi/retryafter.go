package pbi

import (
	"time"

	"github.com/rotatord/rotatord/internal/azrest"
)

// ParseRetryAfter parses a Retry-After header value (RFC 9110 §10.2.3):
// either a non-negative integer number of seconds or an HTTP date, which is
// turned into a delay from now. A date in the past gives 0. It reports false
// for anything else, including negative or fractional seconds. Delays too
// large for a time.Duration are clamped to the largest one, so an absurd
// value still reads as "much too long" rather than as garbage.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	return azrest.ParseRetryAfter(v, now)
}
