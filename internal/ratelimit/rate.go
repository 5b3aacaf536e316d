package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a limit of N requests per Per (a second or a minute); N 0 is off.
// Counting per second keeps one token from spending a minute's allowance in a
// burst that starves everyone else for that time.
type Rate struct {
	N   int64
	Per time.Duration
}

// PerSecond is n requests a second.
func PerSecond(n int64) Rate { return Rate{N: n, Per: time.Second} }

// PerMinute is n requests a minute.
func PerMinute(n int64) Rate { return Rate{N: n, Per: time.Minute} }

// Rule is the rule of this rate under a name.
func (r Rate) Rule(name string) Rule {
	per := r.Per
	if per <= 0 {
		per = time.Minute
	}
	return Rule{Name: name, Limit: r.N, Window: per}
}

// String is the rate as ParseRate reads it: "1200/s", "600/min", "0" (off).
func (r Rate) String() string {
	switch {
	case r.N <= 0:
		return "0"
	case r.Per == time.Second:
		return strconv.FormatInt(r.N, 10) + "/s"
	default:
		return strconv.FormatInt(r.N, 10) + "/min"
	}
}

// ParseRate reads "N/s" or "N/min" ("N/m" too); a bare N is per minute, as the
// flags always took it, and 0 turns the limit off.
func ParseRate(s string) (Rate, error) {
	num, unit, hasUnit := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 {
		return Rate{}, fmt.Errorf("%q: want a count per second or per minute, e.g. 1200/s or 600/min (0: off)", s)
	}
	r := PerMinute(n)
	if hasUnit {
		switch strings.ToLower(strings.TrimSpace(unit)) {
		case "s", "sec", "second":
			r.Per = time.Second
		case "m", "min", "minute":
		default:
			return Rate{}, errors.New("rate " + strconv.Quote(s) + ": the unit is /s or /min")
		}
	}
	return r, nil
}

// RateFlag is a Rate as a command-line flag (flag.Value).
type RateFlag struct{ Rate *Rate }

// String implements flag.Value.
func (f RateFlag) String() string {
	if f.Rate == nil {
		return ""
	}
	return f.Rate.String()
}

// Set implements flag.Value.
func (f RateFlag) Set(s string) error {
	r, err := ParseRate(s)
	if err != nil {
		return err
	}
	*f.Rate = r
	return nil
}
