package azrest

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// ParseRetryAfter parses a Retry-After header value (RFC 9110 §10.2.3):
// either a non-negative integer number of seconds or an HTTP date, which is
// turned into a delay from now. A date in the past gives 0. It reports false
// for anything else, including negative or fractional seconds. Delays too
// large for a time.Duration are clamped to the largest one, so an absurd
// value still reads as "much too long" rather than as garbage.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		const maxSeconds = int64(math.MaxInt64 / int64(time.Second))
		var n int64
		for _, c := range []byte(v) {
			n = n*10 + int64(c-'0')
			if n > maxSeconds {
				return time.Duration(math.MaxInt64), true
			}
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now) // saturates instead of overflowing
	if d < 0 {
		return 0, true
	}
	return d, true
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// RetryAfter reads the Retry-After header of resp, if it has a usable one.
func RetryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	return ParseRetryAfter(resp.Header.Get("Retry-After"), now)
}
