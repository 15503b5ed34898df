package azrest

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		"seconds":                {"120", 2 * time.Minute, true},
		"zero":                   {"0", 0, true},
		"power bi hourly quota":  {"3392", 3392 * time.Second, true},
		"spaces around":          {" 5 ", 5 * time.Second, true},
		"leading zeros":          {"007", 7 * time.Second, true},
		"huge clamps":            {"99999999999999999999999", time.Duration(math.MaxInt64), true},
		"IMF-fixdate ahead":      {"Sat, 01 Mar 2025 12:01:30 GMT", 90 * time.Second, true},
		"RFC 850 date":           {"Saturday, 01-Mar-25 12:00:10 GMT", 10 * time.Second, true},
		"asctime date":           {"Sat Mar  1 12:00:20 2025", 20 * time.Second, true},
		"date in the past":       {"Fri, 28 Feb 2025 12:00:00 GMT", 0, true},
		"empty":                  {"", 0, false},
		"negative":               {"-5", 0, false},
		"plus sign":              {"+5", 0, false},
		"fraction":               {"1.5", 0, false},
		"unit":                   {"5s", 0, false},
		"garbage":                {"soon", 0, false},
		"date without time zone": {"2025-03-01T12:00:00", 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := ParseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "3392", "-1", "1.5", "Sat, 01 Mar 2025 12:01:30 GMT", "Saturday, 01-Mar-25 12:00:10 GMT", "Sat Mar  1 12:00:20 2025", " 7 ", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, now)
		if !ok {
			if d != 0 {
				t.Fatalf("ParseRetryAfter(%q) = %s with ok=false", v, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %s, negative", v, d)
		}
		// Whole seconds round-trip through their decimal form.
		if d%time.Second == 0 && d < time.Duration(math.MaxInt64/2) {
			s := strconv.FormatInt(int64(d/time.Second), 10)
			if back, ok := ParseRetryAfter(s, now); !ok || back != d {
				t.Fatalf("ParseRetryAfter(%q) = %s, but %q gives %s, %v", v, d, s, back, ok)
			}
		}
		// A parsed date, formatted back, means the same instant.
		if strings.Trim(strings.TrimSpace(v), "0123456789") != "" && d > 0 {
			at := now.Add(d).UTC().Format(http.TimeFormat)
			if back, ok := ParseRetryAfter(at, now); !ok || back != d.Truncate(time.Second) {
				t.Fatalf("ParseRetryAfter(%q) = %s, but %q gives %s, %v", v, d, at, back, ok)
			}
		}
	})
}
