// Package all registers lagship's collection methods. A new method is a
// package under sources/ and one line here.
package all

import (
	"github.com/lagship/lagship/sources"
	"github.com/lagship/lagship/sources/kafka"
	"github.com/lagship/lagship/sources/mm2"
	"github.com/lagship/lagship/sources/ssh"
)

// Methods is every method a config may name; the first is the default.
var Methods = sources.Registry{
	kafka.Method,
	ssh.Method,
	mm2.Method,
}
