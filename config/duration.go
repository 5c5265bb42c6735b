package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a positive time.Duration written as a string: Go syntax
// ("15m", "1h30m") plus a leading whole number of days ("7d", "1d12h"),
// because review deadlines and digests are naturally counted in days.
type Duration struct{ time.Duration }

// ParseDuration parses the syntax Duration accepts, including the rule that
// it be greater than zero.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration; write one like 15m, 4h or 7d")
	}
	var days time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 || s[0] == '+' {
			return 0, fmt.Errorf("invalid duration %q; write one like 15m, 4h or 7d", s)
		}
		if n > int64(math.MaxInt64/(24*time.Hour)) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		rest = s[i+1:]
	}
	var d time.Duration
	if rest != "" {
		var err error
		d, err = time.ParseDuration(rest)
		if err != nil || (days > 0 && d < 0) {
			return 0, fmt.Errorf("invalid duration %q; write one like 15m, 4h or 7d", s)
		}
		if d > math.MaxInt64-days {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
	}
	total := days + d
	if total <= 0 {
		return 0, fmt.Errorf("duration %q must be greater than zero", s)
	}
	return total, nil
}

// UnmarshalText implements encoding.TextUnmarshaler, so Duration decodes from
// YAML (and JSON, flags, env) strings.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler; it writes Go syntax, which
// ParseDuration reads back.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}
