package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/config"
)

// next is the first fire time of s after t, or the zero time.
func next(s config.Schedule, ok bool, t time.Time) time.Time {
	if !ok {
		return time.Time{}
	}
	return s.Next(t)
}

func TestDigestSchedules(t *testing.T) {
	cfg, err := config.Parse("mandate.yaml", []byte(y(
		"org:",
		"  timezone: America/New_York",
		"  fallback: {team: payments}",
		"people: [{id: a}]",
		"teams:",
		"  - {id: payments, timezone: Europe/Berlin}",
		"  - {id: search}",                                                        // the org's zone
		"  - {id: tokyo, digest_schedule: 'CRON_TZ=Asia/Tokyo 30 8 * * FRI'}",     // its own line and zone
		"  - {id: quiet, digest_schedule: 'off'}",                                 // no digest
		"  - {id: daily, timezone: Europe/Berlin, digest_schedule: '0 17 * * *'}", // in its own zone
	)))
	if err != nil {
		t.Fatal(err)
	}
	// Thursday 2026-11-19 12:00 UTC.
	now := time.Date(2026, 11, 19, 12, 0, 0, 0, time.UTC)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	newYork, _ := time.LoadLocation("America/New_York")
	for _, c := range []struct {
		name string
		s    config.Schedule
		ok   bool
		want time.Time
	}{
		// Default: Monday 09:00 in the team's zone, else the org's.
		{"payments", nil, false, time.Date(2026, 11, 23, 9, 0, 0, 0, berlin)},
		{"search", nil, false, time.Date(2026, 11, 23, 9, 0, 0, 0, newYork)},
		{"tokyo", nil, false, time.Date(2026, 11, 19, 23, 30, 0, 0, time.UTC)}, // Friday 08:30 in Tokyo
		{"daily", nil, false, time.Date(2026, 11, 19, 17, 0, 0, 0, berlin)},
		{"quiet", nil, false, time.Time{}},
		{"no such team", nil, false, time.Time{}},
	} {
		s, ok := cfg.TeamDigestSchedule(c.name)
		if got := next(s, ok, now); !got.Equal(c.want) {
			t.Errorf("%s: next digest %v, want %v", c.name, got, c.want)
		}
	}
	s, ok := cfg.AdminDigestSchedule()
	if got := next(s, ok, now); !got.Equal(time.Date(2026, 11, 23, 9, 0, 0, 0, newYork)) {
		t.Errorf("admins' digest: %v, want Monday 09:00 in New York", got)
	}
	s, ok = cfg.NagSchedule()
	if got := next(s, ok, now); !got.Equal(time.Date(2026, 11, 19, 9, 0, 0, 0, newYork)) {
		t.Errorf("nag: %v, want 09:00 today in New York (it is 07:00 there now)", got)
	}
}

func TestDigestScheduleOrgWide(t *testing.T) {
	cfg, err := config.Parse("mandate.yaml", []byte(withHead(
		"digests:",
		"  schedule: CRON_TZ=Europe/Berlin 0 9 * * MON",
		"  email: true",
		"  admin_channel: C0ADMINS",
		"  nag_schedule: 'off'",
	)))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Digests.Email || cfg.Digests.AdminChannel != "C0ADMINS" {
		t.Errorf("digests section: %+v", cfg.Digests)
	}
	now := time.Date(2026, 11, 23, 7, 59, 0, 0, time.UTC) // 08:59 in Berlin
	want := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	s, ok := cfg.TeamDigestSchedule("t")
	if got := next(s, ok, now); !got.Equal(want) {
		t.Errorf("team t (UTC) with an org-wide CRON_TZ line: %v, want %v", got, want)
	}
	s, ok = cfg.AdminDigestSchedule()
	if got := next(s, ok, now); !got.Equal(want) {
		t.Errorf("admins: %v, want %v", got, want)
	}
	if _, ok := cfg.NagSchedule(); ok {
		t.Error("nag_schedule off still schedules")
	}
	off, err := config.Parse("mandate.yaml", []byte(withHead("digests: {schedule: 'off'}")))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := off.TeamDigestSchedule("t"); ok {
		t.Error("digests.schedule off still schedules the team")
	}
	if _, ok := off.AdminDigestSchedule(); ok {
		t.Error("digests.schedule off still schedules the admins")
	}
}

// TestDigestScheduleErrors: a bad schedule is reported at its line, naming the field.
func TestDigestScheduleErrors(t *testing.T) {
	for _, c := range []struct {
		name, line, want string
	}{
		{"four fields", "  schedule: 0 9 * *", `8: digests.schedule: "0 9 * *" is not a cron schedule (expected exactly 5 fields`},
		{"bad weekday", "  schedule: 0 9 * * MONDAY", `8: digests.schedule: "0 9 * * MONDAY" is not a cron schedule`},
		{"bad hour", "  nag_schedule: 0 25 * * *", `8: digests.nag_schedule: "0 25 * * *" is not a cron schedule`},
		{"unknown zone", "  schedule: CRON_TZ=Mars/Base 0 9 * * MON", `8: digests.schedule: unknown time zone "Mars/Base"`},
		{"zone without fields", "  schedule: CRON_TZ=Europe/Berlin", `8: digests.schedule: "CRON_TZ=Europe/Berlin" names a time zone but no schedule`},
		{"local zone", "  schedule: CRON_TZ=Local 0 9 * * MON", "8: digests.schedule: CRON_TZ=Local depends on the host"},
		{"every", "  schedule: '@every 1h'", `8: digests.schedule: "@every 1h" repeats from whenever a server started`},
		{"never", "  schedule: 0 9 31 2 *", `8: digests.schedule: "0 9 31 2 *" never fires`},
		{"channel name", "  admin_channel: '#admins'", `8: digests.admin_channel: "#admins" is not a channel id`},
		{"unknown key", "  schedul: 0 9 * * MON", `8: unknown key "schedul" in digests (did you mean "schedule"?)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("mandate.yaml", []byte(withHead("digests:", c.line)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v\nwant an error containing %q", err, c.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "mandate.yaml:8: ") {
				t.Errorf("error not at FILE:LINE mandate.yaml:8: %v", err)
			}
		})
	}
	_, err := config.Parse("mandate.yaml", []byte(y(
		"org: {fallback: {team: t}}",
		"teams:",
		"  - id: t",
		"    digest_schedule: '0 9 * * MON'",
		"  - id: u",
		"    digest_schedule: '61 9 * * MON'",
	)))
	if err == nil || err.Error() != `mandate.yaml:6: teams[1].digest_schedule: "61 9 * * MON" is not a cron schedule (end of range (61) above maximum (59): 61); write minute hour day-of-month month day-of-week, e.g. "0 9 * * MON", optionally after CRON_TZ=Zone` {
		t.Errorf("team's bad schedule: %v", err)
	}
}

func TestParseScheduleDescriptorsAndTZ(t *testing.T) {
	s, err := config.ParseSchedule("@weekly", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Next(time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("@weekly: %v, want Sunday midnight", got)
	}
	s, err = config.ParseSchedule("TZ=Asia/Kolkata 0 9 * * *", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Next(time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 11, 19, 3, 30, 0, 0, time.UTC)) {
		t.Errorf("TZ=Asia/Kolkata: %v, want 03:30 UTC", got)
	}
	if _, err := config.ParseSchedule("  ", time.UTC); err == nil {
		t.Error("empty schedule accepted")
	}
}
