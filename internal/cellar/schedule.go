package cellar

import "time"

// NextBackup is the first scheduled time strictly after now: hourly at
// minute MM of every hour; daily at HH:MM; weekly at HH:MM on Mondays; all
// in the policy's time zone (UTC by default).
func NextBackup(now time.Time, frequency string, hour, minute int, loc *time.Location) time.Time {
	t := now.In(loc)
	switch frequency {
	case "hourly":
		next := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), minute, 0, 0, loc)
		for !next.After(now) {
			next = next.Add(time.Hour)
		}
		return next
	case "weekly":
		next := time.Date(t.Year(), t.Month(), t.Day(), hour, minute, 0, 0, loc)
		for next.Weekday() != time.Monday || !next.After(now) {
			next = time.Date(next.Year(), next.Month(), next.Day()+1, hour, minute, 0, 0, loc)
		}
		return next
	default: // daily
		next := time.Date(t.Year(), t.Month(), t.Day(), hour, minute, 0, 0, loc)
		for !next.After(now) {
			next = time.Date(next.Year(), next.Month(), next.Day()+1, hour, minute, 0, 0, loc)
		}
		return next
	}
}
