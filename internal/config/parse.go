package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseBool parses a boolean the way Fluent Bit's flb_utils_bool does: true/false, on/off and
// yes/no, case-insensitive.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "on", "yes":
		return true, nil
	case "false", "off", "no":
		return false, nil
	}
	return false, errors.New("expected on, off, true, false, yes or no")
}

// ParseDuration parses a duration the way Fluent Bit's flb_utils_time_to_seconds does: a
// non-negative integer followed by an optional unit s, m, h or d (seconds when absent). Like
// Fluent Bit it takes no fractions and no millisecond unit.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	unit := time.Second
	digits := s
	switch last := s[len(s)-1]; last {
	case 's', 'S':
		digits = s[:len(s)-1]
	case 'm', 'M':
		unit, digits = time.Minute, s[:len(s)-1]
	case 'h', 'H':
		unit, digits = time.Hour, s[:len(s)-1]
	case 'd', 'D':
		unit, digits = 24*time.Hour, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil {
		return 0, errors.New("expected a whole number followed by s, m, h or d, such as 30s or 7d")
	}
	return time.Duration(n) * unit, nil
}

// ParseInt parses a decimal integer in [min, max].
func ParseInt(s string, min, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("expected a whole number from %d to %d", min, max)
	}
	if n < min || n > max {
		return 0, fmt.Errorf("out of range; use a whole number from %d to %d", min, max)
	}
	return n, nil
}
