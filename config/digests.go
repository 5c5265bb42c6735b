package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Digests configures the weekly digests and the daily reminder (nag) of overdue action
// items.
type Digests struct {
	// Schedule is when digests go out: a cron line (minute hour day-of-month month
	// day-of-week), optionally prefixed with CRON_TZ=Zone. Without CRON_TZ it is read in
	// each team's time zone, and in the org's for the admins' digest. Default
	// DefaultDigestSchedule; "off" sends none (a team's digest_schedule still applies).
	Schedule string `yaml:"schedule"`
	// Email also mails each digest: a team's to its members and lead, the admins' to the
	// admins (people[].email).
	Email bool `yaml:"email"`
	// AdminChannel is the Slack channel id the admins' digest is posted to; without it,
	// each admin gets it by direct message.
	AdminChannel string `yaml:"admin_channel"`
	// NagSchedule is when owners of overdue action items are reminded, in the org's time
	// zone unless it says CRON_TZ. Default DefaultNagSchedule; "off" never.
	NagSchedule string `yaml:"nag_schedule"`
}

// Schedule defaults, and the value that turns a schedule off.
const (
	DefaultDigestSchedule = "0 9 * * MON" // Monday 09:00
	DefaultNagSchedule    = "0 9 * * *"   // every day at 09:00
	ScheduleOff           = "off"
)

// Schedule is a parsed cron schedule.
type Schedule interface {
	// Next returns the first time the schedule fires after t, or the zero time if it
	// never does.
	Next(t time.Time) time.Time
}

// cronParser reads the standard five fields, and descriptors such as @weekly.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron line in loc, unless it names its own zone with CRON_TZ=
// (or TZ=). Only calendar schedules are accepted: "@every 1h" counts from whenever a
// replica started, so replicas would disagree on when a run is due.
func ParseSchedule(spec string, loc *time.Location) (s Schedule, err error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	defer func() {
		// robfig/cron panics on some malformed lines instead of returning an error.
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%q is not a cron schedule", spec)
		}
	}()
	line := spec
	if zone, rest, ok := cutZone(spec); ok {
		if strings.TrimSpace(rest) == "" {
			return nil, fmt.Errorf("%q names a time zone but no schedule: write e.g. \"CRON_TZ=%s 0 9 * * MON\"", spec, zone)
		}
		if zone == "Local" {
			return nil, fmt.Errorf("CRON_TZ=Local depends on the host; name a zone like Europe/Berlin or UTC")
		}
		if _, err := time.LoadLocation(zone); err != nil {
			return nil, fmt.Errorf("unknown time zone %q in %q", zone, spec)
		}
	} else {
		if loc == nil {
			loc = time.UTC
		}
		line = "CRON_TZ=" + loc.String() + " " + spec
	}
	parsed, err := cronParser.Parse(line)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron schedule (%v); write minute hour day-of-month month day-of-week, e.g. \"0 9 * * MON\", optionally after CRON_TZ=Zone", spec, err)
	}
	sched, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%q repeats from whenever a server started; use a calendar schedule such as \"0 9 * * MON\"", spec)
	}
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("%q never fires", spec)
	}
	return sched, nil
}

// cutZone splits "CRON_TZ=Zone rest" (or "TZ=Zone rest").
func cutZone(spec string) (zone, rest string, ok bool) {
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if after, found := strings.CutPrefix(spec, prefix); found {
			zone, rest, _ = strings.Cut(after, " ")
			return zone, rest, true
		}
	}
	return "", "", false
}

// scheduleOr parses spec (or def when empty) in loc; false when it is "off".
func scheduleOr(spec, def string, loc *time.Location) (Schedule, bool) {
	if spec == "" {
		spec = def
	}
	if strings.TrimSpace(spec) == ScheduleOff {
		return nil, false
	}
	s, err := ParseSchedule(spec, loc)
	if err != nil {
		// A validated Config's schedules parse; a hand-built one with a bad line sends
		// nothing rather than guess.
		return nil, false
	}
	return s, true
}

// TeamDigestSchedule is when the team's digest goes out: its digest_schedule, else the
// org-wide digests.schedule, else Monday 09:00; read in the team's time zone unless the
// line names one. false: the team gets no digest.
func (c *Config) TeamDigestSchedule(team string) (Schedule, bool) {
	t, ok := c.Team(team)
	if !ok {
		return nil, false
	}
	spec := t.DigestSchedule
	if spec == "" {
		spec = c.Digests.Schedule
	}
	loc := t.Location
	if loc == nil {
		loc = c.Org.Location
	}
	return scheduleOr(spec, DefaultDigestSchedule, loc)
}

// AdminDigestSchedule is when the admins' digest goes out: digests.schedule in the org's
// time zone.
func (c *Config) AdminDigestSchedule() (Schedule, bool) {
	return scheduleOr(c.Digests.Schedule, DefaultDigestSchedule, c.Org.Location)
}

// NagSchedule is when owners of overdue action items are reminded.
func (c *Config) NagSchedule() (Schedule, bool) {
	return scheduleOr(c.Digests.NagSchedule, DefaultNagSchedule, c.Org.Location)
}

func (v *validator) checkDigests() {
	d := &v.cfg.Digests
	check := func(p, spec string, loc *time.Location) {
		if spec == "" || strings.TrimSpace(spec) == ScheduleOff {
			return
		}
		if _, err := ParseSchedule(spec, loc); err != nil {
			v.pathf(p, "%v", err)
		}
	}
	check("digests.schedule", d.Schedule, v.cfg.Org.Location)
	check("digests.nag_schedule", d.NagSchedule, v.cfg.Org.Location)
	for i, t := range v.cfg.Teams {
		check(indexPath("teams", i)+".digest_schedule", t.DigestSchedule, t.Location)
	}
	if c := d.AdminChannel; c != "" && (strings.HasPrefix(c, "#") || strings.ContainsAny(c, " \t")) {
		v.pathf("digests.admin_channel", "%q is not a channel id: use the id (e.g. C0123ABC, from the channel's details), not its name", c)
	}
}
