package config

import (
	"fmt"
	"time"
)

// BusinessHours is a weekly window, e.g. mon–fri 09:00–18:00. It is read in
// a time zone passed to Contains (the org's, a team's or a person's), so one
// definition serves people in several zones.
type BusinessHours struct {
	// Days are lower-case three-letter day names: mon tue wed thu fri sat sun.
	Days []string `yaml:"days"`
	// Start and End are "HH:MM" wall-clock times, Start before End. End may
	// be "24:00" to mean midnight at the end of the day.
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// DefaultBusinessHours applies when the file has no business_hours block.
var DefaultBusinessHours = BusinessHours{
	Days:  []string{"mon", "tue", "wed", "thu", "fri"},
	Start: "09:00",
	End:   "17:00",
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Contains reports whether t falls within the hours, read as wall-clock time
// in loc (UTC when nil): the window includes Start and excludes End. Because
// it compares wall clocks, "09:00" stays 09:00 across DST changes. A zero or
// invalid BusinessHours contains no time.
func (b BusinessHours) Contains(t time.Time, loc *time.Location) bool {
	if loc == nil {
		loc = time.UTC
	}
	start, err1 := parseClock(b.Start, false)
	end, err2 := parseClock(b.End, true)
	if err1 != nil || err2 != nil || start >= end {
		return false
	}
	t = t.In(loc)
	open := false
	for _, d := range b.Days {
		if wd, ok := dayNames[d]; ok && wd == t.Weekday() {
			open = true
			break
		}
	}
	if !open {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	return m >= start && m < end
}

// parseClock parses "HH:MM" into minutes after midnight. "24:00" is accepted
// only as an end time.
func parseClock(s string, isEnd bool) (int, error) {
	bad := fmt.Errorf("%q is not a time of day; write HH:MM like \"09:00\"", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	digits := []byte{s[0], s[1], s[3], s[4]}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, bad
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if isEnd && h == 24 && m == 0 {
		return 24 * 60, nil
	}
	if h > 23 || m > 59 {
		return 0, bad
	}
	return h*60 + m, nil
}
