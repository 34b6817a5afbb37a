package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/lagship/lagship/internal/config"
)

// configEnv names the config file when -config is not given (containers).
const configEnv = "LAGSHIP_CONFIG"

// configFlag registers -config: its default is $LAGSHIP_CONFIG, or else
// defaultConfig.
func configFlag(fs *flag.FlagSet) *string {
	def := defaultConfig
	if v := os.Getenv(configEnv); v != "" {
		def = v
	}
	return fs.String("config", def, "config `FILE` (when not given: $"+configEnv+", else the default)")
}

// configOrigin says where the path of -config came from, for an error
// about a file that cannot be read: "" when the flag was given.
func configOrigin(fs *flag.FlagSet) string {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "config" })
	switch {
	case given:
		return ""
	case os.Getenv(configEnv) != "":
		return "no -config given: " + configEnv + " names this file"
	}
	return "no -config given: " + defaultConfig + " is the default; pass -config FILE or set " + configEnv
}

// loadConfig loads the file or returns an exit error that prints every
// problem.
func loadConfig(path string) (*config.Config, error) {
	return loadConfigFrom(path, "")
}

// loadConfigFlag is loadConfig for the path of fs's -config flag.
func loadConfigFlag(fs *flag.FlagSet, path string) (*config.Config, error) {
	return loadConfigFrom(path, configOrigin(fs))
}

// loadConfigFrom tells a file that cannot be read ("reading config", with
// where the path came from) from one that is invalid (every problem, with
// file:line).
func loadConfigFrom(path, origin string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, &exitError{code: exitConfig, msg: configError(err, origin)}
	}
	return cfg, nil
}

// configError is the message for a config that did not load.
func configError(err error, origin string) string {
	var errs config.Errors
	if errors.As(err, &errs) {
		return "invalid config:\n" + err.Error()
	}
	if origin != "" {
		return fmt.Sprintf("%v\n  (%s)", err, origin)
	}
	return err.Error()
}

// exitConfig is the exit code of a config that cannot be read or is
// invalid: 78, EX_CONFIG of sysexits.h. The systemd unit's
// RestartPreventExitStatus names it, since restarting cannot fix the file;
// other failures at start (a port still taken, a spool still locked by the
// instance being replaced) exit 1 and are restarted.
const exitConfig = 78
