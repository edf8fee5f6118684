package cellar

import (
	"testing"
	"time"
)

// TestNextBackup_StrictlyAfterNowInThePolicysZone: hourly, daily and
// weekly (Mondays) schedules give the first slot strictly after now, in
// the policy's time zone, across a daylight-saving change.
func TestNextBackup_StrictlyAfterNowInThePolicysZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	at := func(s string, loc *time.Location) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name, freq   string
		now          time.Time
		hour, minute int
		loc          *time.Location
		want         time.Time
	}{
		{"hourly later this hour", "hourly", at("2026-03-04 10:05", time.UTC), 0, 30, time.UTC, at("2026-03-04 10:30", time.UTC)},
		{"hourly exactly now is next hour", "hourly", at("2026-03-04 10:30", time.UTC), 0, 30, time.UTC, at("2026-03-04 11:30", time.UTC)},
		{"daily today", "daily", at("2026-03-04 01:00", time.UTC), 2, 15, time.UTC, at("2026-03-04 02:15", time.UTC)},
		{"daily passed is tomorrow", "daily", at("2026-03-04 03:00", time.UTC), 2, 15, time.UTC, at("2026-03-05 02:15", time.UTC)},
		{"weekly is Monday", "weekly", at("2026-03-04 03:00", time.UTC), 2, 0, time.UTC, at("2026-03-09 02:00", time.UTC)},
		{"weekly Monday passed is next Monday", "weekly", at("2026-03-09 03:00", time.UTC), 2, 0, time.UTC, at("2026-03-16 02:00", time.UTC)},
		{"daily in zone across DST", "daily", at("2026-03-28 05:00", berlin), 4, 0, berlin, at("2026-03-29 04:00", berlin)},
	} {
		got := NextBackup(c.now, c.freq, c.hour, c.minute, c.loc)
		if !got.Equal(c.want) {
			t.Errorf("%s: NextBackup = %v, want %v", c.name, got, c.want)
		}
		if !got.After(c.now) {
			t.Errorf("%s: %v is not after now %v", c.name, got, c.now)
		}
	}
}
