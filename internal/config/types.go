package config

import "github.com/lagship/lagship/internal/configkit"

// The value types of the file live in configkit, so that every component
// can use them; these names keep the config package's vocabulary.
type (
	// Secret is a string that never prints.
	Secret = configkit.Secret
	// Duration is a time.Duration written as "10s".
	Duration = configkit.Duration
	// ByteSize is a size written as 512MiB.
	ByteSize = configkit.ByteSize
	// Error is one problem in the file.
	Error = configkit.Error
	// Errors is every problem found in one file.
	Errors = configkit.Errors
)

// ParseByteSize parses "1GiB", "512MiB", "100MB" or a plain number of bytes.
func ParseByteSize(s string) (ByteSize, error) { return configkit.ParseByteSize(s) }
