package status

import (
	"fmt"
	"time"

	"github.com/lagship/lagship/internal/configkit"
)

// Settings is the status section of the file, at the top (defaults for
// every mirror) and in mirrors[].status (overrides, key by key). Absent
// keys are nil.
type Settings struct {
	Window      *configkit.Duration `yaml:"window"`
	AllowedLag  *int64              `yaml:"allowed_lag"`
	WarnTimeLag *configkit.Duration `yaml:"warn_time_lag"`
	ErrTimeLag  *configkit.Duration `yaml:"err_time_lag"`
}

// Defaults.
const (
	DefaultWindow = 10 * time.Minute
	// MinTicksPerWindow: a window must hold at least this many ticks.
	MinTicksPerWindow = 3
	// CommitInterval is MirrorMaker's offset.commit.interval.ms default
	// (and Connect's offset flush interval for MirrorMaker 2): the
	// committed offset moves in steps of about this.
	CommitInterval = time.Minute
)

// DefaultRules are the rules when the file says nothing.
func DefaultRules() Rules { return Rules{Window: DefaultWindow} }

// Over returns base with the keys s sets replaced.
func (s Settings) Over(base Rules) Rules {
	if s.Window != nil {
		base.Window = time.Duration(*s.Window)
	}
	if s.AllowedLag != nil {
		base.AllowedLag = *s.AllowedLag
	}
	if s.WarnTimeLag != nil {
		base.WarnTimeLag = time.Duration(*s.WarnTimeLag)
	}
	if s.ErrTimeLag != nil {
		base.ErrTimeLag = time.Duration(*s.ErrTimeLag)
	}
	return base
}

// Validate reports the problems of the keys s sets through r (paths
// relative to the section).
func (s Settings) Validate(r configkit.Reporter) {
	if s.Window != nil && *s.Window <= 0 {
		r.Errorf([]any{"window"}, "must be positive")
	}
	if s.AllowedLag != nil && *s.AllowedLag < 0 {
		r.Errorf([]any{"allowed_lag"}, "must be 0 or more messages")
	}
	if s.WarnTimeLag != nil && *s.WarnTimeLag < 0 {
		r.Errorf([]any{"warn_time_lag"}, "must be 0 (off) or positive")
	}
	if s.ErrTimeLag != nil && *s.ErrTimeLag < 0 {
		r.Errorf([]any{"err_time_lag"}, "must be 0 (off) or positive")
	}
}

// Check reports what is wrong with a mirror's effective rules at its
// interval: the key at fault ("window", "err_time_lag") and why; "" when
// nothing is.
func Check(r Rules, interval time.Duration) (key, why string) {
	switch {
	case r.Window > 0 && interval > 0 && r.Window < MinTicksPerWindow*interval:
		return "window", fmt.Sprintf("%s is shorter than %d × the mirror's interval (%s): the window must hold at least %d ticks", r.Window, MinTicksPerWindow, interval, MinTicksPerWindow)
	case r.WarnTimeLag > 0 && r.ErrTimeLag > 0 && r.ErrTimeLag < r.WarnTimeLag:
		return "err_time_lag", fmt.Sprintf("%s is below warn_time_lag (%s)", r.ErrTimeLag, r.WarnTimeLag)
	}
	return "", ""
}

// ShortWindow reports whether a window is too short to see the committed
// offset move (it moves about once a commit interval): an operator should
// be warned at start.
func ShortWindow(r Rules) bool { return r.Window < MinTicksPerWindow*CommitInterval }
